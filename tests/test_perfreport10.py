"""perfreport10 (#17): patterns a command does not need are not compiled as it starts.

``check`` and ``report`` start serially (before any fork), so each regex compiled at
import is paid on every run. The markdown patterns live in :mod:`pdebug.render.markdown`,
imported only for ``-o markdown``; the admin-address and Kubernetes patterns
(:mod:`pdebug.sources.spec`), the rejected-update stats' (:mod:`pdebug.checks.stats`) and
the number options' (:mod:`pdebug.cli`), and those for pasted, text, YAML or damaged dumps
(:mod:`pdebug.model.dump`, :mod:`~pdebug.model.sniff`, :mod:`~pdebug.model.load`) are
compiled by ``re`` on first use.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pdebug.cli as cli
from pdebug.checks import stats
from pdebug.render import markdown
from pdebug.sources import spec

ROOT = Path(__file__).resolve().parent.parent
DUMP = ROOT / "fixtures" / "real" / "sidecar" / "config_dump.json"


def _lazy_sources() -> set[str | bytes]:
    """The sources of the patterns that must wait for their first use."""
    from pdebug.model import dump, load, sniff

    found: set[str | bytes] = {spec._URL, spec._HOST_PORT, spec._IP_PORT, spec._KUBE}
    # (dump._QUOTED_DOTS is searched for in every section under 1 MB: this dump compiles it)
    found |= {dump._NULL_MEMBER, dump._REDACTED, dump._PLACEHOLDER}
    found |= {sniff._LISTENERS_TEXT, sniff._TEXT_STATS, sniff._YAML_KEY, load._OPENS}
    found |= {rx for rx, _ in stats._KINDS}
    found |= {cli._INT_TEXT, cli._FLOAT_TEXT}
    found |= {v.pattern for v in vars(markdown).values() if isinstance(v, re.Pattern)}
    assert all(isinstance(s, (str, bytes)) for s in found)
    return found


def _compiled_by(*args: str) -> tuple[set[str | bytes], set[str], str]:
    """``pdebug ARGS`` run to its end: the regex sources compiled, the modules loaded,
    and stdout."""
    code = (
        "import json, os, sys, re._compiler as C\n"
        "seen = []\n"
        "real = C.compile\n"
        "def compile(p, flags=0):\n"
        "    seen.append(['s', p] if isinstance(p, str) else ['b', p.hex()])\n"
        "    return real(p, flags)\n"
        "C.compile = compile\n"
        "real_exit = os._exit\n"
        "def _exit(code):\n"
        "    mods = sorted(k for k, v in sys.modules.items() if v)\n"
        "    sys.stderr.write('\\n' + json.dumps([seen, mods]))\n"
        "    sys.stderr.flush()\n"
        "    real_exit(code)\n"
        "os._exit = _exit\n"
        f"sys.argv = ['pdebug', *{list(args)!r}]\n"
        "import runpy\n"
        "try:\n"
        "    runpy.run_module('pdebug', run_name='__main__')\n"
        "finally:\n"
        "    _exit(0)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), PDEBUG_JOBS="1")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    seen, mods = json.loads(out.stderr.rsplit("\n", 1)[-1])
    sources = {p if kind == "s" else bytes.fromhex(p) for kind, p in seen}
    return sources, set(mods), out.stdout


@pytest.mark.parametrize("command", [["check"], ["clusters"], ["check", "-o", "json"]])
def test_start_compiles_none_of_the_lazy_patterns(command: list[str]) -> None:
    """A command on a saved dump compiles none of the patterns kept for first use, and does
    not import the markdown module."""
    seen, mods, out = _compiled_by(*command, str(DUMP))
    assert out.strip()
    assert "pdebug.checks.stats" in mods or command == ["clusters"]
    assert "pdebug.sources.spec" in mods
    assert "pdebug.render.markdown" not in mods
    assert not seen & _lazy_sources(), sorted(seen & _lazy_sources())


def test_markdown_still_compiles_its_patterns_when_asked() -> None:
    """``-o markdown`` imports the markdown module (the check above is not vacuous)."""
    seen, mods, out = _compiled_by("clusters", str(DUMP), "-o", "markdown")
    assert "pdebug.render.markdown" in mods
    assert out.startswith("| ")
    md = {v.pattern for v in vars(markdown).values() if isinstance(v, re.Pattern)}
    assert md & seen


def test_lazy_patterns_answer_as_compiled_ones() -> None:
    """Seeded texts: the stats' kinds and SOURCE's kind are what the same patterns,
    compiled with ``re.compile`` and the old flags, give."""
    rng = random.Random(10)
    parts = [
        "cluster_manager.cds.update_rejected",
        "listener_manager.lds.update_rejected",
        "http.80.rds.",
        "cluster.",
        "sds.",
        "extension_config_discovery.",
        "update_rejected",
        "a",
        ".",
        "http://",
        "HTTPS://",
        "localhost:",
        "[::1]:",
        "10.0.0.1:",
        "15000",
        "/x",
        "POD/",
        "Deploy.apps/",
        "gateways.gateway.networking.k8s.io/",
        "svc/",
        ":",
        "é",
    ]
    kinds = [(re.compile(rx), text) for rx, text in stats._KINDS]
    url, kube = re.compile(r"^https?://", re.I), re.compile(spec._KUBE[4:], re.I)
    host_port, ip_port = re.compile(spec._HOST_PORT), re.compile(spec._IP_PORT)
    seen_kinds: set[str] = set()
    for _ in range(3000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(1, 5)))
        want = next((t.format(**m.groupdict()) for rx, t in kinds if (m := rx.search(text))), "xDS")
        assert stats._what(text) == want
        seen_kinds.add(want.split(" ")[0])
        if url.match(text) or host_port.match(text) or ip_port.match(text):
            assert spec._kind(text, False) == "admin", text
        elif kube.match(text):
            assert spec._kind(text, False) == "kube", text
    assert seen_kinds == {"CDS", "LDS", "RDS", "EDS", "SDS", "ECDS", "xDS"}
    for text, number in [("12", True), ("-3", True), ("1.5", False), ("١٢", False), ("1e3", False)]:
        assert bool(re.fullmatch(cli._INT_TEXT, text)) is number, text


def test_report_loads_neither_tempfile_nor_importlib_resources(tmp_path: Path) -> None:
    """``pdebug report`` writes its page (atomically, readable as before) without
    ``tempfile`` (and its ``shutil``, ``bz2``, ``lzma``) or ``importlib.resources``."""
    page = tmp_path / "r.html"
    _, mods, _ = _compiled_by("report", str(DUMP), "-o", str(page))
    heavy = {"tempfile", "shutil", "bz2", "lzma", "importlib.resources", "zipfile"}
    assert not mods & heavy, sorted(mods & heavy)
    text = page.read_text("utf-8")
    assert text.startswith("<!DOCTYPE html>") or text.startswith("<!doctype html>")
    from importlib import resources

    for name in ("report.css", "report.js"):
        body = resources.files("pdebug.report").joinpath("static", name).read_text("utf-8")
        assert body.split("\n", 1)[0] in text
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temp file left
    umask = os.umask(0)
    os.umask(umask)
    assert page.stat().st_mode & 0o777 == 0o666 & ~umask


def test_temp_file_is_new_private_and_never_a_followed_link(tmp_path: Path) -> None:
    """``_temp_beside``: ``.pdebug-HEX.tmp``, mode 0600, a fresh name each time; a name
    already taken is skipped, and a planted link is neither followed nor overwritten."""
    from pdebug import atomic

    names = set()
    for _ in range(20):
        fd, name = atomic._temp_beside(str(tmp_path))
        os.close(fd)
        assert re.fullmatch(r"\.pdebug-[0-9a-f]{16}\.tmp", os.path.basename(name))
        assert os.stat(name).st_mode & 0o777 == 0o600
        names.add(name)
    assert len(names) == 20
    target = tmp_path / "target"
    target.write_text("keep")
    real = os.urandom
    draws = iter([b"\x00" * 8, b"\x01" * 8])
    link = tmp_path / f".pdebug-{'00' * 8}.tmp"
    link.symlink_to(target)
    try:
        atomic.os.urandom = lambda n: next(draws)  # type: ignore[attr-defined]
        fd, name = atomic._temp_beside(str(tmp_path))
    finally:
        atomic.os.urandom = real  # type: ignore[attr-defined]
    os.close(fd)
    assert os.path.basename(name) == f".pdebug-{'01' * 8}.tmp"
    assert target.read_text() == "keep" and link.is_symlink()
