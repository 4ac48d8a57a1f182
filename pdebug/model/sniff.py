"""Facts about bytes: what a document plainly is, before anything tries to parse it.

Every reader of a JSON document (a config dump, ``/clusters``, istiod's sync status)
first looks at the head of the bytes, so that an error page, a binary file or an empty
capture is named as what it is rather than reported as a JSON syntax error. This is the
one look; each reader words its own message (:func:`sniff`: the Envoy readers' wording,
which the ztunnel reader calls with its own hints first; ``model/syncz.py``).
The refusals both the Envoy and the ztunnel readers word once they have decoded a
document (agentgateway's dump, Envoy's ``/certs``, istiod's view of a ztunnel) are in
``model/refusals.py``.
:func:`prepare` is the whole look in one record (:class:`Prepared`) for the readers that
take JSON or YAML (``model/syncz.py``, ``model/ztunnel.py``): the bytes pass through here
once, before the reader, and the one YAML loading for them is here too.

One module over 500 lines because it is the one look at bytes that issue #14 asks for: the
shapes it names (error pages, binary, Envoy's text documents, the YAML rule, status lines,
byte-order marks), the refusals built on them and the prepared record are read by every
reader, so they live together rather than again in each.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pdebug.errors import InvalidInput

#: How much of the head is looked at.
HEAD = 512


class Sniffed:
    """What the head of some bytes says.

    Attributes:
        kind: ``empty``, ``object`` (``{``), ``array`` (``[``), ``markup`` (``<``),
            ``binary``, ``utf8-bom``/``utf16``/``utf16-be`` (a byte-order mark) or
            ``text`` (anything else: a JSON scalar or not JSON).
        what: For ``markup``: ``an HTML page`` or ``XML/HTML markup``; for ``binary``:
            ``binary data``; else ``""``.
        first_line: For ``text``: the first line, at most 60 characters.
    """

    __slots__ = ("first_line", "kind", "what")

    def __init__(self, kind: str, what: str = "", first_line: str = "") -> None:
        # a plain class, not a dataclass: every command imports this module at start
        self.kind = kind
        self.what = what
        self.first_line = first_line

    def refuse(self, source: str, expected: str, hints: Mapping[str, str]) -> InvalidInput:
        """The error saying the bytes from ``source`` are not ``expected`` but this.

        Args:
            source: Where the bytes came from (the message's first word).
            expected: What the reader wanted, e.g. ``an Envoy config dump``.
            hints: The reader's hint per :attr:`kind`.
        """
        if self.kind in _ENCODINGS:
            text = f"this is {self.what}, not {expected} in UTF-8"
            return InvalidInput(f"{source}: {text}", hint=hints.get(self.kind, _ENCODING_HINT))
        if self.kind == "empty":
            text = "the input is empty"
        elif self.what == "status":
            text = (
                f"starts with the line {self.first_line.strip()!r}, an HTTP status before the "
                "JSON (as `pilot-agent request` prints it): the proxy did not answer 200 OK"
            )
        elif self.what == "admin-help":
            return admin_help_given(source)
        elif self.what == "response":
            text = (
                f"starts with {self.first_line.strip()!r}, an HTTP response's head saved "
                "before the body (as curl -i saves it): the proxy did not answer 200 OK"
            )
            return InvalidInput(f"{source}: {text}", hint=_RESPONSE_HINT)
        elif self.kind == "text" and _scalar(self.first_line):
            text = f"this is a JSON {_scalar(self.first_line)}, not {expected}"
        elif self.kind == "text":
            text = f"not JSON (starts with {self.first_line!r})"
            noise = _leading_noise(self.first_line)
            if noise:
                return InvalidInput(f"{source}: {text}", hint=noise)
        elif self.kind == "array":
            text = f"this is a JSON array, not {expected}"
        elif self.kind == "binary":
            text = f"binary data, not {expected}"
        else:
            text = f"this is {self.what or 'a JSON object'}, not {expected}"
        return InvalidInput(f"{source}: {text}", hint=hints.get(self.kind))


#: Lines a terminal puts before the JSON when a capture is pasted or saved with 2>&1,
#: and what to do about each.
_NOISE = (
    (
        "Defaulted container ",
        "kubectl's notice was saved with the dump (2>&1): capture again with -c "
        "istio-proxy or 2>/dev/null, or delete the lines before the first '{'",
    ),
    (
        "Unable to use a TTY",
        "kubectl's TTY notice was saved with the dump: capture again without -t, or "
        "delete the lines before the first '{'",
    ),
    (
        "% Total",
        "curl's progress meter was saved with the dump: capture again with curl -s, or "
        "delete the lines before the first '{'",
    ),
    (
        "$ ",
        "a shell prompt and command were pasted with the dump: delete the lines before "
        "the first '{'",
    ),
)


#: Said of a saved answer other than 200 OK (curl -i kept its head).
_RESPONSE_HINT = (
    "the body after the head is the admin's error, not the document: capture it again "
    "once the proxy answers 200 (curl -s, without -i, saves the body alone)"
)


def _leading_noise(line: str) -> str:
    """The hint for a terminal's line before the JSON (kubectl, curl, a prompt), or ""."""
    head = line.lstrip()
    return next((hint for prefix, hint in _NOISE if head.startswith(prefix)), "")


def _scalar(line: str) -> str:
    """What JSON value ``line`` is, when it is a whole JSON scalar (``null``, ``"x"``).

    Such input is JSON, only not a document (was "not JSON (starts with 'null')").
    """
    import orjson

    try:
        value = orjson.loads(line.strip())
    except orjson.JSONDecodeError:
        return ""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str) else "number"


#: Byte-order marks: how PowerShell and Windows editors save text (``>`` in Windows
#: PowerShell 5 writes UTF-16LE). JSON readers want plain UTF-8.
_ENCODINGS = {
    "utf8-bom": (b"\xef\xbb\xbf", "text with a UTF-8 byte-order mark"),
    "utf16": (b"\xff\xfe", "UTF-16 text (as PowerShell 5's '>' saves it)"),
    "utf16-be": (b"\xfe\xff", "UTF-16 text"),
}
_ENCODING_HINT = (
    "save it as UTF-8 without a byte-order mark (PowerShell: | Set-Content -Encoding "
    "utf8NoBOM FILE, or Out-File -Encoding ascii; or iconv -t UTF-8)"
)


def without_bom(data: bytes | memoryview) -> bytes | memoryview:
    """``data`` after a UTF-8 byte-order mark and a line ``200`` before the JSON, if any.

    ``pilot-agent request GET /config_dump`` prints the HTTP status on a line of its own
    before the answer, and Istio's must-gather (quay.io/maistra/istio-must-gather) saves
    its output so: after ``200`` the rest is the answer as Envoy wrote it. Another status
    stays, and :func:`sniff_bytes` names it. A memoryview stays a view (no copy of a
    mapped file).
    """
    data = strip_bom(data)
    if bytes(data[:1]) == b"2":
        status, after = status_line(bytes(data[:64]))
        if status == "200":
            return data[after:]
    elif bytes(data[:5]) == b"HTTP/":
        status, after = response_head(bytes(data[:RESPONSE_HEAD]))
        if status == "200":
            return data[after:]
    return data


#: How far :func:`response_head` looks for the blank line that ends an HTTP head.
RESPONSE_HEAD = 8192
#: ``HTTP/1.1 200 OK`` (or ``HTTP/2 200``): the first line ``curl -i`` saves.
_STATUS_LINE = re.compile(rb"HTTP/[0-9](?:\.[0-9])? ([0-9]{3})(?: [^\r\n]*)?\r?\n")
#: One header line (``name: value``), as curl -i writes the answer's head.
_HEADER_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*\r?\n")
#: The blank line after the head.
_HEAD_END = re.compile(rb"\r?\n")


def response_head(head: bytes) -> tuple[str, int]:
    """The status code of an HTTP response head before a body, and the body's offset.

    ``curl -i`` (``--include``) saves the answer's status line and headers, then a blank
    line, then the body as the admin wrote it (curl has already undone the chunked
    encoding). ``("", 0)`` unless ``head`` starts with such a head and it ends within
    :data:`RESPONSE_HEAD` bytes; several heads (a ``100 Continue``, a redirect followed
    with ``-L``) are read to the last one.
    """
    at = 0
    status = ""
    while True:
        first = _STATUS_LINE.match(head, at)
        if first is None:
            return (status, at) if status else ("", 0)
        at = first.end()
        while (line := _HEADER_LINE.match(head, at)) is not None:
            at = line.end()
        end = _HEAD_END.match(head, at)
        if end is None:
            return "", 0
        at = end.end()
        status = first.group(1).decode()


def strip_bom(data: bytes | memoryview) -> bytes | memoryview:
    """``data`` after a UTF-8 byte-order mark, if any (a Windows editor's, PowerShell's).

    Only the mark: :func:`without_bom` also drops a ``200`` status line, which a reader
    of text (``/stats``) must keep. A memoryview stays a view.
    """
    if bytes(data[:3]) == _ENCODINGS["utf8-bom"][0]:
        return data[3:]
    return data


#: How far :func:`looks_like_yaml` looks for the first line that is not a comment.
YAML_HEAD = 4096
#: A line YAML skips before the document: blank, a comment, ``---``, a ``%`` directive.
_YAML_SKIPPED = re.compile(rb"[ \t]*(?:#[^\n]*|---[ \t]*|%[^\n]*)?(?:\n|\r\n?)")
#: The first line of a YAML block mapping (``key:``, ``'@type':``, ``"key":``) or of a
#: block sequence of mappings (``- name: x``), as every YAML dump writer starts one. A
#: plain key starts with no indicator and holds no ``: `` (its end) nor `` #``.
_YAML_START = re.compile(
    rb"[ \t]*(?:-[ \t]+)?"
    rb"(?:'[^'\n]*'|\"[^\"\n]*\"|[^\s\x00-\x1f\x7f#&*!|<>'\"%@`{}\[\],?:-]"
    rb"(?:[^\n\x00:#]|:(?=\S)|(?<=\S)#)*?)"
    rb"[ \t]*:(?:[ \t]|\r?$)",
    re.M,
)


def looks_like_yaml(data: bytes | memoryview) -> bool:
    """Whether ``data`` is worth reading as YAML: the one rule of every YAML reader.

    After a UTF-8 byte-order mark, blank lines, ``#`` comments, ``---`` and directives
    (within the first :data:`YAML_HEAD` bytes), the first line opens a block mapping
    (``key: value``, ``key:``) or a sequence of them (``- key: value``). JSON (``{``,
    ``[``, ``"text"``, a number), markup, a status line (``503``) and a bare scalar are
    not: their readers name them. The config dump, ztunnel and syncz readers ask it
    (``model/yamldump.py``, ``model/ztunnel.py``, ``model/syncz.py``); a reader still
    refuses a YAML document that is not what it reads.
    """
    head = bytes(strip_bom(data)[:YAML_HEAD])
    at = 0
    while True:
        skipped = _YAML_SKIPPED.match(head, at)
        if skipped is None or skipped.end() == at:
            break
        at = skipped.end()
    return _YAML_START.match(head, at) is not None and not head.startswith(ADMIN_HELP, at)


#: The first line of Envoy's answer to a path its admin does not have (404; an Envoy
#: older than 1.7 has no /config_dump, 1.3x none of /routes), then the list of commands.
ADMIN_HELP = b"invalid path. admin commands are:"


def admin_help_given(source: str) -> InvalidInput:
    """The refusal of Envoy's "invalid path" answer saved as the document."""
    return InvalidInput(
        f"{source}: this is Envoy's answer to a path its admin does not have ('invalid "
        "path. admin commands are:' and the list of them), not the document",
        hint="check the path (an Envoy older than 1.7 has no /config_dump; 1.8 made "
        "/clusters?format=json); the list in the file names the ones this Envoy has",
    )


def status_line(head: bytes) -> tuple[str, int]:
    """The HTTP status code on the first line of ``head``, and the offset after that line.

    ``("", 0)`` unless the line is three digits and JSON follows it.
    """
    line, sep, rest = head.partition(b"\n")
    code = line.strip()
    if not sep or len(code) != 3 or not code.isdigit() or rest.lstrip()[:1] not in (b"{", b"["):
        return "", 0
    return code.decode(), len(line) + 1


def sniff_bytes(data: bytes | memoryview) -> Sniffed:
    """Look at the first :data:`HEAD` bytes of ``data`` (leading whitespace skipped)."""
    head = bytes(data[:HEAD]).lstrip()
    if not head:
        return Sniffed("empty")
    for kind, (mark, what) in _ENCODINGS.items():
        if head.startswith(mark) and _text_after(kind, head[len(mark) :]):
            return Sniffed(kind, what)
    first = head[:1]
    if first == b"{":
        return Sniffed("object")
    if first == b"[":
        return Sniffed("array")
    if first == b"<":
        html = b"html" in head[:256].lower()
        return Sniffed("markup", "an HTML page" if html else "XML/HTML markup")
    if _binary(head, len(data)):
        return Sniffed("binary", "binary data")
    line = head.split(b"\n", 1)[0][:60].decode("utf-8", "replace")
    if head.startswith(ADMIN_HELP):
        return Sniffed("text", "admin-help", line)
    status, _ = status_line(head)
    if not status and head.startswith(b"HTTP/"):
        answered, _ = response_head(bytes(data[:RESPONSE_HEAD]).lstrip())
        if answered and answered != "200":  # a 200 head: without_bom drops it
            return Sniffed("text", "response", line.rstrip("\r"))
    return Sniffed("text", "status" if status else "", line)


def _text_after(kind: str, rest: bytes) -> bool:
    """Whether what follows a byte-order mark is text in that encoding.

    An ASCII character first, as JSON and YAML start; not binary data that starts alike.
    """
    if kind == "utf8-bom":
        return True
    pair = rest[:2]
    if len(pair) < 2:
        return False
    low, high = (pair[0], pair[1]) if kind == "utf16" else (pair[1], pair[0])
    return high == 0 and 0 < low < 0x80


def _binary(head: bytes, size: int) -> bool:
    """NUL bytes, or bytes that are not UTF-8 (a character cut at the edge is not)."""
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # not binary if it is only a character cut in two at the end of the head
        return size <= HEAD or exc.start < len(head) - 4
    return False


#: What :func:`sniff` says per kind of input that is not a config dump.
_SNIFF_HINTS = {
    "empty": "the capture failed or was cut off; capture the dump again",
    "markup": "an error page was saved instead of the dump; check the URL/port-forward",
    "array": "a config dump is an object with a 'configs' list (GET /config_dump)",
    "binary": "if this is compressed, pdebug reads .gz; otherwise capture the dump again",
    "text": "expected the JSON of GET /config_dump or /clusters?format=json",
}


#: The first line of Envoy's text ``/listeners``: ``NAME::ADDRESS`` (``ip:port`` or a
#: pipe path), where text ``/clusters`` has ``NAME::HOST::STAT::VALUE`` or
#: ``version_info::VERSION``.
#: (This and the next are compiled on first use, by re's cache: only text reaches them.)
_LISTENERS_TEXT = r"(?!version_info::)[^:]+::(\[?[0-9a-fA-F.:]+\]?:\d+|/\S*)\s*$"
#: Envoy < 1.9's text ``/server_info``: ``envoy SHA/VERSION/STATUS/BUILD STATE UPTIME
#: UPTIME_ALL EPOCH`` on one line (1.9 made it JSON); the line may be cut at 60.
_SERVER_INFO_TEXT = r"envoy [0-9a-f]*/\d+\.\d+\S* (?:[a-z_]+(?: \d+)*)?\s*$|envoy [0-9a-f]{40}/\d"
#: The first line of Envoy's text ``/stats`` (``name: value``; the line may be cut).
_TEXT_STATS = r"[a-z_][\w|:-]*\.[\w.|:-]*: \S"  # not kubectl's "error: ..."


def as_argument(source: str) -> str:
    """``source`` as the command-line argument that reads it again."""
    return "-" if source == "stdin" else source


def sniff(
    data: bytes | memoryview, source: str, first: tuple[str, Mapping[str, str]] | None = None
) -> None:
    """Reject input that is plainly not a JSON object, saying what it looks like.

    The Envoy readers' wording (:func:`pdebug.model.load.load`, and a stream's head in
    :mod:`pdebug.sources.file`): Envoy's text ``/listeners``, ``/clusters`` and
    ``/stats`` are named as such.

    ``first``: another reader's ``(expected, hints)`` (the ztunnel reader's), which words
    the refusal of the kinds its hints name, before the Envoy texts are told apart.
    """
    refusal = _refusal(data, sniff_bytes(data), source, first)
    if refusal is not None:
        raise refusal


def _refusal(
    data: bytes | memoryview,
    found: Sniffed,
    source: str,
    first: tuple[str, Mapping[str, str]] | None,
) -> InvalidInput | None:
    """What :func:`sniff` raises for ``data`` (whose head is ``found``), or None."""
    if first is not None and found.kind in first[1]:
        return found.refuse(source, first[0], first[1])
    if found.kind == "text" and re.match(_LISTENERS_TEXT, found.first_line):
        return InvalidInput(
            f"{source}: this is the text GET /listeners (starts with {found.first_line!r}), "
            "not a config dump",
            hint="save GET /config_dump instead: pdebug listeners reads its listeners",
        )
    if found.kind == "text" and re.match(_SERVER_INFO_TEXT, found.first_line):
        return InvalidInput(
            f"{source}: this is the text GET /server_info of an Envoy older than 1.9 "
            f"(starts with {found.first_line.strip()!r}), not a config dump",
            hint="save GET /config_dump instead",
        )
    if found.kind == "text" and "::" in found.first_line:
        return InvalidInput(
            f"{source}: this is the text GET /clusters (starts with {found.first_line!r}), "
            "not JSON",
            hint="save GET /clusters?format=json (or GET /config_dump) instead",
        )
    if found.kind == "text" and (
        re.match(_TEXT_STATS, found.first_line) or found.first_line.startswith(("# TYPE", "# HELP"))
    ):
        return InvalidInput(
            f"{source}: this looks like Envoy's /stats (starts with "
            f"{found.first_line!r}), not a config dump",
            hint=f"read it with: pdebug stats {as_argument(source)}",
        )
    if found.kind == "array":
        given = _array_given(data, source)
        if given is not None:
            return given
    if found.kind != "object":
        return found.refuse(source, "an Envoy config dump", _SNIFF_HINTS)
    return None


#: The keys that tell one view's resources apart (either spelling), in the order they
#: are tried: ``istioctl proxy-config VIEW -o json|yaml`` (and ``pdebug VIEW -o json``)
#: print a list of these, or for secrets, bootstrap and ecds one section's object.
_VIEW_KEYS: tuple[tuple[str, frozenset[str]], ...] = (
    ("routes", frozenset({"virtual_hosts", "virtualHosts", "route_config", "routeConfig"})),
    (
        "endpoints",
        frozenset({"host_statuses", "hostStatuses", "added_via_api", "addedViaApi"}),
    ),
    (
        "eds",
        frozenset({"cluster_name", "clusterName", "endpoint_config", "endpointConfig"}),
    ),
    (
        "listeners",
        frozenset(
            {
                "filter_chains",
                "filterChains",
                "listener_filters",
                "listenerFilters",
                "default_filter_chain",
                "defaultFilterChain",
                "active_state",
                "activeState",
                "warming_state",
                "warmingState",
                "address",
            }
        ),
    ),
    (
        "clusters",
        frozenset(
            {
                "type",
                "cluster_type",
                "clusterType",
                "eds_cluster_config",
                "edsClusterConfig",
                "connect_timeout",
                "connectTimeout",
                "load_assignment",
                "loadAssignment",
                "lb_policy",
                "lbPolicy",
                "cluster",
            }
        ),
    ),
    (
        "secret",
        frozenset(
            {
                "tls_certificate",
                "tlsCertificate",
                "validation_context",
                "validationContext",
                "secret",
            }
        ),
    ),
)
#: One section's object, as ``istioctl proxy-config secret|bootstrap|ecds -o json`` print.
_VIEW_OBJECTS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "secret",
        frozenset(
            {
                "dynamic_active_secrets",
                "dynamicActiveSecrets",
                "dynamic_warming_secrets",
                "dynamicWarmingSecrets",
                "static_secrets",
                "staticSecrets",
            }
        ),
    ),
    ("bootstrap", frozenset({"bootstrap"})),
    ("ecds", frozenset({"ecds_filters", "ecdsFilters"})),
)
#: pdebug's name of each istioctl view.
_PDEBUG_VIEW = {"secret": "secrets", "eds": "eds"}


