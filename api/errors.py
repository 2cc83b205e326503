"""API errors: each a VigilError with the HTTP status it maps to (handlers in `api.app`)."""

from __future__ import annotations

from core.errors import VigilError


class ApiError(VigilError):
    status_code = 500

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class NotAuthenticated(ApiError):
    """No token, a malformed header, or a token that is unknown, revoked or expired."""

    status_code = 401

    def __init__(self, detail: str, error: str = "invalid_token") -> None:
        # RFC 6750 §3: tell the client which scheme to use and why the token failed.
        super().__init__(detail, {"WWW-Authenticate": f'Bearer realm="vigil", error="{error}"'})


class Forbidden(ApiError):
    status_code = 403


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    """The resource is not in a state that allows the change (an invalid status transition, a
    hold already released, a record signed by someone else meanwhile, a concurrent change that kept
    winning): reload and retry."""

    status_code = 409


class BadRequest(ApiError):
    """Input that passed type validation but is still wrong (bad query syntax, bad cursor)."""

    status_code = 422


class PayloadTooLarge(ApiError):
    status_code = 413


class UnsupportedMediaType(ApiError):
    status_code = 415


class BackendUnavailable(ApiError):
    """Kafka or Elasticsearch did not answer; the request did nothing the client can rely on."""

    status_code = 503


class AuditUnavailable(BackendUnavailable):
    """The audit trail could not be written, so the logs that were read are not returned."""
