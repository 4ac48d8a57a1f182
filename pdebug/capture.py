"""Capture a live proxy into a bundle (``pdebug dump``)."""

from __future__ import annotations

import os
import re

from pdebug import bundle
from pdebug.atomic import check_writable, write_atomic
from pdebug.errors import InvalidInput, UsageError
from pdebug.redact import redact_bytes, redact_text
from pdebug.sources import LiveOptions, open_source

PATHS = {
    bundle.DUMP: "/config_dump?include_eds",
    bundle.CLUSTERS: "/clusters?format=json",
    bundle.SERVER_INFO: "/server_info",
}


def proxy_name(label: str) -> str:
    """A file-system-safe proxy name: ``pod/x.ns`` -> ``x.ns``; URLs -> ``host_port``."""
    name = label.split("://", 1)[-1]
    name = name.removeprefix("pod/")
    name = name.split(" ", 1)[0]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "proxy"


def capture_one(
    text: str, output: str, options: LiveOptions, redact: bool = True, force: bool = False
) -> str:
    """Fetch SOURCE's documents and write them to ``output``; returns a summary line.

    Raises:
        UsageError: a wrong extension, or ``output`` exists (and ``force`` is not set).
    """
    if not output.endswith((".tar.gz", ".tgz", ".json")):
        raise UsageError(
            f"{output}: unknown kind of output file",
            hint="use NAME.tar.gz (a bundle every view reads) or NAME.json (the dump only)",
        )
    # As pdebug snapshot: never replace an earlier capture by accident.
    if os.path.isdir(output):
        raise UsageError(f"{output}: is a directory", hint="-o names the file to write")
    if os.path.lexists(output) and not force:
        raise UsageError(
            f"{output}: already exists",
            hint="pass --force to replace it, or name another file",
        )
    check_writable(output)
    source = open_source(text, options)
    if not source.live:
        raise UsageError(
            f"{text}: pdebug dump reads a live proxy (an admin URL or a pod), not a file",
            hint="e.g. pdebug dump http://127.0.0.1:15000 -o proxy.tar.gz",
        )
    # The label is saved (manifest, member names) and printed: no user:password@ in it.
    label = redact_text(source.label)
    files: dict[str, bytes] = {}
    try:
        for name, path in PATHS.items():
            if output.endswith(".json") and name != bundle.DUMP:
                continue
            body = bytes(source.get(path))
            # --no-redact keeps tokens and header values, never private keys.
            files[name] = redact_bytes(body, tokens=redact)
    finally:
        source.close()
    from pdebug.model.load import load

    if load(files[bundle.DUMP], label).dump is None:
        raise InvalidInput(f"{label}: the admin did not answer with a config dump")
    if output.endswith(".json"):
        write_atomic(output, files[bundle.DUMP])
    else:
        proxy = bundle.CapturedProxy(proxy_name(label), label, files)
        bundle.write_bundle(output, [proxy], {"source": label})
    size = sum(len(b) for b in files.values())
    return f"saved {label} to {output} ({size / 1e6:.1f} MB of documents)"
