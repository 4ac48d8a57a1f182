"""Label selectors the API server cannot parse are usage errors (exit 2), not outages.

The API server double answers a malformed ``labelSelector`` as a real one does: ``400``, a
``Status`` with reason ``BadRequest`` and ``unable to parse requirement: ...``, after parsing
the whole selector (a bad requirement after one that matches nothing is still a 400).
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest

from pdebug.errors import ExitCode, UsageError
from pdebug.sources import LiveOptions
from pdebug.sources.kube import KubeCluster
from tests import harness as eh
from tests.harness import kube_double as kd

pytestmark = pytest.mark.usefixtures("no_ambient_config")

HINT = "label selector syntax: key=value,key!=value,key in (a,b)"


def one_error(result) -> tuple[str, str]:
    assert result.out == "", result.out
    lines = result.err.splitlines()
    assert len(lines) == 2, result.err
    assert lines[0].startswith("pdebug: error: ") and lines[1].startswith("hint: ")
    return lines[0].removeprefix("pdebug: error: "), lines[1].removeprefix("hint: ")


@pytest.mark.parametrize("selector", ["bad selector!!", "app=nothing,tier in (a"])
def test_the_double_answers_a_bad_selector_like_an_api_server(
    kube: kd.KubeDouble, selector: str
) -> None:
    kube.add_pod("web-1", labels={"app": "web"})
    for path in ("/api/v1/pods", "/api/v1/namespaces/default/pods"):
        status, body = eh.http_get(
            f"{kube.url}{path}?" + urllib.parse.urlencode({"labelSelector": selector}),
            headers={"Authorization": f"Bearer {kube.token}"},
        )
        answer = json.loads(body)
        assert (status, answer["kind"], answer["reason"], answer["code"]) == (
            400,
            "Status",
            "BadRequest",
            400,
        )
        assert answer["message"].startswith("unable to parse requirement: ")


@pytest.mark.parametrize("namespace", ["default", None])
def test_list_with_a_bad_selector_is_a_usage_error(
    kube: kd.KubeDouble, kubeconfig: str, namespace: str | None
) -> None:
    cluster = KubeCluster(LiveOptions(timeout=5.0, kubeconfig=kubeconfig), "test")
    try:
        with pytest.raises(UsageError) as err:
            cluster.list("pods", namespace, "app=web,bad selector!!", "pods in namespace x")
        assert err.value.exit_code == ExitCode.USAGE
        assert err.value.message == (
            "invalid label selector 'app=web,bad selector!!' "
            "(unable to parse requirement: 'bad selector!!')"
        )
        assert err.value.hint == HINT
        assert cluster.list("pods", namespace, "app=web", "x") == []  # a good one still works
    finally:
        cluster.close()


def test_snapshot_with_a_bad_selector(pdebug, kube: kd.KubeDouble, kubeconfig: str, tmp_path: Path):
    kube.add_pod("web-1", "shop", labels={"app": "web"})
    out = tmp_path / "s.tar.gz"
    for scope in (["-A"], ["-n", "shop"]):
        result = pdebug(
            "snapshot", *scope, "-l", "bad selector!!", "-o", out, "--kubeconfig", kubeconfig
        )
        assert result.code == ExitCode.USAGE
        assert one_error(result) == (
            "invalid label selector 'bad selector!!' "
            "(unable to parse requirement: 'bad selector!!')",
            HINT,
        )
    assert not out.exists()


def test_status_with_a_bad_revision(pdebug, kube: kd.KubeDouble, kubeconfig: str) -> None:
    result = pdebug("status", "--kubeconfig", kubeconfig, "-r", "bad!!")
    assert result.code == ExitCode.USAGE
    message, hint = one_error(result)
    assert message == (
        "invalid label selector 'app=istiod,istio.io/rev=bad!!' "
        "(unable to parse requirement: 'istio.io/rev=bad!!')"
    )
    assert hint == HINT


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        (["-A"], "no pods match app=nothing in any namespace"),
        (["-n", "shop"], "no pods match app=nothing in namespace shop"),
    ],
)
def test_snapshot_selector_matches_nothing(pdebug, kube, kubeconfig, tmp_path, scope, message):
    kube.add_pod("web-1", "shop", labels={"app": "web"})
    out = tmp_path / "s.tar.gz"
    args = ("-l", "app=nothing", "-o", out, "--kubeconfig", kubeconfig)
    result = pdebug("snapshot", *scope, *args)
    assert result.code == ExitCode.SOURCE_UNAVAILABLE
    assert one_error(result)[0] == message
