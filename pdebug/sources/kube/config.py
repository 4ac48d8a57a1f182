"""Which cluster to talk to: the kubeconfig (or the pod's service account) and its context.

``KUBECONFIG`` is read when ``kubernetes.config`` is imported, so pdebug resolves the
kubeconfig path itself (``--kubeconfig``, ``KUBECONFIG``, ``~/.kube/config``, else the
in-cluster service account) and always passes it explicitly. Contexts are merged across a
``KUBECONFIG`` list as kubectl does: the first file that names one wins.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pdebug.errors import SourceUnavailable, UsageError
from pdebug.sources.kube._text import first_line

if TYPE_CHECKING:
    from pdebug.sources.base import LiveOptions

#: Where the kubelet mounts a pod's service account (token, ca.crt, namespace).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class ClusterConfig:
    """A loaded client configuration.

    Attributes:
        config: The ``kubernetes.client.Configuration`` (host, credentials, retries).
        context: The kubeconfig context used (None in a pod).
        namespace: The namespace the context (or the service account) defaults to.
    """

    config: Any
    context: str | None
    namespace: str | None


def load_config(options: LiveOptions, label: str) -> ClusterConfig:
    """Set up the client configuration for ``--kubeconfig`` / ``--context``.

    Raises:
        SourceUnavailable: no kubeconfig, an unreadable one, or a broken context (the
            message starts with ``label``).
        UsageError: an unknown ``--context``.
    """
    from kubernetes.client import Configuration
    from urllib3.util.retry import Retry

    path = kubeconfig_path(options, label)
    config = Configuration()
    if path is None:
        context, namespace = None, _load_in_cluster(options, label, config)
    else:
        context, namespace = _load_file(options, label, path, config)
    # One retry for a failed connect; none for a read (that would double --timeout).
    config.retries = Retry(total=1, connect=1, read=0, status=0, redirect=0, other=0)
    return ClusterConfig(config, context, namespace)


def kubeconfig_path(options: LiveOptions, label: str) -> str | None:
    """The kubeconfig to load, or ``None`` for in-cluster configuration."""
    explicit = options.kubeconfig
    if explicit:
        if not os.path.isfile(os.path.expanduser(explicit)):
            raise SourceUnavailable(
                f"{label}: kubeconfig {explicit}: no such file",
                hint="check the --kubeconfig path",
            )
        return explicit
    env = os.environ.get("KUBECONFIG", "")
    if env:
        paths = [p for p in env.split(os.pathsep) if p]
        if not any(os.path.isfile(os.path.expanduser(p)) for p in paths):
            raise SourceUnavailable(
                f"{label}: KUBECONFIG={env}: no such file",
                hint="fix or unset KUBECONFIG, or pass --kubeconfig FILE",
            )
        return env
    default = os.path.expanduser(os.path.join("~", ".kube", "config"))
    if os.path.isfile(default):
        return default
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    raise SourceUnavailable(
        f"{label}: no kubeconfig ({default} does not exist, KUBECONFIG is not "
        "set, and pdebug is not running in a pod)",
        hint="pass --kubeconfig FILE or set KUBECONFIG; or read a saved dump instead",
    )


def _load_file(options: LiveOptions, label: str, path: str, config: Any) -> tuple[str, str | None]:
    """Load the context from ``path``; (its name, its namespace)."""
    from kubernetes.config import ConfigException, load_kube_config

    contexts, current = read_contexts(path, label)
    name = options.context or current
    known = ", ".join(sorted(contexts)) or "none"
    if not name:
        raise SourceUnavailable(
            f"{label}: kubeconfig {path} has no current context",
            hint=f"pick one with --context (known: {known})",
        )
    if name not in contexts:
        raise UsageError(
            f"{label}: unknown kubeconfig context {name!r} in {path} (known: {known})",
            hint="check --context, or run: kubectl config get-contexts",
        )
    logged = _Logged()
    root = logging.getLogger()
    root.addHandler(logged)  # root has a handler: logging.error() adds no stderr one
    try:
        load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, context=name, client_configuration=config, persist_config=False
        )
    except (ConfigException, KeyError, TypeError, ValueError, AttributeError, OSError) as exc:
        raise SourceUnavailable(
            f"{label}: kubeconfig {path}, context {name!r}: {first_line(exc)}",
            hint="check the context's cluster and user entries (kubectl config view)",
        ) from None
    finally:
        root.removeHandler(logged)
    if logged.errors:
        # The client logs a failed exec credential plugin and goes on without credentials
        # (its "ERROR:root:..." line, then a misleading 401); kubectl stops there.
        raise SourceUnavailable(
            f"{label}: kubeconfig {path}, context {name!r}: the user's credentials could not "
            f"be obtained: {first_line(logged.errors[0])}",
            hint="check the user's exec plugin or auth entry (kubectl get pods runs it too)",
        )
    return name, contexts[name]


class _Logged(logging.Handler):
    """What the Kubernetes client logs while loading a kubeconfig (never printed raw)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.append(record.getMessage())


def _load_in_cluster(options: LiveOptions, label: str, config: Any) -> str | None:
    """Load the pod's service account; the namespace it runs in."""
    from kubernetes.config import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader

    if options.context:
        raise UsageError(
            f"{label}: unknown context {options.context!r}: there is no "
            "kubeconfig, only the pod's service account",
            hint="drop --context, or pass --kubeconfig FILE",
        )
    loader = InClusterConfigLoader(  # type: ignore[no-untyped-call]
        token_filename=os.path.join(SERVICE_ACCOUNT_DIR, "token"),
        cert_filename=os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt"),
    )
    try:
        loader.load_and_set(config)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError) as exc:
        raise SourceUnavailable(
            f"{label}: in-cluster configuration failed ({first_line(exc)})",
            hint="is the service account token mounted? or pass --kubeconfig FILE",
        ) from None
    try:
        with open(os.path.join(SERVICE_ACCOUNT_DIR, "namespace")) as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def read_contexts(path: str, label: str) -> tuple[dict[str, str | None], str | None]:
    """Context names (with their namespace) and the current context, merged as kubectl does.

    The first file that names a context, or sets ``current-context``, wins.
    """
    import yaml

    contexts: dict[str, str | None] = {}
    current: str | None = None
    for file in [p for p in path.split(os.pathsep) if p]:
        file = os.path.expanduser(file)
        if not os.path.isfile(file):
            continue
        try:
            with open(file, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise SourceUnavailable(
                f"{label}: kubeconfig {file} cannot be read ({first_line(exc)})",
                hint="fix the file (kubectl config view shows what kubectl makes of it)",
            ) from None
        if doc is None:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("contexts") or [], list):
            raise SourceUnavailable(
                f"{label}: kubeconfig {file} is not a kubeconfig (no contexts list)",
                hint="fix the file, or pass another with --kubeconfig",
            )
        for entry in doc.get("contexts") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                body = entry.get("context") if isinstance(entry.get("context"), dict) else {}
                ns = body.get("namespace") if body else None
                contexts.setdefault(entry["name"], ns if isinstance(ns, str) and ns else None)
        if current is None and isinstance(doc.get("current-context"), str):
            current = doc["current-context"] or None
    return contexts, current
