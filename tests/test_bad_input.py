"""Bad input: one line on stderr naming the input, a documented exit code, no traceback."""

from __future__ import annotations

import gzip
import io
import json

import pytest

from pdebug.errors import ExitCode
from tests.harness import ISTIOCTL

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reviews-v1-abc"}, "spec": {}}

CASES = [
    ("empty", b"", ExitCode.INVALID_INPUT, "the input is empty"),
    ("whitespace", b"  \n\t ", ExitCode.INVALID_INPUT, "the input is empty"),
    (
        "truncated",
        b'{"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.Clusters',
        ExitCode.INVALID_INPUT,
        "truncated",
    ),
    (
        "html",
        b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
        ExitCode.INVALID_INPUT,
        "HTML page",
    ),
    ("pod", json.dumps(POD).encode(), ExitCode.INVALID_INPUT, "Kubernetes Pod object"),
    ("array", b'[{"name": "x"}]', ExitCode.INVALID_INPUT, "JSON array"),
    ("binary", bytes(range(256)) * 4, ExitCode.INVALID_INPUT, "binary data"),
    (
        "text",
        b"upstream connect error or disconnect/reset before headers",
        ExitCode.INVALID_INPUT,
        "not JSON",
    ),
    (
        "no-sections",
        b'{"configs": [{"@type": "type.googleapis.com/foo.Bar"}]}',
        ExitCode.INVALID_INPUT,
        "no section pdebug knows",
    ),
    ("no-configs", b'{"hello": "world"}', ExitCode.INVALID_INPUT, "no 'configs' list"),
    # Envoy's other answers, saved where a dump or /clusters?format=json belongs (Envoy 1.40)
    (
        "text-clusters",
        b"service_google::observability_name::service_google\n"
        b"service_google::default_priority::max_connections::1024\n",
        ExitCode.INVALID_INPUT,
        "this is the text GET /clusters",
    ),
    (
        "text-stats",
        b"cluster.service_google.assignment_stale: 0\nserver.live: 1\n",
        ExitCode.INVALID_INPUT,
        "this looks like Envoy's text /stats",
    ),
    (
        "kubectl-error",
        b'error: unable to upgrade connection: container not found ("istio-proxy")\n',
        ExitCode.INVALID_INPUT,
        "not JSON (starts with 'error: unable",
    ),
    (
        "prometheus-stats",
        b"# TYPE envoy_cluster_assignment_stale counter\n"
        b'envoy_cluster_assignment_stale{envoy_cluster_name="service_google"} 0\n',
        ExitCode.INVALID_INPUT,
        "this looks like Envoy's /stats",
    ),
    (
        "json-stats",
        b'{"stats": [{"name": "server.live", "value": 1}, {"histograms": {}}]}',
        ExitCode.INVALID_INPUT,
        "this is Envoy's /stats?format=json",
    ),
    ("configs-not-list", b'{"configs": 3}', ExitCode.INVALID_INPUT, "not an Envoy config dump"),
    ("bad-json", b'{"configs": [}', ExitCode.INVALID_INPUT, "invalid JSON"),
    ("bad-gzip", gzip.compress(b'{"configs": []}')[:12], ExitCode.INVALID_INPUT, "damaged gzip"),
    (
        "wrong-type",
        b'{"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",'
        b' "static_clusters": [{"cluster": {"name": 7, "type": ["x"]}}]}]}',
        ExitCode.INVALID_INPUT,
        "unexpected value",
    ),
]


def _assert_one_clear_error(result, code, needle, label):
    assert result.code == code, result
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert lines[0].startswith("pdebug: error: "), result.err
    assert needle in lines[0], result.err
    assert label in lines[0]
    assert all(line.startswith(("pdebug: error: ", "hint: ")) for line in lines)
    assert "Traceback" not in result.err


@pytest.mark.parametrize(("name", "data", "code", "needle"), CASES, ids=[c[0] for c in CASES])
def test_bad_file(pdebug, tmp_path, name, data, code, needle):
    path = tmp_path / f"{name}.json"
    path.write_bytes(data)
    _assert_one_clear_error(pdebug("clusters", path), code, needle, str(path))


@pytest.mark.parametrize(
    ("name", "data", "code", "needle"), CASES[:6], ids=[c[0] for c in CASES[:6]]
)
def test_bad_stdin(pdebug, monkeypatch, name, data, code, needle):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    _assert_one_clear_error(pdebug("listeners", "-"), code, needle, "stdin")


def test_missing_path(pdebug, tmp_path):
    result = pdebug("clusters", tmp_path / "nope.json")
    _assert_one_clear_error(result, ExitCode.SOURCE_UNAVAILABLE, "no such file", "nope.json")


def test_directory(pdebug, tmp_path):
    result = pdebug("routes", tmp_path)
    _assert_one_clear_error(result, ExitCode.INVALID_INPUT, "is a directory", str(tmp_path))


def test_unknown_output_format_lists_the_allowed_ones(pdebug):
    result = pdebug("clusters", ISTIOCTL / "proxy-config-all/config_dump.json", "-o", "xml")
    assert result.code == ExitCode.USAGE
    assert "unknown output format 'xml'" in result.err
    assert "json, markdown, table, wide, yaml" in result.err


