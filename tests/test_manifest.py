"""The typed bundle manifest: what the writers build is what the reader parses back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pdebug import bundle
from pdebug.manifest import FileEntry, IstiodEntry, Manifest, ProxyEntry, SkippedEntry


def _snapshot_manifest() -> Manifest:
    dump = FileEntry.of(b'{"configs": []}')
    return Manifest.new(
        kind="snapshot",
        source="pdebug snapshot of namespace shop in context prod",
        context="prod",
        targets={"targets": [], "namespace": "shop", "all_namespaces": False, "selector": None},
        redacted=False,
        options={"timeout": 30.0, "parallel": 8, "admin_port": 15000, "container": "istio-proxy"},
        summary={"captured": 2, "failed": 1, "skipped": 1},
        istiod=IstiodEntry(
            "istio-system",
            files={bundle.ISTIOD_SYNCZ: FileEntry.of(b"{}")},
            replicas=["istiod-a", "istiod-b"],
            failed_replicas={"istiod-b": "pod/istiod-b.istio-system: hangs"},
        ),
        proxies=[
            ProxyEntry(
                "web-1.shop", "pod/web-1.shop", "web-1", "shop", "node-1", "captured",
                {bundle.DUMP: dump}, [], {"CDS": "SYNCED", "LDS": "STALE"}, None,
            ),
            ProxyEntry(
                "ztunnel-x.istio-system", "pod/ztunnel-x.istio-system", "ztunnel-x",
                "istio-system", "node-1", "captured", {bundle.DUMP: dump}, kind="ztunnel",
            ),
            ProxyEntry(
                "hang-1.shop", "pod/hang-1.shop", "hang-1", "shop", None, "failed",
                errors=["pod/hang-1.shop: did not answer"], istiod_error="not connected",
            ),
        ],
        skipped=[SkippedEntry("batch-1", "shop", "node-2", "the pod has no container")],
    )  # fmt: skip


def test_a_snapshot_manifest_reads_back_equal() -> None:
    written = _snapshot_manifest()
    read = Manifest.from_plain(json.loads(json.dumps(written.plain())))
    assert read == written
    assert read.captured == ["web-1.shop", "ztunnel-x.istio-system"]
    assert read.proxy("hang-1.shop") is not None and read.proxy("hang-1.shop").failed
    assert read.proxies[1].kind == "ztunnel" and "kind" not in read.proxies[0].plain()


def test_a_dump_manifest_keeps_its_short_shape() -> None:
    """``pdebug dump`` writes name, source, files and errors only (no pod fields)."""
    written = Manifest.new(source="http://127.0.0.1:15000")
    written.proxies = [ProxyEntry("127.0.0.1_15000", "http://127.0.0.1:15000")]
    plain = written.plain()
    assert list(plain) == ["format", "tool", "created", "source", "proxies"]
    assert plain["proxies"] == [
        {"name": "127.0.0.1_15000", "source": "http://127.0.0.1:15000", "files": {}, "errors": []}
    ]
    assert Manifest.from_plain(plain) == written


def test_the_bundle_reader_finds_proxies_through_the_typed_manifest(tmp_path: Path) -> None:
    """Written as a snapshot writes it, read by the bundle reader: pod lookups and failures."""
    written = _snapshot_manifest()
    root = tmp_path / "stage"
    (root / "web-1.shop").mkdir(parents=True)
    (root / "web-1.shop" / bundle.DUMP).write_bytes(b'{"configs": []}')
    path = tmp_path / "b.tar.gz"
    bundle.write_tree(str(path), str(root), written.plain(), [f"web-1.shop/{bundle.DUMP}"])
    opened = bundle.open_bundle(str(path))
    assert Manifest.from_plain(opened.manifest) == written
    assert bundle.find_proxy(opened.manifest, "pod/web-1", None, "b") == "web-1.shop"
    assert bundle.by_pod_and_namespace(opened.manifest, "web-1.shop") == "web-1.shop"
    with pytest.raises(Exception, match=r"hang-1.shop: this proxy was not captured \(pod/hang"):
        bundle.find_proxy(opened.manifest, "hang-1", "shop", "b")
    with pytest.raises(Exception, match="batch-1.shop was not captured: the pod has no container"):
        bundle.find_proxy(opened.manifest, "batch-1", None, "b")


def test_reading_is_lenient_never_raising() -> None:
    odd = {"proxies": [{"name": "a", "files": {"x": "not an object"}, "errors": [1, "e"]}, 3]}
    manifest = Manifest.from_plain(odd)
    (entry,) = manifest.proxies
    assert entry.files == {"x": FileEntry(None, None)} and entry.errors == ["e"]
    assert entry.pod_and_namespace == ("a", None)
    assert Manifest.from_plain("not a manifest").proxies == []


def test_file_entries_of_bytes_and_of_files_agree(tmp_path: Path) -> None:
    body = b"x" * (3 << 20)  # more than one read block
    (tmp_path / "f").write_bytes(body)
    assert FileEntry.of_file(str(tmp_path / "f")) == FileEntry.of(body)
    assert FileEntry.of(body).plain() == {
        "sha256": hashlib.sha256(body).hexdigest(),
        "bytes": 3 << 20,
    }
