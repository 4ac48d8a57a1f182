"""``pdebug check`` forked runs work ahead of its turn while the child reads (#17).

While the child still reads the routes section, the parent runs PD403/PD404 (they read
only the hosts, built by PD202); while it searches the clusters' bytes for ``inline``,
PD501 builds its certificate files' list. Each keeps what it says (stderr, the dump's
once-said warnings) and what it raises for its turn (:class:`pdebug.parallel.Ran`), so
that ``PDEBUG_JOBS=2`` prints the bytes ``PDEBUG_JOBS=1`` prints. The inputs here make
that work say something: damaged TLS contexts and transport socket matches that PD501's
two walks both warn about, and checks replaced by ones that warn, print and raise.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pdebug.checks as checks
from bench.gendump import generate
from pdebug import parallel
from pdebug.checks.base import Check, Finding
from pdebug.checks.context import Context
from pdebug.errors import InvalidInput
from pdebug.model.dump import ConfigDump

_UP = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"


def _mesh() -> dict[str, Any]:
    buf = io.BytesIO()
    generate(buf, 40, seed=5, namespaces=3)
    return json.loads(buf.getvalue())  # type: ignore[no-any-return]


def _tls(common: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {"@type": _UP, "common_tls_context": common},
    }


def _damaged_matches(placeholder: bool = False) -> bytes:
    """The mesh with transport socket matches PD501's two walks warn about.

    In one process PD501 walks the matches for inline certificates (the clusters in
    order), then for certificate files: the files' warnings come after the inline ones,
    and a match list that does not decode, holding both words, is said once.
    """
    doc = _mesh()
    (cds,) = [c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump")]
    held = [e["cluster"] for e in cds["dynamic_active_clusters"]]
    held = [c for c in held if "transport_socket_matches" in c]
    files = _tls({"tls_certificates": [{"certificate_chain": {"filename": 5}}]})
    held[0]["transport_socket_matches"][0]["transport_socket"] = files
    ca = _tls({"validation_context": {"trusted_ca": {"inline_string": 5}}})
    held[1]["transport_socket_matches"][0]["transport_socket"] = ca
    both = _tls({"validation_context": {"trusted_ca": {"filename": "/x", "inline_string": "y"}}})
    held[2]["transport_socket_matches"] = [{"name": 7, "transport_socket": both}]
    held[3]["transport_socket_matches"] = [{"name": ["filename"]}]
    (rds,) = [c for c in doc["configs"] if c["@type"].endswith(".RoutesConfigDump")]
    rds["dynamic_route_configs"][1]["x_note"] = "an unread member, said at the end"
    if placeholder:  # a hand-cut paste: the routes section says so, once
        rds["dynamic_route_configs"][0]["..."] = "..."
    return json.dumps(doc, indent=1).encode()


def _both(path: Path, args: list[str], pdebug: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``pdebug ARGS PATH`` in one process and forked: (one, forked), and what went ahead."""
    real_early = Context.early
    early: list[str] = []

    def spy(self: Context, key: str, build: Any) -> None:
        real_early(self, key, build)
        if key in self._early:
            early.append(key)

    got = []
    for jobs in ("1", "2"):
        with monkeypatch.context() as m:
            m.setenv("PDEBUG_JOBS", jobs)
            m.setattr(parallel, "_threads_alive", lambda: False)
            m.setattr(Context, "early", spy)
            got.append(pdebug(*args[:1], path, *args[1:]))
    return got[0], got[1], early


