"""What a correlation condition compares, for a window of entries: from scratch (`measure`) or kept
up to date as events arrive in time order (`RunningWindow`), which makes the common in-order case
O(1) per event instead of a pass over the window."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from detectors.sigma.correlation_rules import CorrelationRule, CorrelationType
from detectors.sigma.correlation_state import WindowEntry


def entry_time(entry: WindowEntry) -> datetime:
    return entry.t


def measure(rule: CorrelationRule, entries: Sequence[WindowEntry], start: int, stop: int) -> float | None:
    """What the condition compares for the window entries[start:stop]; None when nothing to compare."""
    if rule.type is CorrelationType.EVENT_COUNT:
        return stop - start
    window = entries[start:stop]
    match rule.type:
        case CorrelationType.VALUE_COUNT:
            return len({e.value for e in window if e.value is not None})
        case CorrelationType.VALUE_SUM:
            return math.fsum(e.value for e in window if isinstance(e.value, float))
        case CorrelationType.VALUE_AVG:
            numbers = [e.value for e in window if isinstance(e.value, float)]
            return math.fsum(numbers) / len(numbers) if numbers else None
        case CorrelationType.TEMPORAL:
            return len({r for e in window for r in e.rules})
        case CorrelationType.TEMPORAL_ORDERED:
            return ordered_prefix(rule.rules, window)
    raise AssertionError(rule.type)


def ordered_prefix(order: Sequence[str], window: Sequence[WindowEntry]) -> int:
    """How many of the rules, in their given order, appear one after another in the window.

    Greedy earliest match is optimal for a subsequence; one event advances one step only, so a single
    event matching both A and B is not "A followed by B".
    """
    step = 0
    for entry in window:
        if step < len(order) and order[step] in entry.rules:
            step += 1
    return step


@dataclass(slots=True)
class RunningWindow:
    """The aggregate of entries[start:] of one group: the window ending at its latest entry.

    In memory only: rebuilt from the checkpointed entries after a restore or an out-of-order insert.
    """

    start: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # value_count: values; temporal types: rules
    total: float = 0.0
    numbers: int = 0
    fractional: int = 0  # non-integral numbers in the window: their running sum may drift, recompute

    @classmethod
    def build(cls, rule: CorrelationRule, entries: Sequence[WindowEntry], start: int) -> RunningWindow:
        window = cls(start)
        for entry in entries[start:]:
            window.add(rule, entry)
        return window

    def add(self, rule: CorrelationRule, entry: WindowEntry) -> None:
        self._update(rule, entry, 1)

    def remove(self, rule: CorrelationRule, entry: WindowEntry) -> None:
        self._update(rule, entry, -1)

    def _update(self, rule: CorrelationRule, entry: WindowEntry, sign: int) -> None:
        match rule.type:
            case CorrelationType.VALUE_COUNT if isinstance(entry.value, str):
                self.counts[entry.value] += sign
                if not self.counts[entry.value]:
                    del self.counts[entry.value]
            case CorrelationType.VALUE_SUM | CorrelationType.VALUE_AVG if isinstance(entry.value, float):
                self.total += sign * entry.value
                self.numbers += sign
                self.fractional += sign * (not entry.value.is_integer())
            case CorrelationType.TEMPORAL | CorrelationType.TEMPORAL_ORDERED:
                for ref in entry.rules:
                    self.counts[ref] += sign
                    if not self.counts[ref]:
                        del self.counts[ref]

    def measure(self, rule: CorrelationRule, entries: Sequence[WindowEntry]) -> float | None:
        stop = len(entries)
        match rule.type:
            case CorrelationType.EVENT_COUNT:
                return stop - self.start
            case CorrelationType.VALUE_COUNT | CorrelationType.TEMPORAL:
                return len(self.counts)
            case CorrelationType.VALUE_SUM | CorrelationType.VALUE_AVG if self.fractional:
                return measure(rule, entries, self.start, stop)
            case CorrelationType.VALUE_SUM:
                return self.total  # integral values: the running sum is exact
            case CorrelationType.VALUE_AVG:
                return self.total / self.numbers if self.numbers else None
            case CorrelationType.TEMPORAL_ORDERED:
                # the ordered prefix is at most the number of distinct rules: scan only when that could hold
                if not rule.condition.holds(len(self.counts)):
                    return len(self.counts)
                return ordered_prefix(rule.rules, entries[self.start : stop])
        raise AssertionError(rule.type)