def one_view(doc: object) -> str | None:
    """The istioctl proxy-config view whose ``-o json|yaml`` output ``doc`` is, or None.

    ``doc`` is a decoded list of resources (clusters, listeners, routes, endpoints from
    ``/clusters``, eds, secrets) or, for ``secret``, ``bootstrap`` and ``ecds``, the one
    section's object those views print. Judged by the keys of the first few items.
    """
    if isinstance(doc, dict):
        keys = {k for k in doc if k not in ("@type", "last_updated", "lastUpdated")}
        for view, marks in _VIEW_OBJECTS:
            if keys and keys <= marks | {"version_info", "versionInfo"} and keys & marks:
                return view
        return None
    if not isinstance(doc, list) or not doc:
        return None
    items = doc[:5]
    if not all(isinstance(item, dict) for item in items):
        return None
    keys = set().union(*items)
    for view, marks in _VIEW_KEYS:
        if keys & marks:
            return view
    return None


def one_view_given(source: str, view: str, fmt: str) -> InvalidInput:
    """The error for one view's ``-o json|yaml`` output given where a dump belongs."""
    mine = _PDEBUG_VIEW.get(view, view)
    return InvalidInput(
        f"{source}: this is one view's output (istioctl proxy-config {view} -o {fmt}, or "
        f"pdebug {mine} -o {fmt}), not an Envoy config dump",
        hint="save a whole dump: istioctl proxy-config all POD -o json, pdebug all SOURCE "
        "-o json, or GET /config_dump",
    )


