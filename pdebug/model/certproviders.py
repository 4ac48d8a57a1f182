"""Facts: TLS contexts whose certificates come from a certificate provider instance.

Envoy's ``CommonTlsContext`` may name a provider plugin instance instead of holding a
certificate or naming an SDS secret (``tls_certificate_provider_instance``, a validation
context's ``ca_certificate_provider_instance``; Istio writes them for proxyless gRPC). The
certificate is not in the dump: ``views/secrets.py`` names where it comes from.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.dump import ConfigDump, marks_held
from pdebug.model.secrets import (
    CertInfo,
    SecretItem,
    _warner,
    tls_contexts,
    tls_places,
)

#: What marks a TLS context that may name a certificate provider instance (either spelling).
PROVIDER = b"rovider"


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
    for resource, common in tls_contexts(places, PROVIDER, warn, "certificate providers not shown"):
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


def _mentions(dump: ConfigDump, kind: str) -> bool:
    """Whether section ``kind``'s bytes name a certificate provider instance (no decode).

    Either spelling, ``provider_instance`` or ``ProviderInstance``, found by the one pass
    that looks for ``inline`` too (:func:`pdebug.model.dump.marks_held`, #17).
    """
    held = marks_held(dump, kind)
    return b"provider_instance" in held or b"ProviderInstance" in held


def provider_items(data: ProxyData) -> list[SecretItem]:
    """Certificates listeners and clusters take from a certificate provider instance.

    One row per (instance, certificate name, CA or not), STATUS ``PROVIDER``, named
    ``INSTANCE/CERTIFICATE`` and by the first listener or cluster that uses it
    (``(+N more)``). The certificate itself is not in the dump: its cells stay empty,
    and ``pdebug check`` has nothing to judge. Only sections whose bytes name a provider
    instance are decoded.
    """
    dump = data.need_dump("the secrets view")
    places = tls_places(
        dump,
        _mentions(dump, "listeners"),
        _mentions(dump, "clusters"),
        PROVIDER,
    )
    out: list[SecretItem] = []
    for ref, where in provider_refs(places, _warner(dump)):
        held = where[0] + (f" +{len(where) - 1} more" if len(where) > 1 else "")
        cert = CertInfo(type="CA" if ref.ca else "Cert Chain")
        out.append(SecretItem(f"{ref.name} ({held})", "PROVIDER", cert, "", "", ""))
    return out
