"""A running Envoy's admin interface over plain HTTP (``--admin`` / ``http://host:port``)."""

from __future__ import annotations

import socket
import time
import urllib.parse
from typing import Any

from pdebug.errors import SourceUnavailable
from pdebug.sources.base import SourceBase
from pdebug.sources.httpget import (
    Body,
    BodyGetter,
    Deadline,
    HTTPFault,
    Response,
    Wire,
    max_body_from_env,
    printable,
)
from pdebug.sources.spec import AdminSpec, check_admin_url
from pdebug.sources.spec import normalise_admin_url as normalise_admin_url  # istiod.py's

#: Seconds between a dropped connection and the one retry (within the deadline).
RETRY_PAUSE = 0.2
LIMIT_HINT = "raise the limit with --max-body SIZE (pdebug dump) or PDEBUG_MAX_BODY=SIZE, e.g. 2GiB"


class AdminHTTPError(SourceUnavailable):
    """Envoy's admin answered with a non-200 status."""

    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class AnswerError(SourceUnavailable):
    """The server's answer broke HTTP, did not complete in time, or was too large.

    Attributes:
        fault: What the server did (``fault.timed_out``, ``fault.too_large``...).
    """

    def __init__(self, message: str, fault: HTTPFault, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.fault = fault


def status_error(
    label: str, response: Response, body: bytes, hint: str, after: str = ""
) -> AdminHTTPError:
    """``LABEL HTTP 404AFTER (first line of the body)``."""
    coding = response.headers.get("content-encoding", "").strip().lower()
    location = response.headers.get("location", "").strip()
    if 300 <= response.status < 400 and location:  # not followed: say where it pointed
        snippet = [f"redirects to {location}"]
    elif coding not in ("", "identity"):  # no text to quote: say what the body is
        snippet = [f"a {coding}-compressed body"]
    else:
        snippet = body[:120].decode("utf-8", "replace").strip().splitlines()
    if snippet:  # a redirect's userinfo or token, a token quoted by an error page
        from pdebug.redact import redact_text  # (a snapshot keeps errors in its manifest)

        snippet[0] = redact_text(snippet[0])
    return AdminHTTPError(
        f"{label} HTTP {response.status}{after}"
        + (f" ({printable(snippet[0], 120, quote=False)})" if snippet else ""),
        response.status,
        hint=hint,
    )


class AdminSource(BodyGetter, SourceBase):
    """GETs against an Envoy admin address.

    ``timeout`` bounds each whole GET (connecting, the answer, and one retry of a dropped
    connection); ``max_body`` bounds each answer (``None``: ``PDEBUG_MAX_BODY``, else 1 GiB).
    """

    live = True

    def __init__(
        self,
        url: str,
        timeout: float = 30.0,
        label: str | None = None,
        max_body: int | None = None,
        what: str = "SOURCE",
    ) -> None:
        self._setup(normalise_admin_url(url), check_admin_url(url, what), timeout, label, max_body)

    @classmethod
    def of(cls, spec: AdminSpec, timeout: float = 30.0, max_body: int | None = None) -> AdminSource:
        """The admin a parsed SOURCE names (:mod:`pdebug.sources.spec` checked it)."""
        source = cls.__new__(cls)
        source._setup(spec.address, spec.parts, timeout, None, max_body)
        return source

    def _setup(
        self,
        url: str,
        parsed: urllib.parse.SplitResult,
        timeout: float,
        label: str | None,
        max_body: int | None,
    ) -> None:
        self.url = url
        self._parsed = parsed
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.timeout = timeout
        self.max_body = max_body if max_body is not None else max_body_from_env()
        #: the URL as errors and labels show it: no user:password@
        self.shown = self.url
        if "@" in self.url:
            from pdebug.redact import redact_text

            self.shown = redact_text(self.url)
        self.label = label or self.shown
        #: a GET sent ahead (:meth:`ask_ahead`) and its connection, not read yet (or why
        #: the connection could not be made)
        self._ahead: tuple[str, Any] | None = None

    def _get(self, path: str, body: Body) -> None:
        deadline = Deadline(self.timeout)
        url = f"{self.shown}{path}"
        try:
            try:
                response = self._once(path, deadline, body)
            except HTTPFault as fault:
                if not fault.dropped or deadline.left() <= RETRY_PAUSE:
                    raise
                time.sleep(RETRY_PAUSE)
                body.reset()
                response = self._once(path, deadline, body)
        except HTTPFault as fault:
            raise self._fault(url, fault) from None
        if response.status != 200:
            data = body.head()
            raise status_error(
                f"{url}: Envoy answered",
                response,
                data,
                "check the admin path and that this is an Envoy admin port",
            )

    def ask_ahead(self, path: str) -> None:
        """Send ``GET path`` now; the next GET of ``path`` reads this answer (#17).

        ``pdebug dump`` sends its first GET before it loads the capture's code, so Envoy
        builds the answer meanwhile (its admin thread answers one GET at a time, and the
        wall of a capture is the sum of its answers). Only on plain ``http://``. Nothing is
        raised here: a connection that cannot be made (refused, not within ``timeout``, an
        unknown host) is the GET's error, raised by it without a second try (which would
        take the timeout again); one dropped later is asked again, as any GET is.
        """
        self._drop_ahead()
        p = self._parsed
        if p.scheme != "http":
            return
        try:
            sock = socket.create_connection((p.hostname or "", self._port), timeout=self.timeout)
        except OSError as exc:
            self._ahead = (path, exc)
            return
        try:
            sock.sendall(Wire.request(self._host_header(), (p.path or "") + path))
        except OSError:
            sock.close()
            return
        self._ahead = (path, sock)

    def _drop_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and not isinstance(ahead[1], OSError):
            ahead[1].close()

    def _host_header(self) -> str:
        host = self._parsed.hostname or ""
        name = f"[{host}]" if ":" in host else host  # an IPv6 address
        return name if self._port in (80, 443) else f"{name}:{self._port}"

    def _once(self, path: str, deadline: Deadline, body: Body) -> Response:
        """One connection, one GET (its request already sent when asked ahead)."""
        p = self._parsed
        host = p.hostname or ""
        url = f"{self.shown}{path}"
        ahead = self._ahead
        if ahead is not None and ahead[0] == path:
            self._ahead = None
            sent = ahead[1]
            if isinstance(sent, OSError):  # the connection asked ahead could not be made
                raise self._cannot_connect(url, sent) from None
            try:
                path_sent = (p.path or "") + path
                return Wire(sent).get(
                    self._host_header(), path_sent, deadline, self.max_body, body, sent=True
                )
            finally:
                sent.close()
        try:
            sock: Any = socket.create_connection((host, self._port), timeout=deadline.remaining())
        except OSError as exc:
            raise self._cannot_connect(url, exc) from None
        try:
            if p.scheme == "https":
                sock = self._tls(sock, host, url, deadline)
            where = self._host_header()
            return Wire(sock).get(where, (p.path or "") + path, deadline, self.max_body, body)
        finally:
            sock.close()

    def _cannot_connect(self, url: str, exc: OSError) -> SourceUnavailable:
        """Why no connection to ``url`` could be made, as a one-line error."""
        if isinstance(exc, ConnectionRefusedError):
            return SourceUnavailable(
                f"{url}: connection refused (nothing listens there)",
                hint="is Envoy running, and is this its admin port (15000 in Istio sidecars)?",
            )
        if isinstance(exc, TimeoutError):
            return SourceUnavailable(
                f"{url}: could not connect within {self.timeout:g}s",
                hint="is the address right and reachable? or raise --timeout",
            )
        if isinstance(exc, socket.gaierror):
            return SourceUnavailable(f"{url}: unknown host ({exc.strerror})")
        return SourceUnavailable(f"{url}: {exc.strerror or exc}")

    def _tls(self, sock: Any, host: str, url: str, deadline: Deadline) -> Any:
        """The TLS handshake, bounded by the deadline as a whole (not per read)."""
        import select
        import ssl

        hint = "is this an HTTPS port? Envoy's admin is usually plain http://"
        try:
            tls = ssl.create_default_context().wrap_socket(
                sock, server_hostname=host, do_handshake_on_connect=False
            )
            tls.setblocking(False)
            while True:
                try:
                    tls.do_handshake()
                    return tls
                except ssl.SSLWantReadError:
                    select.select([tls], [], [], deadline.remaining())
                except ssl.SSLWantWriteError:
                    select.select([], [tls], [], deadline.remaining())
        except TimeoutError:
            raise SourceUnavailable(
                f"{url}: no TLS handshake within {self.timeout:g}s", hint=hint
            ) from None
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or exc
            raise SourceUnavailable(
                f"{url}: TLS failed ({printable(str(reason), 120, quote=False)})", hint=hint
            ) from None

    def _fault(self, url: str, fault: HTTPFault) -> AnswerError:
        if fault.timed_out:
            hint = "Envoy may be stuck, overloaded or the dump huge; raise --timeout"
        elif fault.too_large:
            hint = LIMIT_HINT
        else:
            hint = "is this an Envoy admin port? a proxy or load balancer in between may break it"
        return AnswerError(f"{url}: {fault.message}", fault, hint=hint)

    def close(self) -> None:
        """Nothing kept open between requests, but a GET asked ahead and not read."""
        self._drop_ahead()
