"""``pdebug assert``: expectation files judged on real Envoy states, bundles and pods.

The runbooks of examples/runbooks are run against a real Envoy 1.40 sidecar
(tests/harness/envoy.py) in a healthy state (all pass, exit 0) and in the broken state
each is about (exit 1, with the WHY a user needs). Schema errors name file, line and key.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests import harness as eh
from tests.harness import FIXTURES, ROOT
from tests.harness import kube_double as kd

EXAMPLES = ROOT / "examples" / "runbooks"
SIDECAR_DUMP = FIXTURES / "real" / "sidecar" / "config_dump.json"
needs_envoy = pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary")


def write(tmp_path: Path, text: str, name: str = "book.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def results(out: str) -> dict[str, str]:
    """EXPECTATION -> RESULT from ``-o json``."""
    return {r["expectation"]: r["result"] for r in json.loads(out)["results"]}


# --- the file: schema, includes, variables ------------------------------------------------


def test_schema_is_printed_and_is_a_valid_json_schema(pdebug):
    import jsonschema

    r = pdebug("assert", "--schema")
    assert r.code == 0
    schema = json.loads(r.out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "expectations" in schema["properties"]


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        (
            "expectations:\n  - name: a\n    resource: {kind: cluster, nmae: x}\n",
            3,
            "unknown key 'nmae'",
        ),
        ("expectation: []\n", 1, "unknown key 'expectation'"),
        (
            "expectations:\n  - name: a\n    request: {url: http://x}\n",
            2,
            "request and expect go together",
        ),
        (
            "expectations:\n  - name: a\n    check: {absent: [PD101]}\n    sync: SYNCED\n",
            2,
            "exactly one of",
        ),
        ("expectations:\n  - name: a\n    check: {absent: [PD1]}\n", 3, "does not match"),
        ("expectations:\n  - name: a\n    certificates: {min_days: soon}\n", 3, "is not of type"),
        (
            "expectations:\n  - name: a\n    resource: {kind: cluster, where: ['x ~~ 3']}\n",
            2,
            "cannot read the predicate",
        ),
        (
            "expectations:\n  - name: a\n    resource: {kind: cluster, name: '${nope}'}\n",
            2,
            "${nope} is not defined",
        ),
        (
            "expectations:\n  - name: a\n    request: {url: 'ftp://x'}\n"
            "    expect: {verdict: ok}\n",
            2,
            "unsupported scheme",
        ),
        ("expectations: [\n", 2, "not valid YAML"),
        (
            "expectations:\n  - name: a\n    check: {absent: [PD101]}\n"
            "  - name: a\n    check: {absent: [PD102]}\n",
            2,
            "used more than once",
        ),
    ],
)
def test_mistakes_in_the_file_name_file_line_and_key(pdebug, tmp_path, text, line, what):
    path = write(tmp_path, text)
    r = pdebug("assert", path, SIDECAR_DUMP)
    assert r.code == 4, r.err
    assert f"{path}:{line}:" in r.err, r.err
    assert what in r.err
    assert r.err.count("\n") <= 2 and "Traceback" not in r.err


def test_includes_and_variables(pdebug, tmp_path):
    write(
        tmp_path,
        "vars: {app: productpage}\nexpectations:\n"
        "  - name: shared check\n    proxies: {labels: {app: '${app}'}}\n"
        "    check: {absent: [PD101]}\n",
        "shared.yaml",
    )
    book = write(
        tmp_path,
        "include: [shared.yaml]\nexpectations:\n  - name: details exists\n"
        "    resource: {kind: cluster, name: 'outbound|9080||${svc}.default.svc.cluster.local'}\n",
    )
    r = pdebug("assert", book, SIDECAR_DUMP, "--var", "svc=details", "-o", "json")
    assert r.code == 0, r.out + r.err
    assert results(r.out) == {"shared check": "PASS", "details exists": "PASS"}
    other = pdebug(
        "assert", book, SIDECAR_DUMP, "--var", "app=nobody", "--var", "svc=nope", "-o", "json"
    )
    assert other.code == 1
    assert results(other.out) == {"shared check": "FAIL", "details exists": "FAIL"}


def test_include_loop_is_refused(pdebug, tmp_path):
    write(tmp_path, "include: [b.yaml]\n", "a.yaml")
    write(tmp_path, "include: [a.yaml]\n", "b.yaml")
    r = pdebug("assert", str(tmp_path / "a.yaml"), SIDECAR_DUMP)
    assert r.code == 4 and "include loop" in r.err


def test_missing_file_and_missing_source(pdebug, tmp_path):
    assert pdebug("assert", tmp_path / "none.yaml", SIDECAR_DUMP).code == 3
    book = "expectations:\n  - name: x\n    check: {absent: [PD101]}\n"
    r = pdebug("assert", write(tmp_path, book))
    assert r.code == 2 and "say which proxies" in r.err


# --- predicates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "ok"),
    [
        ("a.b == 3", True),
        ("a.b >= 3", True),
        ("a.b > 3", False),
        ("a.t <= 10s", True),
        ("a.t == 5", True),
        ("a.t < 4.5", False),
        ("a.list contains x", True),
        ("a.list contains z", False),
        ("a.items[*].n == 2", True),
        ("a.items[0].n == 2", False),
        ("a.items[*].n in [7, 9]", False),
        ("a.name matches ^rev.*s$", True),
        ("a.missing absent", True),
        ("a.missing exists", False),
        ("a.b exists", True),
        ("a.wrapped >= 2", True),
    ],
)
def test_predicate_language(pred, ok):
    from pdebug.runbook.predicates import holds, parse

    obj = {
        "a": {
            "b": 3,
            "t": "5s",
            "list": ["x", "y"],
            "items": [{"n": 1}, {"n": 2}],
            "name": "reviews",
            "wrapped": {"value": 2},
        }
    }
    assert holds(parse(pred, "test"), obj)[0] is ok


# --- on a saved dump ---------------------------------------------------------------------------


def test_every_kind_on_a_saved_dump(pdebug, tmp_path):
    book = write(
        tmp_path,
        """
