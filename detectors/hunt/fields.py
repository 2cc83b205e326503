"""The hunt's pySigma transformation: Sigma detection items → the fields Vigil events carry in `logs-*`.

Windows only. Sigma names Windows fields the way the event writes them (`CommandLine`, `EventID`); the
indexer keeps `winlog.event_data.*` under its original names and the System fields in `winlog.*`.
The stream compares field names case-insensitively (`view.norm_field`), Elasticsearch does not: names
are resolved against the names actually indexed (`_field_caps`), so `commandline` finds `CommandLine`.

Case. Sigma matches case-insensitively unless `|cased`; keyword fields are exact. Every string of
`logs-*` has a `.ci` subfield with a lowercase normalizer (`core.index_templates`): a default Sigma
value becomes a lower-cased term/wildcard on `<field>.ci`; `|cased`, `|re` (case-sensitive in Sigma),
numbers, null and exists stay on the original keyword. `|re|i` is lower-cased outside escapes and
character-class shorthands and runs on `.ci`.

Regular expressions. Lucene's are anchored on the whole term and lack some Python constructs, Sigma's
are searches: `regex_to_lucene` wraps, strips `^`/`$`, escapes Lucene's extra operators, and refuses
what it cannot translate exactly (lookarounds, backreferences, `\\b`, flags m/s), so such a rule is
reported "not convertible" instead of silently matching something else. Lucene also refuses regexes
whose automaton would be too large (`.{1000,}`); `convert.validate` asks Elasticsearch about those.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sigma.conditions import ConditionAND, ConditionOR
from sigma.processing.transformations.base import DetectionItemTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaExists,
    SigmaExpansion,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaType,
)

from core.errors import VigilError
from detectors.sigma.view import INTEGRITY_LEVELS, SPELLED_FIELDS

CI = ".ci"  # the lowercase-normalized subfield of every string in logs-*
EVENT_DATA = "winlog.event_data."
# Sigma's Windows System fields → winlog (the stream's view.py `windows_view` / `_system_field`).
SYSTEM_FIELDS: dict[str, tuple[str, ...]] = {
    "eventid": ("winlog.event_id",),
    "channel": ("winlog.channel",),
    "eventlog": ("winlog.channel",),
    "provider_name": ("winlog.provider_name",),
    "computer": ("winlog.computer_name",),
    "computername": ("winlog.computer_name",),
    "eventrecordid": ("winlog.record_id",),
}
# Aliases the stream sets on some events only, and only where the event lacks the name (`setdefault`):
# Security 4688 under the Sysmon process_creation names, Defender detections under the antivirus names.
ALIASES_4688: dict[str, str] = {"image": "NewProcessName", "parentimage": "ParentProcessName",
                                "logonid": "SubjectLogonId"}  # fmt: skip
ALIASES_DEFENDER: dict[str, str] = {"signature": "ThreatName", "filename": "Path"}
# Fields the stream derives (view.py `_system_field`), or builds on 4688 from several values: no query.
DERIVED = frozenset({"keywords", "level", "task", "opcode", "security_userid"})
DERIVED_4688 = frozenset({"user"})  # `TargetDomainName\\TargetUserName`, else the subject's
# 4688 `MandatoryLabel` SIDs by the IntegrityLevel name the stream shows for them (view.py `INTEGRITY_LEVELS`).
INTEGRITY_SIDS: dict[str, tuple[str, ...]] = {}
for _sid, _name in INTEGRITY_LEVELS.items():
    INTEGRITY_SIDS[_name.lower()] = (*INTEGRITY_SIDS.get(_name.lower(), ()), _sid)


class NotConvertible(VigilError):
    """A rule construct the hunt cannot express exactly in Lucene; the rule is reported, not run."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind  # the short reason `vigil hunt rules` counts by


# Fields the stream also sees in other spellings (`view.SPELLED_FIELDS`): access-right codes by name, GUIDs
# with and without `%{ }`. Elasticsearch holds only the logged form, so a rule value in another spelling
# is left to the stream's compiled rule (an engine hunt); values in the logged form (`%%4417`, a path)
# are matched alike by both and stay Lucene queries.
ACCESS_FIELDS = frozenset(k for access, _ in SPELLED_FIELDS.values() for k in access)
GUID_FIELDS = frozenset(k for _, guids in SPELLED_FIELDS.values() for k in guids)
_GUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def spelled_differently(field_name: str, value: SigmaType) -> bool:
    """Whether the stream could match `value` on a spelling the index does not hold (conservative)."""
    key = norm(field_name)
    if key not in ACCESS_FIELDS and key not in GUID_FIELDS:
        return False
    if not isinstance(value, SigmaString):
        return True
    text = str(value)
    if key in ACCESS_FIELDS:  # a name, or a hex mask the stream may see beside its codes' names
        return "%%" not in text
    return _GUID_TEXT.search(text) is not None


