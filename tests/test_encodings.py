"""Files as Windows saves them: a UTF-8 byte-order mark is skipped by every JSON reader
(a dump, /clusters, istiod's sync status); UTF-16 (Windows PowerShell 5's ``>``) is named,
with how to convert it. Before: "not JSON (starts with '\\ufeff{')" for some paths (the
dump views' fast path already read it), "YAML without a 'configs' list" for a /clusters,
and "binary data ... pdebug reads .gz" for UTF-16.
"""

from __future__ import annotations

import pytest

from pdebug.errors import ExitCode
from tests.harness import ISTIOCTL

BOM = b"\xef\xbb\xbf"
DUMP = ISTIOCTL / "proxy-config-all/config_dump.json"
CLUSTERS = ISTIOCTL / "proxy-config-endpoints/clusters.json"
SYNCZ = ISTIOCTL / "proxy-status/xds/xds_syncz_single_pilot.reconstructed.json"


def _copy(tmp_path, src, name, encode):
    path = tmp_path / name
    path.write_bytes(encode(src.read_bytes()))
    return str(path)


CASES = [
    ("clusters", DUMP, ["-o", "json"]),
    ("all", DUMP, ["-o", "short"]),
    ("endpoints", CLUSTERS, []),
    ("status", SYNCZ, []),
]


@pytest.mark.parametrize(("command", "src", "extra"), CASES, ids=[c[0] for c in CASES])
def test_a_utf8_byte_order_mark_is_skipped(pdebug, tmp_path, command, src, extra):
    plain = pdebug(command, *(["--file"] if command == "status" else []), str(src), *extra)
    path = _copy(tmp_path, src, "bom.json", lambda b: BOM + b)
    marked = pdebug(command, *(["--file"] if command == "status" else []), path, *extra)
    assert marked.code == plain.code == 0, marked.err
    assert marked.out == plain.out


def test_clusters_json_with_a_byte_order_mark(pdebug, tmp_path):
    path = _copy(tmp_path, CLUSTERS, "bom.json", lambda b: BOM + b)
    plain = pdebug("endpoints", DUMP, "--clusters-json", str(CLUSTERS))
    marked = pdebug("endpoints", DUMP, "--clusters-json", path)
    assert (marked.code, marked.out) == (plain.code, plain.out), marked.err


@pytest.mark.parametrize(("command", "src", "extra"), CASES, ids=[c[0] for c in CASES])
def test_utf16_is_named_with_how_to_convert(pdebug, tmp_path, command, src, extra):
    path = _copy(tmp_path, src, "u16.json", lambda b: b.decode().encode("utf-16"))
    result = pdebug(command, *(["--file"] if command == "status" else []), path, *extra)
    assert result.code == ExitCode.INVALID_INPUT, result
    first, hint = result.err.splitlines()
    assert first.startswith(f"pdebug: error: {path}: this is UTF-16 text"), result.err
    assert hint.startswith("hint: save it as UTF-8"), result.err