expectations:
  - name: jason to v2
    request: {url: "http://reviews:9080/", headers: {end-user: jason}}
    expect: {cluster: "outbound|9080|v2|reviews.default.svc.cluster.local", min_healthy: 1}
  - name: wrong expectation
    request: {url: "http://reviews:9080/"}
    expect: {cluster: "outbound|9080|v2|reviews.default.svc.cluster.local"}
  - name: unknown host gets 404
    request: {url: "http://nowhere.example:9080/"}
    expect: {verdict: ok}
  - name: details is STRICT_DNS
    resource:
      kind: cluster
      name: "outbound|9080||details.default.svc.cluster.local"
      where: ["type == STRICT_DNS", "connect_timeout > 15"]
  - name: no rejected listener
    check: {absent: [PD101]}
  - name: sync
    sync: SYNCED
""",
    )
    r = pdebug("assert", book, SIDECAR_DUMP, "-o", "json")
    got = results(r.out)
    assert got["jason to v2"] == "PASS"
    assert got["wrong expectation"] == "FAIL"
    assert got["details is STRICT_DNS"] == "FAIL"  # connect_timeout is 10s
    assert got["no rejected listener"] == "PASS"
    assert got["sync"] == "ERROR"
    assert r.code == 4  # one expectation could not be judged on this input
    why = {x["expectation"]: x["why"] for x in json.loads(r.out)["results"]}
    assert "lands on outbound|9080|v1|" in why["wrong expectation"]
    assert "connect_timeout > 15 (found 10s)" in why["details is STRICT_DNS"]
    table = pdebug("assert", book, SIDECAR_DUMP)
    assert "EXPECTATION" in table.out and "could not be judged" in table.out


def test_junit_is_well_formed(pdebug, tmp_path):
    book = write(
        tmp_path,
        "expectations:\n  - name: ok\n    check: {absent: [PD101]}\n"
        "  - name: bad <&>\n    resource: {kind: cluster, name: nope}\n"
        "  - name: cannot\n    sync: SYNCED\n",
    )
    r = pdebug("assert", book, SIDECAR_DUMP, "-o", "junit")
    root = ET.fromstring(r.out)
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["bad <&>"].find("failure") is not None
    assert cases["cannot"].find("error") is not None
    assert cases["ok"].find("failure") is None and cases["ok"].find("error") is None


def test_a_proxy_selector_that_matches_nothing_fails(pdebug, tmp_path):
    book = write(
        tmp_path,
        "expectations:\n  - name: n\n    proxies: {namespace: shop}\n"
        "    check: {absent: [PD101]}\n",
    )
    r = pdebug("assert", book, SIDECAR_DUMP)
    assert r.code == 1 and "no proxy matches (namespace shop)" in r.out


# --- the example runbooks on a real Envoy ------------------------------------------------


def _restore(run: eh.SidecarRun) -> None:
    run.resources.write(run.xds)
    run.envoy.wait_for(
        lambda: eh.sidecar_is_ready(run.envoy, run.resources), 15, message="restored"
    )

    def clean() -> bool:
        dump = run.envoy.config_dump()
        listeners = eh.config_section(dump, "ListenersConfigDump").get("dynamic_listeners", [])
        return not any("error_state" in lst or "warming_state" in lst for lst in listeners)

    run.envoy.wait_for(clean, 15, message="no rejected listener left")


@pytest.fixture
def sc(sidecar):
    yield sidecar
    _restore(sidecar)


def run_example(pdebug, name: str, *sources: Any) -> tuple[int, dict[str, Any]]:
    r = pdebug("assert", EXAMPLES / name, *map(str, sources), "-o", "json")
    assert r.code in (0, 1), r.out + r.err
    return r.code, {x["expectation"]: x for x in json.loads(r.out)["results"]}


@needs_envoy
@pytest.mark.envoy
@pytest.mark.parametrize(
    "name",
    [
        "wrong-subset.yaml",
        "no-healthy-endpoints.yaml",
        "rejected-listener.yaml",
        "expiring-certificate.yaml",
    ],
)
def test_examples_pass_on_the_healthy_sidecar(pdebug, sc, name):
    code, got = run_example(pdebug, name, sc.envoy.admin_url)
    assert code == 0, got
    assert {x["result"] for x in got.values()} == {"PASS"}


@needs_envoy
@pytest.mark.envoy
def test_wrong_subset(pdebug, sc):
    routes = json.loads(json.dumps(sc.resources.route_configs))
    for rc in routes:
        for vh in rc["virtual_hosts"]:
            for route in vh["routes"]:
                action = route.get("route", {})
                if action.get("cluster") == eh.REVIEWS_V2:
                    action["cluster"] = eh.REVIEWS_V1
    for rc in routes:
        sc.xds.write_rds(rc)

    def moved() -> bool:
        return _jason_lands(sc) == eh.REVIEWS_V1

    sc.envoy.wait_for(moved, 10, message="jason routed to v1")
    code, got = run_example(pdebug, "wrong-subset.yaml", sc.envoy.admin_url)
    assert code == 1
    jason = got["jason is routed to reviews v2"]
    assert jason["result"] == "FAIL"
    assert f"lands on {eh.REVIEWS_V1}, expected {eh.REVIEWS_V2}" in jason["why"]


def _jason_lands(run: eh.SidecarRun) -> str | None:
    for rc in eh.config_section(run.envoy.config_dump(), "RoutesConfigDump").get(
        "dynamic_route_configs", []
    ):
        for vh in rc["route_config"].get("virtual_hosts", []):
            for route in vh.get("routes", []):
                if route.get("match", {}).get("headers"):
                    return route.get("route", {}).get("cluster")
    return None


@needs_envoy
@pytest.mark.envoy
def test_no_healthy_endpoints(pdebug, sc):
    eh.publish_all_unhealthy(sc)
    code, got = run_example(pdebug, "no-healthy-endpoints.yaml", sc.envoy.admin_url)
    assert code == 1
    assert got["ratings answers from a healthy endpoint"]["result"] == "FAIL"
    assert "fewer than 1 healthy endpoints" in got["ratings answers from a healthy endpoint"]["why"]
    assert got["no cluster is left without a healthy endpoint"]["why"].startswith("PD202 ")


def _reject_a_listener(run: eh.SidecarRun) -> socket.socket:
    """Push a listener on a port this test holds, and wait until Envoy rejects it.

    Returns the held socket (close it when done).
    """
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    port = held.getsockname()[1]
    listener = {
        "name": "held_port",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [eh.hcm("held_port", route_config={"name": "x"})]}],
    }
    run.xds.write_lds([*run.resources.listeners, listener])

    def rejected() -> bool:
        section = eh.config_section(run.envoy.config_dump(), "ListenersConfigDump")
        return any("error_state" in x for x in section.get("dynamic_listeners", []))

    run.envoy.wait_for(rejected, 10, message="listener rejected")
    return held


@needs_envoy
@pytest.mark.envoy
def test_rejected_listener(pdebug, sc):
    held = _reject_a_listener(sc)
    try:
        code, got = run_example(pdebug, "rejected-listener.yaml", sc.envoy.admin_url)
    finally:
        held.close()
    assert code == 1
    why = got["no listener is rejected or stuck warming"]["why"]
    assert why.startswith("PD101 listener/held_port:") and "Address already in use" in why
    assert got["the port 9080 listener is there"]["result"] == "PASS"


@needs_envoy
@pytest.mark.envoy
def test_expiring_certificate(pdebug, sc, tmp_path):
    import base64

    now = dt.datetime.now(dt.UTC)
    pki = eh.make_test_pki(tmp_path / "pki", leaf_not_after=now + dt.timedelta(days=2))
    version = sc.xds.write_sds(
        {
            "name": "default",
            "tls_certificate": {
                "certificate_chain": {"inline_bytes": base64.b64encode(pki.cert_pem).decode()},
                "private_key": {"inline_bytes": base64.b64encode(pki.key_pem).decode()},
            },
        }
    )

    def served() -> bool:
        section = eh.config_section(sc.envoy.config_dump(), "SecretsConfigDump")
        return any(
            s["name"] == "default" and s["version_info"] == version
            for s in section.get("dynamic_active_secrets", [])
        )

    sc.envoy.wait_for(served, 10, message="short-lived certificate")
    code, got = run_example(pdebug, "expiring-certificate.yaml", sc.envoy.admin_url)
    assert code == 1
    week = got["workload certificates last at least 7 days"]
    assert week["result"] == "FAIL"
    assert re.search(r"secret/default: certificate expires in (1\.9|2\.0) days", week["why"])
    assert got["no expired certificate anywhere"]["result"] == "PASS"


@needs_envoy
@pytest.mark.envoy
def test_sync_with_istiod_on_bundles(pdebug, sc, tmp_path):
    from pdebug import bundle

    dump = sc.envoy.get("/config_dump?include_eds")

    def make(name: str, sync: dict[str, str]) -> Path:
        path = tmp_path / name
        proxy = bundle.CapturedProxy(
            "productpage-v1-abc.default", "pod/productpage-v1-abc.default", {bundle.DUMP: dump}
        )
        bundle.write_bundle(str(path), [proxy], {"tool": "test"})
        # the recorded istiod sync state, as pdebug snapshot writes it into the manifest
        import io
        import tarfile

        with tarfile.open(path) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        manifest = json.loads(members["manifest.json"])
        manifest["proxies"][0]["sync"] = sync
        members["manifest.json"] = json.dumps(manifest).encode()
        with tarfile.open(path, "w:gz") as tar:
            for member, body in members.items():
                info = tarfile.TarInfo(member)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
        return path

    synced = make(
        "synced.tar.gz", {"CDS": "SYNCED", "LDS": "SYNCED", "EDS": "SYNCED", "RDS": "SYNCED"}
    )
    code, got = run_example(pdebug, "sync-with-istiod.yaml", synced)
    assert code == 0, got
    stale = make(
        "stale.tar.gz", {"CDS": "SYNCED", "LDS": "STALE", "EDS": "SYNCED", "RDS": "SYNCED"}
    )
    code, got = run_example(pdebug, "sync-with-istiod.yaml", stale)
    assert code == 1
    assert got["istiod's last push was acknowledged"]["why"].startswith("LDS STALE")


@needs_envoy
@pytest.mark.envoy
def test_watch_waits_until_green(pdebug, sc, tmp_path):
    _reject_a_listener(sc).close()

    def fix() -> None:  # the operator's fix: the bad listener is withdrawn
        sc.resources.write(sc.xds)

    timer = threading.Timer(1.0, fix)
    timer.start()
    try:
        r = pdebug(
            "assert",
            EXAMPLES / "rejected-listener.yaml",
            sc.envoy.admin_url,
            "--watch",
            "0.5",
            "--count",
            "40",
        )
    finally:
        timer.cancel()
    assert r.code == 0, r.out + r.err
    assert "run 1/40:" in r.err


# --- live pods through the Kubernetes API double ----------------------------------------------


@needs_envoy
@pytest.mark.envoy
def test_namespace_fan_out(pdebug, sc, tmp_path, no_ambient_config):
    with kd.KubeDouble() as kube:
        config = kube.write_kubeconfig(tmp_path / "kubeconfig")
        admin = sc.envoy.admin_address
        kube.add_pod("productpage-v1-abc", labels={"app": "productpage"}, forwards={15000: admin})
        kube.add_pod("no-sidecar", containers=("app",))
        r = pdebug(
            "assert",
            EXAMPLES / "rejected-listener.yaml",
            "-n",
            "default",
            "--kubeconfig",
            config,
            "-o",
            "json",
        )
        assert r.code == 0, r.out + r.err
        proxies = {x["proxy"] for x in json.loads(r.out)["results"]}
        assert proxies == {"pod/productpage-v1-abc.default"}
        missing = pdebug(
            "assert",
            EXAMPLES / "rejected-listener.yaml",
            "pod/gone",
            "-n",
            "default",
            "--kubeconfig",
            config,
        )
        assert missing.code == 3, missing.out + missing.err


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("a: &x [1, 2]\nb: [*x, *x]\n", "aliases"),
        ("expectations: " + "[" * 5000 + "]" * 5000 + "\n", "nest"),
        ("\x00\x01", "not valid YAML"),
        ("- 1\n- 2\n", "is not of type 'object'"),
    ],
)
def test_hostile_files_are_one_line(pdebug, tmp_path, text, what):
    r = pdebug("assert", write(tmp_path, text), SIDECAR_DUMP)
    assert r.code == 4, r.err
    assert what in r.err and "Traceback" not in r.err


def _syncz(proxy: str, acked: str) -> bytes:
    entry = {"proxy": proxy, "istio_version": "1.24.0"}
    for t in ("cluster", "listener", "route", "endpoint"):
        entry[f"{t}_sent"] = "v2"
        entry[f"{t}_acked"] = acked if t == "listener" else "v2"
    return json.dumps([entry]).encode()


@needs_envoy
@pytest.mark.envoy
@pytest.mark.parametrize(
    ("listed", "acked", "code", "why"),
    [
        ("productpage-v1-abc.default", "v2", 0, "istiod: CDS SYNCED"),
        ("productpage-v1-abc.default", "v1", 1, "LDS STALE"),
        # istiod does not know the proxy: the expectation cannot be judged (exit 4)
        ("other.default", "v2", 4, "does not list productpage-v1-abc.default"),
    ],
    ids=["synced", "stale", "unknown-to-istiod"],
)
def test_sync_with_istiod_live(pdebug, sc, tmp_path, no_ambient_config, listed, acked, code, why):
    from tests.harness import istiod_double as idd

    with kd.KubeDouble() as kube, idd.IstiodDouble(syncz=_syncz(listed, acked)) as istiod:
        config = kube.write_kubeconfig(tmp_path / "kubeconfig")
        kube.add_pod("productpage-v1-abc", forwards={15000: sc.envoy.admin_address})
        idd.register(kube, istiod, istiod.name)
        r = pdebug(
            "assert",
            EXAMPLES / "sync-with-istiod.yaml",
            "pod/productpage-v1-abc",
            "-n",
            "default",
            "--kubeconfig",
            config,
            "-o",
            "json",
        )
        assert r.code == code, r.out + r.err
        got = {x["expectation"]: x for x in json.loads(r.out)["results"]}
        assert why in got["istiod's last push was acknowledged"]["why"]


@needs_envoy
@pytest.mark.envoy
def test_resource_expectations_fail_on_the_live_proxy(pdebug, sc, tmp_path):
    book = write(
        tmp_path,
        f"""
