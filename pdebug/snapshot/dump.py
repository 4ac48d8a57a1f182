"""``pdebug dump``: one live proxy captured into one file.

``NAME.tar.gz`` is a one-proxy bundle, ``NAME.json`` its config dump alone. The capture
itself is :func:`pdebug.snapshot.capture.capture_proxy`, the path ``pdebug snapshot``
runs per pod; this module opens the source, stages, and writes the one file (the
bundle from the members deflated while they were captured).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from pdebug.errors import UsageError
from pdebug.snapshot.stage import Stage, refuse_existing, umask

if TYPE_CHECKING:
    from collections.abc import Callable

    from pdebug.sources import LiveOptions
    from pdebug.sources.spec import SourceSpec


#: The capture's first GET (:data:`~pdebug.snapshot.capture.TEXT_FIRST`'s first path;
#: ``NAME.json``: the config dump's), sent as soon as the source is open, before the
#: capture's code is loaded (#17). tests/test_dump_usedonly.py checks these are the
#: capture's own.
FIRST_GET = {False: "/clusters", True: "/config_dump?include_eds"}


def capture_one(
    given: str | SourceSpec,
    output: str,
    options: LiveOptions,
    redact: bool = True,
    force: bool = False,
    before_read: Callable[[], object] | None = None,
    all_stats: bool = False,
) -> str:
    """``pdebug dump``: fetch SOURCE's documents and write them to ``output``; a summary line.

    ``given`` is SOURCE as typed (parsed here first:
    :func:`~pdebug.sources.spec.word_spec`), or parsed; then ``before_read`` runs (the
    command's checks that come after SOURCE's), then ``output`` is checked.

    ``NAME.tar.gz`` is a one-proxy bundle; ``NAME.json`` the config dump alone. Its
    ``stats.txt`` holds the stats written since the proxy started, every stat with
    ``all_stats`` (the manifest's ``stats`` says which).

    Raises:
        UsageError: a wrong extension, or ``output`` exists (and ``force`` is not set).
        SourceUnavailable: the proxy cannot be read (within ``--timeout``, ``--max-body``).
        InvalidInput: the proxy's answer is not a config dump.
    """
    from pdebug.atomic import check_writable
    from pdebug.sources import open_source
    from pdebug.sources.spec import FileSpec, MemberSpec, word_spec

    spec = word_spec(given) if isinstance(given, str) else given
    if before_read is not None:
        before_read()
    if not output.endswith((".tar.gz", ".tgz", ".json")):
        raise UsageError(
            f"{output}: unknown kind of output file",
            hint="use NAME.tar.gz (a bundle every view reads) or NAME.json (the dump only)",
        )
    refuse_existing(output, force, what="the file", another="")
    check_writable(output)
    if isinstance(spec, FileSpec | MemberSpec):
        raise UsageError(
            f"{spec.text}: pdebug dump reads a live proxy (an admin URL or a pod), not a file",
            hint="e.g. pdebug dump http://127.0.0.1:15000 -o proxy.tar.gz",
        )
    as_json = output.endswith(".json")
    stage: Stage | None = None
    try:
        with open_source(spec, options) as source:  # closed before the file is written
            ask_ahead = getattr(source, "ask_ahead", None)  # an admin URL's
            if ask_ahead is not None:
                # Envoy builds the first answer while the rest of pdebug loads (#17)
                ask_ahead(FIRST_GET[as_json])
            from pdebug import bundle
            from pdebug.manifest import Manifest, ProxyEntry
            from pdebug.snapshot.capture import (
                DUMP_PATHS,
                PATHS,
                TEXT_FIRST,
                capture_proxy,
                every_stat,
            )
            from pdebug.snapshot.pack import LEVEL, write_packed

            paths = {bundle.DUMP: PATHS[bundle.DUMP]} if as_json else DUMP_PATHS
            if all_stats:
                paths = every_stat(paths)
            # The label names the pod once the first GET found it: stage under a neutral name.
            stage = Stage(os.path.dirname(os.path.abspath(output)), output, ".pdebug-dump-", "")
            captured = capture_proxy(
                source, stage, "proxy", paths, redact=redact, strict=True,
                optional=frozenset({bundle.STATS_TEXT}), pack=None if as_json else LEVEL,
                first=TEXT_FIRST,
            )  # fmt: skip
        # The label is saved (manifest, member names) and printed: no user:password@ in it.
        label = captured.label
        size = sum(entry.size or 0 for entry in captured.files.values())
        if as_json:
            _publish(stage.path(f"proxy/{bundle.DUMP}"), output)
        else:
            # a file-system-safe proxy name: pod/x.ns -> x.ns; URLs -> host_port
            bare = label.split("://", 1)[-1].removeprefix("pod/").split(" ", 1)[0]
            proxy = re.sub(r"[^A-Za-z0-9._-]+", "_", bare).strip("_") or "proxy"
            os.rename(stage.path("proxy"), stage.path(proxy))
            manifest = Manifest.new(source=label)
            manifest.proxies = [
                ProxyEntry(
                    proxy,
                    label,
                    files=captured.files,
                    errors=captured.errors,
                    stats=captured.stats,
                )
            ]
            members = [
                (f"{proxy}/{name}", entry.size or 0, captured.packed[name])
                for name, entry in captured.files.items()
            ]
            write_packed(output, manifest.plain(), members, LEVEL)
    finally:
        if stage is not None:
            stage.discard()
    saved = f"saved {label} to {output} ({size / 1e6:.1f} MB of documents)"
    return "\n".join([*(f"warning: {e}" for e in captured.errors), saved])


def _publish(staged: str, output: str) -> None:
    """Move the staged file to ``output`` atomically, with normal file rights."""
    from pdebug.atomic import cannot_write

    try:
        with open(staged, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(staged, 0o666 & ~umask())
        os.replace(staged, output)
    except OSError as exc:
        raise cannot_write(output, exc) from None