def _array_given(data: bytes | memoryview, source: str) -> InvalidInput | None:
    """The error for a JSON list given as a dump: one view's output, when it is one."""
    import orjson

    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None  # the plain "JSON array" refusal
    view = one_view(doc)
    if view is not None:
        return one_view_given(source, view, "json")
    from pdebug.model.refusals import istiod_debug_given, syncz_given

    syncz = syncz_given(source, doc) or istiod_debug_given(source, doc)
    if syncz is not None:
        return syncz
    if isinstance(doc, list) and doc and all(isinstance(item, dict) for item in doc[:5]):
        n = len(doc)
        return InvalidInput(
            f"{source}: this is a JSON array of {n} resource{'' if n == 1 else 's'} (one "
            "view's -o json?), not a whole Envoy config dump",
            hint="save a whole dump: istioctl proxy-config all POD -o json, pdebug all "
            "SOURCE -o json, or GET /config_dump",
        )
    return None


def grpc_bootstrap_given(source: str) -> InvalidInput:
    """The error for a gRPC xDS bootstrap (``GRPC_XDS_BOOTSTRAP``: ``xds_servers``, ``node``).

    A proxyless gRPC application (Istio's ``grpc-agent`` template, Traffic Director)
    reads it to find its xDS server; it has no Envoy admin to dump, and its listeners,
    routes and clusters are what istiod generates for it.
    """
    return InvalidInput(
        f"{source}: this is a gRPC xDS bootstrap (GRPC_XDS_BOOTSTRAP of a proxyless gRPC "
        "application: xds_servers, node), not an Envoy config dump",
        hint="a proxyless gRPC application has no Envoy admin; istiod holds what it sends "
        "it: save `kubectl exec -n istio-system deploy/istiod -- curl -s "
        "'localhost:15014/debug/config_dump?proxyID=POD.NS'` and read that",
    )


