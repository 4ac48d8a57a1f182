"""A running Envoy's admin interface over plain HTTP (``--admin`` / ``http://host:port``)."""

from __future__ import annotations

import http.client
import socket
import time
import urllib.parse

from pdebug.errors import SourceUnavailable, UsageError

#: Transient failures worth one more try (a dropped connection, a reset).
_TRANSIENT = (ConnectionResetError, http.client.RemoteDisconnected, http.client.IncompleteRead)


class AdminHTTPError(SourceUnavailable):
    """Envoy's admin answered with a non-200 status."""

    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


def normalise_admin_url(text: str) -> str:
    """``localhost:15000`` -> ``http://localhost:15000`` (no trailing slash)."""
    if "://" not in text:
        text = "http://" + text
    return text.rstrip("/")


def check_admin_url(text: str, what: str = "SOURCE") -> urllib.parse.SplitResult:
    """``text`` as an admin URL, or a usage error naming ``what`` (``SOURCE``, ``--admin``).

    Raises:
        UsageError: not an http(s) URL with a host, or a port that is not a number
            in 1-65535.
    """
    example = "e.g. http://127.0.0.1:15000 (the Envoy admin port; 15000 in Istio sidecars)"
    try:
        parsed = urllib.parse.urlsplit(normalise_admin_url(text))
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("not an Envoy admin URL")
    except ValueError as exc:
        raise UsageError(f"{what} {text}: {exc}", hint=example) from None
    host_port = parsed.netloc.rpartition("@")[2].rpartition("]")[2]  # after user@ and [v6]
    colon, port = host_port.partition(":")[1:]
    if colon and not (port.isascii() and port.isdigit()):
        why = f"port {port!r} is not a number" if port else "no port after ':'"
        raise UsageError(f"{what} {text}: {why}", hint=example)
    if port and not 0 < int(port) < 65536:
        raise UsageError(f"{what} {text}: port {port} is out of range (1-65535)", hint=example)
    return parsed


class AdminSource:
    """GETs against an Envoy admin address, with a bounded timeout and one retry."""

    live = True

    def __init__(
        self, url: str, timeout: float = 30.0, label: str | None = None, what: str = "SOURCE"
    ) -> None:
        self.url = normalise_admin_url(url)
        self._parsed = check_admin_url(url, what)
        self.timeout = timeout
        self.label = label or self.url

    def get(self, path: str) -> bytes:
        """GET ``path``; one retry on a transient drop; errors name the URL and a hint."""
        try:
            return self._get(path)
        except _TRANSIENT:
            time.sleep(0.2)
            return self._get(path)

    def _get(self, path: str) -> bytes:
        p = self._parsed
        conn_cls = (
            http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
        )
        port = p.port or (443 if p.scheme == "https" else 80)
        url = f"{self.url}{path}"
        conn = conn_cls(p.hostname or "", port, timeout=self.timeout)
        try:
            conn.request("GET", (p.path or "") + path, headers={"Accept": "application/json"})
            resp = conn.getresponse()
            body = resp.read()
        except ConnectionRefusedError:
            raise SourceUnavailable(
                f"{url}: connection refused (nothing listens there)",
                hint="is Envoy running, and is this its admin port (15000 in Istio sidecars)?",
            ) from None
        except TimeoutError:
            raise SourceUnavailable(
                f"{url}: no answer within {self.timeout:g}s",
                hint="Envoy may be overloaded or the dump huge; raise --timeout",
            ) from None
        except socket.gaierror as exc:
            raise SourceUnavailable(f"{url}: unknown host ({exc.strerror})") from None
        except _TRANSIENT:
            raise
        except OSError as exc:
            raise SourceUnavailable(f"{url}: {exc.strerror or exc}") from None
        finally:
            conn.close()
        if resp.status != 200:
            snippet = body[:120].decode("utf-8", "replace").strip().splitlines()
            raise AdminHTTPError(
                f"{url}: Envoy answered HTTP {resp.status}"
                + (f" ({snippet[0]})" if snippet else ""),
                resp.status,
                hint="check the admin path and that this is an Envoy admin port",
            )
        return body

    def close(self) -> None:
        """Nothing kept open between requests."""
