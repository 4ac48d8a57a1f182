"""``pdebug dump``: save what offline analysis needs from a live proxy, redacted."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pdebug.cli import app
from pdebug.cli.views import (
    AdminPortOpt,
    ContainerOpt,
    ContextOpt,
    KubeconfigOpt,
    MaxBodyOpt,
    NamespaceOpt,
    NoRedactOpt,
    TimeoutOpt,
)
from pdebug.errors import ExitCode


@app.command("dump")
def dump_cmd(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="An Envoy admin URL or a pod (pod/NAME, NAME.NS).",
            show_default=False,
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Where to write: NAME.tar.gz (a bundle: dump, /clusters, /server_info) "
            "or NAME.json (the config dump only).",
        ),
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the -o file if it exists (refused otherwise)."),
    ] = False,
    no_redact: NoRedactOpt = False,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 60.0,
    max_body: MaxBodyOpt = None,
) -> int:
    """Save a live proxy's config_dump?include_eds, /clusters and /server_info for later.

    Every view, diff and check accepts the result as SOURCE. Secrets are redacted: Envoy
    already hides private keys; pdebug also hides JWTs, bearer tokens and authorization /
    cookie header values. The write is atomic; an existing -o file is kept unless --force.

    Example: pdebug dump pod/productpage-v1-abc -n default -o productpage.tar.gz
    """
    from pdebug.capture import capture_one
    from pdebug.sources import LiveOptions

    options = LiveOptions(
        timeout, namespace, context, kubeconfig, admin_port, container, max_body=max_body
    )
    summary = capture_one(source, output, options, redact=not no_redact, force=force)
    print(summary, file=sys.stderr)
    return ExitCode.OK