def test_missing_section_names_it_and_says_how_to_capture(pdebug):
    result = pdebug("secrets", ISTIOCTL / "proxy-config-eds/configdump.json")
    _assert_one_clear_error(result, ExitCode.INVALID_INPUT, "no secrets section", "configdump.json")
    assert "hint: " in result.err


def test_clusters_document_where_a_dump_is_needed(pdebug):
    result = pdebug("listeners", ISTIOCTL / "proxy-config-endpoints/clusters.json")
    _assert_one_clear_error(result, ExitCode.INVALID_INPUT, "needs a config dump", "clusters.json")


def test_clusters_json_option_rejects_a_dump(pdebug):
    dump = ISTIOCTL / "proxy-config-eds/configdump.json"
    result = pdebug("endpoints", dump, "--clusters-json", dump)
    _assert_one_clear_error(
        result, ExitCode.INVALID_INPUT, "--clusters-json needs", "configdump.json"
    )


def test_filter_matching_nothing_is_not_an_error(pdebug):
    result = pdebug(
        "clusters", ISTIOCTL / "proxy-config-all/config_dump.json", "--fqdn", "nothing-here"
    )
    assert result.code == 0
    assert result.out == ""
    assert "No clusters match the filter." in result.err


def test_route_name_matching_nothing(pdebug):
    result = pdebug("routes", ISTIOCTL / "proxy-config-all/config_dump.json", "--name", "9999")
    assert result.code == 0 and result.out == ""
    assert "No route config is named '9999'" in result.err


def test_bad_port_is_a_usage_error(pdebug):
    result = pdebug("clusters", ISTIOCTL / "proxy-config-all/config_dump.json", "--port", "http")
    assert result.code == ExitCode.USAGE
    assert "Traceback" not in result.err


def test_debug_shows_the_traceback(pdebug, tmp_path):
    path = tmp_path / "empty.json"
    path.write_bytes(b"")
    # --debug adds the traceback and keeps the error line and its exit code (issue 13).
    result = pdebug("clusters", path, "--debug")
    assert result.code == ExitCode.INVALID_INPUT
    assert "Traceback (most recent call last)" in result.err
    assert "InvalidInput" in result.err
    assert "pdebug: error: " in result.err


def test_gzip_input_is_read(pdebug, tmp_path):
    src = (ISTIOCTL / "proxy-config-all/config_dump.json").read_bytes()
    path = tmp_path / "dump.json.gz"
    path.write_bytes(gzip.compress(src))
    plain = pdebug("clusters", ISTIOCTL / "proxy-config-all/config_dump.json")
    zipped = pdebug("clusters", path)
    assert zipped.code == 0 and zipped.out == plain.out


def test_out_of_memory_is_exit_4_not_an_internal_error(pdebug, monkeypatch):
    """Raised limits on a small machine: MemoryError anywhere is one line, exit 4."""
    import pdebug.cli._run as views  # the view commands' bodies

    def boom(*_: object, **__: object) -> None:
        raise MemoryError

    monkeypatch.setattr(views, "run_view", boom)
    result = pdebug("clusters", "whatever.json")
    assert result.code == 4
    assert result.err.startswith("pdebug: error: out of memory") and "Traceback" not in result.err


def test_closed_stdout_is_one_line_and_exit_3(tmp_path):
    """`pdebug ... >&-`: Python gives no sys.stdout; the output cannot be written (exit 3),
    while a command writing to a file (report -o F) still works."""
    import subprocess
    import sys

    from tests.harness import FIXTURES

    dump = str(FIXTURES / "real" / "sidecar" / "config_dump.json")
    code = "import sys; from pdebug.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, "clusters", dump],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert done.returncode == 0  # a sanity check of the harness

    def with_stdout_closed(args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            f'"{sys.executable}" -c "{code}" {args} >&-',
            shell=True,
            stderr=subprocess.PIPE,
            text=True,
        )

    closed = with_stdout_closed(f"clusters {dump}")
    assert closed.returncode == 3, closed.stderr
    assert closed.stderr.startswith("pdebug: error: standard output is closed")
    assert "Traceback" not in closed.stderr
    report = with_stdout_closed(f"report {dump} -o {tmp_path / 'r.html'}")
    assert report.returncode == 0, report.stderr


@pytest.mark.parametrize("name", ["text-clusters", "text-stats", "prometheus-stats", "json-stats"])
def test_envoys_other_answers_as_clusters_json(pdebug, tmp_path, name):
    [data] = [c[1] for c in CASES if c[0] == name]
    path = tmp_path / f"{name}.txt"
    path.write_bytes(data)
    dump = ISTIOCTL / "proxy-config-all/config_dump.json"
    result = pdebug("endpoints", dump, "--clusters-json", path)
    _assert_one_clear_error(result, ExitCode.INVALID_INPUT, "", str(path))
    assert ("pdebug stats" in result.err) != (name == "text-clusters"), result.err
