"""The hunt's field mapping and log-source filter for Linux, proxy, web server, DNS and firewall rules:
the stream engine's own (`detectors/sigma/fields.py`, `logsources.DATASET_ROUTES`), as queries.

Fields. The stream reads Sigma field X of an ECS event as: the first non-empty of `ECS_PATHS[X]`,
else (auditd) the `labels.auditd_X` / `labels.auditd_enriched_X` pair, else `labels.X`, else the ECS
path X itself when X is dotted. Each step becomes a choice "match on this field when every earlier one
is absent", as the Windows mapping reads `setdefault`. `Image` (the executable, else the absolute
argv[0]) becomes `process.executable`, else a regex on the command line's first token. The other
fields the stream computes (`DERIVED`: the firewall verdict's synonyms, the URL extension, auditd's
upper-cased record type) have no single indexed field: such rules are not converted (`derived-field`).
Strings go to the `.ci` subfield, except on typed ECS fields (ip, long), which take plain values on
the field itself (a wildcard or a regex there is not convertible).

Log sources. A route key becomes the DSL selecting the events `fields.event_routes` gives that key,
by `event.dataset`, `vigil.parser` and the syslog program. Known gaps, stated: keyword (full-text)
searches are not converted (the stream searches `message` and `event.original`, which the index keeps
as analysed text and unindexed); Sysmon for Linux events (Windows-shaped) are not hunted by Linux rules;
the Cisco IOS route (a pattern in the message text) is not converted; a Linux line that also matches
the Cisco pattern, which the stream routes as Cisco only, is still hunted as Linux. The rules these gaps
refuse are hunted by the stream's engine instead (`convert.engine_hunt`), which has none of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sigma.conditions import ConditionAND, ConditionOR
from sigma.processing.transformations.base import DetectionItemTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem
from sigma.types import SigmaNull, SigmaRegularExpression, SigmaString, SigmaType, SpecialChars

from core.index_templates import ECS_PROPERTIES
from detectors.hunt.fields import CI, Choice, NotConvertible, _adapt, _flatten, _item, norm
from detectors.sigma import logsources as ls
from detectors.sigma.fields import DERIVED, ECS_PATHS

# Lucene regex operators, escaped when a Sigma literal goes into a regex (`/` the backend escapes).
_LUCENE_REGEX_RESERVED = set('.?+*|{}[]()"\\#@&<>~^$')


def _typed(properties: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """ECS fields mapped as ip / long / date: no `.ci` subfield, no wildcard on them."""
    for name, spec in properties.items():
        if "properties" in spec:
            yield from _typed(spec["properties"], f"{prefix}{name}.")
        elif spec.get("type") in ("ip", "long", "date"):
            yield prefix + name


TYPED = frozenset(_typed(ECS_PROPERTIES))


def choices(sigma_name: str, linux: bool) -> list[list[Choice]]:
    """Where the stream reads the field, in its order; each inner list is one step (OR'ed values)."""
    key = norm(sigma_name)
    if key in DERIVED and key not in ("image", "type"):
        raise NotConvertible(f"field '{sigma_name}' is derived by the stream from several values", "derived-field")
    steps = [[name] for name in ECS_PATHS.get(key, ())]
    if linux:
        steps.append([f"labels.auditd_{key}", f"labels.auditd_enriched_{key}"])
    steps.append([f"labels.{key}"])
    if "." in key:
        steps.append([key])
    out: list[list[Choice]] = []
    before: list[str] = []
    for step in steps:
        out.append([Choice(name, absent=tuple(before)) for name in step])
        before += step
    return out


@dataclass
class EcsHuntFields(DetectionItemTransformation):
    """Field names and case handling of every detection item of a non-Windows rule."""

    linux: bool = False  # the rule's routes are Linux ones (auditd labels are read)
    auditd_only: bool = False  # they select auditd events only (`type` is the record type)

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> SigmaDetection | SigmaDetectionItem | None:
        item = detection_item
        if item.field is None:
            raise NotConvertible("keyword search over message text (not indexed as keywords)", "keyword-text")
        parts: list[tuple[bool, SigmaType]] = [p for v in _flatten(item.value) for p in _adapt(v)]
        if norm(item.field) == "image":
            return self._image(parts, item)
        if norm(item.field) == "type":
            return self._auditd_type(parts, item)
        per_choice = [self._chain_step(c, parts, item) for step in choices(item.field, self.linux) for c in step]
        return per_choice[0] if len(per_choice) == 1 else SigmaDetection(per_choice, item.source,
                                                                         item_linking=ConditionOR)  # fmt: skip

    def _auditd_type(self, parts: Sequence[tuple[bool, SigmaType]], item: SigmaDetectionItem) -> SigmaDetection:
        """auditd's record type: the upper-cased `event.action` (matched on `.ci`, so the case is moot
        unless `|cased`), else the label chain as for any field; for rules that see auditd events only."""
        if not self.auditd_only or not all(ci for ci, _ in parts):
            raise NotConvertible("auditd record type outside auditd-only routes, or case-sensitive", "derived-field")
        steps = [[Choice("event.action")]] + [
            [Choice(c.field, absent=("event.action", *c.absent)) for c in step] for step in choices("type", True)
        ]
        matches = [self._chain_step(c, parts, item) for step in steps for c in step]
        return SigmaDetection(matches, item.source, item_linking=ConditionOR)

    def _chain_step(
        self, choice: Choice, parts: Sequence[tuple[bool, SigmaType]], item: SigmaDetectionItem
    ) -> SigmaDetectionItem | SigmaDetection:
        match = self._on(choice.field, parts, item)
        if not choice.absent:
            return match
        missing = [_item(f, [SigmaNull()], item) for f in choice.absent]
        return SigmaDetection([*missing, match], item.source, item_linking=ConditionAND)

    def _image(self, parts: Sequence[tuple[bool, SigmaType]], item: SigmaDetectionItem) -> SigmaDetection:
        """The stream's `Image`: `process.executable`, else the command line's first token when absolute
        (auditd EXECVE and sudo record no executable; the parsers join argv with spaces)."""
        executable = self._on("process.executable", parts, item)
        tokens: list[SigmaDetectionItem | SigmaDetection] = []
        for ci, value in parts:
            if not isinstance(value, SigmaString) or any(isinstance(c, str) and " " in c for c in value.s):
                raise NotConvertible("Image on Linux: plain values without spaces only", "derived-field")
            field = "process.command_line" + (CI if ci else "")
            first = SigmaRegularExpression(first_token_regex(value))
            absolute = SigmaRegularExpression("/[^ ]*( .*)?")
            tokens.append(SigmaDetection([_item(field, [absolute], item), _item(field, [first], item)], item.source,
                                         item_linking=ConditionAND))  # fmt: skip
        linking = item.value_linking
        by_token = tokens[0] if len(tokens) == 1 else SigmaDetection(tokens, item.source, item_linking=linking)
        missing = _item("process.executable", [SigmaNull()], item)
        fallback = SigmaDetection([missing, by_token], item.source, item_linking=ConditionAND)
        return SigmaDetection([executable, fallback], item.source, item_linking=ConditionOR)

    def _on(
        self, name: str, parts: Sequence[tuple[bool, SigmaType]], item: SigmaDetectionItem
    ) -> SigmaDetectionItem | SigmaDetection:
        if name in TYPED:
            values: list[SigmaType] = []
            for _, value in parts:
                if isinstance(value, SigmaString) and value.contains_special():
                    raise NotConvertible(f"wildcard on the typed field {name}", "typed-field")
                if isinstance(value, SigmaRegularExpression):
                    raise NotConvertible(f"regex on the typed field {name}", "typed-field")
                values.append(value)
            return _item(name, values, item)
        groups = [(ci, [v for c, v in parts if c == ci]) for ci in (True, False)]
        items: list[SigmaDetectionItem | SigmaDetection] = [
            _item(name + CI if ci else name, vals, item) for ci, vals in groups if vals
        ]
        return items[0] if len(items) == 1 else SigmaDetection(items, item.source, item_linking=item.value_linking)


def first_token_regex(value: SigmaString) -> str:
    """A Lucene (whole-term) regex: the first space-separated token matches the Sigma glob `value`."""
    out: list[str] = []
    for part in value.s:
        if isinstance(part, str):
            out += ["\\" + c if c in _LUCENE_REGEX_RESERVED else c for c in part]
        else:
            out.append("[^ ]*" if part is SpecialChars.WILDCARD_MULTI else "[^ ]")
    return "".join(out) + "( .*)?"


# --- log sources -------------------------------------------------------------------------------------

_SYSLOG = {"bool": {"should": [{"prefix": {"vigil.parser": "syslog"}}, {"term": {"vigil.parser": "vsftpd"}}],
                    "minimum_should_match": 1}}  # fmt: skip
_AUDITD = {"term": {"event.dataset": "auditd.log"}}


def _datasets(key: str) -> list[str]:
    return sorted(d for d, keys in ls.DATASET_ROUTES.items() if key in keys)


def _any(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses, "minimum_should_match": 1}}


