"""How the Kubernetes client's failures are put into words (shared by the API and the forward)."""

from __future__ import annotations

import json
import re
from typing import Any

_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def status_message(body: Any) -> str | None:
    """The ``message`` of a Kubernetes ``Status`` body, if it is one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str):
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if isinstance(obj, dict) and obj.get("kind") == "Status" and obj.get("message"):
        return str(obj["message"])
    return None


def short_reason(reason: Any) -> str:
    """An OS error's words (``connection refused``), else the first line of ``reason``."""
    text = str(reason)
    match = _ERRNO.search(text)
    if match:
        return match[1].strip().lower()
    return first_line(reason) or type(reason).__name__


def first_line(exc: Any) -> str:
    """The first line of ``exc`` as text, at most 200 characters."""
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""
