"""Facts: the certificates Envoy holds, decoded (never any key material).

Which secrets a dump has (warming, active, static; one item per certificate or SPIFFE
trust domain) and what their first certificate says. ``views/secrets.py`` prints them
(istioctl's table), check PD5xx judges them, ``views/rootca.py`` compares roots.

One module over 500 lines because every place a dump holds a certificate (SDS secrets,
SPIFFE bundles, the inline TLS contexts of sockets and of v2 ``tls_context`` fields) is
found and decoded by the same few readers, which views, checks and certproviders share.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import msgspec

from pdebug.errors import InvalidInput, MissingSection
from pdebug.model import ProxyData, der
from pdebug.model import schema as s
from pdebug.model.dump import ConfigDump, Section, decode_raw, section_texts
from pdebug.model.sections import none_when_absent

SPIFFE_VALIDATOR = "SPIFFECertValidatorConfig"
_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


class CertInfo(msgspec.Struct):
    """What the first certificate of a PEM bundle says (empty when unparsable)."""

    type: str = ""
    serial: str = ""
    not_after: datetime | None = None
    not_before: datetime | None = None
    trust_domain: str = ""
    chain_length: int = 0
    #: The certificates after the first (a chain's intermediates), each decoded alike.
    rest: tuple[CertInfo, ...] = ()

    def valid(self, now: datetime) -> bool:
        """NotBefore < now < NotAfter."""
        if self.not_after is None or self.not_before is None:
            return False
        return self.not_before < now < self.not_after


def parse_pem(pem: bytes) -> CertInfo:
    """Decode the first certificate of ``pem``: type, serial, validity, SPIFFE trust domain."""
    # istioctl decodes the first PEM block only: a bad later block (a truncated or
    # unparsable root at the end of a bundle) must not blank the row. Later blocks only
    # count towards the chain length, as far as they parse.
    certs: list[der.Fields] = []
    for block in _PEM_BLOCK.finditer(pem):
        try:
            certs.append(_pem_fields(block.group(0)))
        except ValueError:
            if not certs:
                return CertInfo()
            break
    return _info(certs)


def parse_der(ders: list[bytes]) -> CertInfo:
    """Like :func:`parse_pem` for DER certificates (a SPIFFE bundle's ``x5c``)."""
    try:
        certs = [_der_fields(d) for d in ders]
    except ValueError:
        return CertInfo()
    return _info(certs)


def _pem_fields(block: bytes) -> der.Fields:
    """What pdebug reads of one PEM block: :mod:`pdebug.model.der`, else cryptography's.

    Raises:
        ValueError: cryptography cannot read the certificate.
    """
    fields = der.from_pem_block(block)
    if fields is not None:
        return fields
    from cryptography import x509  # lazy: only a certificate der does not know pays for it

    return _fields(x509.load_pem_x509_certificate(block))


def _der_fields(data: bytes) -> der.Fields:
    """Like :func:`_pem_fields` for one DER certificate."""
    fields = der.from_der(data)
    if fields is not None:
        return fields
    from cryptography import x509

    return _fields(x509.load_der_x509_certificate(data))


def _fields(cert: Any) -> der.Fields:
    """The fields of a certificate ``cryptography`` read, once its extensions parse.

    cryptography reads the extensions lazily; a malformed one raises ValueError here, as
    Go's x509 (istioctl) rejects the whole certificate for it.
    """
    from cryptography import x509

    exts = cert.extensions
    try:
        ca = bool(exts.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        ca = False
    uris: tuple[str, ...] = ()
    try:
        san = exts.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = tuple(san.get_values_for_type(x509.UniformResourceIdentifier))
    except x509.ExtensionNotFound:
        pass
    return der.Fields(
        cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc, ca, uris
    )


def _info(certs: list[der.Fields]) -> CertInfo:
    if not certs:
        return CertInfo()
    info = _one(certs[0])
    info.chain_length = len(certs)
    info.rest = tuple(_one(c) for c in certs[1:])
    return info


def _one(cert: der.Fields) -> CertInfo:
    info = CertInfo(chain_length=1)
    info.type = "CA" if cert.ca else "Cert Chain"
    info.serial = format(cert.serial, "x").rjust(32, "0")
    info.not_after = cert.not_after
    info.not_before = cert.not_before
    domains = [host for u in cert.uris if (host := spiffe_host(u)) is not None]
    if domains:
        info.trust_domain = domains[-1]
    return info


_PORT = re.compile(r":[0-9]*")
_USERINFO = re.compile(r"[A-Za-z0-9\-._:~!$&'()*+,;=%]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})|%[0-7][0-9A-Fa-f](?<!%25)")


def spiffe_host(uri: str) -> str | None:
    """The trust domain of a ``spiffe://`` URI as Go's ``url.URL.Host`` reads it (istioctl).

    The authority ends at the first ``/``, ``?`` or ``#``; userinfo (up to the last ``@``)
    is not part of it, a port is (``td:8443``). None when the URI is not a SPIFFE ID or
    Go's x509 would not accept it (control characters, a port that is not digits, an
    empty or non-printable label, a bad ``%`` escape): such a URI names no trust domain.
    """
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() != "spiffe" or not rest.startswith("//"):
        return None
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in uri):
        return None
    authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
    userinfo, _, host = authority.rpartition("@")
    if not _USERINFO.fullmatch(userinfo):
        return None
    if host.startswith("["):  # an IPv6 literal: kept whole, as Go does
        end = host.find("]")
        if end < 0 or not (host[end + 1 :] == "" or _PORT.fullmatch(host[end + 1 :])):
            return None
        return host
    if ":" in host and not _PORT.fullmatch(host[host.rfind(":") :]):
        return None
    if _BAD_ESCAPE.search(host):
        return None
    if "%" in host:
        from urllib.parse import unquote

        host = unquote(host)
    if host and any(not label for label in host.split(".")):
        return None  # Go's x509: an empty label (a leading, trailing or double dot)
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in host):
        return None  # Go's x509: a label character outside printable ASCII
    return host


