"""Item 1 and 2 of issue 13: pdebug is a command after the README's set-up.

The slow part (a wheel built the way ``pipx install .`` builds it, installed into a fresh
venv) is one module-scoped fixture, marked ``install``: ``pytest -m 'not install'`` skips it.
The fresh venv gets pdebug's dependencies through a ``.pth`` line to the test venv's
site-packages, so nothing is downloaded but the build backend (as pip does for any build).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.harness import FIXTURES, ROOT

SIDECAR = FIXTURES / "real/sidecar/config_dump.json"


def _run(*args: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    # Without PYTHONPATH: the installed copy is under test, not this checkout.
    kw.setdefault("env", {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=240, check=False, **kw
    )  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with pdebug installed from a wheel of this checkout (as pipx does)."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "pdebug", src / "pdebug", ignore=shutil.ignore_patterns("__pycache__"))
    built = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp / "dist", src)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("pdebug-*.whl")
    venv = tmp / "venv"
    made = _run(sys.executable, "-m", "venv", "--without-pip", venv)
    assert made.returncode == 0, made.stderr
    python = venv / "bin/python"
    installed = _run(
        sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel
    )
    assert installed.returncode == 0, installed.stderr
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    (Path(site.stdout.strip()) / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


@pytest.mark.install
def test_installed_pdebug_prints_a_table(fresh_venv: Path, tmp_path: Path) -> None:
    # Not from the checkout: the installed package (with its data files) must be whole.
    result = _run(fresh_venv / "bin/pdebug", "clusters", SIDECAR, "--fqdn", "reviews", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("SERVICE FQDN")
    assert "reviews.default.svc.cluster.local" in result.stdout


@pytest.mark.install
def test_activated_venv_has_the_pdebug_command(fresh_venv: Path, tmp_path: Path) -> None:
    # The README's first way: `. .venv/bin/activate`, then `pdebug`.
    script = f". {fresh_venv}/bin/activate && pdebug --version && command -v pdebug"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"
    result = _run("bash", "-c", script, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["pdebug 0.1.0", f"{fresh_venv}/bin/pdebug"]


@pytest.mark.install
def test_kubectl_plugin_entry_point(fresh_venv: Path, tmp_path: Path) -> None:
    # kubectl runs kubectl-pdebug from PATH for `kubectl pdebug ...`.
    result = _run(fresh_venv / "bin/kubectl-pdebug", "b", SIDECAR, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Envoy Version:" in result.stdout


@pytest.mark.install
def test_report_assets_are_in_the_wheel(fresh_venv: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = _run(fresh_venv / "bin/pdebug", "report", SIDECAR, "-o", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.install
def test_expectation_schema_is_in_the_wheel(fresh_venv: Path, tmp_path: Path) -> None:
    result = _run(fresh_venv / "bin/pdebug", "assert", "--schema", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"expectations"' in result.stdout


def test_python_dash_m_without_the_dependencies_says_how_to_install(tmp_path: Path) -> None:
    # `python -m pdebug` from the checkout with a Python that has none of the dependencies.
    venv = tmp_path / "bare"
    assert _run(sys.executable, "-m", "venv", "--without-pip", venv).returncode == 0
    result = _run(venv / "bin/python", "-m", "pdebug", "--version", cwd=ROOT)
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("pdebug: error: this Python (")
    assert "does not have pdebug's dependencies (no module 'typer')" in lines[0]
    assert lines[1].startswith("hint: make install, then . .venv/bin/activate")
    assert "pipx install ." in lines[1]


# --- item 2: the Makefile checks the Python before it creates .venv ---------------------


def _make(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(ROOT / "Makefile", tmp / "Makefile")
    (tmp / "pyproject.toml").write_text("")
    return _run("make", "-s", "-C", tmp, "install", *args)


def _fake_python(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_with_an_old_python_creates_no_venv(tmp_path: Path) -> None:
    old = _fake_python(tmp_path / "python3.10", 'echo "Python 3.10.13"; exit 1\n')
    result = _make(tmp_path, f"PY={old}")
    assert result.returncode != 0
    assert "pdebug needs Python 3.11 or newer" in result.stderr
    assert "Python 3.10.13" in result.stderr
    assert "hint: make demo PY=python3.12" in result.stderr
    assert not (tmp_path / ".venv").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_with_a_missing_python_creates_no_venv(tmp_path: Path) -> None:
    result = _make(tmp_path, "PY=python-does-not-exist-3.10")
    assert result.returncode != 0
    assert "pdebug needs Python 3.11 or newer" in result.stderr
    assert not (tmp_path / ".venv").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_rebuilds_a_venv_left_by_a_wrong_python(tmp_path: Path) -> None:
    # A .venv from an earlier failed run (its python is 3.10): removed, not reused.
    broken = tmp_path / ".venv/bin"
    broken.mkdir(parents=True)
    _fake_python(broken / "python", "exit 1\n")
    (broken / "leftover").write_text("")
    log = tmp_path / "venv-called"
    # A Python that passes the check; `-m venv` only records that .venv was gone by then.
    good = _fake_python(
        tmp_path / "python3",
        f'if [ "$1" = -m ]; then ls -a {tmp_path} > {log}; exit 7; fi\n'
        f'exec {sys.executable} "$@"\n',
    )
    result = _make(tmp_path, f"PY={good}")
    assert result.returncode != 0  # the fake's `-m venv` fails on purpose
    assert "removing .venv" in result.stdout
    assert ".venv" not in log.read_text().split()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_ends_by_saying_how_to_run_pdebug() -> None:
    result = _run("make", "-n", "-s", "-C", ROOT, "demo", "STAMP=Makefile")
    assert result.returncode == 0, result.stderr
    assert ". .venv/bin/activate" in result.stdout
    assert "pipx install ." in result.stdout
