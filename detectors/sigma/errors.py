"""Errors of the Sigma engine: each names the rule and what to do about it."""

from __future__ import annotations

from core.errors import VigilError


class SigmaEngineError(VigilError):
    """Root of the Sigma engine's errors."""


class RuleCompileError(SigmaEngineError):
    """A parsed rule could not be turned into a matcher (a defect unless `reason` says otherwise)."""

    def __init__(self, message: str, *, reason: str = "compile-error") -> None:
        super().__init__(message)
        self.reason = reason


class RuleEvaluationError(SigmaEngineError):
    """A compiled rule raised while evaluating one event; counted per rule and reported, never a no-match."""

    def __init__(self, rule_id: str, event_id: str | None, cause: BaseException) -> None:
        super().__init__(f"rule {rule_id} failed on event {event_id or '?'}: {type(cause).__name__}: {cause}")
        self.rule_id = rule_id
        self.event_id = event_id
        self.cause = cause
