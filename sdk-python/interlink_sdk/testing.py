"""A double of the host for plain unit tests of an adapter (outside the
sandbox): canned HTTP answers, a kv store, a clock, recorded logs, and the
requests the adapter sent.

    with TestHost() as host:
        host.respond("GET", "https://demo.example/api/me", 200, '{"accountId": "a1"}')
        account = MyAdapter().connect(Context("c1", {"base_url": "https://demo.example"}))
        assert host.sent[0].secret_headers == [("Authorization", "api_key")]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from componentize_py_types import Err
from wit_world.imports import clock as wit_clock
from wit_world.imports import http as wit_http
from wit_world.imports import kv as wit_kv
from wit_world.imports import log as wit_log
from wit_world.imports import secrets as wit_secrets


@dataclass
class Sent:
    """A request the adapter sent: secret headers by name (header, secret
    field), never by value."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    secret_headers: list[tuple[str, str]]
    body: bytes | None
    read_only: bool


class TestHost:
    """Installs itself as the host's imports while in a `with` block."""

    __test__ = False  # not a test class, for pytest

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], wit_http.Response] = {}
        self.sent: list[Sent] = []
        self.kv: dict[str, bytes] = {}
        self.logs: list[tuple[str, str, dict[str, str]]] = []
        self.now_ms = 1_700_000_000_000
        self._saved: list[tuple[Any, str, Any]] = []

    def respond(
        self,
        method: str,
        url: str,
        status: int,
        body: str | bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answers `method url` with `status`, `body` and `headers`."""
        data = body.encode() if isinstance(body, str) else bytes(body)
        pairs = [wit_http.Header(k, v) for k, v in (headers or {}).items()]
        self.answers[(method.upper(), url)] = wit_http.Response(status, pairs, data)

    def _send(self, request: wit_http.Request) -> wit_http.Response:
        method = request.method.name
        self.sent.append(
            Sent(
                method,
                request.url,
                [(h.name, h.value) for h in request.headers],
                [(h.name, h.secret) for h in request.secret_headers],
                request.body,
                request.read_only,
            )
        )
        answer = self.answers.get((method, request.url))
        if answer is None:
            raise Err(wit_http.Error_Transport(f"no answer for {method} {request.url} in the test"))
        return answer

    def _kv_set(self, key: str, value: bytes, ttl_seconds: int | None) -> None:
        self.kv[key] = bytes(value)

    def _log(self, level: wit_log.Level, message: str, fields: list[wit_log.LogField]) -> None:
        self.logs.append((level.name.lower(), message, {f.key: f.value for f in fields}))

    def _sign(self, request: wit_secrets.JwtRequest) -> str:
        return f"signed-by-{request.key}"

    def __enter__(self) -> TestHost:
        patches = [
            (wit_http, "send", self._send),
            (wit_kv, "get", self.kv.get),
            (wit_kv, "set", self._kv_set),
            (wit_kv, "delete", lambda key: self.kv.pop(key, None)),
            (wit_log, "log", self._log),
            (wit_clock, "now_ms", lambda: self.now_ms),
            (wit_secrets, "sign_jwt", self._sign),
        ]
        for module, name, value in patches:
            self._saved.append((module, name, getattr(module, name)))
            setattr(module, name, value)
        return self

    def __exit__(self, *exc: object) -> None:
        for module, name, value in reversed(self._saved):
            setattr(module, name, value)
        self._saved.clear()