def _all(*clauses: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"filter": list(clauses)}}


def _by_dataset(key: str) -> dict[str, Any]:
    return {"terms": {"event.dataset": _datasets(key)}}


def _program(service: str) -> dict[str, Any]:
    """Syslog lines of the programs the stream maps to `service` (process.name, else the app name)."""
    names = sorted(p for p, s in ls.LINUX_PROGRAM_SERVICES.items() if s == service)
    by_name: list[dict[str, Any]] = [{"terms": {"process.name" + CI: names}}] if names else []
    if service == "sshd":
        by_name.append({"prefix": {"process.name" + CI: "sshd-"}})
    by_app: dict[str, Any] = _all({"bool": {"must_not": [{"exists": {"field": "process.name"}}]}},
                                  _any([{"terms": {"log.syslog.appname" + CI: names or [service]}}]))  # fmt: skip
    program = _all(_SYSLOG, _any([*by_name, by_app]))
    return _any([program, {"term": {"vigil.parser": "vsftpd"}}]) if service == "vsftpd" else program


def ecs_route(key: str) -> dict[str, Any]:
    """The DSL filter selecting the non-Windows events the stream routes to `key`."""
    kind, _, value = key.partition(":")
    if kind in ("cat", "svc") or key in ("linux:svc:auditd", "linux:svc:auth"):
        return _by_dataset(key)
    if key == "linux:*":
        return _any([_by_dataset(key), _SYSLOG])
    if key == "linux:svc:syslog":
        return _SYSLOG
    if key.startswith("linux:svc:"):
        return _program(key.removeprefix("linux:svc:"))
    if key == "linux:cat:process_creation":
        start = _all({"term": {"event.category": "process"}}, {"term": {"event.type": "start"}},
                     ecs_route("linux:*"), {"bool": {"must_not": [_AUDITD]}})  # fmt: skip
        return _any([_all(_AUDITD, {"term": {"event.action": "execve"}}), start])
    if key in ("linux:cat:file_event", "linux:cat:file_delete"):
        nametype = "create" if key.endswith("file_event") else "delete"
        return _all(_AUDITD, {"term": {"event.action": "path"}}, {"term": {"labels.auditd_nametype" + CI: nametype}})
    if key == "cisco:*":
        raise NotConvertible("the Cisco IOS route is a pattern in the message text", "cisco-route")
    raise NotConvertible(f"route '{key}': only Sysmon for Linux carries it, whose fields are Windows-shaped",
                         "linux-sysmon-only")  # fmt: skip


def ecs_logsource_filter(keys: Sequence[str]) -> dict[str, Any]:
    """ECS events only (no `winlog.channel`) of any of these route keys."""
    return _all({"bool": {"must_not": [{"exists": {"field": "winlog.channel"}}]}}, _any([ecs_route(k) for k in keys]))


AUDITD_ONLY = frozenset({"linux:svc:auditd", "linux:cat:file_event", "linux:cat:file_delete"})


def is_ecs_route(key: str) -> bool:
    return key.startswith(("linux:", "cat:", "svc:", "cisco:")) and key != "cat:antivirus"