def bundle_map(data: bytes) -> list[tuple[str, CertInfo]]:
    """``(trust domain, its first X.509 authority)`` of a SPIFFE bundle map, by name.

    The map is JSON: ``{"trust_domains": {NAME: {"keys": [{"use": "x509-svid", "x5c":
    [base64 DER]}]}}}`` (Envoy's ``trust_bundles``). Unreadable parts give empty rows.
    """
    try:
        doc = json.loads(data)
    except ValueError:
        return []
    domains = doc.get("trust_domains") if isinstance(doc, dict) else None
    if not isinstance(domains, dict):
        return []
    out = []
    for name in sorted(domains):
        bundle = domains[name]
        keys = bundle.get("keys") if isinstance(bundle, dict) else None
        ders: list[bytes] = []
        for key in keys if isinstance(keys, list) else []:
            if not isinstance(key, dict) or key.get("use") != "x509-svid":
                continue
            for x5c in key.get("x5c") or []:
                try:
                    ders.append(base64.b64decode(str(x5c), validate=True))
                except ValueError:
                    continue
        out.append((str(name), parse_der(ders)))
    return out


class InlineCert(msgspec.Struct):
    """A certificate a listener's or cluster's TLS context holds itself (no SDS)."""

    resource: str  # listener/NAME or cluster/NAME
    ca: bool  # from the validation context's trusted_ca
    cert: CertInfo


#: The name :func:`tls_socket` gives a v2 ``tls_context`` (a TLS context, no ``@type``).
V2_TLS = "tls_context"


def tls_socket(socket: s.TypedExtension | None, v2: msgspec.Raw) -> s.TypedExtension | None:
    """A chain's or cluster's TLS socket: ``transport_socket``, else its v2 ``tls_context``.

    Envoy <= 1.16 (Contour 0.x, Consul 1.x) serves a ``tls_context`` as the same socket.
    """
    if socket is not None or bytes(v2) in (b"", b"null"):
        return socket
    return s.TypedExtension(name=V2_TLS, typed_config=v2)


