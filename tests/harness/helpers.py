"""Paths and small helpers shared by the tests (no pytest fixtures: those live in conftest.py)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "camel_key_diff",
    "child_pids",
    "pid_alive",
    "FIXTURES",
    "GOLDEN",
    "ISTIOCTL",
    "PORT_FORWARD_READS",
    "WAYPOINT_READS",
    "REPORT_TIME",
    "ROOT",
    "Result",
    "camelize",
    "find_chromium",
    "generated_dump",
    "heavy_imports",
    "json_name",
    "run_bounded",
]

#: The repository root.
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
ISTIOCTL = FIXTURES / "istioctl"
GOLDEN = ROOT / "tests" / "golden"

#: When the report tests' pages say they were made (the ``pinned`` fixture of conftest.py).
REPORT_TIME = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

#: What pdebug may ask of the API server double by default: (RBAC verb, resource).
PORT_FORWARD_READS = frozenset({("get", "pods"), ("list", "pods"), ("create", "pods/portforward")})
#: The API reads ``pdebug waypoints`` may make (and nothing else).
WAYPOINT_READS = frozenset(
    {
        ("list", "gateways"),
        ("list", "services"),
        ("list", "pods"),
        ("list", "namespaces"),
        ("get", "namespaces"),
    }
)


#: Files under fixtures/corpus/ that are not Envoy config dumps, by a part of their path
#: there: egctl's wrappers and expected outputs, peer goldens, companions, and the inputs
#: other tests read (the one list; tests/test_corpus.py reads it too).
NOT_CONFIG_DUMPS = (
    "egctl-out/",
    "expected-",
    "test_clusters.json",
    "-to-xds.all.json",
    "ztunnel/",  # ztunnel dumps: tests/test_corpus_ztunnel.py
    "istiod/",  # istiod's sync status answers: tests/test_status.py
    "clusters-json/",  # /clusters?format=json documents
    "xds_bootstrap.json",  # a gRPC xDS bootstrap: tests/test_sweep24.py
)


def corpus_config_dumps() -> list[Path]:
    """The Envoy config dumps of fixtures/corpus/, in path order."""
    corpus = FIXTURES / "corpus"
    return [
        p
        for p in sorted(corpus.rglob("*.json"))
        if not any(part in p.relative_to(corpus).as_posix() for part in NOT_CONFIG_DUMPS)
    ]


def saved_dumps() -> Iterator[tuple[str, bytes, bytes | None]]:
    """``(name, dump, /clusters or None)``: the corpus's config dumps, then the two real
    captures (fixtures/real/seed-demo and sidecar) alone and with their ``/clusters``."""
    for p in corpus_config_dumps():
        yield p.relative_to(FIXTURES).as_posix(), p.read_bytes(), None
    for name in ("seed-demo", "sidecar"):
        d = FIXTURES / "real" / name
        dump, live = (d / "config_dump.json").read_bytes(), (d / "clusters.json").read_bytes()
        yield f"real/{name}", dump, None
        yield f"real/{name}+clusters", dump, live


def proxy_or_skip(name: str, dump: bytes, live: bytes | None) -> Any:
    """``ProxyData`` of a dump (and its ``/clusters``, if any); the test is skipped when
    the bytes are no config dump pdebug reads."""
    import pytest

    from pdebug.errors import PdebugError
    from pdebug.model import ProxyData
    from pdebug.model.load import load

    try:
        parsed = load(dump, name).dump
    except PdebugError:
        pytest.skip("not a dump pdebug reads")
    if parsed is None:
        pytest.skip("not a config dump")
    health = load(live, "clusters").clusters if live is not None else None
    return ProxyData(name, parsed, health)


def eds_dump(
    statuses: Mapping[str, Sequence[str]], address: Callable[[str, int], dict[str, Any]]
) -> bytes:
    """A config dump of EDS clusters, each with hosts of these EDS health statuses; host
    ``i`` of cluster ``c`` is at ``address(c, i)`` (an Envoy ``Address``)."""
    v3 = "type.googleapis.com/envoy.admin.v3."
    clusters = [
        {"cluster": {"name": c, "type": "EDS", "eds_cluster_config": {"eds_config": {"ads": {}}}}}
        for c in statuses
    ]
    clas = [
        {
            "endpoint_config": {
                "cluster_name": c,
                "endpoints": [
                    {
                        "lb_endpoints": [
                            {"endpoint": {"address": address(c, i)}, "health_status": st}
                            for i, st in enumerate(sts)
                        ]
                    }
                ],
            }
        }
        for c, sts in statuses.items()
    ]
    doc = {
        "configs": [
            {"@type": v3 + "ClustersConfigDump", "dynamic_active_clusters": clusters},
            {"@type": v3 + "EndpointsConfigDump", "dynamic_endpoint_configs": clas},
        ]
    }
    return json.dumps(doc).encode()


def find_chromium() -> str | None:
    """``$PDEBUG_CHROMIUM``, else Debian's /usr/bin/chromium, else one on PATH.

    The browser tests (tests/test_report_browser.py) and ``bench/report_paint.py`` look
    for Chromium the same way.
    """
    wanted = os.environ.get("PDEBUG_CHROMIUM")
    if wanted:
        return wanted if os.access(wanted, os.X_OK) else None
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


@dataclass
class Result:
    """What one in-process ``pdebug`` run gave: exit code, stdout and stderr."""

    code: int
    out: str
    err: str


def error_and_hint(result: Result, code: int) -> tuple[str, str]:
    """The one ``pdebug: error:`` line and its ``hint:`` of a run that failed with ``code``."""
    assert result.code == code, result.err
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 2, result.err
    assert lines[0].startswith("pdebug: error: ") and lines[1].startswith("hint: ")
    return lines[0], lines[1]


def run_bounded(
    pdebug: Callable[..., Result], args: list[str], budget_s: float = 20.0, budget_mb: int = 96
) -> Result:
    """Run ``pdebug ARGS`` in-process; the Python heap's peak and the wall time must stay small."""
    tracemalloc.start()
    start = time.monotonic()
    try:
        result = pdebug(*args)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    took = time.monotonic() - start
    assert took < budget_s, f"{args}: {took:.1f}s"
    assert peak < budget_mb << 20, f"{args}: peak {peak >> 20} MiB"
    return result