def norm(name: str) -> str:
    return name.replace(" ", "").lower()


@dataclass(frozen=True)
class FieldNames:
    """Indexed event data names by normalised name (several spellings may exist across sources)."""

    by_norm: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, indexed: Sequence[str]) -> FieldNames:
        out: dict[str, list[str]] = {}
        for name in indexed:
            if name.startswith(EVENT_DATA) and not name.endswith(CI):
                short = name[len(EVENT_DATA) :]
                out.setdefault(norm(short), []).append(short)
        return cls({k: tuple(sorted(v)) for k, v in out.items()})

    def event_data(self, sigma_name: str) -> tuple[str, ...]:
        return tuple(EVENT_DATA + n for n in self.by_norm.get(norm(sigma_name), (sigma_name.replace(" ", ""),)))

    def resolve(self, sigma_name: str, sees_4688: bool, aliases: Mapping[str, str]) -> list[Choice]:
        """Where the stream reads the field: the event data name first (the view is built from it), then
        the System field or alias, which the stream uses only when the event data lacks the name."""
        key = norm(sigma_name)
        if key in DERIVED or (sees_4688 and key in DERIVED_4688):
            raise NotConvertible(f"field '{sigma_name}' is derived by the stream from several values", "derived-field")
        own = self.event_data(sigma_name)
        fallback = SYSTEM_FIELDS.get(key, ()) or (self.event_data(aliases[key]) if key in aliases else ())
        if key in SYSTEM_FIELDS and key not in self.by_norm:
            return [Choice(f) for f in fallback]  # no event data of that name anywhere: the System field
        return [Choice(f) for f in own] + [Choice(f, absent=own) for f in fallback]


@dataclass(frozen=True)
class Choice:
    """Match on `field`, when none of `absent` exists (how `setdefault` in the stream's view reads)."""

    field: str
    absent: tuple[str, ...] = ()


@dataclass
class WindowsHuntFields(DetectionItemTransformation):
    """Field names and case handling of every detection item (one pySigma transformation)."""

    names: FieldNames = field(default_factory=FieldNames)
    sees_4688: bool = False  # the rule's routes include Security 4688, seen with Sysmon names
    aliases: Mapping[str, str] = field(default_factory=dict)  # ALIASES_4688 and/or ALIASES_DEFENDER

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> SigmaDetection | SigmaDetectionItem | None:
        item = detection_item
        parts: list[tuple[bool, SigmaType]] = [p for v in _flatten(item.value) for p in _adapt(v)]
        if item.field is None:  # keyword search: the query's default fields are the `.ci` ones
            if not all(ci for ci, _ in parts):
                raise NotConvertible("case-sensitive or regex keyword search", "keyword-regex")
            return _item(None, [v for _, v in parts], item)
        if any(spelled_differently(item.field, v) for _, v in parts):
            raise NotConvertible(f"field '{item.field}' is also matched in other spellings by the stream",
                                 "derived-field")  # fmt: skip
        if self.sees_4688 and norm(item.field) == "integritylevel":
            return self._integrity_level(item, parts)
        choices = self.names.resolve(item.field, self.sees_4688, self.aliases)
        groups = [(ci, [v for c, v in parts if c == ci]) for ci in (True, False)]
        linking = item.value_linking  # OR (default) or AND (`|all`): within one field, across its groups
        per_field: list[SigmaDetectionItem | SigmaDetection] = []
        for choice in choices:
            items: list[SigmaDetectionItem | SigmaDetection] = [
                _item(choice.field + CI if ci else choice.field, values, item) for ci, values in groups if values
            ]
            match = items[0] if len(items) == 1 else SigmaDetection(items, item.source, item_linking=linking)
            if choice.absent:
                missing = [_item(f, [SigmaNull()], item) for f in choice.absent]
                match = SigmaDetection([*missing, match], item.source, item_linking=ConditionAND)
            per_field.append(match)
        if len(per_field) == 1:
            return per_field[0]
        return SigmaDetection(per_field, item.source, item_linking=ConditionOR)

    def _integrity_level(self, item: SigmaDetectionItem, parts: list[tuple[bool, SigmaType]]) -> SigmaDetection:
        """Sysmon's IntegrityLevel, or the 4688 MandatoryLabel SIDs the stream names that way."""
        values = [v for _, v in parts]
        if item.value_linking is ConditionAND or not all(
            isinstance(v, SigmaString) and not v.contains_special() for v in values
        ):
            raise NotConvertible("IntegrityLevel on 4688 is derived: plain values only", "derived-field")
        sids = [SigmaString(sid) for v in values for sid in INTEGRITY_SIDS.get(str(v), ())]
        items: list[SigmaDetectionItem | SigmaDetection] = [
            _item(f + CI, values, item) for f in self.names.event_data("IntegrityLevel")
        ]
        if sids:
            items += [_item(f + CI, list(sids), item) for f in self.names.event_data("MandatoryLabel")]
        return SigmaDetection(items, item.source, item_linking=ConditionOR)


