"""pytest fixtures: run pdebug in-process, golden files, live doubles.

Paths, doubles and helpers are in the :mod:`tests.harness` package; this file holds fixtures only.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest

from tests import harness as eh
from tests.harness import kube_double as kd
from tests.harness.helpers import GOLDEN, PORT_FORWARD_READS, Result


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/ files")


@pytest.fixture
def pdebug(capsys: pytest.CaptureFixture[str]):
    """Run ``pdebug ARGS...`` in-process through the real entry point (error funnel included)."""
    from pdebug.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forks allowed (idle threads other tests leave would make every map one process),
    and every report made at :data:`tests.harness.REPORT_TIME`."""
    import functools

    import pdebug.report
    from pdebug import parallel

    monkeypatch.setattr(parallel, "_threads_alive", lambda: False)
    monkeypatch.setattr(
        pdebug.report,
        "ReportMeta",
        functools.partial(pdebug.report.ReportMeta, generated=eh.REPORT_TIME),
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """Compare text with tests/golden/NAME, or rewrite it with --update-golden."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return
        assert path.exists(), f"missing golden {path}; run make golden and review it"
        want = path.read_text()
        if text != want:
            diff = "".join(
                difflib.unified_diff(
                    want.splitlines(True), text.splitlines(True), f"golden/{name}", "actual"
                )
            )
            pytest.fail(f"output differs from golden/{name}:\n{diff}")

    return check


# --------------------------------------------------------------------------- live doubles


@pytest.fixture
def no_ambient_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never read the developer's kubeconfig, nor act as if in a pod."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def kube_reads() -> Collection[tuple[str, str]]:
    """The (verb, resource) requests pdebug may make of ``kube``; a module overrides it."""
    return PORT_FORWARD_READS


@pytest.fixture
def kube(kube_reads: Collection[tuple[str, str]]) -> Iterator[kd.KubeDouble]:
    """A fresh Kubernetes API server double; afterwards pdebug must only have read from it."""
    with kd.KubeDouble() as double:
        yield double
        bad = [
            r
            for r in double.requests
            if r.method != "GET" or (r.verb, r.resource) not in kube_reads
        ]
        assert not bad, f"pdebug did more than read: {bad}"


@pytest.fixture
def kubeconfig(kube: kd.KubeDouble, tmp_path: Path) -> str:
    """A kubeconfig for ``kube`` (context ``test``, namespace ``default``)."""
    return str(kube.write_kubeconfig(tmp_path / "kubeconfig"))


@pytest.fixture(scope="module")
def sidecar() -> Iterator[eh.SidecarRun]:
    """One real Istio-shaped sidecar Envoy per test module (skips without an envoy binary)."""
    if not eh.envoy_available():
        pytest.skip("no envoy binary")
    with eh.istio_sidecar() as run:
        yield run
