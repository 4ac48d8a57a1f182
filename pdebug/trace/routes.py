"""Envoy's HTTP routing for one request.

The virtual host for its Host, the first route whose path, headers, query and gRPC
matchers hold, and where a redirect sends it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import msgspec

from pdebug.errors import InvalidInput
from pdebug.model import schema as s
from pdebug.model.dump import plain_json
from pdebug.trace.matchers import (
    REGEX_BUDGET,
    ascii_lower,
    fullmatch_bounded,
    is_set,
    sub_bounded,
)
from pdebug.trace.request import DEFAULT_PORTS, HttpRequest, Request, split_host_port
from pdebug.trace.unsure import has_value_matcher, unsure_header
from pdebug.trace.uritemplate import template_regex, uri_template

if TYPE_CHECKING:
    from pdebug.trace.re2 import Re2, Re2Match

REDIRECT_CODES = {
    "MOVED_PERMANENTLY": 301,
    "FOUND": 302,
    "SEE_OTHER": 303,
    "TEMPORARY_REDIRECT": 307,
    "PERMANENT_REDIRECT": 308,
}


def select_virtual_host(vhosts: list[s.VirtualHost], host: str) -> tuple[int, str, str] | None:
    """Envoy's virtual host for a Host: (index, domain, how) or None.

    Exact domain, then the longest suffix wildcard (``*.foo.com``), then the longest
    prefix wildcard (``foo.*``), then ``*``. Wildcards never match an empty string.
    """
    host = host.lower()
    suffix: tuple[int, int, str] | None = None
    prefix: tuple[int, int, str] | None = None
    star: tuple[int, str] | None = None
    for i, vh in enumerate(vhosts):
        for domain in vh.domains:
            d = domain.lower()
            if d == host:
                return i, domain, f"exact domain {domain}"
            if d == "*":
                star = star or (i, domain)
            elif d.startswith("*"):
                tail = d[1:]
                if len(host) > len(tail) and host.endswith(tail):
                    if suffix is None or len(tail) > suffix[0]:
                        suffix = (len(tail), i, domain)
            elif d.endswith("*"):
                head = d[:-1]
                if len(host) > len(head) and host.startswith(head):
                    if prefix is None or len(head) > prefix[0]:
                        prefix = (len(head), i, domain)
    if suffix is not None:
        return suffix[1], suffix[2], f"suffix wildcard {suffix[2]} (longest matching wildcard)"
    if prefix is not None:
        return prefix[1], prefix[2], f"prefix wildcard {prefix[2]} (no exact or suffix match)"
    if star is not None:
        return star[0], star[1], "* (no exact or wildcard domain matches)"
    return None


_REGEX_CACHE: dict[str, Re2 | None] = {}


def _regex(pattern: str) -> Re2 | None:
    """A config's RE2 pattern, compiled to match as RE2 does (None: pdebug cannot)."""
    if pattern not in _REGEX_CACHE:
        from pdebug.trace.re2 import compile_re2

        _REGEX_CACHE[pattern] = compile_re2(pattern)
    return _REGEX_CACHE[pattern]


