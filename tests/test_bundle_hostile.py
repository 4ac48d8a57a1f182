"""Hostile bundles: bombs, odd members, name tricks, altered manifests, escaping --dir links.

A seeded generator builds archives (and ``--dir`` directories) of each class and runs them
through every command that reads a bundle, in-process: ``B:NAME`` and ``--bundle B NAME``
views, ``check B``, ``diff B GOOD``, ``status --file B`` and ``report B``. Each run must end
with a documented exit code, one ``pdebug: error:`` line (plus hints), no traceback, no raw
control character on either stream, in bounded time and memory (bombs are kept small
through ``PDEBUG_MAX_INPUT``), and nothing from outside a ``--dir`` bundle on stdout.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import stat
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from pdebug import bundle
from pdebug.errors import ExitCode
from pdebug.sources import bundle as sources_bundle
from tests.harness import FIXTURES, run_bounded

SEED_DUMP = (FIXTURES / "real" / "seed-demo" / "config_dump.json").read_bytes()
SEED_CLUSTERS = (FIXTURES / "real" / "seed-demo" / "clusters.json").read_bytes()
NAMES = ("web-1.shop", "api-2.shop")
#: A cluster name only the file outside the --dir bundle holds.
OUTSIDE_MARKER = "outbound|1|secret|outside-the-bundle.example"
RAW_CONTROLS = ("\x1b", "\x9b", "\x07", "\r", "\x00")
#: PDEBUG_MAX_INPUT during these tests: bombs stop early.
SMALL_LIMIT = 2 << 20


# --------------------------------------------------------------------------- archives


def _manifest(files: dict[str, dict[str, bytes]]) -> dict:
    return {
        "format": bundle.FORMAT,
        "kind": "snapshot",
        "proxies": [
            {
                "name": name,
                "source": f"pod/{name}",
                "pod": name.rsplit(".", 1)[0],
                "namespace": name.rsplit(".", 1)[1],
                "status": "captured",
                "files": {k: bundle.file_entry(v) for k, v in body.items()},
                "errors": [],
            }
            for name, body in files.items()
        ],
    }


def _proxy_files() -> dict[str, dict[str, bytes]]:
    return {name: {bundle.DUMP: SEED_DUMP, bundle.CLUSTERS: SEED_CLUSTERS} for name in NAMES}


def _header(name: str, size: int, kind: bytes = tarfile.REGTYPE, link: str = "") -> bytes:
    """A ustar/pax header block for ``name`` of type ``kind`` (any byte, even unknown)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.linkname = link
    fmt = tarfile.GNU_FORMAT if any(0xDC80 <= ord(c) <= 0xDCFF for c in name) else None
    buf = bytearray(info.tobuf(fmt or tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
    last = len(buf) - 512  # the member's own header is the last block
    buf[last + 156 : last + 157] = kind
    buf[last + 148 : last + 156] = b"        "
    buf[last + 148 : last + 156] = b"%06o\0 " % sum(buf[last : last + 512])
    assert len(buf) % 512 == 0
    return bytes(buf)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 512)


class Archive:
    """A tar written block by block, so that anything (even what tarfile refuses) fits."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def add(self, name: str, body: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = ""):
        size = len(body) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
        self.parts += [_header(name, size, kind, link), body[:size], _pad(size)]
        return self

    def raw(self, block: bytes):
        self.parts.append(block)
        return self

    def tar(self) -> bytes:
        return b"".join([*self.parts, b"\0" * 1024])

    def gz(self) -> bytes:
        return gzip.compress(self.tar(), 1)


def good_archive(
    files: dict[str, dict[str, bytes]] | None = None, manifest: dict | None = None
) -> Archive:
    files = files if files is not None else _proxy_files()
    arc = Archive().add(
        bundle.MANIFEST, json.dumps(manifest if manifest is not None else _manifest(files)).encode()
    )
    for name, body in files.items():
        for file, data in body.items():
            arc.add(f"{name}/{file}", data)
    return arc


def zeros_gz(total: int, prefix: bytes = b"") -> bytes:
    """gzip of ``prefix`` then zeros, ``total`` bytes in all, without holding them."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(prefix)]
    chunk = b"\0" * (1 << 20)
    left = total - len(prefix)
    while left > 0:
        out.append(z.compress(chunk[: min(left, len(chunk))]))
        left -= len(chunk)
    out.append(z.flush())
    return b"".join(out)


# --------------------------------------------------------------------------- the classes

Case = Callable[[Path], Path]


def _write(tmp: Path, data: bytes, name: str = "b.tar.gz") -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def member_kind(kind: bytes, link: str = "") -> Case:
    def make(tmp: Path) -> Path:
        arc = good_archive()
        arc.add(f"{NAMES[0]}/evil", kind=kind, link=link)
        return _write(tmp, arc.gz())

    return make


def member_kind_first(kind: bytes, link: str = "") -> Case:
    """The odd member before the manifest (what peek_manifest meets)."""

    def make(tmp: Path) -> Path:
        arc = Archive().add("evil", kind=kind, link=link)
        arc.parts += good_archive().parts
        return _write(tmp, arc.gz())

    return make


def member_name(name: str) -> Case:
    def make(tmp: Path) -> Path:
        return _write(tmp, good_archive().add(name, SEED_DUMP).gz())

    return make


def duplicate(name: str) -> Case:
    def make(tmp: Path) -> Path:
        arc = good_archive()
        body = json.dumps(_manifest(_proxy_files())).encode() if name == bundle.MANIFEST else b"{}"
        return _write(tmp, arc.add(name, body).gz())

    return make


def manifest_mutation(mutate: Callable[[dict], object]) -> Case:
    def make(tmp: Path) -> Path:
        manifest = _manifest(_proxy_files())
        changed = mutate(manifest)
        if changed is not None:
            manifest = changed  # type: ignore[assignment]
        return _write(tmp, good_archive(manifest=manifest).gz())

    return make


def tar_bomb(tmp: Path) -> Path:
    """A member whose header says 64 MiB of zeros (refused by size, before reading)."""
    man = json.dumps(_manifest({NAMES[0]: {bundle.DUMP: b""}})).encode()
    arc = Archive().add(bundle.MANIFEST, man)
    size = 64 << 20
    head = _header(f"{NAMES[0]}/{bundle.DUMP}", size)
    tar_head = b"".join([*arc.parts, head])
    return _write(tmp, zeros_gz(len(tar_head) + size + 1024, tar_head))


def held_bomb(tmp: Path) -> Path:
    """Members each under the limit, together over it (a whole-bundle read)."""
    body = SEED_DUMP + b" " * (SMALL_LIMIT // 2)
    names = [*NAMES, "db-3.shop", "mq-4.shop"]
    return _write(tmp, good_archive({n: {bundle.DUMP: body} for n in names}).gz())


def gz_ratio_bomb(tmp: Path) -> Path:
    """40 members of 1.5 MiB of zeros (each under the limit, never held): 60 MiB from ~60 KiB."""
    arc = good_archive()
    zeros = b"\0" * (3 << 19)
    for i in range(40):
        arc.add(f"p{i}.ns/{bundle.SERVER_INFO}", zeros)
    return _write(tmp, zlib_gz(arc.tar()))


def zlib_gz(data: bytes) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    return z.compress(data) + z.flush()


def pax_bomb(tmp: Path) -> Path:
    """An extended header of 8 MiB (tarfile would read it whole)."""
    block = _header("././@PaxHeader", 8 << 20, tarfile.XHDTYPE)
    arc = Archive().raw(block).raw(b"0 x=" + b"y" * ((8 << 20) - 4))
    arc.parts += good_archive().parts
    return _write(tmp, arc.gz())


def sha_mismatch(file: str) -> Case:
    def make(tmp: Path) -> Path:
        files = _proxy_files()
        manifest = _manifest(files)
        changed = SEED_DUMP.replace(b"service_google", b"service_goOgle", 1)
        assert len(changed) == len(SEED_DUMP) and changed != SEED_DUMP
        files[NAMES[0]][file] = changed if file == bundle.DUMP else SEED_CLUSTERS[:-2] + b"}"
        return _write(tmp, good_archive(files, manifest).gz())

    return make


def size_mismatch(tmp: Path) -> Path:
    files = _proxy_files()
    manifest = _manifest(files)
    manifest["proxies"][0]["files"][bundle.DUMP]["bytes"] += 1
    return _write(tmp, good_archive(files, manifest).gz())


def json_gz_bomb(tmp: Path) -> Path:
    return _write(tmp, zeros_gz(48 << 20, b'{"configs": [], "x": "'), "b.json.gz")


def truncated_gz(tmp: Path) -> Path:
    data = good_archive().gz()
    return _write(tmp, data[: len(data) // 2])


#: Every class of a refused archive: each must be exit 4 for every command.
REFUSED: dict[str, Case] = {
    "symlink": member_kind(tarfile.SYMTYPE, "/etc/passwd"),
    "hardlink": member_kind(tarfile.LNKTYPE, "../../etc/passwd"),
    "directory": member_kind(tarfile.DIRTYPE),
    "fifo": member_kind(tarfile.FIFOTYPE),
    "chardev": member_kind(tarfile.CHRTYPE),
    "blockdev": member_kind(tarfile.BLKTYPE),
    "sparse": member_kind(tarfile.GNUTYPE_SPARSE),
    "contiguous": member_kind(tarfile.CONTTYPE),
    "unknown-type": member_kind(b"Z"),
    "symlink-first": member_kind_first(tarfile.SYMTYPE, "/etc/passwd"),
    "fifo-first": member_kind_first(tarfile.FIFOTYPE),
    "dotdot": member_name(f"{NAMES[0]}/../../../etc/config_dump.json"),
    "absolute": member_name("/tmp/config_dump.json"),
    "newline": member_name(f"{NAMES[0]}/config\n_dump.json"),
    "escape": member_name(f"{NAMES[0]}/\x1b]52;c;ZXZpbA==\x07\x1b[2J.json"),
    "c1": member_name(f"{NAMES[0]}/\x9b31m.json"),
    "empty-part": member_name(f"{NAMES[0]}//config_dump.json"),
    "dot-part": member_name(f"./{NAMES[0]}/config_dump.json"),
    "backslash": member_name(f"{NAMES[0]}\\config_dump.json"),
    "not-utf8": member_name(f"{NAMES[0]}/\udcff.json"),
    "duplicate-member": duplicate(f"{NAMES[0]}/{bundle.DUMP}"),
    "two-manifests": duplicate(bundle.MANIFEST),
    "tar-bomb": tar_bomb,
    "gz-ratio-bomb": gz_ratio_bomb,
    "pax-bomb": pax_bomb,
    "truncated": truncated_gz,
    "proxies-string": manifest_mutation(lambda m: m.update(proxies="x")),
    "proxies-ints": manifest_mutation(lambda m: m.update(proxies=[1, 2])),
    "name-int": manifest_mutation(lambda m: m["proxies"][0].update(name=7)),
    "name-dotdot": manifest_mutation(lambda m: m["proxies"][0].update(name="..")),
    "name-slash": manifest_mutation(lambda m: m["proxies"][0].update(name="a/b")),
    "name-escape": manifest_mutation(lambda m: m["proxies"][0].update(name="\x1b[2Jx.ns")),
    "names-twice": manifest_mutation(lambda m: m["proxies"][1].update(name=NAMES[0])),
    "files-list": manifest_mutation(lambda m: m["proxies"][0].update(files=["x"])),
    "files-entry-string": manifest_mutation(
        lambda m: m["proxies"][0]["files"].update({bundle.DUMP: "x"})
    ),
    "sha-int": manifest_mutation(lambda m: m["proxies"][0]["files"][bundle.DUMP].update(sha256=5)),
    "bytes-string": manifest_mutation(
        lambda m: m["proxies"][0]["files"][bundle.DUMP].update(bytes="5")
    ),
    "errors-string": manifest_mutation(lambda m: m["proxies"][0].update(errors="boom")),
    "errors-objects": manifest_mutation(lambda m: m["proxies"][0].update(errors=[{"a": 1}])),
    "status-list": manifest_mutation(lambda m: m["proxies"][0].update(status=["x"])),
    "pod-int": manifest_mutation(lambda m: m["proxies"][0].update(pod=3)),
    "istiod-string": manifest_mutation(lambda m: m.update(istiod="x")),
    "istiod-error-int": manifest_mutation(lambda m: m.update(istiod={"error": 3})),
    "skipped-string": manifest_mutation(lambda m: m.update(skipped="x")),
    "manifest-array": manifest_mutation(lambda m: [m]),
    "manifest-string": manifest_mutation(lambda m: "x"),
}

#: A member that fails its check: that proxy is refused, reported, never used.
MISMATCH: dict[str, Case] = {
    "sha-dump": sha_mismatch(bundle.DUMP),
    "sha-clusters": sha_mismatch(bundle.CLUSTERS),
    "size-dump": size_mismatch,
}


# --------------------------------------------------------------------------- running


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return _write(tmp_path, good_archive().gz(), "good.tar.gz")


@pytest.fixture(autouse=True)
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDEBUG_MAX_INPUT", str(SMALL_LIMIT))
    monkeypatch.delenv("PDEBUG_MAX_RATIO", raising=False)


def commands(b: Path, good: Path, tmp: Path) -> list[list[str]]:
    name = NAMES[0]
    return [
        ["clusters", f"{b}:{name}"],
        ["listeners", "--bundle", str(b), name],
        ["check", str(b)],
        ["diff", str(b), str(good)],
        ["status", "--file", str(b)],
        ["report", str(b), "-o", str(tmp / "r.html")],
    ]


def assert_clean(result, args: list[str], codes: set[int]) -> None:
    assert result.code in codes, (args, result)
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    lines = result.err.splitlines()
    errors = [line for line in lines if line.startswith("pdebug: error: ")]
    assert len(errors) == (0 if result.code in (0, 1) else 1), (args, result.err)
    for line in lines:
        assert line.startswith(("pdebug: error: ", "hint: ", "wrote ")), (args, result.err)
    for stream in (result.out, result.err):
        for char in RAW_CONTROLS:
            assert char not in stream, (args, repr(stream[:400]))


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_archives_are_exit_4_for_every_command(pdebug, tmp_path, good, case):
    path = REFUSED[case](tmp_path)
    for args in commands(path, good, tmp_path):
        result = run_bounded(pdebug, args)
        assert_clean(result, args, {ExitCode.INVALID_INPUT})


def test_refusals_name_the_member_and_why(pdebug, tmp_path, good):
    say = {
        "symlink": "the member 'web-1.shop/evil' is a symbolic link, not a regular file: refused",
        "hardlink": "is a hard link",
        "fifo": "is a FIFO",
        "chardev": "is a character device",
        "directory": "is a directory",
        "dotdot": "has '..' in it: refused",
        "absolute": "is an absolute path",
        "escape": r"'web-1.shop/\x1b]52;c;ZXZpbA==\x07\x1b[2J.json' has a control character",
        "duplicate-member": "'web-1.shop/config_dump.json' appears twice: refused",
        "two-manifests": "'manifest.json' appears twice",
        "tar-bomb": "the member 'web-1.shop/config_dump.json' (64 MiB) is larger than 2 MiB "
        "(PDEBUG_MAX_INPUT): refused",
        "gz-ratio-bomb": "expands more than 200 times",
        "pax-bomb": "a member has an extended header of 8 MiB: refused",
        "proxies-string": "damaged manifest.json in the bundle: proxies is a string, not a list",
        "proxies-ints": "proxies[0] is a number, not an object",
        "errors-objects": "proxies[0].errors[0] is an object, not a string",
        "names-twice": "proxy 'web-1.shop' is listed twice",
        "istiod-string": "istiod is a string, not an object",
        "truncated": "damaged",
    }
    for case, needle in say.items():
        path = REFUSED[case](tmp_path)
        result = pdebug("clusters", f"{path}:{NAMES[0]}")
        assert result.code == ExitCode.INVALID_INPUT, (case, result)
        assert needle in result.err.splitlines()[0], (case, result.err)


@pytest.mark.parametrize("case", sorted(MISMATCH))
def test_a_member_failing_its_sha256_is_reported_never_used(pdebug, tmp_path, good, case):
    path = MISMATCH[case](tmp_path)
    bad, fine = NAMES
    one = pdebug("clusters", f"{path}:{bad}")
    assert one.code == ExitCode.INVALID_INPUT and one.out == ""
    assert f"{path}:{bad}/" in one.err and "refused" in one.err
    assert pdebug("clusters", f"{path}:{fine}").code == 0  # the others are usable
    check = pdebug("check", str(path))
    assert check.code == ExitCode.INVALID_INPUT
    row = next(line for line in check.out.splitlines() if line.startswith(bad))
    assert "unreadable:" in row
    diff = pdebug("diff", str(path), str(good))
    assert diff.code == ExitCode.FINDINGS and "not-compared" in diff.out
    for args in commands(path, good, tmp_path):
        assert_clean(run_bounded(pdebug, args), args, {1, 3, 4})


def test_json_gz_bomb_is_refused_in_bounded_memory(pdebug, tmp_path, monkeypatch):
    monkeypatch.setenv("PDEBUG_MAX_INPUT", "1G")  # the ratio stops it, at 32 MiB
    path = json_gz_bomb(tmp_path)
    result = run_bounded(pdebug, ["clusters", str(path)])
    assert result.code == ExitCode.INVALID_INPUT
    assert "expands more than 200 times" in result.err
    assert "hint: if it is a genuine capture, raise the limit: PDEBUG_MAX_RATIO=" in result.err


def test_limits_are_overridable(pdebug, tmp_path, monkeypatch):
    path = json_gz_bomb(tmp_path)
    monkeypatch.setenv("PDEBUG_MAX_RATIO", "0")  # off: then the size limit stops it
    result = run_bounded(pdebug, ["clusters", str(path)])
    assert result.code == ExitCode.INVALID_INPUT
    assert "decompressed data is larger than 2 MiB (PDEBUG_MAX_INPUT)" in result.err
    monkeypatch.setenv("PDEBUG_MAX_INPUT", "1G")
    held = held_bomb(tmp_path)
    assert pdebug("check", str(held)).code in (0, 1)
    for bad in ("abc", "-1", "0", "1X"):
        monkeypatch.setenv("PDEBUG_MAX_INPUT", bad)
        usage = pdebug("clusters", str(path))
        assert usage.code == ExitCode.USAGE and "PDEBUG_MAX_INPUT" in usage.err
    monkeypatch.setenv("PDEBUG_MAX_INPUT", "1G")
    monkeypatch.setenv("PDEBUG_MAX_RATIO", "lots")
    assert pdebug("clusters", str(path)).code == ExitCode.USAGE


def test_a_bundle_over_the_limit_as_a_whole_still_reads_one_proxy(pdebug, tmp_path, good):
    path = held_bomb(tmp_path)
    assert pdebug("clusters", f"{path}:{NAMES[0]}").code == 0
    recorded = pdebug("diff", f"{path}:{NAMES[0]}")  # only this proxy is held: no istiod view
    assert recorded.code == ExitCode.SOURCE_UNAVAILABLE and "no istiod view" in recorded.err
    for args in commands(path, good, tmp_path)[2:]:
        result = run_bounded(pdebug, args)
        if args[0] == "status":  # reads only the recorded sync status: there is none
            assert_clean(result, args, {ExitCode.SOURCE_UNAVAILABLE})
            continue
        assert "what the bundle holds for these proxies is larger than 2 MiB" in result.err
        assert_clean(result, args, {ExitCode.INVALID_INPUT})


def test_a_good_bundle_still_reads_and_only_its_proxy_is_held(tmp_path):
    path = _write(tmp_path, good_archive().gz())
    from pdebug.sources.file import open_input

    with open_input(str(path)) as opened:
        held = bundle.read_tar(opened, opened.label, lambda b: [b.pick(NAMES[1])])
    assert set(held.members) == {f"{NAMES[1]}/{bundle.DUMP}", f"{NAMES[1]}/{bundle.CLUSTERS}"}
    assert bundle.open_bundle(str(path)).proxy(NAMES[0])[bundle.DUMP] == SEED_DUMP


# --------------------------------------------------------------------------- --dir bundles


def good_dir(tmp: Path, name: str = "snap") -> Path:
    root = tmp / name
    root.mkdir()
    files = _proxy_files()
    (root / bundle.MANIFEST).write_text(json.dumps(_manifest(files)))
    for proxy, body in files.items():
        (root / proxy).mkdir()
        for file, data in body.items():
            (root / proxy / file).write_bytes(data)
    return root


def outside_dump(tmp: Path) -> Path:
    """A valid dump outside the bundle, with a cluster name that must never be printed."""
    doc = json.loads(SEED_DUMP)
    renamed = 0
    for section in doc["configs"]:
        for key in ("static_clusters", "dynamic_active_clusters"):
            for entry in section.get(key, []):
                entry["cluster"]["name"] = OUTSIDE_MARKER
                renamed += 1
    assert renamed
    path = tmp / "outside.json"
    path.write_text(json.dumps(doc))
    return path


def _relink(path: Path, target: Path | str) -> None:
    path.unlink()
    os.symlink(target, path)


def test_the_outside_file_would_show(pdebug, tmp_path):
    """The marker reaches stdout when the outside file is read directly (the tests' premise)."""
    assert OUTSIDE_MARKER.split("|")[-1] in pdebug("clusters", outside_dump(tmp_path)).out


def dir_symlink_member(tmp: Path) -> Path:
    root = good_dir(tmp)
    _relink(root / NAMES[0] / bundle.DUMP, outside_dump(tmp))
    return root


def dir_relative_symlink(tmp: Path) -> Path:
    root = good_dir(tmp)
    outside_dump(tmp)
    _relink(root / NAMES[0] / bundle.DUMP, "../../outside.json")
    return root


def dir_symlink_folder(tmp: Path) -> Path:
    root = good_dir(tmp)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    os.link(outside_dump(tmp), elsewhere / bundle.DUMP)
    for item in (root / NAMES[0]).iterdir():
        item.unlink()
    (root / NAMES[0]).rmdir()
    os.symlink(elsewhere, root / NAMES[0])
    return root


def dir_fifo_member(tmp: Path) -> Path:
    root = good_dir(tmp)
    (root / NAMES[0] / bundle.DUMP).unlink()
    os.mkfifo(root / NAMES[0] / bundle.DUMP)
    return root


def dir_fifo_extra(tmp: Path) -> Path:
    root = good_dir(tmp)
    os.mkfifo(root / NAMES[0] / "extra")
    return root


def dir_escape_name(tmp: Path) -> Path:
    root = good_dir(tmp)
    os.mkfifo(root / NAMES[0] / "\x1b]52;c;ZXZpbA==\x07\x9b2J")
    return root


def dir_fifo_manifest(tmp: Path) -> Path:
    root = good_dir(tmp)
    (root / bundle.MANIFEST).unlink()
    os.mkfifo(root / bundle.MANIFEST)
    return root


def dir_symlink_manifest(tmp: Path) -> Path:
    root = good_dir(tmp)
    real = tmp / "m.json"
    real.write_bytes((root / bundle.MANIFEST).read_bytes())
    _relink(root / bundle.MANIFEST, real)
    return root


def dir_device_member(tmp: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    root = good_dir(tmp)
    (root / NAMES[0] / bundle.DUMP).unlink()
    os.mknod(root / NAMES[0] / bundle.DUMP, stat.S_IFCHR | 0o644, os.makedev(1, 5))  # zero
    return root


def dir_sha_mismatch(tmp: Path) -> Path:
    root = good_dir(tmp)
    path = root / NAMES[0] / bundle.DUMP
    path.write_bytes(path.read_bytes().replace(b"service_google", b"service_goOgle", 1))
    return root


def dir_manifest_shape(tmp: Path) -> Path:
    root = good_dir(tmp)
    (root / bundle.MANIFEST).write_text(json.dumps({"proxies": "x"}))
    return root


#: A --dir whose first proxy is refused (the other stays usable) ...
DIR_MEMBER: dict[str, Case] = {
    "symlink-member": dir_symlink_member,
    "relative-symlink": dir_relative_symlink,
    "symlink-folder": dir_symlink_folder,
    "fifo-member": dir_fifo_member,
    "fifo-extra": dir_fifo_extra,
    "escape-name": dir_escape_name,
    "device-member": dir_device_member,
    "sha-mismatch": dir_sha_mismatch,
}
#: ... or refused whole.
DIR_WHOLE: dict[str, Case] = {
    "fifo-manifest": dir_fifo_manifest,
    "symlink-manifest": dir_symlink_manifest,
    "manifest-shape": dir_manifest_shape,
}


@pytest.fixture
def alarm():
    """Fail (not hang) when a FIFO is waited on."""
    import signal

    def boom(*_):
        raise TimeoutError("pdebug waited on a FIFO or device")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("case", sorted(DIR_MEMBER))
def test_dir_bundle_refuses_links_fifos_devices_per_proxy(pdebug, tmp_path, good, alarm, case):
    root = DIR_MEMBER[case](tmp_path)
    one = pdebug("clusters", f"{root}:{NAMES[0]}")
    assert one.code == ExitCode.INVALID_INPUT, one
    assert "refused" in one.err.splitlines()[0]
    assert pdebug("clusters", f"{root}:{NAMES[1]}").code == 0
    for args in commands(root, good, tmp_path):
        result = run_bounded(pdebug, args)
        assert_clean(result, args, {1, 3, 4})
        assert "outside-the-bundle" not in result.out
    page = (tmp_path / "r.html").read_text(errors="replace")
    assert "outside-the-bundle" not in page and NAMES[1] in page


@pytest.mark.parametrize("case", sorted(DIR_WHOLE))
def test_dir_bundle_refuses_a_manifest_that_is_not_a_file(pdebug, tmp_path, good, alarm, case):
    root = DIR_WHOLE[case](tmp_path)
    for args in commands(root, good, tmp_path):
        result = run_bounded(pdebug, args)
        assert_clean(result, args, {ExitCode.INVALID_INPUT})


# --------------------------------------------------------------------------- seeded mix


def _mutations(rng: random.Random) -> Archive:
    """A random mix of hostile members and manifest changes around a good bundle."""
    files = _proxy_files()
    manifest = _manifest(files)
    arc = Archive()
    picks = rng.sample(range(9), rng.randint(1, 3))
    if 0 in picks:  # an odd member before the manifest
        arc.add(rng.choice(["x", "../x", "/x", "a\x1bb"]), kind=rng.choice([b"0", b"2", b"6"]))
    if 1 in picks:
        manifest["proxies"][rng.randrange(2)]["files"][bundle.DUMP]["sha256"] = "0" * 64
    if 2 in picks:
        manifest[rng.choice(["proxies", "istiod", "skipped"])] = rng.choice(["x", 1, [1], None])
    arc.add(bundle.MANIFEST, json.dumps(manifest).encode())
    for name, body in files.items():
        for file, data in body.items():
            if 3 in picks and rng.random() < 0.3:
                data = data[: rng.randrange(len(data))]
            arc.add(f"{name}/{file}", data)
    if 4 in picks:
        arc.add(f"{NAMES[0]}/{bundle.DUMP}", SEED_DUMP)
    if 5 in picks:
        arc.add(f"{NAMES[1]}/l", kind=rng.choice([b"1", b"2", b"3", b"4", b"5", b"S"]), link="/")
    if 6 in picks:
        arc.add(rng.choice(["..", "a/../b", "a\nb", "\x9b", "a//b"]), b"{}")
    if 7 in picks:
        arc.add(bundle.MANIFEST, b"{}")
    if 8 in picks:
        arc.add(f"{NAMES[1]}/{bundle.CLUSTERS}", b"\0" * 100)
    return arc


#: ``make fuzz`` runs more: ``PDEBUG_FUZZBUNDLE_SEEDS`` archives from ``PDEBUG_FUZZBUNDLE_SEED``.
_FIRST = int(os.environ.get("PDEBUG_FUZZBUNDLE_SEED", "0"))
_SEEDS = range(_FIRST, _FIRST + int(os.environ.get("PDEBUG_FUZZBUNDLE_SEEDS", "12")))


@pytest.mark.parametrize("seed", _SEEDS)
def test_seeded_hostile_archives(pdebug, tmp_path, good, seed):
    rng = random.Random(seed)
    arc = _mutations(rng)
    data = arc.gz() if rng.random() < 0.8 else arc.tar()
    if rng.random() < 0.2:
        data = data[: rng.randrange(len(data))]
    path = _write(tmp_path, data)
    for args in commands(path, good, tmp_path):
        assert_clean(run_bounded(pdebug, args), args, {0, 1, 3, 4})


def test_manifest_sha_fields_are_what_snapshot_writes():
    body = b"abc"
    assert bundle.file_entry(body) == {"sha256": hashlib.sha256(body).hexdigest(), "bytes": 3}
    # a manifest that lists a file is verified; one that does not is used as is
    assert sources_bundle._mismatch({"proxies": [{"name": "a", "files": {}}]}, "a/x", body) is None
    io.BytesIO()  # keep io imported for readers of the helpers above


def test_null_manifest_keys_read_as_absent(pdebug, tmp_path):
    manifest = _manifest(_proxy_files())
    manifest.update(istiod=None, skipped=None)
    manifest["proxies"][1].update(errors=None, files=None)
    path = _write(tmp_path, good_archive(manifest=manifest).gz())
    assert pdebug("clusters", f"{path}:{NAMES[1]}").code == 0
    assert pdebug("status", "--file", path).code == ExitCode.SOURCE_UNAVAILABLE
