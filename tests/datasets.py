"""Where the shared public datasets live: referenced in place, never copied into the project."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATASETS = SHARED / "datasets"


def dataset(*parts: str) -> Path:
    """Path to a file or folder under ../shared/datasets; skips the test if the folder is absent."""
    if not DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {DATASETS} (expected ../shared/datasets beside the repo)")
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"dataset path {path} is missing from {DATASETS}")
    return path


def lines(*parts: str, skip_comments: bool = False) -> list[str]:
    """Non-empty lines of a dataset file (``#`` lines dropped when asked: fail2ban markup)."""
    text = dataset(*parts).read_text(encoding="utf-8", errors="surrogateescape")
    return [
        line
        for line in text.splitlines()
        if line.strip() and not (skip_comments and line.lstrip().startswith("#"))
    ]
