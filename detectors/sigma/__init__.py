"""Sigma rules evaluated on the event stream (pySigma parsing, Vigil's own compiled matchers)."""

from detectors.sigma.engine import Evaluation, LoadReport, RuleMatch, SigmaEngine
from detectors.sigma.errors import RuleCompileError, RuleEvaluationError, SigmaEngineError
from detectors.sigma.loader import RuleInfo, SkippedRule, SkipReason

__all__ = [
    "Evaluation", "LoadReport", "RuleCompileError", "RuleEvaluationError", "RuleInfo", "RuleMatch",
    "SigmaEngine", "SigmaEngineError", "SkipReason", "SkippedRule",
]  # fmt: skip
