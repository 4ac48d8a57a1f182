"""pdebug snapshot end to end: real Envoys behind the Kubernetes API double, in two namespaces.

Three real Envoys serve the module: ``secret`` (the seed demo plus credentials seeded where a
config can hold them), ``sidecar`` (the Istio-shaped sidecar, whose SDS secrets carry inline
private keys) and ``plain`` (the seed demo). Each test gets a fresh
:class:`kube_double.KubeDouble` whose pods port-forward to them, plus the faults the issue
asks for: a pod not Running, a hanging admin, a pod without the sidecar. The double's
request log must show reads and port-forwards only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pdebug.errors import ExitCode
from pdebug.manifest import Manifest
from tests import harness as eh
from tests.harness import FIXTURES
from tests.harness import kube_double as kd

ADMIN = 15000
SEED_DUMP = FIXTURES / "real" / "seed-demo" / "config_dump.json"
READS = {
    ("get", "pods"),
    ("list", "pods"),
    ("get", "deployments"),
    ("list", "replicasets"),
    ("create", "pods/portforward"),
}
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzbmFwc2hvdC10ZXN0In0.c25hcHNob3Qtc2lnbmF0dXJl"
BEARER_TOKEN = "sn4psh0t-b3arer-t0ken-98765"
COOKIE = "session=c00kie-value-abcdef"
GENERIC = "generic-s3cret-value-424242"

pytestmark = [
    pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary"),
    pytest.mark.usefixtures("no_ambient_config"),
]


def _secret_bootstrap(admin_port: int, listener_port: int, upstream_port: int, pki) -> dict:
    boot = eh.seed_demo_bootstrap(admin_port, listener_port, upstream_port)
    hcm = boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    vhost = hcm["route_config"]["virtual_hosts"][0]
    vhost["request_headers_to_add"] = [
        {"header": {"key": "authorization", "value": f"Bearer {BEARER_TOKEN}"}},
        {"header": {"key": "x-forwarded-jwt", "value": JWT}},
    ]
    vhost["routes"][0]["match"]["headers"] = [
        {"name": "cookie", "string_match": {"exact": COOKIE}, "invert_match": True}
    ]
    boot["static_resources"]["secrets"] = [
        {
            "name": "server-cert",
            "tls_certificate": {
                "certificate_chain": {"inline_string": pki.cert_pem.decode()},
                "private_key": {"inline_string": pki.key_pem.decode()},
            },
        },
        {"name": "hmac", "generic_secret": {"secret": {"inline_string": GENERIC}}},
    ]
    return boot


@pytest.fixture(scope="module")
def envoys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    pki = eh.make_test_pki(tmp_path_factory.mktemp("pki"))
    with (
        eh.LoopbackUpstream("app") as up,
        eh.Envoy(_secret_bootstrap(eh.free_port(), eh.free_port(), up.port, pki)) as secret,
        eh.seed_demo() as plain,
        eh.istio_sidecar() as sidecar,
    ):
        yield {
            "secret": secret,
            "plain": plain.envoy,
            "sidecar": sidecar.envoy,
            "pki": pki,
            "sidecar_pki": sidecar.pki,
        }


@pytest.fixture
def kube_reads() -> set[tuple[str, str]]:
    return READS


@pytest.fixture
def kubeconfig(kube: kd.KubeDouble, tmp_path: Path) -> str:
    return str(kube.write_kubeconfig(tmp_path / "kubeconfig", context="prod-eu"))


def mesh(kube: kd.KubeDouble, envoys: dict[str, Any], faults: bool = True) -> None:
    """Three proxies in two namespaces; with ``faults``, the three kinds of trouble."""
    kube.add_pod(
        "web-1", "default", labels={"app": "web"}, forwards={ADMIN: envoys["secret"].admin_address}
    )
    kube.add_pod(
        "productpage-v1-abc",
        "default",
        labels={"app": "productpage"},
        forwards={ADMIN: envoys["sidecar"].admin_address},
        node_name="kind-worker2",
    )
    kube.add_pod(
        "ratings-1",
        "shop",
        labels={"app": "ratings"},
        forwards={ADMIN: envoys["plain"].admin_address},
    )
    if faults:
        kube.add_pod("batch-1", "default", containers=("app",))  # no sidecar
        kube.add_pod("pending-1", "shop", phase="Pending", node_name=None)  # not Running
        kube.add_pod("hang-1", "shop", forwards={ADMIN: kube.hanging_target()})  # hangs


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def manifest_of(path: Path) -> dict[str, Any]:
    return json.loads(members(path)["manifest.json"])


def entries(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in manifest["proxies"]}


# --------------------------------------------------------------------------- the snapshot


@pytest.mark.envoy
def test_all_namespaces_with_faults(pdebug, kube, kubeconfig, envoys, tmp_path):
    mesh(kube, envoys)
    out = tmp_path / "snap.tar.gz"
    started = time.monotonic()
    result = pdebug(
        "snapshot", "-A", "-o", out, "--kubeconfig", kubeconfig, "--timeout", "2", "--parallel", "4"
    )
    assert time.monotonic() - started < 20  # the hanging admin costs --timeout, not forever
    assert result.code == ExitCode.FINDINGS, result.err
    assert result.out == f"{out}\n"
    lines = result.err.splitlines()
    assert lines[-1] == f"3 proxies captured, 2 failed, 1 skipped: wrote {out}"
    assert lines[-2].startswith("istiod not captured: ")  # there is no istiod: said, no harm
    progress = lines[:-2]
    assert len(progress) == 6 and all(re.search(r"\(\d/6\)", line) for line in progress)
    assert "captured pod/web-1.default (" in result.err
    assert "skipped pod/batch-1.default (" in result.err
    assert "failed pod/pending-1.shop (" in result.err

    manifest = manifest_of(out)
    assert manifest["format"] == "pdebug-bundle/1" and manifest["kind"] == "snapshot"
    assert manifest["tool"].startswith("pdebug ") and manifest["created"].endswith("Z")
    assert manifest["context"] == "prod-eu"
    assert manifest["targets"] == {
        "targets": [],
        "namespace": None,
        "all_namespaces": True,
        "selector": None,
    }
    assert manifest["redacted"] is True
    assert manifest["summary"] == {"captured": 3, "failed": 2, "skipped": 1}
    assert "error" in manifest["istiod"]  # no istiod in this cluster: said, and no harm done
    proxies = entries(manifest)
    assert list(proxies) == [
        "productpage-v1-abc.default",
        "web-1.default",
        "hang-1.shop",
        "pending-1.shop",
        "ratings-1.shop",
    ]
    web = proxies["web-1.default"]
    assert (web["pod"], web["namespace"], web["node"], web["status"]) == (
        "web-1",
        "default",
        "kind-worker",
        "captured",
    )
    assert proxies["productpage-v1-abc.default"]["node"] == "kind-worker2"
    assert set(web["files"]) == {
        "config_dump.json",
        "clusters.json",
        "server_info.json",
        "certs.json",
        "stats.txt",  # issue 13: pdebug stats reads it; Envoy's text since #17
    }
    assert web["errors"] == []
    hang = proxies["hang-1.shop"]
    assert hang["status"] == "failed" and hang["files"] == {}
    # the first GET is /clusters since #17 (converted while the dump is fetched)
    assert "did not answer /clusters within 2s" in hang["errors"][0]
    pending = proxies["pending-1.shop"]
    assert pending["status"] == "failed" and pending["node"] is None
    assert "the pod is Pending, not Running" in pending["errors"][0]
    (skipped,) = manifest["skipped"]
    assert skipped["pod"] == "batch-1" and skipped["namespace"] == "default"
    assert "has no container 'istio-proxy'" in skipped["reason"]

    # Every file is where the manifest says, with its sha256 and size.
    files = members(out)
    listed = {
        f"{name}/{file}": meta for name, p in proxies.items() for file, meta in p["files"].items()
    }
    assert set(files) == {"manifest.json", *listed}
    for member, meta in listed.items():
        assert hashlib.sha256(files[member]).hexdigest() == meta["sha256"]
        assert len(files[member]) == meta["bytes"]
    dump = json.loads(files["ratings-1.shop/config_dump.json"])
    assert dump == envoys["plain"].config_dump(include_eds=True)
    assert json.loads(files["web-1.default/certs.json"]) == {"certificates": []}
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".pdebug")]
    # the typed manifest the bundle reader parses holds every key the snapshot wrote
    assert Manifest.from_plain(manifest).plain() == manifest


@pytest.mark.envoy
def test_namespace_selector_and_targets(pdebug, kube, kubeconfig, envoys, tmp_path):
    mesh(kube, envoys)
    cfg = ("--kubeconfig", kubeconfig, "--timeout", "2")
    one = pdebug("snapshot", "-n", "default", "-l", "app=web", "-o", tmp_path / "a.tar.gz", *cfg)
    assert one.code == 0, one.err
    assert one.err.splitlines()[-1].startswith("1 proxy captured, 0 failed: wrote ")
    assert list(entries(manifest_of(tmp_path / "a.tar.gz"))) == ["web-1.default"]
    # -n alone: that namespace only; the pod without a sidecar is skipped, not failed
    ns = pdebug("snapshot", "-n", "default", "-o", tmp_path / "b.tar.gz", *cfg)
    assert ns.code == 0, ns.err
    assert ns.err.splitlines()[-1].startswith("2 proxies captured, 0 failed, 1 skipped")
    # TARGETs: pods and NAME.NS; a named pod that is missing or down is a failure
    targets = pdebug(
        "snapshot", "pod/web-1", "ratings-1.shop", "pod/nope", "batch-1",
        "-o", tmp_path / "c.tar.gz", *cfg,
    )  # fmt: skip
    assert targets.code == ExitCode.FINDINGS
    got = entries(manifest_of(tmp_path / "c.tar.gz"))
    assert [n for n, p in got.items() if p["status"] == "captured"] == [
        "web-1.default",
        "ratings-1.shop",
    ]
    assert "pod 'nope' not found in namespace default" in got["nope.default"]["errors"][0]
    assert "has no container 'istio-proxy'" in got["batch-1.default"]["errors"][0]
    # with -n, a dotted pod name is the pod's name, not NAME.NAMESPACE
    kube.add_pod("api.v2-0", "shop", forwards={ADMIN: envoys["plain"].admin_address})
    dotted = pdebug("snapshot", "pod/api.v2-0", "-n", "shop", "-o", tmp_path / "d.tar.gz", *cfg)
    assert dotted.code == 0, dotted.err
    assert list(entries(manifest_of(tmp_path / "d.tar.gz"))) == ["api.v2-0.shop"]


@pytest.mark.envoy
def test_a_deployment_means_all_its_pods(pdebug, kube, kubeconfig, envoys, tmp_path):
    dep = kube.add_deployment("reviews-v1", "default", labels={"app": "reviews"})
    for envoy in ("plain", "secret"):
        kube.add_pod(owner=dep, forwards={ADMIN: envoys[envoy].admin_address})
    kube.add_pod("reviews-v1-bare", labels={"app": "reviews"})  # not the deployment's
    out = tmp_path / "d.tar.gz"
    result = pdebug("snapshot", "deploy/reviews-v1", "-o", out, "--kubeconfig", kubeconfig)
    assert result.code == 0, result.err
    names = list(entries(manifest_of(out)))
    assert len(names) == 2 and all(n.startswith("reviews-v1-") for n in names)
    assert "reviews-v1-bare.default" not in names


@pytest.mark.envoy
def test_default_name_and_dir_output(pdebug, kube, kubeconfig, envoys, tmp_path, monkeypatch):
    mesh(kube, envoys, faults=False)
    monkeypatch.chdir(tmp_path)
    result = pdebug("snapshot", "-n", "shop", "--kubeconfig", kubeconfig)
    assert result.code == 0, result.err
    name = result.out.strip()
    assert re.fullmatch(r"snapshot-prod-eu-\d{8}T\d{6}Z\.tar\.gz", name), name
    assert (tmp_path / name).is_file()

    out = tmp_path / "incident"
    result = pdebug("snapshot", "-A", "--dir", out, "--kubeconfig", kubeconfig)
    assert result.code == 0, result.err
    manifest = json.loads((out / "manifest.json").read_text())
    for pname, proxy in entries(manifest).items():
        for file, meta in proxy["files"].items():
            body = (out / pname / file).read_bytes()
            assert hashlib.sha256(body).hexdigest() == meta["sha256"]
    assert pdebug("clusters", out / "ratings-1.shop" / "config_dump.json").code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pdebug")]
    # the directory is a bundle wherever a .tar.gz is: views, --bundle, check, report, diff
    live = pdebug("routes", envoys["plain"].admin_url).out
    assert pdebug("routes", f"{out}:ratings-1.shop").out == live
    assert pdebug("routes", "--bundle", out, "pod/ratings-1").out == live
    checked = pdebug("check", out, "--fail-on", "never")
    assert checked.code == 0, checked.err
    assert "Checked 3 proxies:" in checked.out
    report = pdebug("report", out, "-o", tmp_path / "x.html")
    assert report.code == 0 and report.err == f"wrote {tmp_path / 'x.html'} (3 proxies)\n"
    assert pdebug("diff", out, tmp_path / name).code in (0, 1)
    again = pdebug("snapshot", "-A", "--dir", out, "--kubeconfig", kubeconfig)
    assert again.code == ExitCode.USAGE and "already exists" in again.err


@pytest.mark.envoy
def test_nothing_captured_writes_nothing(pdebug, kube, kubeconfig, tmp_path):
    kube.add_pod("hang-1", "shop", forwards={ADMIN: kube.hanging_target()})
    kube.add_pod("batch-1", "shop", containers=("app",))
    out = tmp_path / "x.tar.gz"
    args = ("--kubeconfig", kubeconfig, "-o", out, "--timeout", "0.5")
    result = pdebug("snapshot", "-n", "shop", *args)
    assert result.code == ExitCode.SOURCE_UNAVAILABLE
    assert "no proxy captured (1 failed)" in result.err and "within 0.5s" in result.err
    empty = pdebug("snapshot", "-n", "empty", *args)
    assert empty.code == ExitCode.SOURCE_UNAVAILABLE
    assert "pdebug: error: no pods in namespace empty" in empty.err
    kube.remove_pod("hang-1", "shop")
    plain = pdebug("snapshot", "-n", "shop", *args)
    assert plain.code == ExitCode.SOURCE_UNAVAILABLE
    assert "none of the 1 pods in namespace shop runs the istio-proxy sidecar" in plain.err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["kubeconfig"]


@pytest.mark.envoy
def test_an_existing_output_is_kept_unless_force(pdebug, kube, kubeconfig, envoys, tmp_path):
    mesh(kube, envoys, faults=False)
    out = tmp_path / "s2.tar.gz"
    out.write_bytes(b"the before capture")
    args = ("snapshot", "-n", "shop", "-o", out, "--kubeconfig", kubeconfig)
    refused = pdebug(*args)
    assert refused.code == ExitCode.USAGE
    assert refused.err.splitlines() == [
        f"pdebug: error: {out}: already exists",
        "hint: pass --force to replace it, or name another file (-o NEW.tar.gz)",
    ]
    assert out.read_bytes() == b"the before capture"
    assert not [r for r in kube.requests if r.resource == "pods"]  # refused before any I/O
    forced = pdebug(*args, "--force")
    assert forced.code == 0, forced.err
    assert list(entries(manifest_of(out))) == ["ratings-1.shop"]


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (["snapshot", "-A", "--kubeconfig", "/nonexistent", "-o", "/proc/x.tgz"], "/proc/x.tgz"),
        (["snapshot", "-A", "--kubeconfig", "/nonexistent", "--dir", "/proc/d"], "/proc/d"),
        (["dump", "http://127.0.0.1:1", "-o", "/proc/x.tar.gz"], "/proc/x.tar.gz"),
        (["report", str(SEED_DUMP), "-o", "/proc/x.html"], "/proc/x.html"),
    ],
)  # fmt: skip
def test_an_output_that_cannot_be_written_is_one_line_before_any_io(pdebug, args, path):
    result = pdebug(*args)
    assert result.code == ExitCode.SOURCE_UNAVAILABLE, result.err
    lines = result.err.splitlines()
    assert len(lines) == 2 and lines[1].startswith("hint: "), lines
    assert lines[0].startswith(f"pdebug: error: cannot write {path}: "), lines


def test_a_missing_report_directory_says_cannot_write(pdebug, tmp_path):
    out = tmp_path / "no" / "r.html"
    result = pdebug("report", SEED_DUMP, "-o", out)
    assert result.code == ExitCode.SOURCE_UNAVAILABLE
    assert result.err.splitlines() == [
        f"pdebug: error: cannot write {out}: directory {out.parent} does not exist",
        "hint: create it first (mkdir -p), or write elsewhere",
    ]


def test_the_stage_says_cannot_write(tmp_path):
    from pdebug.errors import SourceUnavailable
    from pdebug.snapshot.stage import Stage

    with pytest.raises(SourceUnavailable) as err:
        Stage("/proc", "/proc/x.tar.gz")
    assert err.value.message.startswith("cannot write /proc/x.tar.gz: ")
    assert err.value.hint


def test_stale_stages_of_dead_snapshots_are_removed(tmp_path):
    from pdebug.snapshot.stage import host as _host
    from pdebug.snapshot.stage import remove_stale_stages

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(done.stdout)
    names = {
        "dead": f".pdebug-snapshot-{_host()}-{dead}-abc123_x.tmp",
        "running": f".pdebug-snapshot-{_host()}-{os.getpid()}-abc123_x.tmp",
        "other host": f".pdebug-snapshot-elsewhere-{dead}-abc123_x.tmp",
        "not a stage": ".pdebug-snapshot-notes",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "web-1.default").mkdir()
    assert remove_stale_stages(str(tmp_path)) == [names["dead"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for k, n in names.items() if k != "dead"
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "say which proxies to capture"),
        (["-A", "-n", "x"], "give -n NAMESPACE or -A, not both"),
        (["pod/a", "-A"], "give TARGETs or -A / -l SELECTOR, not both"),
        (["-A", "-o", "x.zip"], "a snapshot is a .tar.gz bundle"),
        (["-A", "-o", "x.tar.gz", "--dir", "d"], "give -o FILE or --dir DIR, not both"),
        (["Bad_Name"], "is not a valid pod name"),
    ],
)
def test_usage_errors_before_any_io(pdebug, args, needle):
    result = pdebug("snapshot", *args, "--kubeconfig", "/nonexistent")
    assert result.code == ExitCode.USAGE, result.err
    assert needle in result.err


# --------------------------------------------------------------------------- redaction


SEEDED = (
    BEARER_TOKEN,
    JWT,
    COOKIE,
    GENERIC,
    "PRIVATE KEY",
)


@pytest.mark.envoy
def test_no_seeded_secret_survives_and_no_redact_keeps_tokens(
    pdebug, kube, kubeconfig, envoys, tmp_path
):
    mesh(kube, envoys, faults=False)
    key_lines = [
        line
        for pki in (envoys["pki"], envoys["sidecar_pki"])
        for line in pki.key_pem.decode().splitlines()[1:-1]
    ]
    needles = [s.encode() for s in (*SEEDED, *key_lines)]
    out = tmp_path / "r.tar.gz"
    assert pdebug("snapshot", "-n", "default", "-o", out, "--kubeconfig", kubeconfig).code == 0
    everything = b"".join(members(out).values())
    for needle in needles:
        assert needle not in everything, needle
    assert b"[redacted]" in everything
    # the configuration around the secrets is intact
    web = json.loads(members(out)["web-1.default/config_dump.json"])
    text = json.dumps(web)
    assert '"authorization"' in text and '"cookie"' in text and '"hmac"' in text

    raw = tmp_path / "raw.tar.gz"
    args = ("snapshot", "-n", "default", "-o", raw, "--kubeconfig", kubeconfig, "--no-redact")
    assert pdebug(*args).code == 0
    assert manifest_of(raw)["redacted"] is False
    everything = b"".join(members(raw).values())
    for kept in (BEARER_TOKEN, JWT, COOKIE):
        assert kept.encode() in everything, kept
    # Envoy itself never shows private keys or generic secrets
    for hidden in (GENERIC, "PRIVATE KEY"):
        assert hidden.encode() not in everything


# --------------------------------------------------------------------------- interruption


@pytest.mark.envoy
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_snapshot_leaves_nothing(kube, envoys, tmp_path, sig):
    """Ctrl-C, and SIGTERM (kill, a CI timeout) alike: exit 130, nothing written, no temp files."""
    kube.add_pod("web-1", "default", forwards={ADMIN: envoys["plain"].admin_address})
    kube.add_pod("hang-1", "default", forwards={ADMIN: kube.hanging_target()})
    config = kube.write_kubeconfig(tmp_path / "cfg" / "kubeconfig")
    work = tmp_path / "out"
    work.mkdir()
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("KUBECONFIG", None)
    for args in (["-o", "snap.tar.gz"], ["--dir", "snapdir"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "pdebug", "snapshot", "-n", "default", *args,
             "--kubeconfig", str(config), "--timeout", "60", "--parallel", "2"],
            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()  # the first proxy done: web-1; hang-1 still hangs
            assert line.startswith("captured pod/web-1.default"), line
            time.sleep(0.2)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=20)
        finally:
            proc.kill()
        assert proc.returncode == ExitCode.INTERRUPTED, err
        assert err.endswith("snapshot stopped: nothing was written\npdebug: interrupted\n"), err
        assert list(work.iterdir()) == [], list(work.iterdir())


@pytest.mark.envoy
def test_a_killed_snapshot_is_cleaned_up_by_the_next(pdebug, kube, kubeconfig, envoys, tmp_path):
    from pdebug.snapshot.stage import host as _host

    mesh(kube, envoys, faults=False)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = tmp_path / f".pdebug-snapshot-{_host()}-{int(done.stdout)}-k1ll3d_x.tmp"
    (stale / "web-1.default").mkdir(parents=True)
    (stale / "web-1.default" / "config_dump.json").write_text("{}")
    out = tmp_path / "s.tar.gz"
    assert pdebug("snapshot", "-n", "shop", "-o", out, "--kubeconfig", kubeconfig).code == 0
    assert not stale.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pdebug")]


# --------------------------------------------------------------------------- istiod


SYNCZ = [
    {"proxy": "web-1.default", "cluster_id": "Kubernetes", "istio_version": "1.24.0",
     "cluster_sent": "a", "cluster_acked": "a", "listener_sent": "b", "listener_acked": "b",
     "route_sent": "c", "route_acked": "old", "endpoint_sent": "d", "endpoint_acked": "d"},
]  # fmt: skip


@pytest.mark.envoy
def test_istiod_answers_go_into_the_bundle(pdebug, kube, kubeconfig, envoys, tmp_path):
    from tests.harness import istiod_double as idd

    mesh(kube, envoys, faults=False)
    with (
        idd.IstiodDouble("istiod-7c9d-a", syncz=json.dumps(SYNCZ).encode()) as a,
        idd.IstiodDouble("istiod-7c9d-b") as b,
    ):
        view = idd.istiod_view(envoys["sidecar"].config_dump())
        a.connect("web-1.default", {**view, "note": f"token {JWT}"})
        idd.register(kube, a, a.name)
        idd.register(kube, b, b.name)
        out = tmp_path / "i.tar.gz"
        result = pdebug("snapshot", "-A", "-o", out, "--kubeconfig", kubeconfig)
        assert result.code == 0, result.err
        assert "istiod not captured" not in result.err
        quiet = tmp_path / "q.tar.gz"
        asked = len(a.requests)
        args = ("-A", "-o", quiet, "--kubeconfig", kubeconfig, "--no-istiod")
        assert pdebug("snapshot", *args).code == 0
        assert len(a.requests) == asked  # --no-istiod does not ask
    assert result.err.splitlines()[-1] == f"3 proxies captured, 0 failed, 2 skipped: wrote {out}"
    files = members(out)
    manifest = json.loads(files["manifest.json"])
    syncz = manifest["istiod"]["files"]["istiod_syncz.json"]
    assert hashlib.sha256(files["istiod_syncz.json"]).hexdigest() == syncz["sha256"]
    assert json.loads(files["istiod_syncz.json"]) == {"istiod-7c9d-a": SYNCZ, "istiod-7c9d-b": []}
    web = entries(manifest)["web-1.default"]
    assert web["sync"] == {
        "CDS": "SYNCED",
        "LDS": "SYNCED",
        "EDS": "SYNCED",
        "RDS": "STALE",
        "ECDS": "NOT SENT",
    }
    assert "istiod_config_dump.json" in web["files"]
    assert JWT.encode() not in files["web-1.default/istiod_config_dump.json"]
    assert b"[redacted]" in files["web-1.default/istiod_config_dump.json"]
    ratings = entries(manifest)["ratings-1.shop"]
    assert ratings["status"] == "captured" and "sync" not in ratings
    assert "proxy ratings-1.shop is not connected to any istiod" in ratings["istiod_error"]
    # pdebug report shows the sync state the snapshot recorded
    from pdebug.inputs import read_inputs
    from pdebug.sources.spec import FileSpec

    info = read_inputs(FileSpec(str(out))).info[f"{out}:web-1.default"]
    assert info.sync == "CDS SYNCED, LDS SYNCED, EDS SYNCED, RDS STALE, ECDS NOT SENT"
    # diff of a member: against the istiod view the snapshot recorded, no --istiod needed
    recorded = pdebug("diff", f"{out}:web-1.default")
    assert recorded.code == ExitCode.FINDINGS, recorded.err
    assert f"(recorded in {out})" in recorded.out
    unseen = pdebug("diff", "--bundle", out, "ratings-1")
    assert unseen.code == ExitCode.SOURCE_UNAVAILABLE
    assert "no istiod view for this proxy (proxy ratings-1.shop is not connected" in unseen.err
    # status --file reads the recorded syncz answers
    status = pdebug("status", "--file", out)
    assert status.code == 0, status.err
    assert re.search(r"web-1\.default\s+Kubernetes\s+SYNCED", status.out), status.out
    assert manifest_of(quiet)["istiod"] == {"error": "not asked (--no-istiod)"}
    for written in (manifest, manifest_of(quiet)):  # sync, istiod files; --no-istiod
        assert Manifest.from_plain(written).plain() == written


# --------------------------------------------------------------------------- reading it back


@pytest.mark.envoy
def test_views_read_a_snapshot_member_and_bundle_option(pdebug, kube, kubeconfig, envoys, tmp_path):
    mesh(kube, envoys)
    out = tmp_path / "v.tar.gz"
    args = ("-A", "-o", out, "--kubeconfig", kubeconfig, "--timeout", "1")
    assert pdebug("snapshot", *args).code == ExitCode.FINDINGS
    live = pdebug("clusters", envoys["plain"].admin_url).out
    assert live
    assert pdebug("clusters", f"{out}:ratings-1.shop").out == live
    assert pdebug("clusters", "--bundle", out, "pod/ratings-1", "-n", "shop").out == live
    assert pdebug("clusters", "--bundle", out, "ratings-1").out == live  # one namespace has it
    assert pdebug("clusters", "--bundle", out, "ratings-1.shop").out == live
    # endpoints use the bundle's /clusters; trace and check read it too
    assert pdebug("endpoints", "--bundle", out, "ratings-1").code == 0
    trace = pdebug("trace", "--bundle", out, "ratings-1", "http://example.com/")
    assert trace.code in (0, 1) and "listener" in trace.out
    assert pdebug("check", "--bundle", out, "web-1", "-n", "default").code in (0, 1)

    missing = pdebug("clusters", "--bundle", out, "pod/nope")
    assert missing.code == ExitCode.SOURCE_UNAVAILABLE
    assert f"{out}: no proxy 'nope' in the bundle" in missing.err
    assert "hint: proxies: productpage-v1-abc.default, web-1.default, hang-1.shop" in missing.err
    down = pdebug("clusters", "--bundle", out, "hang-1")
    assert down.code == ExitCode.SOURCE_UNAVAILABLE
    assert f"{out}:hang-1.shop: this proxy was not captured (pod/hang-1.shop: the Envoy" in down.err
    hint = down.err.splitlines()[1]
    assert hint.startswith("hint: pick a captured proxy (captured: productpage-v1-abc.default, ")
    assert "hang-1" not in hint and "pending-1" not in hint  # only those that were captured
    member = pdebug("routes", f"{out}:hang-1.shop")  # the same answer without --bundle
    assert (member.code, member.err) == (down.code, down.err)
    skipped = pdebug("clusters", "--bundle", out, "batch-1")
    assert "batch-1.default was not captured: the pod has no container" in skipped.err
    workload = pdebug("clusters", "--bundle", out, "deploy/web")
    assert workload.code == ExitCode.USAGE and "web-1.default" in workload.err
    whole = pdebug("clusters", out)
    assert whole.code == ExitCode.USAGE and "holds 5 proxies; pick one" in whole.err


# --------------------------------------------------------------------------- check and diff


@pytest.mark.envoy
def test_check_and_diff_two_snapshots(pdebug, kube, kubeconfig, envoys, tmp_path):
    mesh(kube, envoys, faults=False)
    cfg = ("-A", "--kubeconfig", kubeconfig)
    before, same, after = (tmp_path / f"{n}.tar.gz" for n in ("before", "same", "after"))
    assert pdebug("snapshot", *cfg, "-o", before).code == 0
    assert pdebug("snapshot", *cfg, "-o", same).code == 0
    unchanged = pdebug("diff", before, same)
    assert unchanged.code == 0, unchanged.out + unchanged.err
    assert "0 of 3 proxies changed, 3 unchanged." in unchanged.out

    # ratings-1 now runs the sidecar's config; web-1 is gone; a new pod came
    kube.forward("ratings-1", "shop", ADMIN, envoys["sidecar"].admin_address)
    kube.remove_pod("web-1", "default")
    kube.add_pod("web-2", "default", forwards={ADMIN: envoys["secret"].admin_address})
    assert pdebug("snapshot", *cfg, "-o", after).code == 0
    result = pdebug("diff", before, after)
    assert result.code == ExitCode.FINDINGS, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["PROXY", "STATUS", "CHANGES"]
    rows = {line.split()[0]: line for line in lines[1:5]}
    assert re.search(
        r"ratings-1\.shop\s+changed\s+clusters \d+ added; listeners \d+ added; routes 1 added$",
        rows["ratings-1.shop"],
    )
    assert re.search(
        rf"web-1\.default\s+only in {re.escape(str(before))}\s+-$", rows["web-1.default"]
    )
    assert re.search(
        rf"web-2\.default\s+only in {re.escape(str(after))}\s+-$", rows["web-2.default"]
    )
    assert re.search(
        r"productpage-v1-abc\.default\s+unchanged\s+-$", rows["productpage-v1-abc.default"]
    )
    assert (
        f"1 of 4 proxies changed, 1 only in {before}, 1 only in {after}, 1 unchanged." in result.out
    )
    as_json = json.loads(pdebug("diff", before, after, "-o", "json").out)
    assert as_json["same"] is False
    by = {p["name"]: p for p in as_json["proxies"]}
    assert by["ratings-1.shop"]["status"] == "changed"
    clusters = by["ratings-1.shop"]["kinds"]["clusters"]
    assert clusters["added"] > 0 and clusters["changed"] == clusters["removed"] == 0
    assert by["web-1.default"]["status"] == "only-left"
    # one proxy of each: the usual field-level diff
    one = pdebug("diff", f"{before}:ratings-1.shop", f"{after}:ratings-1.shop")
    assert one.code == 1 and "Clusters Don't Match" in one.out
    same_member = pdebug("diff", "--bundle", before, "ratings-1", "ratings-1.shop")
    assert same_member.code == 0

    # check: one row per proxy
    checked = pdebug("check", after, "--fail-on", "never")
    assert checked.code == 0, checked.err
    assert checked.out.splitlines()[0].split() == ["PROXY", "ERRORS", "WARNINGS", "TOP", "FINDING"]
    assert "Checked 3 proxies:" in checked.out


# --------------------------------------------------------------------------- text forms (#17)


def _as_saved(document: bytes) -> dict[str, str]:
    """Each cluster's values, fields and key order (spacing aside), by name.

    Envoy lists the clusters in another order at each GET (text and JSON alike).
    """
    return {c["name"]: json.dumps(c) for c in json.loads(document)["cluster_statuses"]}


@pytest.mark.envoy
def test_snapshot_saves_the_text_forms_as_dump_does(pdebug, kube, kubeconfig, envoys, tmp_path):
    """#17: /clusters and /stats asked for as text; clusters.json is Envoy's JSON form."""
    mesh(kube, envoys, faults=False)
    pods = {
        "web-1.default": envoys["secret"],
        "productpage-v1-abc.default": envoys["sidecar"],
        "ratings-1.shop": envoys["plain"],
    }
    before = {name: envoy.get("/clusters?format=json") for name, envoy in pods.items()}
    out = tmp_path / "t.tar.gz"
    result = pdebug("snapshot", "-A", "-o", out, "--kubeconfig", kubeconfig)
    assert result.code == 0, result.err
    after = {name: envoy.get("/clusters?format=json") for name, envoy in pods.items()}
    files = members(out)
    proxies = entries(manifest_of(out))
    compared = 0
    for name in pods:
        assert set(proxies[name]["files"]) == {
            "config_dump.json", "clusters.json", "server_info.json", "certs.json", "stats.txt",
        }, name  # fmt: skip
        assert proxies[name]["errors"] == []
        saved = files[f"{name}/clusters.json"]
        # converted (compact), not Envoy's indented JSON asked for after all: an Istio
        # sidecar's xds-grpc host is the relative pipe ./etc/istio/proxy/XDS
        assert b"\n" not in saved.strip(), name
        if _as_saved(before[name]) == _as_saved(after[name]):  # no traffic in between
            assert _as_saved(saved) == _as_saved(before[name]), name
            compared += 1
        assert files[f"{name}/stats.txt"].startswith(b"cluster"), name  # Envoy's text
    assert compared >= 2, compared
    # the readers: stats, check (PD603 reads the text), endpoints, report
    member = f"{out}:ratings-1.shop"
    args = ("--filter", r"^cluster_manager\.(active_clusters|cluster_added)$", "-o", "json")
    live = pdebug("stats", envoys["plain"].admin_url, *args)
    shown = pdebug("stats", member, *args)
    assert shown.code == 0, shown.err
    assert json.loads(shown.out) == json.loads(live.out) and len(json.loads(shown.out)) == 2
    server = pdebug("stats", member, "--filter", r"^server\.live$")
    assert server.out.splitlines()[1].split() == ["server.live", "1"]
    checked = pdebug("check", out, "--fail-on", "never", "-o", "json")
    assert checked.code == 0, checked.err
    assert "stats" not in checked.err
    assert pdebug("endpoints", member).code == 0
    report = pdebug("report", out, "-o", tmp_path / "r.html")
    assert report.code in (0, 1), report.err
    assert (tmp_path / "r.html").stat().st_size > 0
    # status --file: test_istiod_answers_go_into_the_bundle (it needs istiod's answers)


