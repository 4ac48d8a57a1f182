"""Moved: ``pdebug dump``'s capture is :func:`pdebug.snapshot.capture.capture_one`.

Kept only so that ``pdebug/cli/dump.py`` (another branch's file) imports it unchanged;
once the CLI imports :mod:`pdebug.snapshot.capture`, delete this module.
"""

from __future__ import annotations

from pdebug.snapshot.capture import capture_one, proxy_name

__all__ = ["capture_one", "proxy_name"]
