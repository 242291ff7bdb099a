"""A small key-value store per connection, for caching (access tokens).
It outlives calls and instances; it is the only state an adapter keeps."""

from __future__ import annotations

from componentize_py_types import Err
from wit_world.imports import kv as wit


class KvFull(Exception):
    """The connection's store is over its size limit."""


def get(key: str) -> bytes | None:
    """The value under `key`, if present and not expired. When there is none,
    this call is the one that fills the key: until it sets it (or the call
    ends, or ten seconds pass), the connection's other calls that get the
    key, on any node, wait for its value."""
    return wit.get(key)


def set(key: str, value: bytes, ttl_seconds: int | None = None) -> None:
    """Stores `value` under `key`, for at most `ttl_seconds` when given."""
    try:
        wit.set(key, bytes(value), ttl_seconds)
    except Err as err:
        raise KvFull(str(err.value)) from None


def delete(key: str) -> None:
    """Removes the value under `key`."""
    wit.delete(key)
