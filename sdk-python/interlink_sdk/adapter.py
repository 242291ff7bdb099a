"""The class an adapter implements, and the component export made of it."""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import adapter as wit_adapter
from wit_world.imports import http as wit_http
from wit_world.imports import types as wit

from . import log
from .context import Context
from .errors import AdapterError, Unsupported
from .http import PassthroughRequest, Response
from .manifest import Account, Manifest

#: A record of the unified model, as parsed JSON.
Record = dict[str, Any]


@dataclass
class ListRequest:
    """A request for one page of records."""

    entity: str
    #: Where the previous page ended; `None` for the first page.
    cursor: str | None
    #: The most records to return.
    page_size: int
    #: Only records modified after this RFC 3339 timestamp.
    modified_after: str | None = None


@dataclass
class Page:
    """One page of records, and where the next one starts (`None`: the last)."""

    records: list[Record]
    next_cursor: str | None = None


class Adapter:
    """An adapter: override `manifest` and the operations the manifest
    declares. Each operation gets the call's `Context` and raises a typed
    error (`interlink_sdk.errors`) when it fails. The ones not overridden
    answer `Unsupported`.

    A new object serves each call; keep nothing on `self` between calls.
    Records are plain dicts of the unified model's JSON.
    """

    @classmethod
    def manifest(cls) -> Manifest:
        raise NotImplementedError("an adapter declares its manifest")

    def connect(self, ctx: Context) -> Account:
        raise Unsupported("connect is not supported")

    def list(self, ctx: Context, request: ListRequest) -> Page:
        raise Unsupported(f"listing {request.entity} is not supported")

    def get(self, ctx: Context, entity: str, id: str) -> Record:
        raise Unsupported(f"reading {entity} is not supported")

    def create(self, ctx: Context, entity: str, record: Record) -> Record:
        raise Unsupported(f"creating {entity} is not supported")

    def update(self, ctx: Context, entity: str, id: str, patch: Record) -> Record:
        raise Unsupported(f"updating {entity} is not supported")

    def delete(self, ctx: Context, entity: str, id: str) -> None:
        raise Unsupported(f"deleting {entity} is not supported")

    def passthrough(self, ctx: Context, request: PassthroughRequest) -> Response:
        """Sends a client's request to the system's own API (with
        `request.to(base_url)` and the connection's credentials) and answers
        the system's response as it came. Declare `passthrough=True`."""
        raise Unsupported("passthrough is not supported")


T = TypeVar("T")


def _run(call: Callable[[], T]) -> T:
    """Runs one operation: a typed error goes to the host as the contract's
    `adapter-error`; any other exception is logged with its traceback and
    raised again, which traps the instance (the host answers `adapter_failed`)."""
    try:
        return call()
    except AdapterError as error:
        raise Err(error.to_wit()) from None
    except Err:
        raise
    except Exception as error:
        log.error(
            f"{type(error).__name__}: {error}",
            traceback="".join(traceback.format_exception(error))[-4000:],
        )
        raise


def _record(text: str) -> Record:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise Unsupported("a record is a JSON object")
    return value


def _dump(record: Record) -> str:
    return json.dumps(record, separators=(",", ":"))


def export(adapter: type[Adapter]) -> type:
    """The class componentize-py exports for `adapter`. Bind it as
    `Adapter` in the app module:

        Adapter = interlink_sdk.export(MyAdapter)
    """

    class Exported(exports.Adapter):
        def describe(self) -> wit.Manifest:
            return adapter.manifest().to_wit()

        def connect(self, ctx: wit.CallContext) -> wit.Account:
            return _run(lambda: adapter().connect(Context.from_wit(ctx)).to_wit())

        def list(self, ctx: wit.CallContext, request: wit.ListRequest) -> wit.Page:
            def call() -> wit.Page:
                page = adapter().list(
                    Context.from_wit(ctx),
                    ListRequest(request.entity, request.cursor, request.page_size, request.modified_after),
                )
                return wit.Page([_dump(r) for r in page.records], page.next_cursor)

            return _run(call)

        def get(self, ctx: wit.CallContext, entity: str, id: str) -> str:
            return _run(lambda: _dump(adapter().get(Context.from_wit(ctx), entity, id)))

        def create(self, ctx: wit.CallContext, entity: str, record: str) -> str:
            return _run(lambda: _dump(adapter().create(Context.from_wit(ctx), entity, _record(record))))

        def update(self, ctx: wit.CallContext, entity: str, id: str, patch: str) -> str:
            return _run(
                lambda: _dump(adapter().update(Context.from_wit(ctx), entity, id, _record(patch)))
            )

        def delete(self, ctx: wit.CallContext, entity: str, id: str) -> None:
            _run(lambda: adapter().delete(Context.from_wit(ctx), entity, id))

        def passthrough(
            self, ctx: wit.CallContext, request: wit_adapter.PassthroughRequest
        ) -> wit_http.Response:
            return _run(
                lambda: adapter()
                .passthrough(Context.from_wit(ctx), PassthroughRequest.from_wit(request))
                .to_wit()
            )

    Exported.__name__ = "Adapter"
    Exported.__qualname__ = "Adapter"
    return Exported
