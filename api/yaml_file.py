"""The small YAML stores beside the API (tokens, console users): one document, validated by pydantic."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from core.errors import ConfigError
from core.files import write_atomic

D = TypeVar("D", bound=BaseModel)


class YamlFile(Generic[D]):
    """Parsed again only when the file changed (mtime + size); written atomically, readable by the owner
    only: even password and token hashes tell an attacker who holds which role."""

    def __init__(self, path: Path, model: type[D], what: str) -> None:
        self.path = path
        self.lock = threading.Lock()  # held by callers around read → change → write
        self._model, self._what = model, what
        self._stamp: tuple[int, int] | None = None
        self._cached: D | None = None

    def current(self) -> D:
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if self._cached is None or stamp != self._stamp:
            self._cached, self._stamp = self.read(), stamp
        return self._cached

    def read(self) -> D:
        if not self.path.exists():
            return self._model()
        try:
            return self._model.model_validate(yaml.safe_load(self.path.read_text(encoding="utf-8")) or {})
        except (yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(f"invalid {self._what} {self.path}: {exc}") from exc

    def write(self, document: D) -> None:
        text = yaml.safe_dump(document.model_dump(mode="json", exclude_none=True), sort_keys=False)
        write_atomic(self.path, text.encode(), private=True)
