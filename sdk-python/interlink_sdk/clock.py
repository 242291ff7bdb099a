"""The host's clock. An adapter has no other: `time.time()` and
`datetime.now()` are not available inside the sandbox."""

from wit_world.imports import clock as wit


def now_ms() -> int:
    """Milliseconds since the Unix epoch, UTC."""
    return wit.now_ms()


def now_seconds() -> int:
    """Seconds since the Unix epoch, UTC."""
    return wit.now_ms() // 1000