@pytest.mark.envoy
def test_an_older_snapshot_with_stats_json_still_reads(pdebug, kube, kubeconfig, envoys, tmp_path):
    """A snapshot made before #17 holds stats.json: stats and check read it as before."""
    mesh(kube, envoys, faults=False)
    old = tmp_path / "old"
    assert pdebug("snapshot", "-n", "shop", "--dir", old, "--kubeconfig", kubeconfig).code == 0
    proxy = old / "ratings-1.shop"
    (proxy / "stats.txt").unlink()
    body = envoys["plain"].get("/stats?format=json")
    (proxy / "stats.json").write_bytes(body)
    manifest = json.loads((old / "manifest.json").read_text())
    files = manifest["proxies"][0]["files"]
    del files["stats.txt"]
    files["stats.json"] = {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
    (old / "manifest.json").write_text(json.dumps(manifest))
    args = ("--filter", r"^cluster_manager\.(active_clusters|cluster_added)$", "-o", "json")
    live = pdebug("stats", envoys["plain"].admin_url, *args)
    shown = pdebug("stats", f"{old}:ratings-1.shop", *args)
    assert shown.code == 0, shown.err
    assert json.loads(shown.out) == json.loads(live.out) and len(json.loads(shown.out)) == 2
    assert pdebug("check", old, "--fail-on", "never").code == 0


@pytest.mark.envoy
@pytest.mark.parametrize("lossy", [False, True], ids=["converted", "rounded-threshold"])
def test_snapshot_and_dump_save_the_same_text_forms(pdebug, kube, kubeconfig, tmp_path, lossy):
    """One capture path: a snapshot's members are the bytes pdebug dump saves of one admin."""
    from tests.test_dump_textforms import JSON_FORM, JWT, TEXT, Admin

    text = TEXT
    if lossy:  # the text rounds the threshold: the JSON form is asked for after all
        text = TEXT.replace(
            b"::success_rate_ejection_threshold::-1", b"::success_rate_ejection_threshold::87.3512"
        )
    snap, dump = tmp_path / "s.tar.gz", tmp_path / "d.tar.gz"
    with Admin(text) as admin:
        kube.add_pod("web-1", "default", forwards={ADMIN: admin.address})
        result = pdebug("snapshot", "-n", "default", "-o", snap, "--kubeconfig", kubeconfig)
        assert result.code == 0, result.err
        snapshot_asked = list(admin.asked)
        admin.asked.clear()
        assert pdebug("dump", admin.url, "-o", dump).code == 0
        dump_asked = list(admin.asked)
    want = ["/clusters", "/clusters?format=json"] if lossy else ["/clusters"]
    for asked in (snapshot_asked, dump_asked):
        assert [p for p in asked if p.startswith("/clusters")] == want
        # the stats written since Envoy started, as text (the default since #17)
        assert [p for p in asked if p.startswith("/stats")] == ["/stats?usedonly"]
    assert snapshot_asked[:3] == ["/clusters", "/config_dump?include_eds", "/stats?usedonly"]
    got, saved = members(snap), {n.split("/", 1)[-1]: b for n, b in members(dump).items()}
    for name in ("config_dump.json", "clusters.json", "server_info.json", "stats.txt"):
        assert got[f"web-1.default/{name}"] == saved[name], name
    assert (got["web-1.default/clusters.json"] == JSON_FORM) is lossy
    everything = b"".join(got.values())
    assert JWT.encode() not in everything and b"[redacted]" in got["web-1.default/stats.txt"]
    run = pdebug("check", snap, "-o", "json", "--fail-on", "never")
    assert run.code == 0, run.err
    checked = json.loads(run.out)
    rejected = [
        f["resource"] for p in checked.get("proxies", [checked]) for f in p.get("findings", [])
        if f["code"] == "PD603"
    ]  # fmt: skip
    assert rejected == ["stats/cluster_manager.cds.update_rejected"]


# ---------------------------------------------------------------- deflated while captured


@pytest.mark.envoy
def test_a_snapshot_is_deflated_while_captured_as_dump_does(
    pdebug, kube, kubeconfig, envoys, tmp_path, monkeypatch
):
    """#17: every member (istiod's too) is deflated while the capture runs, nothing at the end.

    The bundle is one gzip stream at dump's level (pdebug.snapshot.pack.LEVEL): the same
    writer as ``pdebug dump``'s, from the pieces the stage kept.
    """
    import gzip
    import zlib

    from pdebug import bundle as writer
    from pdebug.snapshot import capture, pack, take
    from tests.harness import istiod_double as idd

    def at_the_end(*args: object, **kwargs: object) -> None:
        raise AssertionError("a member was deflated at the end")

    packs: list[int | None] = []
    real = take.capture_proxy

    def spy(*args: Any, **kwargs: Any) -> capture.Captured:
        packs.append(kwargs.get("pack"))
        return real(*args, **kwargs)

    monkeypatch.setattr(take, "sealed_file", at_the_end)
    monkeypatch.setattr(take, "capture_proxy", spy)
    monkeypatch.setattr(writer, "write_tree", at_the_end)
    mesh(kube, envoys, faults=False)
    with idd.IstiodDouble("istiod-7c9d-a", syncz=json.dumps(SYNCZ).encode()) as a:
        a.connect("web-1.default", {**idd.istiod_view(envoys["sidecar"].config_dump())})
        idd.register(kube, a, a.name)
        out = tmp_path / "p.tar.gz"
        result = pdebug("snapshot", "-A", "-o", out, "--kubeconfig", kubeconfig)
        assert result.code == 0, result.err
        assert packs == [pack.LEVEL] * 3
        packs.clear()
        plain = tmp_path / "plain"
        result = pdebug("snapshot", "-A", "--dir", plain, "--kubeconfig", kubeconfig)
        assert result.code == 0, result.err
        assert packs == [None] * 3  # plain files: nothing deflated
    raw = out.read_bytes()
    assert raw[:4] == b"\x1f\x8b\x08\x00" and raw[8] == 4  # gzip, level 1 (XFL 4)
    z = zlib.decompressobj(31)
    assert z.decompress(raw) == gzip.decompress(raw) and z.eof and z.unused_data == b""
    files = members(out)
    assert "web-1.default/istiod_config_dump.json" in files and "istiod_syncz.json" in files
    manifest = json.loads(files["manifest.json"])
    listed = {
        f"{p['name']}/{f}": meta for p in manifest["proxies"] for f, meta in p["files"].items()
    }
    listed.update(manifest["istiod"]["files"])
    assert set(files) == {"manifest.json", *listed}
    for member, meta in listed.items():
        assert hashlib.sha256(files[member]).hexdigest() == meta["sha256"], member
    # the --dir directory holds the same documents, and no piece of the stage
    on_disk = {str(p.relative_to(plain)): p.read_bytes() for p in plain.rglob("*") if p.is_file()}
    assert set(on_disk) == set(files)  # (their bytes differ: a live Envoy's counters)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == sorted(
        ["kubeconfig", "p.tar.gz", "plain"]
    )


