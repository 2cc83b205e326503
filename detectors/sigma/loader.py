"""Read Sigma rule files through pySigma, collecting errors per rule instead of raising.

YAML is read with libyaml when available (4x faster than pure Python), then handed to pySigma's
`SigmaCollection.from_dicts`, which does all Sigma parsing and validation (multi-document files with
`action: global` included). The result is the parsed rules plus one `SkippedRule` per document that
did not parse, with pySigma's message and the file it came from.

Correlation documents are set aside as they are (`LoadedRules.correlations`): they reference rules
of other documents and files, so they are parsed and resolved once everything is loaded and compiled
(`correlation_rules.py`). Keeping them out of the per-file collection also keeps a reference to a
rule of another file from failing the whole file (pySigma resolves references per collection).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule

_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SkipReason(StrEnum):
    """Why a rule is not evaluated. Only the first four are expected; the rest are defects to fix."""

    UNSUPPORTED_LOGSOURCE = "unsupported-logsource"  # no Vigil parser produces events of that log source
    UNRESOLVED_PLACEHOLDER = "unresolved-placeholder"  # `|expand` %name% with no configured values
    UNRESOLVED_REFERENCE = "unresolved-reference"  # a correlation names a rule that is not loaded
    UNSUPPORTED_CORRELATION = "unsupported-correlation"  # value_percentile, value_median, boolean conditions
    PARSE_ERROR = "parse-error"
    COMPILE_ERROR = "compile-error"
    UNSUPPORTED_DOCUMENT = "unsupported-document"


@dataclass(frozen=True, slots=True)
class LogSource:
    product: str | None = None
    category: str | None = None
    service: str | None = None

    def __str__(self) -> str:
        return "/".join(part or "-" for part in (self.product, self.category, self.service))


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What an alert needs to know about the rule that raised it."""

    id: str
    title: str
    level: str | None
    status: str | None
    tags: tuple[str, ...]
    logsource: LogSource
    falsepositives: tuple[str, ...]
    path: str
    rule_dir: str
    name: str | None = None  # the rule's `name`, which correlation rules may reference
    version: str | None = None  # `modified`, else `date`: what an alert reports as the rule version

    @property
    def attack(self) -> tuple[str, ...]:
        """ATT&CK tags only (`attack.t1059.001`, `attack.execution`)."""
        return tuple(t for t in self.tags if t.startswith("attack."))


@dataclass(frozen=True, slots=True)
class SkippedRule:
    id: str
    title: str
    path: str
    rule_dir: str
    reason: SkipReason
    detail: str


@dataclass(frozen=True, slots=True)
class CorrelationSource:
    """A correlation document as read, parsed with the rest (`correlation_rules.parse_correlation`)."""

    doc: dict[str, Any]
    path: str
    rule_dir: str


@dataclass(slots=True)
class LoadedRules:
    rules: list[tuple[RuleInfo, SigmaRule]] = field(default_factory=list)
    skipped: list[SkippedRule] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # rule dir → number of .yml files read
    correlations: list[CorrelationSource] = field(default_factory=list)


def rule_files(root: Path) -> list[Path]:
    """Every rule file under `root` (or `root` itself), in a stable order."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def load_rules(roots: Sequence[Path]) -> LoadedRules:
    """Parse every rule file under each root; nothing raises for a bad rule, it is recorded as skipped."""
    out = LoadedRules()
    for root in roots:
        label = root.name
        files = rule_files(root)
        out.files[label] = out.files.get(label, 0) + len(files)
        for path in files:
            _load_file(path, label, out)
    return out


def load_texts(texts: Mapping[str, str], label: str = "inline") -> LoadedRules:
    """Rules given as YAML text (name → text), e.g. pasted into the rules API to test against events."""
    out = LoadedRules(files={label: len(texts)})
    for name, text in texts.items():
        _load_file(Path(name), label, out, text)
    return out


def _load_file(path: Path, label: str, out: LoadedRules, text: str | None = None) -> None:
    try:
        text = path.read_text(encoding="utf-8") if text is None else text
        docs = [_spec_aliases(d) for d in yaml.load_all(text, Loader=_YAML_LOADER) if d]
        out.correlations.extend(CorrelationSource(d, str(path), label) for d in docs if _is_correlation(d))
        docs = [d for d in docs if not _is_correlation(d)]
        collection = SigmaCollection.from_dicts(docs, collect_errors=True, source=SigmaRuleLocation(path))
    except (yaml.YAMLError, SigmaError, UnicodeDecodeError, OSError) as exc:
        out.skipped.append(SkippedRule(path.stem, path.stem, str(path), label, SkipReason.PARSE_ERROR, _message(exc)))
        return
    for err in collection.errors:
        out.skipped.append(SkippedRule(path.stem, path.stem, str(path), label, SkipReason.PARSE_ERROR, _message(err)))
    for rule in collection.rules:
        rule_id = str(rule.id) if rule.id else path.stem
        title = rule.title or path.stem
        if not isinstance(rule, SigmaRule):
            detail = f"{type(rule).__name__} documents are not evaluated per event"
            out.skipped.append(SkippedRule(rule_id, title, str(path), label, SkipReason.UNSUPPORTED_DOCUMENT, detail))
        elif rule.errors:
            detail = "; ".join(_message(e) for e in rule.errors)
            out.skipped.append(SkippedRule(rule_id, title, str(path), label, SkipReason.PARSE_ERROR, detail))
        else:
            out.rules.append((rule_info(rule, path, label), rule))


def _is_correlation(doc: Any) -> bool:
    # pySigma's own test (collection.from_dicts): a document without `action` that has `correlation`
    return isinstance(doc, dict) and doc.get("action") is None and "correlation" in doc


# Modifier names of the Sigma specification that pySigma 1.x does not know, and what it calls them.
_MODIFIER_ALIASES = {"utf16le": "wide"}


def _spec_aliases(doc: Any) -> Any:
    """A rule document with spec modifier aliases (`|utf16le`) renamed to pySigma's names (`|wide`)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("detection"), dict):
        return doc
    return {**doc, "detection": {name: _rename_modifiers(value) for name, value in doc["detection"].items()}}


def _rename_modifiers(value: Any) -> Any:
    if isinstance(value, dict):
        return {_renamed_key(k) if isinstance(k, str) else k: _rename_modifiers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename_modifiers(v) for v in value]
    return value


def _renamed_key(key: str) -> str:
    if "|" not in key:
        return key
    field, *modifiers = key.split("|")
    return "|".join([field, *(_MODIFIER_ALIASES.get(m, m) for m in modifiers)])


def rule_info(rule: SigmaRule, path: Path, label: str) -> RuleInfo:
    ls = rule.logsource
    return RuleInfo(
        id=str(rule.id) if rule.id else path.stem,
        title=rule.title,
        level=rule.level.name.lower() if rule.level else None,
        status=rule.status.name.lower() if rule.status else None,
        tags=tuple(str(t) for t in rule.tags),
        logsource=LogSource(_lower(ls.product), _lower(ls.category), _lower(ls.service)),
        falsepositives=tuple(str(f) for f in _as_list(rule.falsepositives)),
        path=str(path),
        rule_dir=label,
        name=rule.name or None,
        version=_version(rule),
    )


def _version(rule: SigmaRule) -> str | None:
    stamp = rule.modified or rule.date
    return stamp.isoformat() if stamp else None


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None


def _as_list(value: Any) -> Iterable[Any]:
    if value is None:
        return ()
    return value if isinstance(value, list | tuple) else (value,)


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
