"""Sigma rules evaluated on the event stream (pySigma parsing, Vigil's own compiled matchers)."""

from detectors.sigma import native

native.use_build(__path__)  # before the modules below import the field view (see native.py)

# ruff: noqa: E402 - the compiled build must be on the search path first

from detectors.sigma.engine import Evaluation, LoadReport, RuleMatch, SigmaEngine
from detectors.sigma.errors import RuleCompileError, RuleEvaluationError, SigmaEngineError
from detectors.sigma.loader import RuleInfo, SkippedRule, SkipReason

__all__ = [
    "Evaluation", "LoadReport", "RuleCompileError", "RuleEvaluationError", "RuleInfo", "RuleMatch",
    "SigmaEngine", "SigmaEngineError", "SkipReason", "SkippedRule",
]  # fmt: skip