def _template_rx(pattern: str) -> re.Pattern[str] | None:
    """A URI template's regex (:func:`template_regex`, Python's syntax)."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _unread(pattern: str) -> str:
    return f"regex {pattern!r}: pdebug cannot read it as RE2 does (taken as not matching)"


def _gave_up(pattern: str) -> str:
    return (
        f"regex {pattern!r}: pdebug gave up after {REGEX_BUDGET}s (Python's re backtracks "
        "on it; Envoy's RE2 does not)"
    )


def _string_match(m: s.StringMatcher, value: str) -> tuple[bool, str]:
    fold = m.ignore_case
    v = ascii_lower(value) if fold else value
    ic = " (ignore_case)" if fold else ""
    if m.exact is not None:
        return v == (ascii_lower(m.exact) if fold else m.exact), f"exact {m.exact!r}{ic}"
    if m.prefix is not None:
        return v.startswith(ascii_lower(m.prefix) if fold else m.prefix), f"prefix {m.prefix!r}{ic}"
    if m.suffix is not None:
        return v.endswith(ascii_lower(m.suffix) if fold else m.suffix), f"suffix {m.suffix!r}{ic}"
    if m.contains is not None:
        part = ascii_lower(m.contains) if fold else m.contains
        return part in v, f"contains {m.contains!r}{ic}"
    if m.safe_regex is not None:
        rx = _regex(m.safe_regex.regex)
        if rx is None:
            return False, _unread(m.safe_regex.regex)
        ok = fullmatch_bounded(rx, value)
        if ok is None:
            return False, _gave_up(m.safe_regex.regex) + " (taken as not matching)"
        return ok, f"regex {m.safe_regex.regex!r}"
    return False, "an empty string matcher"


def _header_value_match(hm: s.HeaderMatcher, value: str) -> tuple[bool, str]:
    if hm.exact_match is not None:
        return value == hm.exact_match, f"exact {hm.exact_match!r}"
    if hm.prefix_match is not None:
        return value.startswith(hm.prefix_match), f"prefix {hm.prefix_match!r}"
    if hm.suffix_match is not None:
        return value.endswith(hm.suffix_match), f"suffix {hm.suffix_match!r}"
    if hm.contains_match is not None:
        return hm.contains_match in value, f"contains {hm.contains_match!r}"
    if hm.safe_regex_match is not None or hm.regex_match is not None:
        pattern = hm.regex_match if hm.safe_regex_match is None else hm.safe_regex_match.regex
        pattern = pattern or ""
        rx = _regex(pattern)
        if rx is None:
            return False, _unread(pattern)
        found = fullmatch_bounded(rx, value)
        if found is None:
            return False, _gave_up(pattern) + " (taken as not matching)"
        return found, f"regex {pattern!r}"
    if hm.string_match is not None:
        return _string_match(hm.string_match, value)
    if hm.range_match is not None:
        r = hm.range_match
        try:
            number = int(value)
        except ValueError:
            return False, f"range [{r.start},{r.end})"
        return r.start <= number < r.end, f"range [{r.start},{r.end})"
    return True, "present"


def match_header(hm: s.HeaderMatcher, req: HttpRequest) -> tuple[bool, str]:
    """One header matcher: (matched, why)."""
    name = hm.name.lower()
    values = req.values(name)
    present = values is not None
    if values is None and hm.treat_missing_header_as_empty:
        values = [""]
    inv = " inverted" if hm.invert_match else ""
    if hm.present_match is not None or not has_value_matcher(hm):
        want = hm.present_match if hm.present_match is not None else True
        result = present == want
        desc = f"present_match {str(want).lower()}{inv}"
        state = "present" if present else "absent"
    else:
        _, desc = _header_value_match(hm, "")
        desc += inv
        if values is None:
            return False, f"header {name} absent (wants {desc}; an absent header never matches)"
        result = any(_header_value_match(hm, v)[0] for v in values)
        state = ",".join(repr(v) for v in values)
    if hm.invert_match:
        result = not result
    verb = "matches" if result else "does not match"
    return result, f"header {name} {state} {verb} {desc}"


def match_query(qm: s.QueryParameterMatcher, params: dict[str, str]) -> tuple[bool, str]:
    """One query parameter matcher: (matched, why)."""
    value = params.get(qm.name)
    if qm.string_match is not None and qm.present_match is None:
        ok, desc = _string_match(qm.string_match, value or "")
        if value is None:
            return False, f"query {qm.name} absent (wants {desc})"
        verb = "matches" if ok else "does not match"
        return ok, f"query {qm.name}={value!r} {verb} {desc}"
    want = qm.present_match is not False
    ok = (value is not None) == want
    state = "present" if value is not None else "absent"
    return ok, f"query {qm.name} {state} ({'must be present' if want else 'must be absent'})"


def _path_match(m: s.RouteMatch, req: HttpRequest) -> tuple[bool | None, str]:
    """The path specifier: (matched, why); None when pdebug cannot evaluate it."""
    path = req.path_only
    sensitive = m.case_sensitive is not False
    folded = path if sensitive else path.lower()
    ci = "" if sensitive else " (case-insensitive)"

    def fold(text: str) -> str:
        return text if sensitive else text.lower()

    if m.prefix is not None:
        ok = folded.startswith(fold(m.prefix))
        verb = "starts with" if ok else "does not start with"
        return ok, f"path {path} {verb} prefix {m.prefix}{ci}"
    if m.path is not None:
        ok = folded == fold(m.path)
        return ok, f"path {path} {'is' if ok else 'is not'} {m.path}{ci}"
    if m.safe_regex is not None:
        rx = _regex(m.safe_regex.regex)
        if rx is None:
            return None, f"regex {m.safe_regex.regex!r}: pdebug cannot read it as RE2 does"
        found = fullmatch_bounded(rx, path)
        if found is None:
            return None, _gave_up(m.safe_regex.regex)
        return (
            found,
            f"path {path} {'matches' if found else 'does not match'} regex {m.safe_regex.regex}",
        )
    if m.regex is not None:  # v2
        rx = _regex(m.regex)
        if rx is None:
            return None, f"regex {m.regex!r}: pdebug cannot read it as RE2 does"
        found = fullmatch_bounded(rx, path)
        if found is None:
            return None, _gave_up(m.regex)
        return found, f"path {path} {'matches' if found else 'does not match'} regex {m.regex}"
    if m.path_separated_prefix is not None:
        p = fold(m.path_separated_prefix)
        ok = folded == p or folded.startswith(p + "/")
        verb = "is under" if ok else "is not under"
        return ok, f"path {path} {verb} path_separated_prefix {m.path_separated_prefix}{ci}"
    if is_set(m.connect_matcher):
        ok = req.method == "CONNECT"
        return ok, f"connect_matcher: method {req.method}"
    if is_set(m.path_match_policy):
        template = uri_template(m.path_match_policy)
        # a template Envoy rejects never matches a path
        trx = _template_rx(template_regex(template) or "(?!)") if template is not None else None
        if template is None or trx is None:
            return None, "path_match_policy: pdebug does not evaluate it"
        ok = trx.fullmatch(path) is not None
        verb = "matches" if ok else "does not match"
        return ok, f"path {path} {verb} URI template {template}"
    return None, "no path specifier"


def match_route(
    route: s.Route, req: HttpRequest, unsure: tuple[tuple[str, str], ...] = ()
) -> tuple[bool | None, str, list[str]]:
    """Whether ``route`` matches: (matched, why, caveats).

    ``unsure``: the headers whose value only Envoy knows (name -> why, as
    :func:`pdebug.trace.filters.seen_by_filters` gives them); a header matcher that
    depends on one makes the answer None (unknown) unless another part fails for sure.
    """
    m = route.match
    if m is None:
        return False, "no match block", []
    ok, why = _path_match(m, req)
    if ok is None:
        return False, why + " (taken as not matching)", [f"route {route.name or '?'}: {why}"]
    if not ok:
        return False, why, []
    texts = [why]
    depends: list[str] = []
    for hm in m.headers:
        if unsure:
            uwhy = unsure_header(hm, unsure)
            if uwhy is not None:
                depends.append(f"header {hm.name.lower()}: depends on {uwhy}")
                continue
        hok, hwhy = match_header(hm, req)
        if not hok:
            return False, hwhy, []
        texts.append(hwhy)
    params = req.query_params() if m.query_parameters else {}
    for qm in m.query_parameters:
        qok, qwhy = match_query(qm, params)
        if not qok:
            return False, qwhy, []
        texts.append(qwhy)
    if is_set(m.grpc):
        ctype = (req.values("content-type") or [""])[0]
        # Envoy's gRPC test: exactly application/grpc or application/grpc+SUFFIX
        # (application/grpc-web, application/grpc;charset=... are not gRPC)
        if ctype != "application/grpc" and not ctype.startswith("application/grpc+"):
            return False, f"grpc: content-type {ctype or 'absent'} is not application/grpc", []
        texts.append("grpc content-type")
    caveats = []
    if m.tls_context is not None:
        tok, twhy = _tls_context_match(m.tls_context, req)
        if tok is False:
            return False, twhy, []
        if tok is None:
            caveats.append(f"route {route.name or '?'}: {twhy} (taken as matching)")
        else:
            texts.append(twhy)
    if is_set(m.runtime_fraction):
        share, rwhy = _runtime_share(m.runtime_fraction)
        label = f"route {route.name or '?'}"
        if share is None:
            caveats.append(f"{label}: runtime_fraction not evaluated (taken as matching)")
        elif share <= 0:
            return False, rwhy + " (taken as not matching)", [f"{label}: {rwhy}"]
        elif share < 1:
            caveats.append(f"{label}: {rwhy} (taken as matching)")
            texts.append(rwhy)
        else:
            texts.append(rwhy)
    if m.dynamic_metadata:
        caveats.append(
            f"route {route.name or '?'}: dynamic_metadata not evaluated (taken as matching)"
        )
    if depends:
        return None, "; ".join([*texts, *depends]), caveats
    return True, "; ".join(texts), caveats


_DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}


def _runtime_share(raw: msgspec.Raw) -> tuple[float | None, str]:
    """The share of requests a ``runtime_fraction`` lets match, by its default value.

    Envoy takes the runtime key's value when a runtime layer sets it, else
    ``default_value`` (numerator 0 when absent): 0% never matches, 100% always.
    """
    from pdebug.trace.scoped import get

    try:
        spec = plain_json(raw, "runtime_fraction")
    except InvalidInput:
        return None, ""
    default = get(spec, "default_value", {})
    numerator = get(default, "numerator", 0)
    denominator = get(default, "denominator", "HUNDRED")
    if isinstance(denominator, int) and 0 <= denominator < len(_DENOMINATORS):
        denominator = list(_DENOMINATORS)[denominator]
    bad = bad_numerator(numerator)
    if bad is not None:
        return 0.0, bad
    if not isinstance(numerator, int) or denominator not in _DENOMINATORS:
        return None, ""
    share = numerator / _DENOMINATORS[denominator]
    key = get(spec, "runtime_key", "")
    pct = f"{min(share, 1) * 100:g}%"
    why = f"runtime_fraction {pct} by default"
    if key and share < 1:
        why += f" (unless runtime key {key} is set)"
    return share, why


def bad_numerator(numerator: object) -> str | None:
    """Why Envoy rejects a ``runtime_fraction`` whose numerator is ``numerator``, else None.

    The field is a uint32: Envoy refuses a config with a negative one (or one of 2**32 or
    more), so only a hand-edited dump holds one.
    """
    if isinstance(numerator, bool) or not isinstance(numerator, int):
        return None
    if 0 <= numerator < 1 << 32:
        return None
    return (
        f"runtime_fraction numerator {numerator} is not a uint32: Envoy rejects such a config"
        " (a hand-edited dump?)"
    )


def _tls_context_match(tc: s.TlsContextMatch, req: HttpRequest) -> tuple[bool | None, str]:
    """``match.tls_context``: a plaintext request presents no client certificate.

    None: an https client's certificate is not known.
    """
    wanted = [
        (k, v)
        for k, v in (("presented", tc.presented), ("validated", tc.validated))
        if v is not None
    ]
    if not wanted:
        return True, "tls_context: no condition"
    if req.scheme == "https":
        return None, "tls_context (client certificate) not evaluated"
    for key, value in wanted:
        if value:
            return False, f"tls_context {key}: a plaintext request has no client certificate"
    return True, "tls_context: no client certificate, as required"


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 (what ``normalize_path`` does to the path)."""
    out: list[str] = []
    for seg in path.split("/")[1:]:
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    result = "/" + "/".join(out)
    if path.endswith(("/.", "/..")) and not result.endswith("/"):
        result += "/"
    return result