_ALIAS_HINT = "save the dump as JSON: GET /config_dump (a ztunnel: istioctl zc all -o json)"


def refuse_yaml_aliases(doc: Any, source: str, hint: str = _ALIAS_HINT) -> None:
    """Refuse a YAML document holding one object twice (aliases, ``*name``).

    No dump writer emits them, and a few lines of them expand into an exponential tree
    (a "billion laughs") once the document is turned back into JSON.
    """
    if _aliased(doc):
        raise _aliases_given(source, hint)


_JSON_SCALARS = (str, int, float, bool, type(None))


def refuse_what_json_lacks(doc: object, label: str) -> None:
    """Refuse a YAML dump holding what no JSON document can hold.

    A mapping key that is not a string (``1: x``, ``null: x``), ``!!binary`` bytes, a
    ``!!set``: no dump writer emits them, and turned into JSON they were an internal error
    (``Dict key must be str``).
    """
    stack: list[tuple[object, str]] = [(doc, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if not isinstance(key, str):
                    raise _not_json(label, f"a {_yaml_kind(key)} mapping key", path)
                stack.append((value, f"{path}.{key}" if path else key))
        elif isinstance(item, list):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(item))
        elif not isinstance(item, _JSON_SCALARS):
            raise _not_json(label, f"a {_yaml_kind(item)} value", path)


def _yaml_kind(value: object) -> str:
    kinds = {bytes: "!!binary", set: "!!set", int: "!!int", float: "!!float", bool: "!!bool"}
    kinds |= {type(None): "!!null", tuple: "!!seq", list: "!!seq", dict: "!!map"}
    return kinds.get(type(value), type(value).__name__)


def _not_json(label: str, what: str, path: str) -> InvalidInput:
    at = f" at {path[:200]}" if path else ""
    return InvalidInput(
        f"{label}: YAML with {what}{at}, which no JSON config dump has",
        hint="save the dump as JSON: GET /config_dump (or pdebug all SOURCE -o yaml)",
    )


def _aliased(doc: Any) -> bool:
    """Whether ``doc`` holds one object twice; each object is visited once (not the bomb)."""
    seen: set[int] = set()
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            if id(item) in seen:
                return True
            seen.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)
    return False


