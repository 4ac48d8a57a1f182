"""Issue 13: the istioctl/kubectl user's first minutes (habits, help, output, exit codes)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests import harness as eh
from tests.harness import FIXTURES, ISTIOCTL, ROOT

SIDECAR = FIXTURES / "real/sidecar/config_dump.json"
SIDECAR_CLUSTERS = FIXTURES / "real/sidecar/clusters.json"
ALL_DUMP = ISTIOCTL / "proxy-config-all/config_dump.json"
README = (ROOT / "README.md").read_text()


# --- item 3: the seed demo's one-line fix, where the user reads about the seed -----------


@pytest.mark.skipif(eh.find_envoy() is None, reason="needs the envoy binary")
def test_readme_seed_fix_makes_envoy_140_accept_the_seed_demo(tmp_path):
    section = README.split("### The seed tutorial's Envoy demo", 1)[1].split("\n#", 1)[0]
    (fix,) = re.findall(r"```yaml\n(.*?)\n```", section, re.S)
    seed = (FIXTURES / "seed/envoy-demo.yaml").read_text()
    envoy = eh.find_envoy()
    assert envoy is not None
    as_written = tmp_path / "as-written.yaml"
    as_written.write_text(seed)
    refused = subprocess.run(
        [envoy, "--mode", "validate", "-c", str(as_written)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "envoy.filters.http.router" in refused.stdout + refused.stderr
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(
        seed.replace("                  - name: envoy.filters.http.router", fix.rstrip())
    )
    assert fixed.read_text() != seed
    ok = subprocess.run(
        [envoy, "--mode", "validate", "-c", str(fixed)], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr


# --- item 4: istioctl's proxy-config VIEW, its aliases and flags ---------------------------

_VIEW_ALIASES = [
    ("clusters", ("cluster", "clusters", "c")),
    ("listeners", ("listener", "listeners", "l")),
    ("routes", ("route", "routes", "r")),
    ("endpoints", ("endpoint", "endpoints", "ep")),
    ("secrets", ("secret", "secrets", "s")),
    ("bootstrap", ("bootstrap", "b")),
    ("ecds", ("ecds", "ec")),
    ("all", ("all", "a")),
    ("eds", ("eds",)),
]


@pytest.mark.parametrize("pc", ["proxy-config", "pc"])
@pytest.mark.parametrize(("command", "views"), _VIEW_ALIASES)
def test_proxy_config_view_is_the_pdebug_command(pdebug, pc, command, views):
    # istioctl's pc bootstrap defaults to -o json (the table is -o short)
    want = pdebug(command, ALL_DUMP, *(["-o", "json"] if command == "bootstrap" else []))
    for view in views:
        got = pdebug(pc, view, ALL_DUMP)
        assert (got.code, got.out, got.err) == (want.code, want.out, want.err), view


def test_proxy_config_log_says_pdebug_only_reads(pdebug):
    result = pdebug("proxy-config", "log", "productpage-v1-abc", "--level", "debug")
    assert result.code == 2
    assert result.err.splitlines()[0] == (
        "pdebug: error: pdebug proxy-config log: pdebug does not change Envoy's log levels "
        "(it only reads)"
    )
    assert result.err.splitlines()[1].startswith("hint: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pc"], "pdebug pc needs a view: cluster|c, listener|l"),
        (["proxy-config", "-n", "x"], "pdebug proxy-config needs a view"),
        (["pc", "clusterz", "x"], "pdebug pc clusterz: istioctl has no such proxy-config view"),
    ],
)
def test_proxy_config_without_a_known_view(pdebug, args, message):
    result = pdebug(*args)
    assert result.code == 2
    assert result.err.startswith(f"pdebug: error: {message}")
    assert len(result.err.splitlines()) == 2


@pytest.mark.parametrize(
    "args",
    [
        ["-f", SIDECAR],
        ["--file", SIDECAR],
        [f"--file={SIDECAR}"],
        [f"-f{SIDECAR}"],
    ],
)
def test_file_flag_is_the_source(pdebug, args):
    want = pdebug("clusters", SIDECAR, "--fqdn", "reviews")
    got = pdebug("clusters", *args, "--fqdn", "reviews")
    assert (got.code, got.out) == (0, want.out)


def test_file_flag_on_trace_check_and_diff(pdebug):
    url = "http://reviews:9080/"
    assert pdebug("trace", url, "-f", SIDECAR).out == pdebug("trace", SIDECAR, url).out
    assert pdebug("check", "-f", SIDECAR).out == pdebug("check", SIDECAR).out
    same = pdebug("diff", "-f", SIDECAR, SIDECAR)
    assert same.code == 0, same.err


def test_file_flag_twice_is_a_usage_error(pdebug):
    result = pdebug("clusters", "-f", SIDECAR, "--file", ALL_DUMP)
    assert result.code == 2
    assert "-f/--file given 2 times" in result.err


def test_status_keeps_its_own_file_option(pdebug, tmp_path):
    syncz = tmp_path / "syncz.json"
    syncz.write_text("[]")
    result = pdebug("status", "-f", syncz)
    assert result.code == 0, result.err


def test_istioctl_docs_command_line_works(pdebug):
    # istioctl's docs: `istioctl proxy-config cluster <pod> --fqdn ... --port 9080
    # --direction outbound -o json`, here with -f for the saved dump.
    fqdn = "reviews.default.svc.cluster.local"
    args = ["--fqdn", fqdn, "--port", "9080", "--direction", "outbound"]
    got = pdebug("proxy-config", "cluster", "-f", SIDECAR, *args, "-o", "json")
    assert got.code == 0, got.err
    assert got.out == pdebug("clusters", SIDECAR, *args, "-o", "json").out
    assert fqdn in got.out


@pytest.mark.parametrize("short", [["-o", "short"], ["--output=short"], ["-oshort"]])
def test_output_short_is_the_table(pdebug, short):
    assert pdebug("routes", SIDECAR, *short).out == pdebug("routes", SIDECAR).out


@pytest.mark.parametrize("command", ["listeners", "routes", "l", "r"])
def test_verbose_false_is_no_verbose(pdebug, command):
    want = pdebug(command, SIDECAR, "--no-verbose")
    assert pdebug(command, SIDECAR, "--verbose=false").out == want.out
    assert pdebug(command, SIDECAR, "--verbose=true").out == pdebug(command, SIDECAR).out


def test_verbose_on_a_command_without_it(pdebug):
    assert pdebug("clusters", SIDECAR, "--verbose=true").code == 0
    result = pdebug("clusters", SIDECAR, "--verbose=false")
    assert result.code == 2
    assert "pdebug clusters has no --verbose option" in result.err
    assert pdebug("routes", SIDECAR, "--verbose=maybe").code == 2


def test_short_c_is_kubeconfig(pdebug, tmp_path):
    missing = tmp_path / "nope"
    result = pdebug("clusters", "pod/x", "-c", missing)
    assert result.code == 3
    assert f"kubeconfig {missing}: no such file" in result.err


def test_istioctl_flag_spellings(pdebug, tmp_path):
    missing = tmp_path / "nope"
    result = pdebug("pc", "c", "pod/x", "--proxy-admin-port", "15000", "-c", missing)
    assert result.code == 3, result.err
    result = pdebug("status", "--istioNamespace", "istio-system", "-c", missing)
    assert result.code == 3, result.err


def test_no_command_uses_short_c_for_anything_else():
    from pdebug.cli import app

    for command in app.registered_commands:
        import typer.main

        click_command = typer.main.get_command_from_info(
            command,
            pretty_exceptions_short=False,
            rich_markup_mode=None,
        )
        for param in click_command.params:
            if "-c" in getattr(param, "opts", []):
                assert "--kubeconfig" in param.opts, command.name


# --- item 6: options before the command, as kubectl allows -------------------------------


def test_output_before_the_command(pdebug):
    want = pdebug("clusters", SIDECAR, "-o", "wide")
    assert pdebug("-o", "wide", "clusters", SIDECAR).out == want.out
    assert pdebug("--output=wide", "clusters", SIDECAR).out == want.out
    assert pdebug("-owide", "c", SIDECAR).out == want.out


def test_namespace_and_context_before_the_command(pdebug, tmp_path):
    missing = tmp_path / "nope"
    result = pdebug("-n", "default", "--context", "c", "-c", missing, "clusters", "pod/x")
    assert result.code == 3
    assert f"pod/x: kubeconfig {missing}: no such file" in result.err
    result = pdebug("--context", "c", "-c", missing, "status")
    assert result.code == 3
    assert f"kubeconfig {missing}: no such file" in result.err


def test_root_options_still_work_before_the_command(pdebug):
    assert pdebug("--version").out.startswith("pdebug ")
    assert pdebug("-n", "x", "--help").code == 0


# --- item 13: status without a kubeconfig points at --file -------------------------------


def test_status_without_a_kubeconfig_hints_at_file(pdebug, monkeypatch, tmp_path):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = pdebug("status")
    assert result.code == 3
    hint = result.err.splitlines()[1]
    assert "pdebug status --file syncz.json" in hint
    assert "saved dump" not in hint


def test_options_without_a_command(pdebug):
    result = pdebug("-n", "shop")
    assert result.code == 2
    assert result.err.startswith("pdebug: error: missing COMMAND after -n shop\nhint: ")


# --- item 5: svc/NAME targets --------------------------------------------------------------

_SVC_READS = {
    ("get", "services"),
    ("list", "pods"),
    ("get", "pods"),
    ("create", "pods/portforward"),
}


@pytest.fixture
def kube_reads():
    return _SVC_READS


@pytest.mark.envoy
@pytest.mark.parametrize("spelling", ["svc/web", "service/web", "services/web.shop"])
def test_service_target_reads_a_running_ready_pod_behind_it(
    pdebug, kube, sidecar, spelling, tmp_path, no_ambient_config
):
    kubeconfig_path = str(tmp_path / "config")
    kube.write_kubeconfig(kubeconfig_path, context="t", namespace="default")
    admin = sidecar.envoy.admin_address
    kube.add_service("web", "shop", selector={"app": "web"})
    kube.add_pod("web-aaa", "shop", labels={"app": "web"}, phase="Pending")
    kube.add_pod("web-bbb", "shop", labels={"app": "web"}, ready=False)
    kube.add_pod("web-ccc", "shop", labels={"app": "web"}, forwards={15000: admin})
    kube.add_pod("other-000", "shop", labels={"app": "other"})
    result = pdebug("clusters", spelling, "-n", "shop", "-c", kubeconfig_path)
    assert result.code == 0, result.err
    assert result.err.splitlines()[0].startswith("reading pod web-ccc.shop (")
    assert result.out.startswith("SERVICE FQDN")
    assert {(r.verb, r.resource) for r in kube.requests} <= _SVC_READS


def test_service_without_selector_or_pods(pdebug, kube, tmp_path, no_ambient_config):
    config = str(kube.write_kubeconfig(tmp_path / "config", context="t", namespace="shop"))
    kube.add_service("ext", "shop", selector={})
    result = pdebug("clusters", "svc/ext", "-c", config)
    assert result.code == 3
    assert "svc/ext.shop: the service has no selector" in result.err
    kube.add_service("web", "shop")
    result = pdebug("clusters", "svc/web", "-c", config)
    assert result.code == 3
    assert "svc/web.shop: no pods match the service's selector app=web" in result.err
    result = pdebug("clusters", "svc/ghost", "-c", config)
    assert result.code == 3
    assert "svc/ghost.shop: service 'ghost' not found" in result.err


# --- item 7: an admin URL with a path is the admin address; https is refused -------------


@pytest.mark.envoy
@pytest.mark.parametrize("path", ["/config_dump", "/clusters", "/clusters?format=json", "/"])
def test_admin_url_with_a_path_is_the_admin_address(pdebug, sidecar, path):
    host, port = sidecar.envoy.admin_address
    plain = pdebug("clusters", f"http://{host}:{port}", "--fqdn", "reviews")
    assert plain.code == 0, plain.err
    got = pdebug("clusters", f"http://{host}:{port}{path}", "--fqdn", "reviews")
    assert (got.code, got.out) == (0, plain.out)
    if path == "/":
        assert got.err == plain.err
    else:
        assert got.err.splitlines()[0] == (
            f"note: reading the Envoy admin at http://{host}:{port} (pdebug asks it for the "
            f"paths it needs; {path} is not used)"
        )
    with_admin = pdebug("clusters", "--admin", f"{host}:{port}{path}", "--fqdn", "reviews")
    assert (with_admin.code, with_admin.out) == (0, plain.out)


@pytest.mark.parametrize(
    "args",
    [
        ["clusters", "https://127.0.0.1:15000"],
        ["clusters", "--admin", "https://127.0.0.1:15000/config_dump"],
        ["dump", "https://127.0.0.1:15000", "-o", "x.tar.gz"],
        ["diff", "https://127.0.0.1:15000", "https://127.0.0.1:15001"],
    ],
)
def test_https_admin_is_one_error_line_with_a_hint(pdebug, args):
    result = pdebug(*args)
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines[0].startswith("pdebug: error: https://127.0.0.1:15000")
    assert "speaks plain HTTP, not HTTPS" in lines[0]
    assert lines[1] == (
        "hint: use http://127.0.0.1:15000; for a pod: pdebug clusters pod/NAME -n NS "
        "(a port-forward, no TLS needed)"
    )


# --- item 10: -o that names a file (dump, report, snapshot) --------------------------------


@pytest.mark.parametrize("fmt", ["json", "yaml", "wide", "table", "markdown", "short", "JSON"])
@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("dump", ["http://127.0.0.1:1"]),
        ("report", [SIDECAR]),
        ("snapshot", ["-n", "shop"]),
    ],
)
def test_a_format_name_as_a_file_output_is_a_usage_error(
    pdebug, tmp_path, monkeypatch, command, args, fmt
):
    monkeypatch.chdir(tmp_path)
    result = pdebug(command, *args, "-o", fmt)
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines[0] == (
        f"pdebug: error: -o {fmt}: pdebug {command}'s -o names the file to write, not a format"
    )
    assert lines[1].startswith("hint: e.g. pdebug ")
    assert "'-o -' writes to stdout" in lines[1]
    assert list(tmp_path.iterdir()) == []


def _run_binary(capsysbinary, *args):
    from pdebug.cli import main

    capsysbinary.readouterr()
    code = main([str(a) for a in args])
    captured = capsysbinary.readouterr()
    return code, captured.out, captured.err.decode()


def test_report_to_stdout(capsysbinary):
    code, out, err = _run_binary(capsysbinary, "report", SIDECAR, "-o", "-")
    assert code == 0, err
    assert out.startswith(b"<!DOCTYPE html>")


@pytest.mark.envoy
def test_dump_to_stdout_is_the_bundle(capsysbinary, sidecar, tmp_path):
    host, port = sidecar.envoy.admin_address
    code, out, err = _run_binary(capsysbinary, "dump", f"http://{host}:{port}", "-o", "-")
    assert code == 0, err
    assert out[:2] == b"\x1f\x8b"  # gzip
    assert err.startswith(f"saved http://{host}:{port} to stdout (")
    saved = tmp_path / "saved.tar.gz"
    saved.write_bytes(out)
    assert list(tmp_path.iterdir()) == [saved]  # no temporary file left behind
    assert _run_binary(capsysbinary, "clusters", saved)[0] == 0


@pytest.mark.envoy
def test_snapshot_to_stdout_is_the_bundle(capsysbinary, sidecar, tmp_path, kube, no_ambient_config):
    config = str(kube.write_kubeconfig(tmp_path / "config", context="t", namespace="shop"))
    kube.add_pod("web-1", "shop", forwards={15000: sidecar.envoy.admin_address})
    code, out, err = _run_binary(
        capsysbinary, "snapshot", "-n", "shop", "-c", config, "--no-istiod", "-o", "-"
    )
    assert code == 0, err
    assert out[:2] == b"\x1f\x8b"
    assert "1 proxies captured" in err or "1 proxy captured" in err
    assert err.rstrip().endswith("wrote stdout")
    saved = tmp_path / "snap.tar.gz"
    saved.write_bytes(out)
    assert _run_binary(capsysbinary, "clusters", f"{saved}:web-1.shop")[0] == 0


def test_binary_to_a_terminal_is_refused(monkeypatch, pdebug):
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    result = pdebug("dump", "http://127.0.0.1:1", "-o", "-")
    assert result.code == 2
    assert "-o -: pdebug dump writes a binary bundle, not shown on a terminal" in result.err


# --- item 11: exit codes hold with a closed stderr and with --debug ----------------------


def _pipeline(shell: str) -> list[int]:
    import os
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = f'{shell}; echo "${{PIPESTATUS[@]}}"'
    result = subprocess.run(
        ["bash", "-c", script.replace("PDEBUG", f"{sys.executable} -m pdebug")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    return [int(x) for x in result.stdout.split()[-2:]]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ("clusters /nonexistent.json", 3),
        ("clusters --port http x.json", 2),
        ("nosuchcommand", 2),
        ("clusters /nonexistent.json --debug", 3),
    ],
)
def test_closed_stderr_keeps_the_exit_code(args, code):
    # head exits after the first line: the hint (and traceback) meet a closed pipe.
    assert _pipeline(f"PDEBUG {args} 2>&1 | head -c 1 > /dev/null")[0] == code
    assert _pipeline(f"PDEBUG {args} 2>&1 >/dev/null | true")[0] == code


def test_debug_adds_a_traceback_and_keeps_the_code(pdebug, monkeypatch):
    result = pdebug("clusters", "/nonexistent.json", "--debug")
    assert result.code == 3
    assert "Traceback (most recent call last)" in result.err
    assert "pdebug: error: " in result.err
    import pdebug.cli._run as run

    def broken(*args, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(run, "load_proxy", broken)
    result = pdebug("clusters", SIDECAR, "--debug")
    assert result.code == 5
    assert "RuntimeError: boom" in result.err


# --- item 12: an empty endpoint table says why -----------------------------------------


def _seed_dump(tmp_path, keep_eds_section: bool):
    import json

    dump = json.loads((FIXTURES / "real/seed-demo/config_dump.json").read_text())
    configs = []
    for section in dump["configs"]:
        if "EndpointsConfigDump" in section["@type"]:
            if not keep_eds_section:
                continue
            section = {"@type": section["@type"]}
        configs.append(section)
    path = tmp_path / "seed.json"
    path.write_text(json.dumps({"configs": configs}))
    return path


@pytest.mark.parametrize(
    ("command", "keep", "why"),
    [
        ("eds", True, "no cluster of this dump gets endpoints from EDS"),
        ("endpoints", True, "no cluster of this dump gets endpoints from EDS"),
    ],
)
def test_empty_endpoint_table_of_the_seed_demo_says_why(pdebug, tmp_path, command, keep, why):
    result = pdebug(command, _seed_dump(tmp_path, keep))
    assert result.code == 0
    assert len(result.out.splitlines()) == 1  # the header only, as istioctl
    assert result.err.splitlines() == [
        f"No endpoints found: {why}. A static cluster's endpoints come from /clusters: pass "
        "the admin URL (pdebug endpoints localhost:15000) or --clusters-json FILE (a saved "
        "GET /clusters?format=json)."
    ]
    # With /clusters, the static cluster's endpoint is there.
    full = pdebug(
        "endpoints",
        _seed_dump(tmp_path, keep),
        "--clusters-json",
        FIXTURES / "real/seed-demo/clusters.json",
    )
    assert "service_google" in full.out


def test_a_filter_that_matches_nothing_still_says_so(pdebug, tmp_path):
    result = pdebug("eds", _seed_dump(tmp_path, True), "--port", "1")
    assert "No endpoints match the filter." in result.err


# --- item 13: right diagnoses for {} and YAML ---------------------------------------------


@pytest.mark.parametrize("command", ["clusters", "endpoints", "check"])
def test_an_empty_object_is_not_a_clusters_document(pdebug, tmp_path, command):
    path = tmp_path / "x.json"
    path.write_text("{}\n")
    result = pdebug(command, path)
    assert result.code == 4
    assert result.err.splitlines()[0] == (
        f"pdebug: error: {path}: an empty JSON object ({{}}), not an Envoy config dump"
    )
    assert "/clusters?format=json document" not in result.err


def test_a_yaml_dump_is_read_like_the_json_one(pdebug, tmp_path):
    saved = pdebug("all", SIDECAR, "-o", "yaml")
    path = tmp_path / "dump.yaml"
    path.write_text(saved.out)
    for args in (["clusters", "-o", "wide"], ["listeners"], ["routes"], ["secrets"]):
        assert pdebug(*args, path).out == pdebug(*args, SIDECAR).out, args


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n",
            "this is a Kubernetes Pod object (YAML), not an Envoy config dump",
        ),
        (
            None,
            "this is one view's output (istioctl proxy-config clusters -o yaml, or pdebug "
            "clusters -o yaml), not an Envoy config dump",
        ),
        ("- a: 1\n- b: 2\n", "this is a YAML list of 2 resources (one view's -o yaml), not a"),
        ("name: x\nvalue: 1\n", "YAML without a 'configs' list, not an Envoy config dump"),
    ],
)
def test_other_yaml_is_named_for_what_it_is(pdebug, tmp_path, text, message):
    if text is None:
        text = pdebug("clusters", SIDECAR, "-o", "yaml").out
    path = tmp_path / "x.yaml"
    path.write_text(text)
    result = pdebug("clusters", path)
    assert result.code == 4
    assert result.err.startswith(f"pdebug: error: {path}: {message}")
    assert len(result.err.splitlines()) == 2


# --- item 9: suggestions that make sense; pdebug help [COMMAND] ---------------------------


@pytest.mark.parametrize(
    ("word", "hint"),
    [
        ("clsuters", "did you mean clusters? "),
        ("listner", "did you mean listeners? "),
        ("rout", "did you mean routes? "),
        ("proxy-confg", "did you mean proxy-config? "),
        ("zzz", ""),
        ("x1", ""),
    ],
)
def test_did_you_mean(pdebug, word, hint):
    result = pdebug(word, SIDECAR)
    assert result.code == 2
    assert result.err.splitlines() == [
        f"pdebug: error: no such command {word!r}",
        f"hint: {hint}pdebug --help lists the commands",
    ]


def test_short_words_suggest_no_unrelated_one_letter_aliases():
    from pdebug.cli import app
    from pdebug.cli.habits import suggest_command

    names = [(c.name or "", c.hidden) for c in app.registered_commands]
    assert "r" not in suggest_command("rc", names)
    assert "c" not in suggest_command("rc", names)
    assert suggest_command("ep", names) == ["endpoints"]
    assert "ep" not in suggest_command("help", names)


def test_help_command(pdebug):
    assert pdebug("help").out == pdebug("--help").out
    assert pdebug("help", "clusters").out == pdebug("clusters", "--help").out
    assert pdebug("help", "clusters").out.startswith("Usage: pdebug clusters")


# --- item 14: help that reads well ----------------------------------------------------------


def _visible_commands():
    from pdebug.cli import app

    return [c for c in app.registered_commands if not c.hidden]


def test_root_help_has_whole_summaries_and_every_source_kind(pdebug):
    out = " ".join(pdebug("--help").out.split())
    squeezed = "".join(out.split())  # Click may wrap at a hyphen
    for info in _visible_commands():
        summary = "".join(info.short_help.split())
        assert f"{info.name}{summary}" in squeezed, info.name
        assert not summary.endswith("..."), info.name
    assert "(e.g. Wasm filters)" in out
    for kind in ("dump.json", "clusters.json", "bundle.tar.gz", "http://HOST:15000", "pod/NAME"):
        assert kind in out
    for kind in ("deploy/NAME", "sts/NAME", "ds/NAME", "svc/NAME", "-f FILE"):
        assert kind in out


@pytest.mark.parametrize("name", [c.name for c in _visible_commands()])
def test_command_help_usage_examples_and_aliases(pdebug, name):
    import inspect

    from pdebug.cli import app

    result = pdebug(name, "--help")
    assert result.code == 0
    usage = result.out.splitlines()[0]
    assert "{" not in usage and "[[" not in usage, usage
    info = next(c for c in _visible_commands() if c.name == name)
    doc = inspect.cleandoc(info.callback.__doc__)
    lines = result.out.splitlines()
    for example in re.findall(r"^Example: (.*)$", doc, re.M):
        assert f"  Example: {example}" in lines, example  # on one line, not rewrapped
    aliases = [c.name for c in app.registered_commands if c.hidden and c.callback is info.callback]
    if aliases:
        assert f"  Aliases: {', '.join(aliases)}." in lines


def test_defaults_shown_the_same_way(pdebug):
    def option_line(command):
        out = pdebug(command, "--help").out
        return " ".join(next(x for x in out.splitlines() if "-i, --istio-namespace" in x).split())

    assert option_line("status") == option_line("snapshot") == option_line("diff")
    assert "(default istio-system)" in option_line("status")


# --- item 17: rootca-compare -----------------------------------------------------------------

SECRET_DUMP = ISTIOCTL / "proxy-config-secret/istio/config_dump.json"


@pytest.mark.parametrize("spelling", [["rootca-compare"], ["rc"], ["pc", "rootca-compare"]])
def test_rootca_compare_same_roots(pdebug, spelling):
    result = pdebug(*spelling, SECRET_DUMP, ALL_DUMP)
    assert result.code == 0, result.err
    assert result.out == (
        f"Both [{SECRET_DUMP}] and [{ALL_DUMP}] have the identical ROOTCA, theoretically the "
        "connectivity between them is available\n"
    )


def test_rootca_compare_different_roots(pdebug):
    result = pdebug("rootca-compare", SIDECAR, ALL_DUMP, "-o", "wide")
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].endswith(
        "have non identical ROOTCA, theoretically the connectivity between them is unavailable"
    )
    assert lines[2].split() == ["ROOT", "CA", "TRUSTED", "BY", "NOT", "AFTER", "SHA-256"]
    assert "A only" in lines[3] and "B only" in lines[4]


def test_rootca_compare_json_and_bundle_member(pdebug, tmp_path):
    import json

    result = pdebug("rootca-compare", SIDECAR, SIDECAR, "-o", "json")
    doc = json.loads(result.out)
    assert doc["identical"] is True and len(doc["shared"]) == 1
    assert set(doc) == {"a", "b", "identical", "shared", "roots_a", "roots_b"}


def test_rootca_compare_without_a_rootca(pdebug):
    seed = FIXTURES / "real/seed-demo/config_dump.json"
    result = pdebug("rootca-compare", seed, SIDECAR)
    assert result.code == 4
    assert result.err.startswith(f"pdebug: error: {seed}: no active ROOTCA secret")


@pytest.mark.envoy
def test_rootca_compare_live_and_file(pdebug, sidecar):
    host, port = sidecar.envoy.admin_address
    result = pdebug("rc", f"http://{host}:{port}", SIDECAR)
    assert result.code in (0, 1), result.err
    assert result.out.startswith(f"Both [http://{host}:{port}] and [{SIDECAR}] have ")


# --- item 18: pdebug stats -----------------------------------------------------------------


def _admin_get(sidecar, path: str) -> bytes:
    import urllib.request

    host, port = sidecar.envoy.admin_address
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as resp:
        return resp.read()


@pytest.mark.envoy
def test_stats_live_and_every_saved_format(pdebug, sidecar, tmp_path):
    host, port = sidecar.envoy.admin_address
    live = pdebug("stats", f"http://{host}:{port}", "--filter", r"^cluster_manager\.cds\.")
    assert live.code == 0, live.err
    assert live.out.splitlines()[0].split() == ["NAME", "VALUE"]
    names = [line.split()[0] for line in live.out.splitlines()[1:]]
    assert "cluster_manager.cds.update_rejected" in names
    for path in ("/stats", "/stats?format=json"):
        saved = tmp_path / "stats.txt"
        saved.write_bytes(_admin_get(sidecar, path))
        got = pdebug(
            "stats", saved, "--filter", r"^cluster_manager\.cds\.update_(rejected|success)"
        )
        assert got.code == 0, got.err
        assert [x.split()[0] for x in got.out.splitlines()[1:]] == [
            "cluster_manager.cds.update_rejected",
            "cluster_manager.cds.update_success",
        ], path
    prom = tmp_path / "prom.txt"
    prom.write_bytes(_admin_get(sidecar, "/stats/prometheus"))
    got = pdebug("stats", prom, "--filter", "cds_update_rejected", "-o", "wide")
    assert got.code == 0, got.err
    assert (
        got.out.splitlines()[1].split()[0].startswith("envoy_cluster_manager_cds_update_rejected")
    )
    assert got.out.splitlines()[1].split()[-1] == "counter"


@pytest.mark.envoy
def test_stats_json_output_and_bundle(pdebug, sidecar, tmp_path):
    import json

    host, port = sidecar.envoy.admin_address
    result = pdebug("stats", f"{host}:{port}", "--filter", "update_rejected", "-o", "json")
    doc = json.loads(result.out)
    assert doc and all(set(d) == {"name", "value"} for d in doc)
    assert all("update_rejected" in d["name"] for d in doc)
    bundle = tmp_path / "b.tar.gz"
    assert pdebug("dump", f"http://{host}:{port}", "-o", bundle).code == 0
    from_bundle = pdebug("stats", bundle, "--filter", r"^server\.live$")
    assert from_bundle.code == 0, from_bundle.err
    assert from_bundle.out.splitlines()[1].split() == ["server.live", "1"]


def test_stats_bad_input(pdebug, tmp_path):
    bad = pdebug("stats", SIDECAR)
    assert bad.code == 4
    assert "this is a config dump; pdebug stats reads Envoy's /stats" in bad.err
    regex = pdebug("stats", SIDECAR, "--filter", "(")
    assert regex.code == 2
    assert "--filter '(': not a valid regular expression" in regex.err
    garbage = tmp_path / "g.txt"
    garbage.write_text("hello world\n")
    assert pdebug("stats", garbage).code == 4
    old = pdebug("stats", FIXTURES / "real/sidecar")  # no such bundle member
    assert old.code in (3, 4)


def test_stats_parses_the_three_formats():
    from pdebug.views import stats as v

    text = b"cluster_manager.cds.update_rejected: 2\nhttp.x.rq_time: P0(nan,1) P25(nan,2)\n"
    assert [s.name for s in v.parse(text, "t")] == [
        "cluster_manager.cds.update_rejected",
        "http.x.rq_time",
    ]
    js = b'{"stats":[{"name":"a.update_rejected","value":3},{"name":"b","value":0}]}'
    assert [(s.name, s.value) for s in v.rejected(v.parse(js, "j"))] == [("a.update_rejected", "3")]
    prom = (
        b"# TYPE envoy_http_rds_update_rejected counter\n"
        b'envoy_http_rds_update_rejected{envoy_rds_route_config="80"} 1\n'
    )
    (stat,) = v.parse(prom, "p")
    assert stat.kind == "counter" and v.rejected([stat]) == [stat]


@pytest.mark.envoy
def test_check_finds_a_rejected_rds_update_only_stats_show(pdebug, sidecar, tmp_path):
    # Envoy 1.40 rejects a route config where two virtual hosts claim one domain; the dump
    # keeps the previous config, so only update_rejected tells (PD603). Run last: the
    # counter lives as long as this module's Envoy.
    import copy
    import json
    import re as _re

    def rejected() -> int:
        body = sidecar.envoy.get("/stats?filter=rds.9080.update_rejected").decode()
        match = _re.search(r"update_rejected: (\d+)", body)
        return int(match.group(1)) if match else 0

    url = sidecar.envoy.admin_url
    before = json.loads(pdebug("check", url, "-o", "json").out)
    assert not [f for f in before["findings"] if f["code"] == "PD603"]
    assert "PD603" not in [s["code"] for s in before["skipped"]]
    rc = copy.deepcopy(sidecar.resources.route_configs[0])
    rc["virtual_hosts"][1]["domains"].append(rc["virtual_hosts"][0]["domains"][0])
    count = rejected()
    try:
        sidecar.xds.write_rds(rc)
        sidecar.envoy.wait_for(lambda: rejected() > count, 10, message="RDS update rejected")
        result = pdebug("check", url, "-o", "json")
        assert result.code == 1
        [finding] = [f for f in json.loads(result.out)["findings"] if f["code"] == "PD603"]
        assert finding["resource"].startswith("stats/http.")
        assert finding["resource"].endswith(".rds.9080.update_rejected")
        assert "RDS (route config 9080) update(s)" in finding["message"]
        # The same from a bundle that pdebug dump saved (text /stats), not from the dump alone.
        bundle = tmp_path / "b.tar.gz"
        assert pdebug("dump", url, "-o", bundle).code == 0
        from_bundle = json.loads(pdebug("check", bundle, "-o", "json").out)
        assert [f["resource"] for f in from_bundle["findings"] if f["code"] == "PD603"] == [
            finding["resource"]
        ]
        assert pdebug("stats", bundle, "--filter", r"rds\.9080\.update_rejected").code == 0
    finally:
        sidecar.resources.write(sidecar.xds)


@pytest.mark.envoy
def test_snapshot_of_a_service_captures_its_pods(
    pdebug, kube, sidecar, tmp_path, no_ambient_config
):
    import tarfile

    config = str(kube.write_kubeconfig(tmp_path / "config", context="t", namespace="shop"))
    kube.add_service("web", "shop", selector={"app": "web"})
    admin = sidecar.envoy.admin_address
    kube.add_pod("web-1", "shop", labels={"app": "web"}, forwards={15000: admin})
    kube.add_pod("web-2", "shop", labels={"app": "web"}, forwards={15000: admin})
    kube.add_pod("db-1", "shop", labels={"app": "db"}, forwards={15000: admin})
    out = tmp_path / "s.tar.gz"
    result = pdebug("snapshot", "svc/web", "-c", config, "--no-istiod", "-o", out)
    assert result.code == 0, result.err
    with tarfile.open(out) as tar:
        names = {n.split("/")[0] for n in tar.getnames() if "/" in n}
    assert names == {"web-1.shop", "web-2.shop"}


@pytest.mark.parametrize("words", [["x", "envoy-stats"], ["experimental", "envoy-stats"]])
def test_istioctl_envoy_stats_spelling(pdebug, tmp_path, words):
    saved = tmp_path / "stats.txt"
    saved.write_text("cluster_manager.cds.update_rejected: 0\nserver.live: 1\n")
    result = pdebug(*words, saved, "--filter", "live")
    assert result.code == 0, result.err
    assert result.out.splitlines()[1].split() == ["server.live", "1"]


@pytest.mark.parametrize("command", ["endpoints", "eds"])
def test_endpoints_of_a_dump_without_eds_names_the_clusters_way(pdebug, tmp_path, command):
    # `eds` printed istioctl's header alone and exited 0 (read in a script as "no
    # endpoints") where `endpoints` exits 4, as every view whose section was not captured
    result = pdebug(command, _seed_dump(tmp_path, keep_eds_section=False))
    assert result.code == 4
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 2
    assert "the dump has no endpoints section" in lines[0]
    assert lines[1].startswith("hint: capture with EDS (config_dump?include_eds); a static")
    assert "--clusters-json" in lines[1]
    assert "pdebug endpoints localhost:15000" in lines[1]


def test_file_flag_without_a_value(pdebug):
    result = pdebug("clusters", "--file")
    assert result.code == 2
    assert result.err.startswith("pdebug: error: --file needs a FILE (a saved dump)\n")
