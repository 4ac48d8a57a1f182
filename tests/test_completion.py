"""Issue 13 item 8: shell completion (bash, zsh, fish) through the real entry point.

Each completion is what the shell script Typer installs would ask: the program run with
``_PDEBUG_COMPLETE`` set (and ``COMP_WORDS``/``COMP_CWORD`` for bash,
``_TYPER_COMPLETE_ARGS`` for zsh and fish), in a subprocess as a shell runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.harness import ROOT


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("_PDEBUG")}
    env.pop("KUBECONFIG", None)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def _pdebug(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pdebug", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def bash(line: str, **extra: str) -> list[str]:
    words = line.split(" ")
    env = _env(
        _PDEBUG_COMPLETE="complete_bash",
        COMP_WORDS=line,
        COMP_CWORD=str(len(words) - 1),
        **extra,
    )
    result = _pdebug(env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def zsh(line: str) -> str:
    result = _pdebug(env=_env(_PDEBUG_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS=line))
    assert result.returncode == 0, result.stderr
    return result.stdout


def fish(line: str) -> list[str]:
    env = _env(
        _PDEBUG_COMPLETE="complete_fish",
        _TYPER_COMPLETE_ARGS=line,
        _TYPER_COMPLETE_FISH_ACTION="get-args",
    )
    result = _pdebug(env=env)
    assert result.returncode == 0, result.stderr
    return [line.split("\t")[0] for line in result.stdout.splitlines()]


def test_commands_and_aliases():
    top = bash("pdebug ")
    assert {"clusters", "listeners", "routes", "stats", "rootca-compare", "proxy-config"} <= set(
        top
    )
    assert "ep" not in top  # aliases stay out of the plain list...
    assert set(bash("pdebug e")) == {"endpoints", "endpoint", "ep", "eds", "ecds", "ec"}
    assert "rc" in bash("pdebug r")  # ...and come once a letter is typed
    assert "ps" in bash("pdebug p")


def test_options_and_output_formats():
    assert "--fqdn" in bash("pdebug clusters --f")
    assert {"--kubeconfig", "--context"} <= set(bash("pdebug clusters --"))
    assert bash("pdebug clusters -o ") == ["table", "wide", "json", "yaml", "markdown", "short"]
    assert bash("pdebug routes -o w") == ["wide"]
    assert "wide" in zsh("pdebug clusters -o w")
    assert fish("pdebug clusters -o j") == ["json"]


def test_proxy_config_views():
    assert bash("pdebug pc c") == ["cluster", "clusters", "c"]
    assert "endpoint" in bash("pdebug proxy-config e")


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o default -F _pdebug_completion pdebug"),
        ("zsh", "#compdef pdebug"),
        ("fish", "complete --command pdebug"),
    ],
)
def test_show_completion(shell, marker):
    # Typer detects the user's shell; the test names it instead (Typer's own switch).
    env = _env(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    result = _pdebug("--show-completion", shell, env=env)
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert "_PDEBUG_COMPLETE" in result.stdout


def test_show_completion_detects_the_shell():
    result = _pdebug("--show-completion", env=_env())
    assert result.returncode == 0, result.stderr
    assert "_PDEBUG_COMPLETE" in result.stdout


def test_install_completion_for_bash(tmp_path):
    result = _pdebug("--install-completion", "bash", env=_env(HOME=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "completion installed" in result.stdout
    assert "pdebug" in (tmp_path / ".bashrc").read_text()


def test_source_completes_pod_names_live(tmp_path, kube, no_ambient_config):
    config = str(kube.write_kubeconfig(tmp_path / "config", context="t", namespace="default"))
    kube.add_pod("web-1", "default")
    kube.add_pod("web-2", "default")
    kube.add_pod("api-1", "default")
    kube.add_pod("web-9", "shop")
    assert bash("pdebug clusters w", KUBECONFIG=config) == ["web-1", "web-2"]
    assert bash("pdebug clusters pod/a", KUBECONFIG=config) == ["pod/api-1"]
    assert bash("pdebug clusters -n shop ", KUBECONFIG=config) == ["web-9"]
    assert bash(f"pdebug endpoints -c {config} -n shop w") == ["web-9"]
    # A path is left to the shell's file completion; no cluster is no answer, quickly.
    assert bash("pdebug clusters ./fi", KUBECONFIG=config) == []
    assert bash("pdebug clusters w", KUBECONFIG=str(tmp_path / "missing")) == []