def _aliases_given(source: str, hint: str) -> InvalidInput:
    return InvalidInput(
        f"{source}: YAML with aliases (*name): one object used twice, "
        "which no istioctl, Envoy or ztunnel output has",
        hint=hint,
    )


# ------------------------------------------------------------------ one look, prepared


class Reader:
    """What a reader of JSON-or-YAML documents asks of :func:`prepare` (its constant).

    Attributes:
        expected: What it reads, for the refusal (``a ztunnel config dump``).
        hints: Its hint per :attr:`Sniffed.kind` of input it refuses.
        envoy_words: Refuse in :func:`sniff`'s wording (Envoy's text documents named;
            the ztunnel reader), else :meth:`Sniffed.refuse`'s alone (the syncz reader).
        strip: Decode the JSON without a byte-order mark and a ``200`` status line (the
            YAML is always read without them).
        several: The YAML holds several documents back to back (``istioctl proxy-status
            -o yaml``: a top-level key seen again starts the next; ``---`` too), read with
            YAML's timestamps; else one document, timestamps kept as their text.
        alias_hint: The hint of the refusal of YAML aliases.
    """

    __slots__ = ("alias_hint", "envoy_words", "expected", "hints", "several", "strip")

    def __init__(
        self,
        expected: str,
        hints: Mapping[str, str],
        *,
        envoy_words: bool,
        strip: bool,
        several: bool,
        alias_hint: str = _ALIAS_HINT,
    ) -> None:
        self.expected = expected
        self.hints = hints
        self.envoy_words = envoy_words
        self.strip = strip
        self.several = several
        self.alias_hint = alias_hint


