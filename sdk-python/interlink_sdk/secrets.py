"""Uses of the connection's secrets that never reveal them."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from componentize_py_types import Err
from wit_world.imports import secrets as wit

from .errors import Upstream


class JwtAlgorithm(Enum):
    RS256 = "RS256"
    PS256 = "PS256"
    PS384 = "PS384"
    PS512 = "PS512"
    ES256 = "ES256"
    ES384 = "ES384"


def sign_jwt(key: str, algorithm: JwtAlgorithm, claims: dict[str, Any], key_id: str | None = None) -> str:
    """A JWT over `claims`, signed by the host with the connection's private
    key field `key` (the key never enters the adapter), in compact form."""
    request = wit.JwtRequest(key, wit.JwtAlgorithm[algorithm.name], key_id, json.dumps(claims))
    try:
        return wit.sign_jwt(request)
    except Err as err:
        raise Upstream(0, f"signing failed: {err.value}") from None
