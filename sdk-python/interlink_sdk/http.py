"""Outbound HTTP, sent by the host.

The host checks every request against the manifest's `outbound_hosts` before
anything leaves, fills in secret headers, follows no redirects, and bounds
time and size. There is no other way out: Python's own sockets are not
available to an adapter.
"""

from __future__ import annotations

import json as _json
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any
from urllib.parse import quote

from componentize_py_types import Err
from wit_world.imports import http as wit

from . import clock
from .errors import AdapterError, Forbidden, Invalid, NotFound, RateLimited, Unauthorized, Upstream


class Method(Enum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"

    def to_wit(self) -> wit.Method:
        return wit.Method[self.name]

    @classmethod
    def from_wit(cls, method: wit.Method) -> Method:
        return cls[method.name]


def encode(value: str) -> str:
    """`value` percent-encoded for a query string."""
    return quote(value, safe="")


def segment(value: str) -> str:
    """`value` as one path segment: percent-encoded, and never `.` or `..`
    (an id from a client must not climb the system's paths)."""
    if value in ("", ".", ".."):
        raise Invalid.field("/id", "invalid_value", f"`{value}` is not a record id")
    return quote(value, safe="")


class Request:
    """A request the host sends for the adapter. Build it, then `send()` it."""

    def __init__(self, method: Method, url: str) -> None:
        self._request = wit.Request(
            method=method.to_wit(),
            url=url,
            headers=[],
            secret_headers=[],
            body=None,
            timeout_ms=None,
            read_only=False,
        )

    @classmethod
    def get(cls, url: str) -> Request:
        return cls(Method.GET, url)

    @classmethod
    def post(cls, url: str) -> Request:
        return cls(Method.POST, url)

    @classmethod
    def put(cls, url: str) -> Request:
        return cls(Method.PUT, url)

    @classmethod
    def patch(cls, url: str) -> Request:
        return cls(Method.PATCH, url)

    @classmethod
    def delete(cls, url: str) -> Request:
        return cls(Method.DELETE, url)

    @property
    def method(self) -> Method:
        return Method.from_wit(self._request.method)

    @property
    def url(self) -> str:
        return self._request.url

    def header(self, name: str, value: str) -> Request:
        self._request.headers.append(wit.Header(name, value))
        return self

    def secret_header(self, name: str, secret: str, prefix: str = "") -> Request:
        """A header whose value the host fills in from the connection's secret
        config field `secret`, after `prefix` (`"Bearer "`). The adapter never
        sees the secret."""
        self._request.secret_headers.append(wit.SecretHeader(name, secret, prefix))
        return self

    def body(self, body: bytes) -> Request:
        self._request.body = bytes(body)
        return self

    def json(self, body: Any) -> Request:
        """`body` as JSON, with its content type."""
        self.header("Content-Type", "application/json")
        return self.body(_json.dumps(body, separators=(",", ":")).encode())

    def timeout_ms(self, ms: int) -> Request:
        """A shorter timeout than the host's."""
        self._request.timeout_ms = ms
        return self

    def read_only(self) -> Request:
        """The request changes nothing in the system, whatever its method (a
        token request, a query sent as `POST`): a dry-run write sends it."""
        self._request.read_only = True
        return self

    def send(self) -> Response:
        """Sends the request. One the host refuses, or one without a response,
        raises `Upstream` with status 0."""
        try:
            return Response(wit.send(self._request))
        except Err as err:
            raise Upstream(0, _describe(err.value)) from None


def _describe(error: wit.Error) -> str:
    if isinstance(error, wit.Error_Denied):
        return f"request denied by the host: {error.value}"
    if isinstance(error, wit.Error_InvalidRequest):
        return f"invalid request: {error.value}"
    if isinstance(error, wit.Error_Timeout):
        return "the system did not answer in time"
    if isinstance(error, wit.Error_TooLarge):
        return f"the response exceeded {error.value} bytes"
    return f"could not reach the system: {error.value}"


class Response:
    """A complete response."""

    def __init__(self, response: wit.Response) -> None:
        self._response = response

    @classmethod
    def new(cls, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Response:
        """A response made by the adapter itself (tests, passthrough answers)."""
        pairs = [wit.Header(k, v) for k, v in (headers or {}).items()]
        return cls(wit.Response(status, pairs, bytes(body)))

    def to_wit(self) -> wit.Response:
        return self._response

    @property
    def status(self) -> int:
        return self._response.status

    def header(self, name: str) -> str | None:
        """The first header named `name` (case-insensitive)."""
        lower = name.lower()
        for header in self._response.headers:
            if header.name.lower() == lower:
                return header.value
        return None

    @property
    def body(self) -> bytes:
        return self._response.body

    def json(self) -> Any:
        """The body as JSON; an undecodable body is the system's failure."""
        try:
            return _json.loads(self._response.body)
        except ValueError as e:
            raise Upstream(0, f"unexpected response from the system: {e}") from None

    def error_for_status(self) -> Response:
        """Raises the typed error of a failure status: 401 `Unauthorized`, 403
        `Forbidden`, 404 `NotFound`, 429 `RateLimited` (with `Retry-After`),
        any other 4xx or 5xx `Upstream`. Adapters whose system says more in
        its error bodies map those themselves."""
        status = self.status
        if status < 400:
            return self
        # Enough of the system's words to say what went wrong; not its page.
        text = self.body.decode("utf-8", "replace")[:300]
        error: AdapterError
        if status == 401:
            error = Unauthorized(text)
        elif status == 403:
            error = Forbidden(text)
        elif status == 404:
            error = NotFound(text)
        elif status == 429:
            value = self.header("retry-after")
            retry = retry_after_ms(value, clock.now_ms()) if value is not None else None
            error = RateLimited(text, retry)
        else:
            error = Upstream(status, text)
        raise error


def retry_after_ms(value: str, now_ms: int) -> int | None:
    """The wait a `Retry-After` value asks for, in milliseconds, at `now_ms`:
    delay-seconds (`120`) or an HTTP date (zero once past); `None` for
    anything else."""
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at is None or at.tzinfo is None:
        return None
    return max(0, int(at.timestamp() * 1000) - now_ms)


class PassthroughRequest:
    """A client's request for the system's own API, sent to the host's
    `/v1/passthrough/{path}`. The host refused `..` segments, `//` and
    control characters in `path`, and forwards only harmless headers."""

    def __init__(
        self,
        method: Method,
        path: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = list(headers or [])
        self.body = body

    @classmethod
    def from_wit(cls, request: Any) -> PassthroughRequest:
        return cls(
            Method.from_wit(request.method),
            request.path,
            [(h.name, h.value) for h in request.headers],
            request.body,
        )

    def to(self, base: str) -> Request:
        """The request to send: the path after `base` (the system's base URL),
        with the client's headers and body. Add the connection's credentials,
        then `send()` it."""
        request = Request(self.method, base.rstrip("/") + self.path)
        for name, value in self.headers:
            request.header(name, value)
        if self.body is not None:
            request.body(self.body)
        return request