class Prepared:
    """The one look at a document's bytes, prepared for its reader (:func:`prepare`).

    Attributes:
        source: Where the bytes came from (the messages' first word).
        data: The bytes to decode as JSON (see :attr:`Reader.strip`).
        found: What the head of :attr:`data` is.
        refusal: The error saying what :attr:`data` is when it is no JSON document the
            reader reads, to raise unless it takes :attr:`docs`; else None.
        docs: The YAML documents when the bytes look like YAML (:func:`looks_like_yaml`)
            and load, else None. Decided once: a reader that takes them reads no JSON.
        aliases: The error for :attr:`docs` holding one object twice, to raise if the
            reader takes them; else None.
    """

    __slots__ = ("aliases", "data", "docs", "found", "refusal", "source")

    def __init__(
        self,
        source: str,
        data: bytes | memoryview,
        found: Sniffed,
        refusal: InvalidInput | None,
        docs: list[Any] | None,
        aliases: InvalidInput | None,
    ) -> None:
        self.source = source
        self.data = data
        self.found = found
        self.refusal = refusal
        self.docs = docs
        self.aliases = aliases


def prepare(data: bytes | memoryview, source: str, reader: Reader) -> Prepared:
    """The one look at ``data`` for ``reader``: the sniffer's whole answer, in one record.

    The byte-order mark (and a ``200`` line) dropped, the head sniffed and its refusal
    worded, the YAML-or-JSON decision taken (and the YAML read, its aliases found). The
    reader (``model/syncz.read_syncz``, ``model/ztunnel.read``) then only decides.
    """
    body = without_bom(data)
    if reader.strip:
        data = body
    found = sniff_bytes(data)
    refusal: InvalidInput | None = None
    if reader.envoy_words:
        refusal = _refusal(data, found, source, (reader.expected, reader.hints))
    elif found.kind not in ("object", "array"):
        refusal = found.refuse(source, reader.expected, reader.hints)
    docs = _yaml_docs(body, reader.several)
    aliases = None
    if docs is not None and any(_aliased(doc) for doc in docs):
        aliases = _aliases_given(source, reader.alias_hint)
    return Prepared(source, data, found, refusal, docs, aliases)


