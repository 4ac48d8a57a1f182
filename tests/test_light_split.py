"""#17: the clusters table of a big section, decoded in two halves at once, is the table.

``pdebug clusters SOURCE`` may cut the clusters section between two active clusters and
decode the halves in two processes (:func:`pdebug.model.light.split_rows`). Every case
here runs the command with the split forced (``PDEBUG_JOBS=2``) and without it
(``PDEBUG_JOBS=1``: one process, the light decode of before) and needs the same stdout,
stderr and exit code; the cases the split must refuse check that it did (without the
refusal their tables would differ), those it may take that it did (else nothing was
tested). Both ways of reading a part run: a file under 4 MB is read into ``bytes`` (each
part copied), and with ``MMAP_THRESHOLD`` at 0 every file is memory-mapped privately
(each part's few patched bytes written in place and restored).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pdebug import parallel
from pdebug.cli import main
from pdebug.model import light
from pdebug.sources import file as file_source
from tests.harness import FIXTURES, generated_dump

V3 = "type.googleapis.com/envoy.admin.v3."
DUMPS = sorted(
    p
    for p in FIXTURES.rglob("*.json")
    if b'"configs"' in p.read_bytes()[:4096] and b"ClustersConfigDump" in p.read_bytes()
)


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _both(
    path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mapped: bool = False,
) -> tuple[tuple[int, str, str], bool]:
    """(the run with the split forced, whether it was taken); the one-process run equal."""
    taken: list[bool] = []
    real = light.split_rows

    def spy(*args: Any) -> Any:
        made = real(*args)
        taken.append(made is not None)
        return made

    runs = []
    for jobs in ("2", "1"):
        with monkeypatch.context() as m:
            m.setenv("PDEBUG_JOBS", jobs)
            m.setattr(parallel, "_threads_alive", lambda: False)
            m.setattr(light, "split_rows", spy)
            if mapped:
                m.setattr(file_source, "MMAP_THRESHOLD", 0)
            runs.append(_run(["clusters", str(path)], capsys))
    assert runs[0] == runs[1], path
    assert not any(taken[1:]), "PDEBUG_JOBS=1 split the section"
    return runs[0], bool(taken and taken[0])


@pytest.mark.parametrize("mapped", [False, True], ids=["bytes", "mapped"])
def test_every_fixture_dump(
    mapped: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The corpus of real dumps (Envoy's, istioctl's, other control planes')."""
    taken = 0
    for path in DUMPS:
        _, took = _both(path, capsys, monkeypatch, mapped)
        taken += took
    assert len(DUMPS) > 20
    assert taken >= 10, taken  # most of Envoy's own dumps are cut