def redirect_location(
    req: Request, http: HttpRequest, rd: s.RedirectAction, matched_prefix: str | None
) -> tuple[str, list[str]]:
    """The Location of a redirect: (URL, caveats)."""
    caveats: list[str] = []
    scheme = "https" if req.scheme == "https" else "http"
    new_scheme = "https" if rd.https_redirect else (rd.scheme_redirect or scheme).lower()
    host, port = split_host_port(http.authority)
    if rd.host_redirect:
        host, port = split_host_port(rd.host_redirect)
    elif new_scheme != scheme and port == DEFAULT_PORTS.get(scheme):
        port = None
    if rd.port_redirect:
        port = rd.port_redirect
    path_only, query = http.path_only, http.query
    if rd.path_redirect:
        path_only = rd.path_redirect
        if "?" in path_only:
            path_only, query = path_only.split("?", 1)
    elif rd.prefix_rewrite is not None and matched_prefix is not None:
        path_only = rd.prefix_rewrite + path_only[len(matched_prefix) :]
    elif is_set(rd.regex_rewrite):
        rewritten = _regex_rewrite(rd.regex_rewrite, path_only)
        if rewritten is None:
            caveats.append("redirect regex_rewrite not applied to the Location shown")
        else:
            path_only = rewritten
    if rd.strip_query:
        query = ""
    if not path_only.startswith("/"):
        path_only = "/" + path_only  # as Envoy 1.40 writes a rewritten path (checked)
    hostport = f"{host}:{port}" if port is not None else host
    return f"{new_scheme}://{hostport}{path_only}" + (f"?{query}" if query else ""), caveats


