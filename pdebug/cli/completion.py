"""Shell completion (bash, zsh, fish): ``pdebug --install-completion``, ``--show-completion``.

Typer's completion covers commands and options; this module adds what it does not know:
the ``-o`` formats, istioctl's proxy-config views, the aliases (hidden from the command
list, completed once a letter is typed: ``pdebug e<TAB>`` offers ``ep`` and ``ec`` too) and,
live, the pods of the namespace for SOURCE (``-n``, ``--context`` and ``--kubeconfig``
typed before it are used; at most two seconds, and nothing on any error, so the shell
falls back to file names).

Nothing here runs unless the shell asks for completions: the callbacks import lazily.
"""

from collections.abc import Iterator
from typing import Any

FORMATS = ("table", "wide", "json", "yaml", "markdown", "short")
#: Seconds a completion may wait for the API server (a shell must not hang).
LIVE_TIMEOUT = 2.0


# Typer inspects each ``autocompletion=`` callback (signature, type hints) every time it
# builds the command, so this module keeps real (not stringified) annotations: no
# ``from __future__ import annotations`` here, and nothing to evaluate.


def complete_format(incomplete: str) -> list[str]:
    """The ``-o`` formats of the views."""
    return [f for f in FORMATS if f.startswith(incomplete.lower())]


def complete_view(incomplete: str) -> list[str]:
    """Istioctl's proxy-config view names and aliases."""
    from pdebug.cli.habits import VIEWS

    return [v for v in VIEWS if v.startswith(incomplete)]


def complete_source(ctx: Any, incomplete: str) -> list[str]:
    """Pod names of the namespace (``pod/NAME`` when ``pod/`` is typed); else nothing.

    A path-like word (``./``, ``/``, ``~``, ``x.json``) gets nothing, so the shell completes
    file names, as it does when the cluster cannot be reached.
    """
    prefix = ""
    for kind in ("pod/", "pods/", "po/"):
        if incomplete.startswith(kind):
            prefix = kind
    word = incomplete[len(prefix) :]
    if "/" in word or incomplete.startswith((".", "~")) or "." in word and "/" not in incomplete:
        return []
    if ":" in incomplete:
        return []
    try:
        names = list(_pods(getattr(ctx, "params", {}) or {}))
    except Exception:  # noqa: BLE001 - completion never fails loudly
        return []
    return [prefix + n for n in names if n.startswith(word)]


def _pods(params: dict[str, Any]) -> Iterator[str]:
    import os

    from pdebug.sources import LiveOptions
    from pdebug.sources.kube import KubeCluster, name_of

    kubeconfig = params.get("kubeconfig")
    if not kubeconfig and not os.environ.get("KUBECONFIG"):
        default = os.path.expanduser(os.path.join("~", ".kube", "config"))
        if not os.path.isfile(default) and not os.environ.get("KUBERNETES_SERVICE_HOST"):
            return
    options = LiveOptions(
        timeout=LIVE_TIMEOUT,
        namespace=params.get("namespace"),
        context=params.get("context"),
        kubeconfig=kubeconfig,
    )
    cluster = KubeCluster(options, "completion")
    try:
        namespace = cluster.connect().namespace(options.namespace)
        for pod in cluster.list("pods", namespace, "", "completion"):
            yield name_of(pod)
    finally:
        cluster.close()


def include_aliases() -> None:
    """Complete hidden commands (istioctl's aliases) once at least one letter is typed."""
    from typer._click import core

    original = core._complete_visible_commands

    def complete(ctx: Any, incomplete: str) -> Iterator[tuple[str, Any]]:
        if not incomplete:
            yield from original(ctx, incomplete)
            return
        group = ctx.command
        for name in group.list_commands(ctx):
            if name.startswith(incomplete):
                command = group.get_command(ctx, name)
                if command is not None:
                    yield name, command

    core._complete_visible_commands = complete


__all__ = ["complete_format", "complete_source", "complete_view", "include_aliases"]