def _item(name: str | None, values: list[SigmaType], like: SigmaDetectionItem) -> SigmaDetectionItem:
    # no modifiers: the values are final (modifiers were applied when pySigma parsed the rule)
    return SigmaDetectionItem(name, [], values, like.value_linking, like.negated, like.source, auto_modifiers=False)


def _flatten(values: Sequence[SigmaType]) -> list[SigmaType]:
    out: list[SigmaType] = []
    for value in values:
        out += _flatten(value.values) if isinstance(value, SigmaExpansion) else [value]
    return out


def _adapt(value: SigmaType) -> list[tuple[bool, SigmaType]]:
    """(on the `.ci` subfield?, the value to query), one or two per Sigma value."""
    if isinstance(value, SigmaCasedString):
        plain = SigmaString("")
        plain.s, plain.original = value.s, value.original
        return [(False, plain)]
    if isinstance(value, SigmaString):
        return [(True, value.lower())]
    if isinstance(value, SigmaRegularExpression):
        ignore_case = SigmaRegularExpressionFlag.IGNORECASE in value.flags
        if value.flags - {SigmaRegularExpressionFlag.IGNORECASE}:
            raise NotConvertible("regex flags m/s have no Lucene equivalent", "regex")
        text, inline = regex_to_lucene(str(value.regexp))
        ignore_case = ignore_case or inline
        return [(ignore_case, SigmaRegularExpression(lower_regex(text) if ignore_case else text))]
    if isinstance(value, SigmaNumber | SigmaNull | SigmaBool | SigmaExists):
        return [(False, value)]
    # compare (lt/gt on keyword would be lexicographic), cidr (keyword, not ip), fieldref, placeholders
    kind = type(value).__name__.removeprefix("Sigma").removesuffix("Expression").lower()
    raise NotConvertible(f"{type(value).__name__} values have no exact query on keyword event data", kind)


_UNSUPPORTED_ESCAPES = set("123456789bBAZzGxuUNpPck0")  # backrefs, word boundaries, code points, classes
_LUCENE_OPERATORS = set('@&<>~#"')  # literal in Python regexes, operators in Lucene's


def regex_to_lucene(pattern: str) -> tuple[str, bool]:
    """A Python search regex as an equivalent Lucene (whole-term) regex and whether it ignores case
    (a leading inline `(?i)`), or NotConvertible."""
    ignore_case = pattern.startswith("(?i)")
    body = pattern[4:] if ignore_case else pattern
    starts, ends = body.startswith("^"), body.endswith("$") and not body.endswith("\\$")
    body = body[1 if starts else 0 : len(body) - 1 if ends else len(body)]
    out: list[str] = []
    i, depth, in_class = 0, 0, False
    while i < len(body):
        char, nxt = body[i], body[i + 1 : i + 2]
        if char == "\\" and nxt:
            if nxt in _UNSUPPORTED_ESCAPES:
                raise NotConvertible(f"regex escape \\{nxt} has no Lucene equivalent: {pattern!r}", "regex")
            out.append(char + nxt)
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char in "^$":
            raise NotConvertible(f"anchor inside the regex {pattern!r}", "regex")
        elif char == "(" and nxt == "?":
            if body[i : i + 3] != "(?:":
                raise NotConvertible(f"regex group {body[i : i + 3]} has no Lucene equivalent: {pattern!r}", "regex")
            body = body[: i + 1] + body[i + 3 :]  # (?:x) is (x) for matching
            depth += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0 and (starts or ends):
            raise NotConvertible(f"anchored top-level alternation in {pattern!r}", "regex")
        elif char in "*+?}" and nxt == "?":
            out.append(char)  # a lazy quantifier matches the same whole terms as a greedy one
            i += 2
            continue
        out.append("\\" + char if char in _LUCENE_OPERATORS else char)
        i += 1
    core = "".join(out)
    wrapped = core if starts and ends else f"({core})"
    return ("" if starts else ".*") + wrapped + ("" if ends else ".*"), ignore_case


def lower_regex(pattern: str) -> str:
    """Lower-case the literals of a regex, leaving escapes (`\\S`, `\\W`, `\\D`) as they are."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
        else:
            out.append(pattern[i].lower())
            i += 1
    return "".join(out)