def test_the_stage_keeps_pieces_beside_members_and_forgets_them(tmp_path):
    from pdebug.snapshot.pack import Piece
    from pdebug.snapshot.stage import Cancelled, Stage

    stage = Stage(str(tmp_path), str(tmp_path / "x.tar.gz"))
    stage.write("p.ns/config_dump.json", b"{}")
    piece = Piece.of(1, b"{}")
    stage.keep("p.ns/config_dump.json", piece)
    kept = stage.pieces["p.ns/config_dump.json"]
    assert kept.deflated == b"" and kept.file is not None
    assert (kept.crc, kept.size) == (piece.crc, piece.size)
    assert b"".join(kept.chunks()) == piece.deflated
    assert stage.members == ["p.ns/config_dump.json"]  # the piece is no member
    stage.keep("p.ns/config_dump.json", Piece.of(1, b"[]"))  # again: the first one goes
    assert sorted(os.listdir(stage.path("p.ns"))) == [
        "config_dump.json",
        "config_dump.json.deflated",
    ]
    stage.remove("p.ns/config_dump.json")
    assert os.listdir(stage.path("p.ns")) == [] and stage.pieces == {}
    stage.discard()
    with pytest.raises(Cancelled):
        stage.keep("p.ns/config_dump.json", piece)


def test_a_member_staged_without_its_piece_is_deflated_when_the_bundle_is_written(tmp_path):
    from pdebug.snapshot import take
    from pdebug.snapshot.capture import sealed
    from pdebug.snapshot.stage import Stage

    stage = Stage(str(tmp_path), str(tmp_path / "x.tar.gz"))
    bodies = {"a.ns/config_dump.json": b'{"configs": []}', "b.ns/stats.txt": b"x: 1\n" * 300}
    for name, body in bodies.items():
        stage.write(name, body)
    _, piece = sealed(bodies["a.ns/config_dump.json"], 1)
    assert piece is not None
    stage.keep("a.ns/config_dump.json", piece)  # b.ns's is not kept: sealed at the end
    manifest = Manifest.new(kind="snapshot", source="test")
    take._publish(stage, manifest, str(tmp_path / "x.tar.gz"), None, str(tmp_path / "x.tar.gz"))
    assert members(tmp_path / "x.tar.gz") == {
        "manifest.json": members(tmp_path / "x.tar.gz")["manifest.json"],
        **bodies,
    }
    assert os.listdir(tmp_path) == ["x.tar.gz"]
