"""``pdebug secrets``: certificates Envoy holds, decoded (never any key material).

The certificates are facts of :mod:`pdebug.model.secrets` (re-exported here); this
module is istioctl's table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pdebug.model import ProxyData
from pdebug.model.certproviders import provider_items
from pdebug.model.dump import ConfigDump, Section
from pdebug.model.secrets import (
    SPIFFE_VALIDATOR,
    CertInfo,
    SecretItem,
    _data,
    bundle_map,
    inline_items,
    items,
    parse_der,
    parse_pem,
    secrets_section,
    spiffe_validator,
    static_items,
    trusted_ca,
)
from pdebug.views.common import bare
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Lines, Table

__all__ = [
    "SPIFFE_VALIDATOR",
    "CertInfo",
    "SecretItem",
    "_data",
    "bundle_map",
    "inline_items",
    "provider_items",
    "items",
    "parse_der",
    "parse_pem",
    "secrets_section",
    "spiffe_validator",
    "static_items",
    "trusted_ca",
    "view",
]


#: The view's note speaks of the table (what it leaves out): not said for json/yaml.
NOTES_OF_THE_TABLE = True


def _rfc3339(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else ""


def view(
    data: ProxyData, wide: bool = False, now: datetime | None = None, prefix: str = ""
) -> ViewResult:
    """RESOURCE NAME TYPE STATUS VALID CERT SERIAL NUMBER NOT AFTER NOT BEFORE [TRUST DOMAIN]."""
    now = now or datetime.now(UTC)
    dump = data.need_dump("the secrets view")
    sec = secrets_section(dump)
    # Certificates listeners and clusters hold inline (Consul's): istioctl's table has no
    # row for them; -o wide lists them, STATUS INLINE; the table says so.
    inline = inline_items(data) if wide or not _istio(dump) else []
    # Certificates a TLS context takes from a certificate provider instance (gRPC's xDS,
    # Istio's proxyless gRPC): not in the dump; -o wide names them, STATUS PROVIDER.
    inline += provider_items(data)
    if sec is None and not inline:  # a full dump without secrets: Envoy has none
        return ViewResult(Lines("No active or warming secrets found."), lambda: {})
    active = dump.secret_entries("dynamic_active_secrets").items if sec is not None else []
    warming = dump.secret_entries("dynamic_warming_secrets").items if sec is not None else []
    # Static secrets (a bootstrap's: Kuma's CA, a plain Envoy's certificates): istioctl's
    # table leaves them out; -o wide lists them, STATUS STATIC; the table says so.
    statics = (
        static_items(data) if sec is not None and sec.raw("static_secrets") is not None else []
    )
    objects = _objects(sec) if sec is not None else lambda: {}
    notes = []
    if statics and not wide:
        n = len(statics)
        notes.append(
            f"{n} static secret{'s' if n != 1 else ''} (from the bootstrap) left out,"
            f" as istioctl does; -o wide lists {'it' if n == 1 else 'them'}."
        )
    held = [r for r in inline if r.status == "INLINE"]
    if held and not wide:
        n = len(held)
        notes.append(
            f"{n} certificate{'s' if n != 1 else ''} held inline in listener/cluster TLS"
            f" contexts left out, as istioctl does; -o wide lists {'it' if n == 1 else 'them'}"
            " (STATUS INLINE)."
        )
    provided = [r.name.split(" (", 1)[0] for r in inline if r.status == "PROVIDER"]
    if provided and not wide:
        n = len(provided)
        notes.append(
            f"{n} certificate{'s' if n != 1 else ''} of listener/cluster TLS contexts"
            f" come{'s' if n == 1 else ''} from a certificate provider instance"
            f" ({', '.join(dict.fromkeys(provided))}), not in the dump; -o wide lists"
            f" {'it' if n == 1 else 'them'} (STATUS PROVIDER)."
        )
    note = "\n".join(notes) or None
    extra = (statics + inline) if wide else []
    if not active and not warming and not extra:
        return ViewResult(Lines("No active or warming secrets found."), objects, note)
    rows = (items(data) if sec is not None else []) + extra
    if not rows:
        return ViewResult(Lines("No secret items to show."), objects)
    unread = [r for r in rows if r.file and r.cert.not_after is None]
    if unread:  # istioctl's VALID CERT false reads as "expired" (istio/istio#28099)
        notes += [
            f"secret {r.name}: its certificate is the file {r.file} on the proxy, not in "
            "the dump: VALID CERT false means pdebug could not read it, not that it expired."
            for r in unread[:3]
        ]
        note = "\n".join(notes)
    with_td = all(r.trust_domain for r in rows)
    cols = [
        Column("RESOURCE NAME"),
        Column("TYPE"),
        Column("STATUS"),
        Column("VALID CERT"),
        Column("SERIAL NUMBER"),
        Column("NOT AFTER"),
        Column("NOT BEFORE"),
    ]
    if with_td:
        cols.append(Column("TRUST DOMAIN"))
    cols += [
        Column("DAYS LEFT", wide=True),
        Column("CHAIN", wide=True),
        Column("VERSION", wide=True),
        Column("LAST UPDATED", wide=True),
    ]
    table = Table(tuple(cols))
    for r in rows:
        c = r.cert
        cells: tuple[str, ...] = (
            prefix + r.name,
            c.type,
            r.status,
            "-" if r.status == "PROVIDER" else str(c.valid(now)).lower(),
            c.serial,
            _rfc3339(c.not_after),
            _rfc3339(c.not_before),
        )
        if with_td:
            cells += (r.trust_domain,)
        days = f"{(c.not_after - now).total_seconds() / 86400:.1f}" if c.not_after else "-"
        cells += (days, str(c.chain_length or "-"), r.version or "-", r.last_updated or "-")
        table.rows.append(cells)
    return ViewResult(table, objects, note)


def _istio(dump: ConfigDump) -> bool:
    """Whether Istio serves this proxy (by its bootstrap's marks).

    Istio sends every certificate by SDS, so the default table's note does not search its
    (big) listeners and clusters for inline ones.
    """
    from pdebug.model.bootstrap import control_plane

    return dump.has("bootstrap") and control_plane(dump) == ""


def _objects(sec: Section) -> Callable[[], Any]:
    """The whole SecretsConfigDump, bare as istioctl prints it, private keys redacted."""

    def objects() -> Any:
        from pdebug.redact import redact_keys  # only json/yaml: a table never needs it

        return bare(redact_keys(sec.plain()))

    return objects