#: A top-level YAML mapping key at the start of a line (``controlPlane:``, ``'@type':``).
#: (Compiled on first use, by re's cache: only YAML reaches it.)
_YAML_KEY = r"(?m)^(?:'[^'\n]*'|\"[^\"\n]*\"|[A-Za-z_][\w.-]*):(?: |$)"


def _yaml_docs(body: bytes | memoryview, several: bool) -> list[Any] | None:
    """The YAML documents ``body`` holds (see :attr:`Reader.several`), or None."""
    if not looks_like_yaml(body):
        return None
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        return None
    import yaml as pyyaml  # not `load`: the name of the model's dump reader

    if not several:
        try:
            return [pyyaml.load(text, Loader=no_timestamps())]  # noqa: S506 - safe loader
        except (pyyaml.YAMLError, RecursionError):
            return None
    loader = getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)
    chunks: list[str] = []
    for part in re.split(r"^---[ \t]*$", text, flags=re.M):
        seen: set[str] = set()
        start = 0
        for match in re.finditer(_YAML_KEY, part):
            if match.group(0) in seen:
                chunks.append(part[start : match.start()])
                start, seen = match.start(), set()
            seen.add(match.group(0))
        chunks.append(part[start:])
    try:
        return [pyyaml.load(c, Loader=loader) for c in chunks if c.strip()]  # noqa: S506 - safe
    except pyyaml.YAMLError:
        return None