def tls_contexts(
    places: list[tuple[str, s.TypedExtension | None]],
    mark: bytes,
    warn: Callable[[str], None],
    lost: str,
) -> Iterator[tuple[str, s.CommonTlsContext]]:
    """(resource, common TLS context) of each socket holding ``mark``; warns "its ``lost``"."""
    for resource, ts in places:
        if ts is None:
            continue
        raw = bytes(ts.typed_config)
        if mark not in raw or (b"TlsContext" not in raw[:300] and ts.name != V2_TLS):
            continue
        try:
            tls = decode_raw(ts.typed_config, s.TlsContext, what=f"{resource} transport socket")
        except InvalidInput as exc:
            warn(f"{exc.message}; its {lost}")
            continue
        if tls.common_tls_context is not None:
            yield resource, tls.common_tls_context


def inline_certs(
    places: list[tuple[str, s.TypedExtension | None]], warn: Callable[[str], None]
) -> list[InlineCert]:
    """The inline certificates of the TLS transport sockets of ``places`` (resource, socket).

    A socket without ``inline`` in its config (SDS, files) is not decoded; one that does
    not decode is left out with a warning.
    """
    out: list[InlineCert] = []
    for resource, common in tls_contexts(places, b"inline", warn, "inline certificates not judged"):
        for tc in common.tls_certificates:
            data = _data(tc.certificate_chain)
            if data:
                out.append(InlineCert(resource, False, parse_pem(data)))
        vc = common.validation_context
        if vc is not None and vc.trusted_ca is not None:
            data = _data(vc.trusted_ca)
            if data:
                out.append(InlineCert(resource, True, parse_pem(data)))
    return out


def held_inline(found: list[InlineCert]) -> list[tuple[InlineCert, list[str]]]:
    """Each distinct inline certificate once, with every resource that holds it.

    Distinct by (CA or not, serial, end), in the order first met (Consul puts the same
    leaf and CA in each listener and cluster). Certificates that do not parse are left out.
    """
    held: dict[tuple[bool, str, datetime], tuple[InlineCert, list[str]]] = {}
    for ic in found:
        if ic.cert.not_after is None:
            continue
        key = (ic.ca, ic.cert.serial, ic.cert.not_after)
        _, where = held.setdefault(key, (ic, []))
        if ic.resource not in where:
            where.append(ic.resource)
    return list(held.values())


#: What an inline certificate in a TLS context looks like in a section's bytes.
_INLINE_MARKS = (b"certificate_chain", b"certificateChain", b"trusted_ca", b"trustedCa")


#: How much of a section :func:`_may_hold_inline` copies at a time (a memory-mapped
#: section is searched a piece at a time, never copied whole).
_PIECE = 8 << 20
#: How far before an ``inline_*`` key its data source's name may be (indentation).
_BEFORE = 256


def tls_places(
    dump: ConfigDump, listeners: bool, clusters: bool, mark: bytes
) -> list[tuple[str, s.TypedExtension | None]]:
    """(listener/NAME, cluster/NAME [match M], its socket) of each chain, cluster, match."""
    from pdebug.model.clusters import by_name, match_sockets
    from pdebug.model.dump import lacks
    from pdebug.model.listeners import ListenerFacts, chains

    places: list[tuple[str, s.TypedExtension | None]] = []
    if listeners:
        for lc in ListenerFacts(dump).configs:
            where = f"listener/{lc.name}"
            for c in chains(lc.listener):
                places.append((where, tls_socket(c.transport_socket, c.tls_context)))
    if clusters:
        found = by_name(dump)
        searched = lacks(dump, "clusters", mark)  # no match holds it: none decoded (#17)
        for name, cc in found.items():
            cl = cc.cluster
            places.append((f"cluster/{name}", tls_socket(cl.transport_socket, cl.tls_context)))
            if not searched:
                places.extend(match_sockets(name, cl, _warner(dump), mark))
    return places


def _may_hold_inline(dump: ConfigDump, kind: str, lists: tuple[str, ...]) -> bool:
    """Whether section ``kind`` may hold an inline certificate (a byte search, no decode).

    True without a search when every one of the resource ``lists`` its reader reads is
    decoded already, and (clusters) its placeholder entries said (``all`` built its table
    first): reading them again costs nothing, searching the bytes does. Only then: a list
    not decoded yet would be decoded by the reader, and what that says (a resource skipped,
    with a warning) would depend on what ran before (``all`` forked said less than ``all``).
    """
    sec = dump.section(kind)
    if sec is None:
        return False
    said = dump.facts.get("dump.placeholders", set()) if kind == "clusters" else set(lists)
    if all(sec.decoded(key) and key in said for key in lists):
        return True
    for text in section_texts(sec):
        view = memoryview(text)
        for at in range(0, len(view), _PIECE):
            low = max(0, at - _BEFORE)
            piece = bytes(view[low : at + _PIECE + 8])
            hit = piece.find(b"nline", at - low)  # inline_string, inlineBytes...
            while hit >= 0:
                # the data source's key comes just before it: "trusted_ca": {"inline_...
                before = piece[max(0, hit - _BEFORE) : hit]
                if any(m in before for m in _INLINE_MARKS):
                    return True
                hit = piece.find(b"nline", hit + 1)
    return False


