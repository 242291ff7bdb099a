"""Typed adapter failures.

Raise one of these from an operation; the SDK hands it to the host as the
contract's `adapter-error`, and the host maps each to a precise API error:
`Unauthorized` marks the connection as requiring reauthorization,
`Forbidden` becomes a 403 listing the missing permissions, `Invalid` a 422
listing each field, and so on. Any other exception is a bug of the adapter:
the host answers `adapter_failed` and logs the traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

from wit_world.imports import types as wit


class AdapterError(Exception):
    """The base of every typed failure."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_wit(self) -> wit.AdapterError:
        raise NotImplementedError


class Unauthorized(AdapterError):
    """The system rejected the connection's credentials."""

    def to_wit(self) -> wit.AdapterError:
        return wit.AdapterError_Unauthorized(self.message)


class Forbidden(AdapterError):
    """The account lacks permissions (in the system's own terms)."""

    def __init__(self, message: str, missing_permissions: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing_permissions = list(missing_permissions or [])

    def to_wit(self) -> wit.AdapterError:
        return wit.AdapterError_Forbidden(wit.Forbidden(self.message, self.missing_permissions))


@dataclass
class FieldError:
    """One problem with one field: `path` is a JSON pointer into the record
    (`/lines/0/item_id`), `code` is machine-readable (`required`)."""

    path: str
    code: str
    message: str


class Invalid(AdapterError):
    """The record breaks the system's rules; one error per field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = list(errors)

    @classmethod
    def field(cls, path: str, code: str, message: str) -> Invalid:
        """One field breaks a rule."""
        return cls([FieldError(path, code, message)])

    def to_wit(self) -> wit.AdapterError:
        return wit.AdapterError_Invalid(
            [wit.FieldError(e.path, e.code, e.message) for e in self.errors]
        )


class NotFound(AdapterError):
    """No such record (or entity)."""

    def to_wit(self) -> wit.AdapterError:
        return wit.AdapterError_NotFound(self.message)


class Conflict(AdapterError):
    """The record's state (`state`, when known) forbids the request."""

    def __init__(self, message: str, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state

    def to_wit(self) -> wit.AdapterError:
        return wit.AdapterError_Conflict(wit.Conflict(self.message, self.state))


class RateLimited(AdapterError):
    """The system asked to slow down; `retry_after_ms` when it said when."""

    def __init__(self, message: str, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms

    def to_wit(self) -> wit.AdapterError:
        return wit.AdapterError_RateLimited(wit.RateLimited(self.message, self.retry_after_ms))


class Upstream(AdapterError):
    """The system failed with HTTP `status` (0 when it never answered)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def to_wit(self) -> wit.AdapterError:
        return wit.AdapterError_Upstream(wit.UpstreamFailure(self.status, self.message))


class Unsupported(AdapterError):
    """The adapter does not support this request."""

    def to_wit(self) -> wit.AdapterError:
        return wit.AdapterError_Unsupported(self.message)