def generated_dump(path: Path, services: int) -> Path:
    """Write the benchmark generator's Istio-shaped dump of ``services`` services to ``path``."""
    gendump = ROOT / "bench" / "gendump.py"
    cmd = [sys.executable, str(gendump), "--services", str(services), "-o", str(path), "-q"]
    subprocess.run(cmd, check=True)
    return path


#: Modules a file-mode view must not import (slow to import; only some commands need them).
HEAVY_MODULES = ("kubernetes", "deepdiff", "yaml", "cryptography", "tabulate")


def heavy_imports(*args: str) -> str:
    """Run ``pdebug ARGS`` in a fresh interpreter; ``HEAVY [...]``: the heavy modules it imported.

    The command must succeed (exit 0).
    """
    code = (
        "import sys; from pdebug.cli import main; "
        f"rc = main({list(args)!r}); "
        f"bad = [m for m in {HEAVY_MODULES!r} "
        "if m in sys.modules]; print('HEAVY', bad, file=sys.stderr); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return proc.stderr


# --------------------------------------------------------------------------- key spelling


def json_name(field: str) -> str:
    """protobuf's json_name: drop each ``_``, upper-case the next char if a lowercase letter."""
    out, upper = [], False
    for ch in field:
        if ch == "_":
            upper = True
            continue
        out.append(ch.upper() if upper and "a" <= ch <= "z" else ch)
        upper = False
    return "".join(out)


#: Maps whose keys are data (names), not proto fields.
_MAPS = {
    "filter_metadata",
    "typed_filter_metadata",
    "typed_extension_protocol_options",
    "typed_per_filter_config",
    "labels",
    "fields",
}


def camelize(
    value: Any, parent: str = "", keep: float = 0.0, rng: random.Random | None = None
) -> Any:
    """``value`` with every proto field name in its JSON name.

    With ``keep`` > 0, that share of the keys (picked by ``rng``) stays snake_case: a mixed
    document as istioctl's old test data is.
    """
    if isinstance(value, list):
        return [camelize(v, parent, keep, rng) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if parent in _MAPS:
            out[key] = camelize(item, "", keep, rng)
            continue
        if parent == "metadata" and key not in ("filter_metadata", "typed_filter_metadata"):
            out[key] = item  # node metadata: a protobuf Struct, its keys are data
            continue
        stay = keep and rng is not None and rng.random() < keep
        out[key if stay or key.startswith("@") else json_name(key)] = camelize(item, key, keep, rng)
    return out


def every_dict(value: Any, found: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every JSON object in ``value`` (itself first), depth first, in document order."""
    found = [] if found is None else found
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            every_dict(item, found)
    elif isinstance(value, list):
        for item in value:
            every_dict(item, found)
    return found


def report_graph(data: Any, options: Any, findings: list[Any]) -> Any:
    """The report's topology of ``data`` as ``pdebug report`` builds it (a ``Graph``).

    A section that cannot be read is left out, as the report leaves it out.
    """
    from pdebug.checks.context import Context
    from pdebug.errors import PdebugError
    from pdebug.report import topology

    builder = topology._Builder(Context(data, options))
    for step in (builder.listeners, builder.route_configs, builder.clusters):
        try:
            step()
        except PdebugError:
            pass
    builder.findings(findings)
    builder.propagate()
    return builder.graph


def page_graph(proxy: dict[str, Any]) -> dict[str, Any]:
    """A page proxy's topology with every node in ``nodes`` (the endpoint nodes the page
    carries as references to its endpoints table made nodes, as its script makes them)."""
    from pdebug.report.topology import expand

    return expand(proxy["graph"], proxy["tables"])


def graph_by_one_sort(g: Any) -> dict[str, Any]:
    """``Graph.plain()``'s nodes and edges as written before #17: one sort over every node."""
    nodes = g._nodes
    keys = sorted(nodes, key=lambda k: (k[0], nodes[k].sort, k[1]))
    index = {k: i for i, k in enumerate(keys)}
    rows = [[nodes[k].kind, nodes[k].label, nodes[k].status] for k in keys]
    return {"nodes": rows, "edges": sorted([index[a], index[b]] for a, b in g._edges)}


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started and has not reaped (Linux ``/proc``; [] elsewhere)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, waiting to be reaped, is not alive)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextlib.contextmanager
def job(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` run as a shell runs a job (its own process group), killed if still running
    when the block ends."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def interrupt(proc: subprocess.Popen[bytes], how: str) -> tuple[bytes, bytes]:
    """Stop a :func:`job` as a user does (``sigterm``, or ``ctrl-c``: SIGINT to its whole
    process group, as the terminal sends it); its stdout and stderr."""
    if how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    return proc.communicate(timeout=20)


def assert_interrupted(
    proc: subprocess.Popen[bytes], out: bytes, err: bytes, kids: Iterable[int]
) -> None:
    """pdebug stopped as it must be: exit 130, ``pdebug: interrupted``, nothing on stdout,
    none of ``kids`` (its workers) left running."""
    assert proc.returncode == 130, err
    assert err.decode().endswith("pdebug: interrupted\n"), err
    assert out == b""
    for kid in kids:
        assert not pid_alive(kid), f"child {kid} left behind"


def run_main(args: list[str], capsys: Any) -> tuple[int, str, str]:
    """``pdebug ARGS`` in this process: its exit code, stdout and stderr (what was printed
    before it is dropped)."""
    from pdebug.cli import main

    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def light_both(
    path: Path, command: str, capsys: Any, monkeypatch: Any
) -> tuple[tuple[int, str, str], list[bool]]:
    """``pdebug COMMAND PATH`` with the clusters' light decode as shipped, and turned off:
    both must print alike. The run as shipped, and whether each light decode took its
    section."""
    from pdebug.model import light

    took: list[bool] = []
    real = light.decode_clusters

    def spy(raw: Any, type_url: str) -> Any:
        found = real(raw, type_url)
        took.append(found is not None)
        return found

    with monkeypatch.context() as m:
        m.setattr(light, "decode_clusters", spy)
        shipped = run_main([command, str(path)], capsys)
    with monkeypatch.context() as m:
        m.setattr(light, "decode_clusters", lambda raw, type_url: None)
        m.setenv("PDEBUG_JOBS", "1")  # nor the two halves at once (model/light.split_rows)
        full = run_main([command, str(path)], capsys)
    assert shipped == full, f"light decode differs: {command}"
    return shipped, took


def _spelling_free(key: str) -> str:
    return key.replace("_", "").lower()


def camel_key_diff(a: Any, b: Any, path: str = "$") -> str | None:
    """Where ``b`` (``--keys camel``) differs from ``a`` (default) other than by spelling.

    None when they agree; keys of both spellings in one object stay as written.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        ga: dict[str, list[str]] = {}
        gb: dict[str, list[str]] = {}
        for k in a:
            ga.setdefault(_spelling_free(k), []).append(k)
        for k in b:
            gb.setdefault(_spelling_free(k), []).append(k)
        # keys of one spelling (``x_y`` and ``xY``) both stay as written
        if ga.keys() != gb.keys() or any(
            len(ga[n]) != len(gb[n]) or (len(ga[n]) > 1 and set(ga[n]) != set(gb[n])) for n in ga
        ):
            return f"{path}: keys {sorted(a)[:8]} vs {sorted(b)[:8]}"
        for n, keys in ga.items():
            pairs = [(keys[0], gb[n][0])] if len(keys) == 1 else [(k, k) for k in keys]
            for ka, kb in pairs:
                found = camel_key_diff(a[ka], b[kb], f"{path}.{ka}")
                if found:
                    return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = camel_key_diff(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    if a != b and not (
        isinstance(a, str) and isinstance(b, str) and _spelling_free(a) == _spelling_free(b)
    ):
        return f"{path}: {str(a)[:60]!r} vs {str(b)[:60]!r}"
    return None
