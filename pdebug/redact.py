"""Keep key material and credentials out of everything pdebug prints or saves."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"

#: Fields whose whole value is secret (protobuf field names, either spelling).
SECRET_FIELDS = frozenset({"private_key", "privateKey", "password", "private_key_provider"})
#: Header names whose values are credentials.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact_keys(obj: Any) -> Any:
    """Return ``obj`` with private keys, passwords, JWTs and bearer tokens replaced.

    Envoy already redacts private keys in ``/config_dump``; this also covers dumps from
    other producers and credentials that sit in headers or strings.
    """
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        header_name = str(obj.get("key", obj.get("name", ""))).lower()
        for key, value in obj.items():
            if key in SECRET_FIELDS:
                out[key] = {"inline_string": REDACTED} if isinstance(value, dict) else REDACTED
            elif key == "value" and header_name in SECRET_HEADERS and isinstance(value, str):
                out[key] = REDACTED
            else:
                out[key] = redact_keys(value)
        return out
    if isinstance(obj, list):
        return [redact_keys(v) for v in obj]
    if isinstance(obj, str) and ("eyJ" in obj or "earer" in obj or "asic" in obj):
        return _BEARER.sub(lambda m: m.group(1) + " " + REDACTED, _JWT.sub(REDACTED, obj))
    return obj
