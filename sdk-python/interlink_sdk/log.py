"""Structured logs, recorded by the host with the adapter's and the
connection's ids. `print` goes nowhere inside the sandbox; use these."""

from wit_world.imports import log as wit


def _log(level: wit.Level, message: str, fields: dict[str, object]) -> None:
    wit.log(level, message, [wit.LogField(k, str(v)) for k, v in fields.items()])


def debug(message: str, **fields: object) -> None:
    _log(wit.Level.DEBUG, message, fields)


def info(message: str, **fields: object) -> None:
    _log(wit.Level.INFO, message, fields)


def warn(message: str, **fields: object) -> None:
    _log(wit.Level.WARN, message, fields)


def error(message: str, **fields: object) -> None:
    _log(wit.Level.ERROR, message, fields)
