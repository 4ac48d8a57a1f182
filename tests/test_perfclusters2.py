"""perfclusters2 (#17): lighter start-up of the tables, and ``all``'s parts weighed as measured."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import msgspec
import pytest

import pdebug.cli as cli
from pdebug.model.dump import ConfigDump, Section
from pdebug.sources.base import IstiodChoice, LiveOptions

ROOT = Path(__file__).resolve().parent.parent
DUMP = ROOT / "fixtures" / "real" / "sidecar" / "config_dump.json"

#: Modules a plain table must not import: ``dataclasses`` brings ``inspect``, ``ast``,
#: ``dis`` and ``tokenize`` (~5 ms); ``threading`` is only needed once a thread may run.
_HEAVY = {"dataclasses", "inspect", "threading"}


def _run_program(*args: str) -> tuple[str, set[str]]:
    """``pdebug ARGS`` as the program runs it, to its real end (``os._exit``).

    Returns stdout and the modules loaded when the process ended.
    """
    code = (
        "import os, sys\n"
        "real_exit = os._exit\n"
        "def _exit(code):\n"
        "    sys.stderr.write(' '.join(sorted(k for k, v in sys.modules.items() if v)))\n"
        "    sys.stderr.flush()\n"
        "    real_exit(code)\n"
        "os._exit = _exit\n"
        f"sys.argv = ['pdebug', *{list(args)!r}]\n"
        "import runpy\n"
        "runpy.run_module('pdebug', run_name='__main__')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout, set(out.stderr.split())


@pytest.mark.parametrize("view", ["clusters", "listeners", "routes", "endpoints"])
def test_plain_tables_start_without_dataclasses_or_threading(view: str) -> None:
    """The plain tables end (through ``os._exit``) without having imported ``dataclasses``
    or ``threading``, and print what the program prints."""
    out, loaded = _run_program(view, str(DUMP))
    assert "msgspec" in loaded and "pdebug.model.dump" in loaded
    assert not loaded & _HEAVY, sorted(loaded & _HEAVY)
    plain = subprocess.run(
        [sys.executable, "-m", "pdebug", view, str(DUMP)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=True,
    )
    assert out == plain.stdout and out.count("\n") > 3


def test_the_quick_exit_still_waits_for_a_running_thread() -> None:
    """With ``threading`` imported and a non-daemon thread alive, ``_exit_now`` returns
    (the ordinary exit then waits for the thread) instead of ending the process."""
    done = threading.Event()
    worker = threading.Thread(target=done.wait, daemon=False)
    worker.start()
    try:
        assert cli._exit_now(0) is None  # returned: the process was not ended
    finally:
        done.set()
        worker.join()


def test_section_is_built_compared_and_shown_as_the_dataclass_was() -> None:
    a = Section("type.googleapis.com/envoy.admin.v3.ClustersConfigDump", "clusters", {}, 1)
    b = Section(
        type_url="type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
        kind="clusters",
        fields={},
        index=1,
    )
    assert a == b and not (a != b)
    assert a._cache is not b._cache  # each its own cache, as default_factory=dict made
    a._cache["k"] = 1
    assert a != b and b._cache == {}
    assert (a.camel, a.warn, a.where, a.complete, a.release, a.fast, a.text) == (
        False,
        None,
        "",
        None,
        None,
        None,
        None,
    )
    assert a.planned == frozenset()
    assert repr(b) == (
        "Section(type_url='type.googleapis.com/envoy.admin.v3.ClustersConfigDump', "
        "kind='clusters', fields={}, index=1, camel=False)"
    )
    with pytest.raises(TypeError):
        hash(a)
    assert a != object() and Section("t", "", {}, 0) != Section("t", "", {}, 1)
    # the model still sets what load sets, and the dump wires its warnings in
    dump = ConfigDump([b], "x.json")
    assert b.warn == dump.warn and b.where == "x.json"


def test_live_options_are_frozen_values() -> None:
    live = LiveOptions(2.5, "shop", "kind", "/kc", 9901, "envoy")
    assert live == LiveOptions(
        timeout=2.5, namespace="shop", context="kind", kubeconfig="/kc", admin_port=9901,
        container="envoy",
    )  # fmt: skip
    assert hash(live) == hash(LiveOptions(2.5, "shop", "kind", "/kc", 9901, "envoy"))
    assert LiveOptions() == LiveOptions(30.0, None, None, None, 15000, "istio-proxy", None)
    with pytest.raises(AttributeError):
        live.timeout = 1.0  # type: ignore[misc]
    assert msgspec.structs.replace(live, timeout=1.0).timeout == 1.0
    choice = IstiodChoice(revision="canary")
    assert (choice.namespace, choice.revision, choice.url) == (None, "canary", None)
    with pytest.raises(AttributeError):
        choice.url = "http://x"  # type: ignore[misc]


def test_all_weighs_the_secrets_part_by_the_bytes_it_searches() -> None:
    """``all``'s secrets part searches the listeners' and clusters' bytes for provider
    instances: its weight grows with them, so the parts are grouped by what they cost."""
    from pdebug.model.load import load
    from pdebug.views import all as v

    dump = load(DUMP.read_bytes(), str(DUMP)).dump
    assert dump is not None
    searched = dump.section_bytes("clusters") + dump.section_bytes("listeners")
    own = dump.section_bytes("secrets") * v._COST_OTHER
    assert searched > 0
    assert v._weight(dump, "secrets") == pytest.approx(own + searched * v._SEARCH_COST)
    assert v._weight(dump, "clusters") == pytest.approx(
        dump.section_bytes("clusters") * v._COST["clusters"]
    )