expectations:
  - name: ratings connects fast
    resource:
      kind: cluster
      name: "{eh.RATINGS}"
      where: ["connect_timeout < 0.1s", "type == EDS"]
  - name: no passthrough
    resource: {{kind: cluster, name: PassthroughCluster, exists: false}}
  - name: every outbound cluster is EDS
    resource: {{kind: cluster, name_matches: "^outbound\\\\|9080\\\\|", where: ["type == EDS"]}}
""",
    )
    r = pdebug("assert", book, sc.envoy.admin_url, "-o", "json")
    assert r.code == 1, r.out + r.err
    got = {x["expectation"]: x for x in json.loads(r.out)["results"]}
    fast = got["ratings connects fast"]
    assert fast["result"] == "FAIL" and "connect_timeout < 0.1s (found" in fast["why"]
    assert got["no passthrough"]["result"] == "FAIL"
    assert "exists" in got["no passthrough"]["why"]
    eds = got["every outbound cluster is EDS"]
    # details is STRICT_DNS in the harness: the one that breaks the rule is named
    assert eds["result"] == "FAIL" and eh.DETAILS in eds["why"] and "type == EDS" in eds["why"]


@pytest.mark.parametrize(
    ("text", "what"),
    [("", "no expectations"), ("expectations: []\n", "no expectations"), ("# nothing\n", "no")],
)
def test_an_empty_runbook_is_refused_not_passed(pdebug, tmp_path, text, what):
    # sweep5: an empty (or truncated-to-nothing) file printed "0 passed" and exited 0.
    r = pdebug("assert", write(tmp_path, text), SIDECAR_DUMP)
    assert r.code == 4, r.out + r.err
    assert what in r.err and "Traceback" not in r.err and r.err.count("\n") <= 2


def test_a_runbook_not_in_utf8_is_invalid_input(pdebug, tmp_path):
    # sweep5: a Latin-1 file was exit 3 ("cannot read it"), the code of a missing file.
    path = tmp_path / "latin1.yaml"
    path.write_bytes(
        "expectations:\n  - name: caf\xe9\n    check: {absent: [PD101]}\n".encode("latin-1")
    )
    r = pdebug("assert", str(path), SIDECAR_DUMP)
    assert r.code == 4, r.err
    assert "not UTF-8" in r.err and "Traceback" not in r.err and r.err.count("\n") <= 2


def test_a_key_given_twice_is_refused_not_silently_dropped(pdebug, tmp_path):
    # sweep5: two `expect:` blocks under one item kept only the last: an expectation that
    # would fail (a cluster the request never lands on) vanished and the run said PASS.
    book = write(
        tmp_path,
        "expectations:\n  - name: x\n    request: {url: 'http://reviews:9080/'}\n"
        "    expect: {cluster: 'outbound|9080||nope.default.svc.cluster.local'}\n"
        "    expect: {clusters: {'outbound|9080|v1|reviews.default.svc.cluster.local': 80,"
        " 'outbound|9080|v2|reviews.default.svc.cluster.local': 20}}\n",
    )
    r = pdebug("assert", book, SIDECAR_DUMP)
    assert r.code == 4, r.out + r.err
    assert f"{book}:5: key 'expect' appears twice" in r.err
    assert r.err.count("\n") <= 2 and "Traceback" not in r.err


@pytest.mark.parametrize(
    "where",
    ["description: {deep}", "resource: {{kind: cluster, name: a}}\n    where: {{a: {deep}}}"],
)
def test_nesting_too_deep_for_the_schema_check_is_one_line(pdebug, tmp_path, where):
    # sweep5: 990 nested lists (under libyaml's own limit) crashed the schema check with
    # RecursionError: "internal error", exit 5.
    deep = "[" * 990 + "]" * 990
    body = where.format(deep=deep)
    text = f"expectations:\n  - name: x\n    check: {{absent: [PD101]}}\n    {body}\n"
    if "resource" in where:
        text = f"expectations:\n  - name: x\n    {body}\n"
    r = pdebug("assert", write(tmp_path, text), SIDECAR_DUMP)
    assert r.code == 4, r.err
    assert "nested deeper than" in r.err and r.err.count("\n") <= 2


def test_the_expectations_file_on_stdin(pdebug, tmp_path, monkeypatch):
    # sweep7: `pdebug assert - SOURCE < runbook.yaml` was "-: no such expectations file",
    # exit 3, where every other command reads '-' as stdin.
    import io

    (tmp_path / "more.yaml").write_text(
        "expectations:\n  - name: included\n    check: {absent: [PD101]}\n"
    )
    monkeypatch.chdir(tmp_path)  # includes of stdin are relative to the working directory
    text = (
        "include: [more.yaml]\nexpectations:\n  - name: no rejected listener\n"
        "    check: {absent: [PD101]}\n"
    )
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    r = pdebug("assert", "-", SIDECAR_DUMP, "-o", "json")
    assert r.code == 0, r.err
    assert results(r.out) == {"no rejected listener": "PASS", "included": "PASS"}
    assert json.loads(r.out)["file"] == "stdin"
    # a mistake in it is named stdin:LINE
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"expectations: [\n")))
    r = pdebug("assert", "-", SIDECAR_DUMP)
    assert r.code == 4 and r.err.startswith("pdebug: error: stdin:"), r.err
    # stdin cannot be both the file and a SOURCE
    r = pdebug("assert", "-", "-")
    assert r.code == 2 and "read only once" in r.err


def test_node_label_keys_keep_their_spelling(pdebug, tmp_path):
    # sweep7: node metadata is a protobuf Struct, its keys data; the bootstrap reader
    # respelled LABELS' keys (appTier -> app_tier), so `proxies: {labels: {appTier: web}}`
    # matched no proxy and the expectation was skipped for lack of a proxy.
    doc = json.loads(SIDECAR_DUMP.read_text())
    for section in doc["configs"]:
        if "bootstrap" in section:
            section["bootstrap"]["node"]["metadata"]["LABELS"]["appTier"] = "web"
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(doc))
    book = write(
        tmp_path,
        "expectations:\n  - name: web tier\n    proxies: {labels: {appTier: web}}\n"
        "    check: {absent: [PD101]}\n",
    )
    r = pdebug("assert", book, dump, "-o", "json")
    assert r.code == 0, r.out + r.err
    assert results(r.out) == {"web tier": "PASS"}


def test_an_endpoint_expectation_finds_the_assignment_the_view_attributes(pdebug, tmp_path):
    # OSM's Envoy writes bookwarehouse's EDS assignment without cluster_name; the endpoints
    # view shows it under bookwarehouse/bookwarehouse (the only EDS cluster without one).
    osm = FIXTURES / "corpus/osm/sample-envoy-config-dump-bookstore.json"
    book = write(
        tmp_path,
        "expectations:\n  - name: warehouse\n"
        "    resource: {kind: endpoint, name: bookwarehouse/bookwarehouse, where:\n"
        "      ['endpoints[*].lb_endpoints[*].endpoint.address.socket_address.port_value"
        " == 14001']}\n"
        "  - name: sound\n    check: {max_severity: error}\n",
    )
    r = pdebug("assert", book, osm)
    assert r.code == 0, r.out + r.err
    assert "endpoint bookwarehouse/bookwarehouse exists, 1 condition holds" in r.out
    assert "nothing above error (" in r.out and "no nothing" not in r.out
    broken = tmp_path / "moved.json"
    broken.write_text(osm.read_text().replace("14001", "14002"))
    r = pdebug("assert", book, broken, "-o", "json")
    assert r.code == 1 and results(r.out)["warehouse"] == "FAIL", r.out + r.err


def test_certificates_with_no_readable_certificate_cannot_be_judged(pdebug, tmp_path):
    # OSM's dump keeps its secrets but with the certificates cut out: "every certificate
    # is valid for at least 7 more days" would be said of none.
    osm = FIXTURES / "corpus/osm/sample-envoy-config-dump-bookstore.json"
    book = write(tmp_path, "expectations:\n  - name: certs\n    certificates: {min_days: 7}\n")
    r = pdebug("assert", book, osm, "-o", "json")
    assert r.code == 4 and results(r.out) == {"certs": "ERROR"}, r.out + r.err
    assert "no secret in the dump carries a readable certificate" in r.out


@pytest.mark.parametrize("days", [None, "30"])
def test_the_certificate_runbook_judges_the_days_its_name_says(days):
    # It named "${days}" (a var) but judged a literal 7: --var days=30 printed "at least
    # 30 days" over a 7-day check. Vars are text, min_days a number: no var at all now.
    from pdebug.runbook.load import load

    book = load(
        str(ROOT / "examples/runbooks/expiring-certificate.yaml"),
        {"days": days} if days else None,
    )
    for exp in book.expectations:
        if exp.kind == "certificates":
            n = exp.spec["certificates"]["min_days"]
            assert f"at least {n:g} days" in exp.name