def inline_items(data: ProxyData) -> list[SecretItem]:
    """The certificates listeners and clusters hold in their TLS contexts (no SDS).

    One row per distinct certificate, STATUS ``INLINE``, named by the listener or cluster that
    holds it (``(+N more)`` when others hold it too). ``pdebug check`` judges the same
    certificates (PD501/PD502); istioctl's table has no row for them.

    Only the dump's listeners and clusters sections are read, and only when their bytes
    mention an inline certificate.
    """
    from pdebug.model.clusters import STATE_KEYS

    dump = data.need_dump("the secrets view")
    places = tls_places(
        dump,
        _may_hold_inline(dump, "listeners", ("dynamic_listeners", "static_listeners")),
        _may_hold_inline(dump, "clusters", tuple(STATE_KEYS.values())),  # as by_name reads
        b"inline",
    )
    out: list[SecretItem] = []
    for ic, where in held_inline(inline_certs(places, _warner(dump))):
        name = where[0] + (f" (+{len(where) - 1} more)" if len(where) > 1 else "")
        out.append(SecretItem(name, "INLINE", ic.cert, ic.cert.trust_domain, "", "", ic.ca))
    return out


def _data(ds: s.DataSource | None) -> bytes:
    if ds is None:
        return b""
    if ds.inline_bytes:
        try:
            return base64.b64decode(ds.inline_bytes)
        except ValueError:
            return b""
    return ds.inline_string.encode()


class SecretItem(msgspec.Struct):
    """One row: a secret (or one SPIFFE trust domain of it) and its certificate."""

    name: str
    status: str
    cert: CertInfo
    trust_domain: str
    version: str
    last_updated: str
    #: A trust bundle (validation context): every certificate in it is a root of its own.
    bundle: bool = False
    #: The file on the proxy the certificate is read from (``filename`` of the data
    #: source: Istio's OUTPUT_CERTS, file-mounted certificates), when it is not inline.
    file: str = ""


def secrets_section(dump: ConfigDump) -> Section | None:
    """The secrets section; None when a full dump has none (then the proxy has no secrets).

    None too when the bootstrap names an Envoy older than 1.10, which writes none.

    Raises:
        MissingSection: a partial dump (taken with a mask, or cut from a paste) without
            it: not captured; a v2alpha one without a bootstrap says it may be pre-1.10.
    """
    if none_when_absent(dump, "secrets"):
        return None
    if not dump.has("secrets") and _unknown_release_v2alpha(dump):
        dump.check_intact()
        raise MissingSection(
            f"{dump.source}: the dump has no secrets section "
            "(type.googleapis.com/envoy.admin.v2alpha.SecretsConfigDump) and no bootstrap "
            "to tell which Envoy wrote it: one older than 1.10 writes none (no SDS secrets)",
            hint="from Envoy 1.10 on, paste the whole dump (its bootstrap names the release): "
            "curl -s localhost:15000/config_dump > dump.json",
        )
    return dump.require("secrets")


def _unknown_release_v2alpha(dump: ConfigDump) -> bool:
    """A v2alpha dump (Envoy 1.14 or older) whose bootstrap does not say which release."""
    from pdebug.model.bootstrap import admin_v2alpha, envoy_release

    return admin_v2alpha(dump) and envoy_release(dump) is None


