"""Facts: TLS contexts whose certificates come from a certificate provider instance.

Envoy's ``CommonTlsContext`` may name a provider plugin instance instead of holding a
certificate or naming an SDS secret (``tls_certificate_provider_instance``, a validation
context's ``ca_certificate_provider_instance``; Istio writes them for proxyless gRPC). The
certificate is not in the dump: ``views/secrets.py`` names where it comes from.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from pdebug.errors import InvalidInput
from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.dump import ConfigDump, decode_raw
from pdebug.model.secrets import _PIECE, CertInfo, SecretItem, _warner


class ProviderRef(msgspec.Struct, frozen=True):
    """A TLS context's certificate from a certificate provider instance (not in the dump)."""

    ca: bool  # the validation context's CA, else the context's own certificate
    instance: str
    certificate: str

    @property
    def name(self) -> str:
        """``instance/certificate`` (``default/ROOTCA``), or the instance alone."""
        return f"{self.instance}/{self.certificate}" if self.certificate else self.instance


def _provider(p: s.CertificateProviderPluginInstance | None, ca: bool) -> list[ProviderRef]:
    return [] if p is None else [ProviderRef(ca, p.instance_name, p.certificate_name)]


def provider_refs(
    places: list[tuple[str, s.TypedExtension | None]], warn: Callable[[str], None]
) -> list[tuple[ProviderRef, list[str]]]:
    """The certificate provider instances the TLS sockets of ``places`` take from.

    Each once, with every resource (listener/NAME, cluster/NAME) that does, in the order
    first met. A socket that does not name one is not decoded.
    """
    held: dict[ProviderRef, list[str]] = {}
    for resource, ts in places:
        if ts is None:
            continue
        raw = bytes(ts.typed_config)
        if b"rovider" not in raw or b"TlsContext" not in raw[:300]:
            continue
        try:
            tls = decode_raw(ts.typed_config, s.TlsContext, what=f"{resource} transport socket")
        except InvalidInput as exc:
            warn(f"{exc.message}; its certificate providers not shown")
            continue
        common = tls.common_tls_context
        if common is None:
            continue
        refs = _provider(common.tls_certificate_provider_instance, False)
        refs += _provider(common.tls_certificate_certificate_provider_instance, False)
        vc = common.validation_context
        combined = common.combined_validation_context
        if combined is not None:
            vc = combined.default_validation_context or vc
            refs += _provider(combined.validation_context_certificate_provider_instance, True)
        if vc is not None:
            refs += _provider(vc.ca_certificate_provider_instance, True)
        for ref in refs:
            where = held.setdefault(ref, [])
            if resource not in where:
                where.append(resource)
    return list(held.items())


#: What a certificate provider instance looks like in a section's bytes (either spelling).
_PROVIDER_MARKS = (b"provider_instance", b"ProviderInstance")


def _mentions(dump: ConfigDump, kind: str, marks: tuple[bytes, ...]) -> bool:
    """Whether section ``kind``'s bytes hold one of ``marks`` (a search, no decode)."""
    sec = dump.section(kind)
    if sec is None:
        return False
    if sec.text is not None:
        texts = [sec.text]
    else:
        sec.raw("")  # splits the section's fields when they are read lazily
        texts = [raw for key, raw in sec.fields.items() if key != "@type"]
    longest = max(len(m) for m in marks)
    for text in texts:
        view = memoryview(text)
        for at in range(0, len(view), _PIECE):
            piece = bytes(view[max(0, at - longest) : at + _PIECE])
            if any(m in piece for m in marks):
                return True
    return False


def provider_items(data: ProxyData) -> list[SecretItem]:
    """Certificates listeners and clusters take from a certificate provider instance.

    One row per (instance, certificate name, CA or not), STATUS ``PROVIDER``, named
    ``INSTANCE/CERTIFICATE`` and by the first listener or cluster that uses it
    (``(+N more)``). The certificate itself is not in the dump: its cells stay empty,
    and ``pdebug check`` has nothing to judge. Only sections whose bytes name a provider
    instance are decoded.
    """
    from pdebug.model.clusters import by_name
    from pdebug.model.listeners import ListenerFacts, chains

    dump = data.need_dump("the secrets view")
    places: list[tuple[str, s.TypedExtension | None]] = []
    if _mentions(dump, "listeners", _PROVIDER_MARKS):
        for lc in ListenerFacts(dump).configs:
            places.extend((f"listener/{lc.name}", c.transport_socket) for c in chains(lc.listener))
    if _mentions(dump, "clusters", _PROVIDER_MARKS):
        for name, cc in by_name(dump).items():
            places.append((f"cluster/{name}", cc.cluster.transport_socket))
    out: list[SecretItem] = []
    for ref, where in provider_refs(places, _warner(dump)):
        held = where[0] + (f" +{len(where) - 1} more" if len(where) > 1 else "")
        cert = CertInfo(type="CA" if ref.ca else "Cert Chain")
        out.append(SecretItem(f"{ref.name} ({held})", "PROVIDER", cert, "", "", ""))
    return out
