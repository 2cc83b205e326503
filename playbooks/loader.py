"""Load playbook YAML files; every error names the file, the line and the field.

The YAML is composed into nodes first (they carry line marks), turned into plain data, validated, and a
validation error's location (`steps.2.deadline.within`) is walked back through the nodes to its line.
Loading a folder collects errors per file: one broken playbook never hides the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.errors import ConfigError
from playbooks.schema import STEP_KINDS, Playbook

BUNDLED_DIR = Path(__file__).parent / "files"


class PlaybookError(ConfigError):
    """A playbook file is not valid; the message names file, line and field."""


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f" field {self.field}" if self.field else ""
        return f"{self.path}:{self.line}:{where}: {self.message}"


@dataclass(frozen=True)
class LoadedPlaybook:
    playbook: Playbook
    path: Path
    digest: str


@dataclass
class Catalog:
    """The playbooks of a folder, in file-name order, and the problems of the files that did not load."""

    playbooks: list[LoadedPlaybook] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def get(self, playbook_id: str) -> LoadedPlaybook:
        for loaded in self.playbooks:
            if loaded.playbook.id == playbook_id:
                return loaded
        raise KeyError(playbook_id)

    def ids(self) -> list[str]:
        return [p.playbook.id for p in self.playbooks]


def load_file(path: Path) -> LoadedPlaybook:
    """One playbook; raises PlaybookError with every problem of the file."""
    problems, loaded = _load(path)
    if loaded is None:
        raise PlaybookError("\n".join(str(p) for p in problems))
    return loaded


def load_dir(directory: Path | None = None) -> Catalog:
    """Every `*.yml`/`*.yaml` of the folder (default: the bundled playbooks); duplicate ids are problems."""
    root = directory or BUNDLED_DIR
    catalog = Catalog()
    if not root.is_dir():
        catalog.problems.append(Problem(root, 0, "", "playbook folder not found"))
        return catalog
    seen: dict[str, Path] = {}
    for path in sorted([*root.glob("*.yml"), *root.glob("*.yaml")]):
        problems, loaded = _load(path)
        catalog.problems.extend(problems)
        if loaded is None:
            continue
        if (first := seen.get(loaded.playbook.id)) is not None:
            catalog.problems.append(Problem(path, 1, "id", f"playbook id {loaded.playbook.id!r} is also {first}"))
            continue
        seen[loaded.playbook.id] = path
        catalog.playbooks.append(loaded)
    return catalog


def load_text(text: str, name: str) -> tuple[list[Problem], LoadedPlaybook | None]:
    """Validate a playbook given as text (an upload); `name` stands for the file in the problems."""
    return _parse(Path(name), text)


def _load(path: Path) -> tuple[list[Problem], LoadedPlaybook | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [Problem(path, 0, "", f"cannot read: {exc.strerror or exc}")], None
    return _parse(path, text)


def _parse(path: Path, text: str) -> tuple[list[Problem], LoadedPlaybook | None]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        return [Problem(path, line, "", f"not valid YAML: {exc.problem or exc}")], None
    if not isinstance(node, yaml.MappingNode):
        return [Problem(path, 1, "", "a playbook is a mapping (id, title, trigger, steps)")], None
    data = yaml.SafeLoader(text).construct_document(node)
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        return [_problem(path, node, error) for error in exc.errors()], None
    return [], LoadedPlaybook(playbook, path, hashlib.sha256(text.encode()).hexdigest()[:16])


def _problem(path: Path, root: yaml.Node, error: Any) -> Problem:
    loc: Sequence[str | int] = error["loc"]
    node, names = root, list[str]()
    for part in loc:
        child = _child(node, part)
        if child is None:
            continue  # a union member's tag (`manual`) or a validator's pseudo-location, not in the YAML
        node, names = child, [*names, str(part)]
    message = error["msg"]
    if error["type"] == "union_tag_invalid":
        message = f"unknown step kind {error['input'].get('kind')!r}; one of: {', '.join(STEP_KINDS)}"
        node, names = _child(node, "kind") or node, [*names, "kind"]
    elif error["type"] == "union_tag_not_found":
        message = f"a step needs a `kind`: one of {', '.join(STEP_KINDS)}"
    elif error["type"] == "missing":
        message = f"missing field {loc[-1]!r}"
    elif error["type"] == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}"
    return Problem(path, node.start_mark.line + 1, ".".join(names), message)


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == part:
                # An unknown key is reported at the key itself, which is where the eye looks.
                return value if not isinstance(value, yaml.ScalarNode) or value.value != "" else key
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None
