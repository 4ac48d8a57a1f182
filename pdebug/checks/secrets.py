"""Secret checks (PD5xx): certificates expired or about to, secrets never received."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import msgspec

from pdebug.checks.base import Check, Finding, Severity, check
from pdebug.checks.context import Context
from pdebug.model import schema as s
from pdebug.model.clusters import match_sockets
from pdebug.model.listeners import chains
from pdebug.model.secrets import (
    CertInfo,
    held_inline,
    inline_certs,
    items,
    static_items,
    tls_contexts,
    tls_socket,
)


class _Cert(msgspec.Struct, frozen=True):
    resource: str
    name: str  # the secret's name
    what: str  # "certificate" or "CA certificate"
    info: CertInfo


def _certs(ctx: Context) -> list[_Cert]:
    """Every decodable certificate: dynamic secrets, then static ones (SPIFFE bundles too)."""
    out: list[_Cert] = []
    for item in [*items(ctx.proxy), *static_items(ctx.proxy)]:
        if item.cert.not_after is None:
            continue
        resource = f"secret/{item.name}"
        if item.trust_domain and item.cert.type == "CA":
            resource += f" (trust domain {item.trust_domain})"
        out.append(_Cert(resource, item.name, _kind(item.cert), item.cert))
        # A served chain's intermediates end it too; a trust bundle's later roots are
        # roots of their own (the table shows the first, as istioctl does).
        where = "trust bundle" if item.bundle else "chain"
        if item.bundle or item.cert.type != "CA":
            n = item.cert.chain_length
            for i, info in enumerate(item.cert.rest, start=2):
                if info.not_after is not None:
                    what = f"{_kind(info)} {i} of {n} in the {where}"
                    out.append(_Cert(resource, item.name, what, info))
    return out + _inline(ctx)


def _inline(ctx: Context) -> list[_Cert]:
    """Certificates listeners and clusters hold in their TLS contexts, without SDS.

    Consul's proxies get every certificate so (its leaf and CA in each listener and
    cluster): one finding per certificate, at the first place it is held, saying how
    many more hold it.
    """
    places: list[tuple[str, s.TypedExtension | None]] = []
    for lc in ctx.listeners:
        for c in chains(lc.listener):
            places.append((f"listener/{lc.name}", tls_socket(c.transport_socket, c.tls_context)))
    warn = ctx.proxy.dump.warn if ctx.proxy.dump else _ignore
    clusters = ctx.clusters
    # While a forked child searches the clusters' bytes for "inline": PD501's files
    # (#17). They read the secrets, listeners and clusters, all read just above.
    ctx.early("secrets.files", lambda: _files(ctx))
    searched = ctx.matches_lack(b"inline")  # no match holds one: nothing to decode
    for name, cc in clusters.items():
        cl = cc.cluster
        places.append((f"cluster/{name}", tls_socket(cl.transport_socket, cl.tls_context)))
        if not searched:
            places.extend(match_sockets(name, cl, warn, b"inline"))
    found = inline_certs(places, warn)
    out = []
    for ic, where in held_inline(found):
        what = "inline CA certificate" if ic.ca else "inline certificate"
        if len(where) > 1:
            what += f" (also held by {len(where) - 1} more listener/cluster TLS contexts)"
        out.append(_Cert(where[0], "", what, ic.cert))
    return out


def _ignore(_: str) -> None:
    return None


def _files(ctx: Context) -> list[tuple[str, str, str]]:
    """(resource, file, what) of each certificate the proxy reads from a file, once per file.

    A secret's data source (Istio's OUTPUT_CERTS, file-mounted certificates; a static
    secret's ``filename``) or a listener's or cluster's TLS context (Istio before 1.5
    put ``/etc/certs/cert-chain.pem`` in each): the dump holds only the path. A file
    held by several is named at the first, with how many more hold it.
    """
    where: dict[str, tuple[str, list[str]]] = {}
    for item in [*items(ctx.proxy), *static_items(ctx.proxy)]:
        if item.file and item.cert.not_after is None and item.status != "WARMING":
            where.setdefault(item.file, ("certificate", []))[1].append(f"secret/{item.name}")
    places: list[tuple[str, s.TypedExtension | None]] = []
    for lc in ctx.listeners:
        for c in chains(lc.listener):
            places.append((f"listener/{lc.name}", tls_socket(c.transport_socket, c.tls_context)))
    dump = ctx.proxy.dump
    warn = dump.warn if dump else _ignore
    # The clusters section's bytes were searched already (report's parent, check's
    # child: one pass for its marks, marks_held) and name no file: no cluster needs a
    # search of its own (#17).
    named = dump is None or not ctx.matches_lack(b"filename")
    for name, cc in ctx.clusters.items() if named else ():
        cl = cc.cluster
        places.append((f"cluster/{name}", tls_socket(cl.transport_socket, cl.tls_context)))
        places.extend(match_sockets(name, cl, warn, b"filename"))
    lost = "certificate files not named"
    for resource, common in tls_contexts(places, b"filename", warn, lost):
        vcs = [common.validation_context]
        if common.combined_validation_context is not None:
            vcs.append(common.combined_validation_context.default_validation_context)
        sources = [("certificate", tc.certificate_chain) for tc in common.tls_certificates]
        sources += [("CA certificate", vc.trusted_ca) for vc in vcs if vc is not None]
        for what, ds in sources:
            if ds is not None and ds.filename and not ds.inline_bytes and not ds.inline_string:
                held = where.setdefault(ds.filename, (what, []))[1]
                if resource not in held:
                    held.append(resource)
    out = []
    for file, (what, held) in where.items():
        more = f" (and {len(held) - 1} more)" if len(held) > 1 else ""
        out.append((held[0] + more, file, what))
    return out


def _not_checked(ctx: Context, this: Check) -> Iterator[Finding]:
    """Each certificate file, said as not checked (the summary's lines, no finding)."""
    for resource, file, what in ctx.shared("secrets.files", lambda: _files(ctx)):
        yield this.not_checked(
            resource,
            f"its {what} is the file {file} on the proxy, not in the dump: expiry unknown",
            "GET /certs on the proxy's admin port shows it",
        )


def _kind(info: CertInfo) -> str:
    return "CA certificate" if info.type == "CA" else "certificate"


def _kube_secret(name: str) -> str | None:
    """The Kubernetes Secret an SDS name serves (a gateway's credentialName), else None.

    Istio names them ``kubernetes://NAME`` (the gateway's namespace) or ``kubernetes://NS/NAME``,
    ``kubernetes-gateway://NS/NAME`` (Gateway API); Higress ``kubernetes-ingress://CLUSTER/NS/NAME``.
    """
    scheme, sep, ref = name.partition("://")
    if (
        not sep
        or not ref
        or scheme not in ("kubernetes", "kubernetes-gateway", "kubernetes-ingress")
    ):
        return None
    parts = ref.split("/")
    if scheme == "kubernetes-ingress" and len(parts) == 3:
        parts = parts[1:]
    if len(parts) == 1:
        return f"{parts[0]} (in the gateway's namespace)"
    return "/".join(parts)


def _when(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:.1f} days" if days >= 1 else f"{delta.total_seconds() / 3600:.1f} hours"


@check(
    "PD501",
    Severity.ERROR,
    "cert-expired",
    "A certificate Envoy holds has expired (or is not valid yet).",
    ("secrets",),
)
def check_expired(ctx: Context, this: Check) -> Iterator[Finding]:
    """Certificates outside their validity period now."""
    for cert in ctx.shared("secrets.certs", lambda: _certs(ctx)):
        info = cert.info
        assert info.not_after is not None
        if info.not_after <= ctx.now:
            message = (
                f"{cert.what} expired {_days(ctx.now - info.not_after)} ago "
                f"(not after {_when(info.not_after)})"
            )
        elif info.not_before is not None and info.not_before > ctx.now:
            message = f"{cert.what} is not valid until {_when(info.not_before)}"
        else:
            continue
        kube = _kube_secret(cert.name)
        yield this.finding(
            cert.resource,
            f"{message}, serial {info.serial}",
            f"TLS handshakes with it fail: it comes from the Kubernetes Secret {kube}; renew "
            "the certificate there (cert-manager? kubectl get secret)"
            if kube
            else f"TLS handshakes with it fail: is {ctx.control_plane} renewing certificates "
            "(its logs, its CA reachable)? For a CA, renew the root it serves"
            if ctx.control_plane
            else "TLS handshakes with it fail: is istio-agent rotating certificates (pilot-agent "
            "logs, istiod/CA reachable)? For a CA, renew the mesh root",
        )
    yield from _not_checked(ctx, this)


@check(
    "PD502",
    Severity.WARNING,
    "cert-expiring",
    "A certificate expires within --cert-days (default 7) and is past half its lifetime.",
    ("secrets",),
)
def check_expiring(ctx: Context, this: Check) -> Iterator[Finding]:
    """Certificates that are valid now but end within ``cert_days``."""
    for cert in ctx.shared("secrets.certs", lambda: _certs(ctx)):
        info = cert.info
        assert info.not_after is not None
        if info.not_before is not None and info.not_before > ctx.now:
            continue
        if not ctx.options.expiring(ctx.now, info.not_before, info.not_after):
            continue
        kube = _kube_secret(cert.name)
        yield this.finding(
            cert.resource,
            f"{cert.what} expires in {_days(info.not_after - ctx.now)} "
            f"({_when(info.not_after)}), serial {info.serial}",
            f"it comes from the Kubernetes Secret {kube}: renew the certificate there "
            "(cert-manager? kubectl get secret); Envoy picks the new one up by itself"
            if kube
            else f"one this close to its end is not being renewed: check {ctx.control_plane} "
            "(its logs) and the CA"
            if ctx.control_plane
            else "Istio rotates workload certificates long before they end (24h lifetime by "
            "default): one this close is not being rotated; check pilot-agent logs and the CA",
        )
    yield from _not_checked(ctx, this)


def _held(secret: s.Secret | None) -> str:
    """What a secret's body holds ("certificate", "CA certificate", ...), "" when nothing."""
    if secret is None:
        return ""
    held = []
    if secret.tls_certificate is not None and secret.tls_certificate.certificate_chain:
        held.append("certificate")
    vc = secret.validation_context
    if vc is not None and (vc.trusted_ca or vc.custom_validator_config):
        held.append("CA certificate" if vc.trusted_ca else "validation context")
    return " and ".join(held)


@check(
    "PD503",
    Severity.WARNING,
    "secret-warming",
    "An SDS secret was asked for but never received (its users wait, warming).",
    ("secrets",),
)
def check_warming(ctx: Context, this: Check) -> Iterator[Finding]:
    """``dynamic_warming_secrets`` entries."""
    for entry in ctx.dump.secret_entries("dynamic_warming_secrets").items:
        since = f" since {entry.last_updated}" if entry.last_updated else ""
        held = _held(entry.secret)
        if held:  # Envoy writes a warming secret with its name only
            yield this.finding(
                f"secret/{entry.name}",
                f"SDS secret listed as warming{since}, yet the dump holds its {held}; Envoy "
                "writes no content for a secret it has not received: an edited or assembled dump?",
                "capture the dump again from the proxy (pdebug dump) to see whether it arrived; "
                "listeners and clusters using a warming secret keep warming",
            )
            continue
        kube = _kube_secret(entry.name)
        yield this.finding(
            f"secret/{entry.name}",
            f"SDS secret not received yet (warming{since})",
            f"listeners and clusters using it keep warming: it is served from the Kubernetes "
            f"Secret {kube}; does it exist, with a certificate and key (kubectl get secret)? "
            "the control plane's log (istiod) names a credential it cannot read"
            if kube
            else "listeners and clusters using it keep warming: check the SDS server "
            f"({ctx.control_plane}: its logs) or the secret's config source"
            if ctx.control_plane
            else "listeners and clusters using it keep warming: check the SDS server "
            "(istio-agent: pilot-agent logs) or the secret's config source",
        )


CHECKS = (check_expired, check_expiring, check_warming)