@pytest.mark.parametrize("mapped", [False, True], ids=["bytes", "mapped"])
def test_generated_mesh(
    mapped: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The benchmark generator's mesh: subsets, destination rules, static clusters."""
    path = generated_dump(tmp_path / "mesh.json", 150)
    (code, out, _), took = _both(path, capsys, monkeypatch, mapped)
    assert took and code == 0 and out.count("\n") > 300


def test_a_big_section_splits_by_itself(tmp_path: Path) -> None:
    """Without PDEBUG_JOBS a section over SPLIT_MIN_BYTES is split, a smaller one not.

    Real processes (as the program runs: a memory-mapped file, gc off), the threshold
    lowered for a 600-service mesh (~19 MB) instead of writing a 60 MB one.
    """
    import os
    import subprocess
    import sys

    path = generated_dump(tmp_path / "mesh.json", 600)
    probe = (
        "import sys, io, contextlib\n"
        "from pdebug.model import light\n"
        "from pdebug.cli import main\n"
        "light.SPLIT_MIN_BYTES = int(sys.argv[2])\n"
        "real = light.split_rows\n"
        "took = []\n"
        "light.split_rows = lambda *a: took.append(real(*a)) or took[-1]\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    code = main(['clusters', sys.argv[1]])\n"
        "print(code, [t is not None for t in took])\n"
        "sys.stdout.write(out.getvalue())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PDEBUG_JOBS"}
    runs = {}
    for label, least in (("split", 4 << 20), ("whole", 64 << 20)):
        done = subprocess.run(
            [sys.executable, "-c", probe, str(path), str(least)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        head, _, table = done.stdout.partition("\n")
        runs[label] = (head, table, done.stderr)
    assert runs["split"][0] == "0 [True]", runs["split"][0] + runs["split"][2]
    assert runs["whole"][0] == "0 [False]"
    assert runs["split"][1:] == runs["whole"][1:]
    assert runs["split"][1].count("\n") > 1000


# --- sections written by hand: what lies after the cut ----------------------------------


def _entry(i: int, name: str | None = None, **extra: Any) -> str:
    """One active cluster as Envoy writes it (``extra``: more fields of the cluster)."""
    config = f"/apis/networking.istio.io/v1alpha3/namespaces/ns-{i % 4}/destination-rule/dr-{i}"
    cluster = {
        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "name": name or f"outbound|{9000 + i}|v{i % 3}|svc-{i}.ns-{i % 4}.svc.cluster.local",
        "type": "EDS",
        "metadata": {"filter_metadata": {"istio": {"config": config}}},
        **extra,
    }
    entry = {"version_info": "2024-01-01/7", "cluster": cluster, "last_updated": "2024-01-01Z"}
    return json.dumps(entry, ensure_ascii=False)


def _dump(tmp_path: Path, after: str = "", entries: list[str] | None = None) -> Path:
    """A dump whose clusters section holds 12 active clusters, ``after`` them its fields."""
    items = entries if entries is not None else [_entry(i) for i in range(12)]
    static = (
        '"static_clusters": [{"cluster": {"name": "prometheus_stats", "type": "STATIC"},'
        ' "last_updated": "2024-01-01T00:00:00Z"}]'
    )
    section = (
        f'{{"@type": "{V3}ClustersConfigDump", "version_info": "7", {static}, '
        '"dynamic_active_clusters": [\n  ' + ",\n  ".join(items) + f"]{after}}}"
    )
    text = f'{{"configs": [{{"@type": "{V3}BootstrapConfigDump", "bootstrap": {{}}}}, {section}]}}'
    json.loads(text)  # (repeated names are JSON too)
    path = tmp_path / "dump.json"
    path.write_text(text, encoding="utf-8")
    return path


def _last(name: str | None = None, **extra: Any) -> list[str]:
    """12 clusters, the last one (after any cut) with ``name`` or ``extra``."""
    return [*(_entry(i) for i in range(11)), _entry(11, name, **extra)]


PLANE16 = "outbound|80||svc-\U0010fffd.ns.svc.cluster.local"
TAKEN_AFTER = {
    "plain": "",
    "warming": ', "dynamic_warming_clusters": [' + _entry(50) + "]",
    "static again": ', "static_clusters": [{"cluster": {"name": "other", "type": "STATIC"}}]',
    "static null again": ', "static_clusters": null',
    "active again": ', "dynamic_active_clusters": [' + _entry(70) + "]",
    "active null again": ', "dynamic_active_clusters": null',
    "active empty again": ', "dynamic_active_clusters": []',
    "plane 16 before the cut": "",  # (entries below)
}


@pytest.mark.parametrize("mapped", [False, True], ids=["bytes", "mapped"])
@pytest.mark.parametrize("case", sorted(TAKEN_AFTER))
def test_what_follows_the_cut_is_read_as_whole(
    case: str,
    mapped: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A field after the cut is the tail's (the last of a repeated name wins), as whole."""
    entries = None
    if case == "plane 16 before the cut":  # the head may hold any character
        entries = [_entry(0, PLANE16), *(_entry(i) for i in range(1, 12))]
    path = _dump(tmp_path, TAKEN_AFTER[case], entries=entries)
    (code, out, err), took = _both(path, capsys, monkeypatch, mapped)
    assert took, case
    assert code == 0, err


REFUSED: dict[str, tuple[str, list[str] | None]] = {
    # the split's own guards: a name after the cut that could be the tail's own
    "backslash after the cut": ("", _last('outbound|80||svc-"q".ns.svc.cluster.local')),
    "plane 16 after the cut": ("", _last(PLANE16)),
    "the tail's name escaped after the cut": (', "\\udbff\\udfff": [' + _entry(90) + "]", None),
    "the tail's name after the cut": (', "\U0010ffff": [' + _entry(90) + "]", None),
    # what the light decode refuses, in either half
    "null cluster before the cut": ("", ["null", *(_entry(i) for i in range(1, 12))]),
    "null cluster after the cut": ("", [*(_entry(i) for i in range(11)), "null"]),
    "wrong type after the cut": ("", _last(type=7)),
    "camelCase after the cut": (', "dynamicWarmingClusters": []', None),
    # (an admin @type again is a section's start to the layout search: no planned read)
    "@type again after the cut": (f', "@type": "{V3}ClustersConfigDump"', None),
    "wrong @type after the cut": (f', "@type": "{V3}ListenersConfigDump"', None),
    "static wrong after the cut": (', "static_clusters": [null]', None),
    # a member Envoy does not write: the light decode refuses it, split or not, so that
    # a section it read is known to hold none (unread2: `clusters` names it)
    "unknown field after the cut": (', "pd_unknown": [{"version_info": 1}, {"a": [1, 2]}]', None),
}


@pytest.mark.parametrize("mapped", [False, True], ids=["bytes", "mapped"])
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_where_the_parts_could_differ(
    case: str,
    mapped: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    after, entries = REFUSED[case]
    path = _dump(tmp_path, after, entries=entries)
    _, took = _both(path, capsys, monkeypatch, mapped)
    assert not took, case


def test_a_cut_inside_a_cluster_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A boundary look-alike in a cluster (a nested array of objects) is not a cut.

    (A string cannot hold one: its quotes are written with a backslash.)
    """
    nested = {"pd_nested": [{"a": 1}, {"version_info": 2}]}
    path = _dump(tmp_path, entries=[_entry(i, **nested) for i in range(12)])
    _both(path, capsys, monkeypatch)
    _both(path, capsys, monkeypatch, mapped=True)
    # the head's decode is what refuses a nested cut: called at one
    raw = path.read_bytes()
    start = raw.index(b'{"@type": "' + V3.encode() + b"ClustersConfigDump")
    p = raw.index(b'}, {"version_info": 2}', start + (len(raw) - start) // 2) + 1
    assert light._head_rows(raw, start, p, V3 + "ClustersConfigDump", list) is None


def test_patched_bytes_are_restored(tmp_path: Path) -> None:
    """A writable input is the same bytes after each part's decode (and after a refusal)."""
    from pdebug.views.clusters import light_keyed

    raw = _dump(tmp_path).read_bytes()
    start = raw.index(b'{"@type": "' + V3.encode() + b"ClustersConfigDump")
    stop = len(raw) - 2
    buf = bytearray(raw)
    view = memoryview(buf)
    cut = re.compile(light._BOUNDARY).search(view[start:stop], (stop - start) // 2)
    assert cut is not None
    p = start + cut.start(1)
    head = light._head_rows(view, start, p, V3 + "ClustersConfigDump", light_keyed)
    tail = light._tail_rows(view, p + 1, stop, light_keyed)
    assert head is not None and tail is not None and bytes(buf) == raw
    assert light._head_rows(view, start, p - 3, V3 + "ClustersConfigDump", light_keyed) is None
    assert bytes(buf) == raw


def test_jobs_not_a_number_is_said_as_for_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PDEBUG_JOBS now counts for the clusters table too: not a number is exit 2, as `all`."""
    path = _dump(tmp_path)
    monkeypatch.setenv("PDEBUG_JOBS", "two")
    code, out, err = _run(["clusters", str(path)], capsys)
    assert (code, out) == (2, "")
    assert "PDEBUG_JOBS='two': not a number of processes" in err
    assert _run(["all", str(path)], capsys)[0] == 2
