"""Tailer checkpoints: per followed path, which file (device, inode) and how far it was delivered."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import CollectorError
from core.files import write_atomic


class FilePosition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device: int
    inode: int
    offset: int = Field(ge=0, description="first byte not yet delivered to Kafka")
    skipping: bool = Field(False, description="inside an oversized line whose head was already sent")


class Checkpoints(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    files: dict[str, FilePosition] = {}


def load_checkpoints(path: Path) -> Checkpoints:
    if not path.exists():
        return Checkpoints()
    try:
        return Checkpoints.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise CollectorError(f"tailer checkpoint {path} is unreadable ({exc.errors()[0]['msg']}); "
                          "move it away to re-read the files from the start") from exc  # fmt: skip


def save_checkpoints(path: Path, checkpoints: Checkpoints) -> None:
    """Write atomically: a crash leaves the previous checkpoint or the new one, never half of one."""
    write_atomic(path, checkpoints.model_dump_json().encode())