def no_timestamps() -> Any:
    """The safe loader that reads a timestamp a converter left unquoted as its text."""
    import yaml as pyyaml

    class _Loader(getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)):  # type: ignore[misc]
        pass

    _Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
        for k, v in pyyaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return _Loader


#: The head of one section (or one ``?resource=`` entry) pasted without the ``configs``
#: wrapper, or a list of them: ``{"@type": "type.googleapis.com/envoy.admin.v3.
#: ClustersConfigDump", ...}`` as ``GET /config_dump?mask=`` answers are cut from, or a copy
#: of one section. Envoy, jq -S and JSON tools that keep order write ``@type`` first.
_BARE_SECTION = re.compile(
    rb'\s*(\[)?\s*\{\s*"@type"\s*:\s*"type\.googleapis\.com/envoy\.admin\.v\w+\.'
    rb'(\w+ConfigDump)(?:\.\w+)?"'
)


def bare_sections(data: bytes | memoryview) -> tuple[bytes, str] | None:
    """``data`` wrapped as ``{"configs": [...]}``, when it is bare sections.

    That is one section (or ``?resource=`` entry) of a config dump, or a list of them,
    without the wrapper; the first section's message name comes with it.

    A section's ``@type`` tells a cut section from one view's output (pdebug's and
    istioctl's views print none at the top). Only the head is looked at.
    """
    found = _BARE_SECTION.match(bytes(data[:512]))
    if found is None:
        return None
    body = bytes(data)
    if found.group(1):
        return b'{"configs":' + body + b"}", found.group(2).decode()
    return b'{"configs":[' + body + b"]}", found.group(2).decode()


#: kubectl's last line when the command it ran in the pod did not exit 0.
_TERMINATED = re.compile(rb"command terminated with exit code (\d+)\s*\Z")


def killed_capture(data: bytes | memoryview, source: str) -> InvalidInput | None:
    """The error for a capture kubectl says failed, or None.

    Its end is kubectl's ``command terminated with exit code N`` (after the JSON, or
    where the JSON's end should be).

    The output before that line is whatever the command wrote before it stopped: exit
    code 137 is SIGKILL (most often the container's memory limit: the OOM killer).
    """
    found = _TERMINATED.search(bytes(data[-160:]))
    if found is None:
        return None
    code = int(found.group(1))
    if code == 137:
        what = "the capture was killed (OOM: 'command terminated with exit code 137', SIGKILL)"
    else:
        what = f"the capture failed ('command terminated with exit code {code}')"
    return InvalidInput(
        f"{source}: {what}; the dump before it is truncated",
        hint="capture without kubectl exec's pipe: pdebug dump pod/NAME -n NS, or write it "
        "in the pod (curl -s localhost:15000/config_dump -o /tmp/dump.json) and copy it "
        "out with kubectl cp",
    )
