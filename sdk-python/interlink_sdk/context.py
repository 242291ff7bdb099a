"""The connection a call is made for."""

from __future__ import annotations

from wit_world.imports import types as wit

from .errors import Invalid


class Context:
    """Who a call is made for: the connection's id and its non-secret config.

    Secret config values never reach the adapter; use them through
    `Request.secret_header` and `secrets.sign_jwt`.
    """

    def __init__(self, connection_id: str, config: dict[str, str] | None = None) -> None:
        self.connection_id = connection_id
        self._config = dict(config or {})

    @classmethod
    def from_wit(cls, ctx: wit.CallContext) -> Context:
        return cls(ctx.connection_id, {c.name: c.value for c in ctx.config})

    def config_opt(self, name: str) -> str | None:
        """The config value `name`, if the connection has one."""
        return self._config.get(name)

    def config(self, name: str) -> str:
        """The config value `name`; an `Invalid` error naming it when missing."""
        value = self._config.get(name)
        if value is None:
            raise Invalid.field(
                f"/config/{name}", "required", f"the connection has no `{name}` config value"
            )
        return value

    def __repr__(self) -> str:
        return f"Context({self.connection_id!r}, {self._config!r})"
