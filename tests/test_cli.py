"""The command line itself: help, docs coverage, aliases, output formats, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pdebug.cli import app
from tests.harness import ISTIOCTL, ROOT, heavy_imports

COMMANDS = [c for c in app.registered_commands if not c.hidden]
ALL_DUMP = ISTIOCTL / "proxy-config-all/config_dump.json"


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name or "" for c in COMMANDS])
def test_every_command_has_help_with_an_example_and_is_in_the_readme(pdebug, command):
    result = pdebug(command.name, "--help")
    assert result.code == 0
    assert "Example: pdebug " + command.name in result.out
    assert f"### `pdebug {command.name} " in (ROOT / "README.md").read_text()


def test_root_help_lists_commands_and_exit_codes(pdebug):
    result = pdebug("--help")
    assert result.code == 0
    for command in COMMANDS:
        assert command.name in result.out
    assert "Exit codes" in result.out


def test_no_arguments_prints_the_help_unsquashed(pdebug):
    result = pdebug()
    assert (result.code, result.err) == (0, "")
    assert result.out == pdebug("--help").out
    assert len(result.out.splitlines()) > 10


def test_version(pdebug):
    result = pdebug("--version")
    assert result.code == 0 and result.out.startswith("pdebug ")


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("cluster", "clusters"),
        ("c", "clusters"),
        ("l", "listeners"),
        ("r", "routes"),
        ("s", "secrets"),
        ("b", "bootstrap"),
    ],
)
def test_aliases(pdebug, alias, name):
    assert pdebug(alias, ALL_DUMP).out == pdebug(name, ALL_DUMP).out


def test_output_format_aliases(pdebug):
    assert pdebug("clusters", ALL_DUMP, "-o", "short").out == pdebug("clusters", ALL_DUMP).out
    assert (
        pdebug("clusters", ALL_DUMP, "-o", "yml").out
        == pdebug("clusters", ALL_DUMP, "-o", "yaml").out
    )


def test_json_is_the_selected_objects_in_table_order(pdebug):
    out = json.loads(pdebug("clusters", ALL_DUMP, "-o", "json").out)
    assert [c["name"] for c in out] == [
        "agent",
        "inbound-vip|8000|http|httpbin.default.svc.cluster.local",
        "prometheus_stats",
    ]
    one = json.loads(pdebug("clusters", ALL_DUMP, "--fqdn", "httpbin", "-o", "json").out)
    assert [c["name"] for c in one] == ["inbound-vip|8000|http|httpbin.default.svc.cluster.local"]


def test_markdown_escapes_pipes(pdebug):
    out = pdebug("clusters", ALL_DUMP, "-o", "markdown").out
    assert out.splitlines()[0].startswith("| SERVICE FQDN")
    assert "|---" in out.splitlines()[1].replace(" ", "").replace(":", "")


def test_stdin(pdebug, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(ALL_DUMP.read_bytes())))
    assert pdebug("clusters", "-").out == pdebug("clusters", ALL_DUMP).out


def test_file_mode_views_do_not_import_heavy_modules():
    assert "HEAVY []" in heavy_imports("clusters", str(ALL_DUMP))


def test_python_dash_m_and_broken_pipe():
    proc = subprocess.run(
        f"{sys.executable} -m pdebug all {ALL_DUMP} | head -1",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.startswith("Istio Version:")
    assert "Traceback" not in proc.stderr


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path):
    """A fetch that hangs, then Ctrl-C: 'pdebug: interrupted' and 130, no traceback."""
    import signal
    import socket
    import time

    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts, never answers
        port = server.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "pdebug", "clusters", f"http://127.0.0.1:{port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            conn, _ = server.accept()  # pdebug is now waiting for the answer
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
            conn.close()
        finally:
            proc.kill()
    assert proc.returncode == 130
    assert err == "pdebug: interrupted\n"
    assert out == ""


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (
            ["snapshot", "--parallel", "0", "-A"],
            "Invalid value for '--parallel': Input should be greater than or equal to 1",
            "see: pdebug snapshot --help",
        ),
        (["clusters", "--bogus", "x"], "No such option: --bogus", "see: pdebug clusters --help"),
        (["nosuch"], "no such command 'nosuch'", "pdebug --help lists the commands"),
    ],
)
def test_click_usage_errors_are_one_line_and_exit_2(pdebug, args, message, hint):
    result = pdebug(*args)
    assert result.code == 2
    assert result.err == f"pdebug: error: {message}\nhint: {hint}\n"


def test_unwritable_stdout_is_one_line_and_exit_3():
    """Disk full while writing the table: not an internal error, and no traceback."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "pdebug", "clusters", str(ALL_DUMP)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("pdebug: error: No space left on device")
    assert "Traceback" not in proc.stderr


def test_an_unexpected_error_is_exit_5_without_traceback(pdebug, monkeypatch):
    from pdebug.views import clusters

    def broken(*args: object, **kw: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(clusters, "view", broken)
    result = pdebug("clusters", str(ALL_DUMP))
    assert result.code == 5
    assert result.err.startswith("pdebug: error: internal error: RuntimeError: boom\n")


def test_ecds_of_a_full_dump_without_an_ecds_section_is_none_found(pdebug, tmp_path):
    """Envoy omits the ECDS section when there are no ECDS filters: 'none', as live."""
    sidecar = ROOT / "fixtures/real/sidecar/config_dump.json"
    result = pdebug("ecds", sidecar)
    assert (result.code, result.out, result.err) == (0, "", "No ECDS filters found.\n")
    assert pdebug("ecds", sidecar, "-o", "yaml").out == "ecds_filters: []\n"
    partial = tmp_path / "clusters-only.json"
    configs = json.loads(sidecar.read_text())["configs"]
    kept = [c for c in configs if "ClustersConfigDump" in c["@type"]]
    partial.write_text(json.dumps({"configs": kept}))
    assert pdebug("ecds", partial).code == 4  # a partial dump: ECDS may just not be captured


def test_status_with_a_pod_points_at_diff(pdebug):
    result = pdebug("status", "productpage-v1-abc.default")
    assert result.code == 2
    assert result.err == (
        "pdebug: error: pdebug status takes no POD argument (got productpage-v1-abc.default)\n"
        "hint: pdebug diff POD compares one proxy with istiod; "
        "pdebug status -n NS shows one namespace\n"
    )


def _readme_examples():
    import re
    import shlex

    text = (ROOT / "README.md").read_text()
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        for line in block.splitlines():
            if not line.startswith("$ pdebug "):
                continue
            args = shlex.split(line[len("$ pdebug ") :])
            files = [a for a in args if "/" in a and not a.startswith("-")]
            if files and all((ROOT / f.split(":")[0]).exists() for f in files):
                yield line, args, block


@pytest.mark.parametrize(("line", "args", "block"), list(_readme_examples()))
def test_readme_examples_on_the_fixtures_run_as_written(
    pdebug, monkeypatch, tmp_path, line, args, block
):
    # Issue 13: every README example that names files of the clone runs as written (in a
    # directory of its own that sees the clone's fixtures/: an -o file lands there).
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    monkeypatch.chdir(tmp_path)
    result = pdebug(*args)
    assert result.code in (0, 1), (line, result.err)
    if args[0] == "diff":
        shown = block.split(line + "\n", 1)[1].split("\n$ ", 1)[0]
        assert result.out == shown, line


def test_main_as_a_library_leaves_the_garbage_collector_alone(pdebug):
    import gc

    assert gc.isenabled()
    pdebug("clusters", ALL_DUMP)
    assert gc.isenabled()