def items(data: ProxyData) -> list[SecretItem]:
    """Warming secrets first, then active ones, each in dump order (istioctl)."""
    dump = data.need_dump("the secrets view")
    sec = secrets_section(dump)
    if sec is None:
        return []
    out: list[SecretItem] = []
    for key, status in (
        ("dynamic_warming_secrets", "WARMING"),
        ("dynamic_active_secrets", "ACTIVE"),
    ):
        for entry in dump.secret_entries(key).items:
            out.extend(_expand(entry, status, sec.camel, _warner(dump)))
    return out


def static_items(data: ProxyData) -> list[SecretItem]:
    """Static secrets (from the bootstrap), one row per certificate or trust domain.

    istioctl's table leaves them out; ``pdebug check`` judges their certificates too.
    """
    dump = data.need_dump("the secrets view")
    sec = secrets_section(dump)
    if sec is None:
        return []
    out: list[SecretItem] = []
    try:
        entries = dump.secret_entries("static_secrets").items
    except InvalidInput as exc:
        # Every static secret is damaged: the dynamic ones are still judged.
        dump.warn(f"{exc.message}; static secrets not judged")
        return []
    for entry in entries:
        if entry.secret is not None and not entry.name:
            entry = s.SecretEntry(name=entry.secret.name, secret=entry.secret)
        out.extend(_expand(entry, "STATIC", sec.camel, _warner(dump)))
    return out


def trusted_ca(vc: s.ValidationContext) -> bytes:
    """The CA bundle of ``trusted_ca`` (empty when none).

    istioctl reads trusted_ca's data, else the SPIFFE validator: SPIRE writes an empty
    ``trusted_ca`` beside its trust domains.
    """
    return _data(vc.trusted_ca) if vc.trusted_ca is not None else b""


def spiffe_validator(vc: s.ValidationContext, camel: bool) -> s.SpiffeValidatorConfig | None:
    """The SPIFFE certificate validator's config, when the context uses it."""
    if vc.custom_validator_config is None:
        return None
    raw = vc.custom_validator_config.typed_config
    spiffe = decode_raw(raw, s.SpiffeValidatorConfig, camel, "SPIFFE validator")
    return spiffe if spiffe.type_url.endswith(SPIFFE_VALIDATOR) else None


def _warner(dump: ConfigDump) -> Callable[[str], None]:
    return lambda message: dump.warn(f"{dump.source}: {message}")


def _expand(
    entry: s.SecretEntry, status: str, camel: bool, warn: Callable[[str], None]
) -> list[SecretItem]:
    secret = entry.secret
    meta = (entry.version_info, entry.last_updated)
    if secret is not None and secret.tls_certificate is not None:
        chain = secret.tls_certificate.certificate_chain
        cert = parse_pem(_data(chain))
        file = _file(chain)
        return [SecretItem(entry.name, status, cert, cert.trust_domain, *meta, file=file)]
    vc = secret.validation_context if secret is not None else None
    if vc is not None and trusted_ca(vc):
        cert = parse_pem(trusted_ca(vc))
        return [SecretItem(entry.name, status, cert, cert.trust_domain, *meta, bundle=True)]
    if vc is not None:
        try:
            spiffe = spiffe_validator(vc, camel)
        except InvalidInput as exc:
            # one damaged validator: this secret's row is unparsable, the others stand
            warn(f"secret {entry.name!r}: {exc.message}; its certificates not judged")
            spiffe = None
        if spiffe is not None:
            # istioctl: one row per trust domain, named after the inner Secret. A bundle
            # map (trust_bundles) takes precedence over trust_domains in Envoy; istioctl
            # does not read it (one empty row): pdebug does, one row per trust domain too.
            name = secret.name if secret is not None else entry.name
            if spiffe.trust_bundles is not None:
                found = bundle_map(_data(spiffe.trust_bundles))
                if found:
                    return [SecretItem(name, status, c, td, *meta, bundle=True) for td, c in found]
            return [
                SecretItem(
                    name, status, parse_pem(_data(td.trust_bundle)), td.name, *meta, bundle=True
                )
                for td in spiffe.trust_domains
            ]
    file = _file(vc.trusted_ca) if vc is not None else ""
    return [SecretItem(entry.name, status, CertInfo(), "", *meta, file=file)]


def _file(ds: s.DataSource | None) -> str:
    """The ``filename`` a data source reads, when it holds no inline data."""
    if ds is None or ds.inline_bytes or ds.inline_string:
        return ""
    return ds.filename