def _regex_rewrite(raw: msgspec.Raw, path: str) -> str | None:
    r"""``path`` with every match of the rewrite's pattern substituted; None if unreadable.

    As Envoy's RE2 ``GlobalReplace``: ``\N`` in the substitution is group N, ``\0`` the
    whole match.
    """
    try:
        spec = plain_json(raw, "regex_rewrite")
    except InvalidInput:
        return None
    pattern = spec.get("pattern") if isinstance(spec, dict) else None
    regex = pattern.get("regex") if isinstance(pattern, dict) else None
    substitution = spec.get("substitution", "") if isinstance(spec, dict) else None
    rx = _regex(regex) if isinstance(regex, str) else None
    if rx is None or not isinstance(substitution, str):
        return None

    def expand(m: Re2Match) -> str:
        out: list[str] = []
        i = 0
        while i < len(substitution):
            c = substitution[i]
            nxt = substitution[i + 1 : i + 2]
            if c == "\\" and nxt.isdigit():
                group = int(nxt)
                out.append((m.group(group) or "") if group <= rx.groups else "")
                i += 2
            elif c == "\\" and nxt == "\\":
                out.append("\\")
                i += 2
            else:
                out.append(c)
                i += 1
        return "".join(out)

    return sub_bounded(rx, expand, path)  # None past the budget: not applied, said so


def redirect_status(rd: s.RedirectAction) -> int:
    """The redirect's HTTP status (301 unless ``response_code`` says otherwise)."""
    code = rd.response_code
    if isinstance(code, int):
        return {0: 301, 1: 302, 2: 303, 3: 307, 4: 308}.get(code, 301)
    return REDIRECT_CODES.get(code or "MOVED_PERMANENTLY", 301)
