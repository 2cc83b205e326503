"""The compiled field view: `view.py` built by mypyc into `_native/`, used only while it is current.

Building the field view is about a quarter of the engine's time per event, spent in small Python
functions (`LowTexts.__missing__`, `FieldView.__init__`, the event-data copy); compiled by mypyc the
same source runs them as C (bench/sigma.py: +6-17% events/s, same matches). `scripts/build_native.py`
compiles it and records the digest of the sources it compiled (`view.py` and the project modules it
imports); the package uses the build only when that digest is current, so an edited source never runs
as its stale build. Without a build (no C compiler, `VIGIL_NATIVE=0`) the pure-Python module runs:
it is the reference semantics.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import logging
import os
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
NATIVE_DIR = PACKAGE_DIR / "_native"  # the built extensions and their STAMP (not in git)
COMPILED = ("view",)  # the modules of this package that the build compiles
STAMP = "SOURCES.sha256"


def sources(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The compiled modules' files and those of the project modules they import: mypyc compiles against
    the signatures it finds there, so a change in any of them makes the build stale."""
    root = package_dir.parents[1]
    found: dict[Path, None] = {}
    for name in COMPILED:
        module = package_dir / f"{name}.py"
        found[module] = None
        for node in ast.walk(ast.parse(module.read_bytes())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for dotted in (node.module, *(f"{node.module}.{alias.name}" for alias in node.names)):
                    candidate = root.joinpath(*dotted.split(".")).with_suffix(".py")
                    if candidate.is_file():
                        found[candidate] = None
    return list(found)


def source_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """The digest of `sources`, as the build records it."""
    digest = hashlib.sha256()
    root = package_dir.parents[1]
    for path in sources(package_dir):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def use_build(package_path: list[str], native_dir: Path = NATIVE_DIR, package_dir: Path = PACKAGE_DIR) -> bool:
    """Put a current build first on the package's search path; False (and left as is) otherwise."""
    if os.environ.get("VIGIL_NATIVE", "1") == "0":
        return False
    stamp = native_dir / STAMP
    if not stamp.is_file():
        return False
    if stamp.read_text(encoding="utf-8").strip() != source_digest(package_dir):
        log.warning("compiled Sigma field view in %s is stale (its sources changed): run scripts/build_native.py",
                    native_dir)  # fmt: skip
        return False
    package_path.insert(0, str(native_dir))
    return True


def is_compiled(module: ModuleType) -> bool:
    """Whether the module was loaded from an extension (the build), not from its source."""
    return str(getattr(module, "__file__", "")).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
