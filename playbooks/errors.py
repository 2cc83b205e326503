"""Errors of the response engine: each maps to one HTTP status in the API."""

from core.errors import VigilError


class ResponseError(VigilError):
    """Root of the playbook engine's refusals."""


class NotFound(ResponseError):
    """No such incident, step or playbook."""


class InvalidTransition(ResponseError):
    """The incident or step is not in a state that allows it (already done, not awaiting approval...)."""


class MissingEvidence(ResponseError):
    """A step was completed without its required evidence fields."""


class UnknownAlerts(ResponseError):
    """An incident was to be opened with alerts that are not stored."""


class Forbidden(ResponseError):
    """The actor's role may not do this (approve a containment that needs an admin...)."""


class ConcurrentModification(ResponseError):
    """Someone else changed the incident since it was read: read it again and retry."""