def test_pd501_files_built_ahead_say_their_warnings_in_their_turn(
    tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dump.json"
    path.write_bytes(_damaged_matches())
    for args in (
        ["check"],
        ["check", "-o", "json"],
        ["check", "--ignore", "PD501"],  # PD502 builds them
        ["check", "--ignore", "PD501,PD502"],
    ):
        one, forked, early = _both(path, args, pdebug, monkeypatch)
        assert (forked.code, forked.out, forked.err) == (one.code, one.out, one.err), args
        files = [key for key in early if key == "secrets.files"]
        assert files == ([] if "PD501,PD502" in args else ["secrets.files"]), args
    # What makes the order matter: the inline walk's warnings, then the files' (the
    # match list holding both words is said once, by the first).
    one, _, _ = _both(path, ["check"], pdebug, monkeypatch)
    said = [line.rsplit("; ", 1)[-1] for line in one.err.splitlines()]
    assert said == [
        "its transport socket matches not read",
        "its inline certificates not judged",
        "its transport socket matches not read",
        "its certificate files not named",
    ], one.err


@pytest.mark.parametrize("placeholder", [False, True])
def test_entry_members_read_ahead_where_that_says_nothing(
    placeholder: bool, tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent reads the entries' members while it waits for the EDS facts, unless a
    section may hold a pasted dump's placeholder (that is said once, where one process
    says it): the child reads them then, as before."""
    path = tmp_path / "dump.json"
    path.write_bytes(_damaged_matches(placeholder))
    for args in (["check", "-o", "json"], ["check"]):
        one, forked, early = _both(path, args, pdebug, monkeypatch)
        assert (forked.code, forked.out, forked.err) == (one.code, one.out, one.err), args
        assert ("members" in early) is not placeholder
    said = one.out + one.err
    assert "member x_note of dynamic_route_configs entries" in said
    if placeholder:  # said before PD501's warnings, by the routes' read (PD203)
        assert one.err.index('"..." placeholder') < one.err.index("not read")


def test_ahead_only_when_forked(
    tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process builds nothing ahead (the differential compares the two orders)."""
    path = tmp_path / "dump.json"
    path.write_bytes(_damaged_matches())
    order: list[str] = []
    real = Check.run

    def run(self: Check, ctx: Context) -> list[Finding]:
        order.append(self.code)
        return real(self, ctx)

    monkeypatch.setattr(Check, "run", run)
    for jobs in ("1", "2"):
        order.clear()
        with monkeypatch.context() as m:
            m.setenv("PDEBUG_JOBS", jobs)
            m.setattr(parallel, "_threads_alive", lambda: False)
            pdebug("check", path)
        ran = [code for code in order if code in ("PD203", "PD403", "PD404")]
        assert ran == (["PD203", "PD403", "PD404"] if jobs == "1" else ["PD403", "PD404", "PD203"])


# --- checks that say something ahead of their turn -----------------------------------


def _replaced(monkeypatch: pytest.MonkeyPatch, **funcs: Any) -> list[str]:
    """The registry with the checks of ``funcs`` (by code) doing that instead; the calls."""
    calls: list[str] = []
    table = dict(checks.BY_CODE)
    for code, func in funcs.items():
        old = table[code]

        def wrapped(ctx: Context, this: Check, func: Any = func, code: str = code) -> Any:
            calls.append(code)
            return func(ctx, this)

        table[code] = Check(old.code, old.severity, old.name, old.summary, old.needs, wrapped)
    monkeypatch.setattr(checks, "BY_CODE", table)
    monkeypatch.setattr(checks, "ALL_CHECKS", tuple(table[c.code] for c in checks.ALL_CHECKS))
    return calls


def _pd203(ctx: Context, this: Check) -> Iterator[Finding]:
    ctx.dump.warn("said by PD203 and PD403")
    print("PD203 prints", file=sys.stderr)
    ctx.dump.warn("said by PD203")
    yield this.finding("cluster/a", "a finding of PD203", "hint")


def _pd403(ctx: Context, this: Check) -> Iterator[Finding]:
    ctx.dump.warn("said by PD403")
    ctx.dump.warn("said by PD203 and PD403")
    print("PD403 prints", file=sys.stderr)
    yield this.finding("cluster/b", f"a finding of PD403 ({len(ctx.hosts)} host sets)", "hint")
    yield this.finding("cluster/a", "a second finding of PD403, first by resource", "hint")


def _pd404_skips(ctx: Context, this: Check) -> Iterator[Finding]:
    ctx.dump.warn("said by PD404 before its input failed")
    raise InvalidInput("PD404's input is damaged")
    yield  # pragma: no cover


def _pd404_breaks(ctx: Context, this: Check) -> Iterator[Finding]:
    print("PD404 prints before it breaks", file=sys.stderr)
    raise RuntimeError("PD404 broke")
    yield  # pragma: no cover


@pytest.mark.parametrize("pd404", [_pd404_skips, _pd404_breaks, None])
def test_checks_run_ahead_say_and_raise_in_their_turn(
    pd404: Any, tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dump.json"
    buf = io.BytesIO()
    generate(buf, 40, seed=5, namespaces=3)
    path.write_bytes(buf.getvalue())
    funcs = {"PD203": _pd203, "PD403": _pd403}
    if pd404 is not None:
        funcs["PD404"] = pd404
    calls = _replaced(monkeypatch, **funcs)
    for args in (["check"], ["check", "-o", "json"]):
        got = []
        for jobs in ("1", "2"):
            calls.clear()
            with monkeypatch.context() as m:
                m.setenv("PDEBUG_JOBS", jobs)
                m.setattr(parallel, "_threads_alive", lambda: False)
                got.append(pdebug(*args[:1], path, *args[1:]))
            # the forked run did run them ahead: the differential compares two orders
            assert calls[0] == ("PD203" if jobs == "1" else "PD403"), calls
        one, forked = got
        assert (forked.code, forked.out, forked.err) == (one.code, one.out, one.err), args
        assert one.err.index("PD203 prints") < one.err.index("said by PD403")
        assert one.err.count("said by PD203 and PD403") == 1
        if pd404 is _pd404_breaks:
            assert one.code != 0 and "PD404 broke" in one.err
            assert "PD403 prints" in one.err and "PD404 prints before it breaks" in one.err


# --- Ran: a dump's warnings kept for their turn ----------------------------------------


def test_ran_keeps_a_dumps_warnings_and_says_them_once(capsys: pytest.CaptureFixture[str]) -> None:
    dump = ConfigDump([], "x")

    def task() -> int:
        dump.warn("first")
        print("written", file=sys.stderr)
        dump.warn("second")
        dump.warn("first")
        return 5

    ran = parallel.Ran().run(task, [dump])
    assert ran.value == 5 and dump.hold is None and dump.warnings == []
    assert capsys.readouterr().err == ""
    dump.warn("second")  # said before the kept task's turn: its own is then not said
    ran.replay()
    assert capsys.readouterr().err == ("pdebug: warning: second\npdebug: warning: first\nwritten\n")
    assert dump.warnings == ["second", "first"]
