"""Report errors: what the officer or the operator can act on."""

from core.errors import VigilError


class ReportError(VigilError):
    """A report could not be generated, stored or rendered."""


class SignOffError(ReportError):
    """A sign-off was refused: no record, a concurrent change, or an invalid request."""
