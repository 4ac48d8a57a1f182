"""Facts: Envoy's ``/stats`` (read by ``pdebug stats`` and check PD603), in any format.

Reads the three shapes Envoy serves: ``/stats?format=json`` (``{"stats": [{"name",
"value"}, ..., {"histograms": ...}]}``), ``/stats/prometheus`` (text exposition format,
``# TYPE`` lines give the kind) and plain ``/stats`` (``name: value`` lines). Counters that
a dump cannot show live here: a rejected CDS or RDS update leaves no trace in the config
dump (Envoy keeps the previous config), only ``*.update_rejected`` counts it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pdebug.errors import InvalidInput, UsageError


@dataclass(frozen=True, slots=True)
class Stat:
    """One statistic: its name (Prometheus: with labels), value and kind when known."""

    name: str
    value: str
    kind: str = ""
    #: A text readout (``name: "VALUE"``, a JSON string): its value is text, which may
    #: hold a secret; every other value is a number or a histogram's numbers.
    readout: bool = False
    #: Its value is not known: an older pdebug's redaction replaced it in a bundle's
    #: ``stats.txt`` (``name: [redacted]``). ``value`` is then empty; no view shows it.
    unknown: bool = False


def _number(value: Any) -> str:
    if value is None:
        return "null"  # as JSON spells it (was Python's None)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _other_document(doc: Any, label: str) -> InvalidInput | None:
    """The error for another admin or istiod document saved where /stats was meant."""
    from pdebug.model.refusals import syncz_given
    from pdebug.model.sniff import as_argument

    if not isinstance(doc, dict) or "stats" in doc:
        return syncz_given(label, doc)
    if "cluster_statuses" in doc or "clusterStatuses" in doc:
        return InvalidInput(
            f"{label}: this is Envoy's GET /clusters?format=json (endpoint health), not /stats",
            hint=f"read it with: pdebug endpoints {as_argument(label)}; stats come from GET "
            "/stats?format=json",
        )
    from pdebug.model.ztunnel import looks_like_ztunnel

    if looks_like_ztunnel(doc):
        return InvalidInput(
            f"{label}: this is a ztunnel config dump, not Envoy's /stats",
            hint=f"read it with: pdebug zc all -f {as_argument(label)}; ztunnel's metrics are "
            "GET /metrics on its port 15020",
        )
    return syncz_given(label, doc)


def _from_json(doc: Any, label: str) -> list[Stat]:
    entries = doc.get("stats") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise InvalidInput(
            f"{label}: JSON without a 'stats' list, not Envoy's /stats?format=json",
            hint="capture it with: curl -s 'localhost:15000/stats?format=json'",
        )
    out: list[Stat] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if "name" in entry and "value" in entry:
            value = entry["value"]
            if isinstance(value, dict | list):  # was Python's repr: {'a': 1}
                raise InvalidInput(
                    f"{label}: the value of stat {str(entry['name'])[:80]!r} is a JSON "
                    f"{'object' if isinstance(value, dict) else 'list'}, not a number or "
                    "a string: not Envoy's stats",
                    hint="capture it with: curl -s 'localhost:15000/stats?format=json'",
                )
            out.append(Stat(str(entry["name"]), _number(value), readout=isinstance(value, str)))
        out.extend(_histograms(entry.get("histograms"), label))
    from pdebug.model.textforms import REDACTED_KEY

    redacted = doc.get(REDACTED_KEY)  # stats_document's, from a stats.txt
    if isinstance(redacted, list):
        out.extend(Stat(str(name), "", unknown=True) for name in redacted)
    return out


def _seq(value: Any, label: str, what: str) -> list[Any]:
    """``value`` when it is a list (absent or null: empty); other JSON is refused.

    A number or a string there was an internal error ("'float' object is not iterable")
    or, for a string, quantiles made of its letters (``Pa=1``).
    """
    if value is None:
        return []
    if not isinstance(value, list):
        kind = {str: "string", bool: "boolean", dict: "object"}.get(type(value), "number")
        raise InvalidInput(
            f"{label}: {what}: a JSON {kind} where Envoy writes a list, not Envoy's stats",
            hint="capture it with: curl -s 'localhost:15000/stats?format=json'",
        )
    return value


def _histograms(histograms: Any, label: str) -> list[Stat]:
    """The histograms of one ``{"histograms": ...}`` entry, in each shape Envoy writes.

    Default: ``{"supported_quantiles", "computed_quantiles"}``; ``histogram_buckets=
    detailed``: ``{"supported_percentiles", "details"}``; ``=cumulative`` or ``=disjoint``:
    a list of ``{"name", "buckets": [{"upper_bound", "cumulative"}]}``. Values are the
    cumulative ones, ``P<q>=v`` or ``B<upper bound>=count``.
    """
    out: list[Stat] = []
    if isinstance(histograms, list):
        for h in histograms:
            if not isinstance(h, dict):
                continue
            buckets = _seq(h.get("buckets"), label, f"the buckets of histogram {h.get('name')!r}")
            parts = [
                f"B{_number(b.get('upper_bound'))}={_number(b.get('cumulative'))}"
                for b in buckets
                if isinstance(b, dict) and b.get("cumulative") is not None
            ]
            out.append(Stat(str(h.get("name", "")), " ".join(parts) or "-", "histogram"))
        return out
    if not isinstance(histograms, dict):
        return out
    detailed = "details" in histograms
    field = "supported_percentiles" if detailed else "supported_quantiles"
    quantiles = _seq(histograms.get(field), label, field)
    field = "details" if detailed else "computed_quantiles"
    for h in _seq(histograms.get(field), label, field):
        if not isinstance(h, dict):
            continue
        field = "percentiles" if detailed else "values"
        values = _seq(h.get(field), label, f"the {field} of histogram {h.get('name')!r}")
        parts = [
            f"P{_number(q)}={_number(v.get('cumulative'))}"
            for q, v in zip(quantiles, values, strict=False)
            if isinstance(v, dict) and v.get("cumulative") is not None
        ]
        out.append(Stat(str(h.get("name", "")), " ".join(parts) or "-", "histogram"))
    return out


_PROM_TYPE = re.compile(r"^# TYPE (\S+) (\S+)")
_PROM_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*(?:\{.*\})?)\s+(\S+)")


def _from_prometheus(text: str, label: str) -> list[Stat]:
    kinds: dict[str, str] = {}
    out: list[Stat] = []
    for line in text.splitlines():
        typed = _PROM_TYPE.match(line)
        if typed:
            kinds[typed.group(1)] = typed.group(2)
            continue
        if not line.strip() or line.startswith("#"):
            continue
        sample = _PROM_SAMPLE.match(line)
        if sample is None or not _is_number(sample.group(2)):
            # any other line means this is not the exposition format (nor Envoy's stats)
            raise InvalidInput(
                f"{label}: not Envoy stats (line {line[:60]!r})",
                hint="expected GET /stats, /stats?format=json or /stats/prometheus",
            )
        name = sample.group(1)
        base = name.split("{", 1)[0]
        kind = kinds.get(base) or kinds.get(re.sub(r"_(bucket|sum|count)$", "", base), "")
        out.append(Stat(name, sample.group(2), kind))
    return out


def _is_number(value: str) -> bool:
    """A Prometheus sample value: a float, ``NaN`` or ``+Inf``/``-Inf``."""
    try:
        float(value)
    except ValueError:
        return False
    return True


def _from_text(text: str, label: str) -> list[Stat]:
    """Envoy's text ``/stats`` as saved by a user: read as a bundle's ``stats.txt`` is.

    :func:`pdebug.model.textforms.stats_document` gives the JSON form's document, read
    as that form is: a text readout without its quotes, a histogram ``P0=1 ...`` (``-``
    with no recorded values), as ``stats.json`` and live show them. Blank lines and a
    saved file's CRLF line ends are let through.
    """
    import orjson

    from pdebug.model.textforms import stats_document

    lines = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, _ = line.partition(": ")
        if not sep or not name or " " in name:
            raise InvalidInput(
                f"{label}: not Envoy stats (line {line[:60]!r})",
                hint="expected GET /stats, /stats?format=json or /stats/prometheus",
            )
        lines.append(line.rstrip("\r"))
    try:
        doc = stats_document("\n".join(lines).encode(), label)
    except InvalidInput as exc:
        raise InvalidInput(
            exc.message, hint="save GET /stats?format=json, or /stats as Envoy wrote it"
        ) from None
    return _from_json(orjson.loads(doc), label)


def parse(body: bytes | memoryview, label: str) -> list[Stat]:
    """Envoy's stats in any of its three formats, in the order Envoy listed them."""
    from pdebug.model.sniff import strip_bom

    data = bytes(strip_bom(body))  # a Windows editor's mark; a status line stays
    if data[:5] == b"HTTP/":  # saved with curl -i: the answer's head, then the stats
        from pdebug.model.sniff import RESPONSE_HEAD, response_head, sniff_bytes

        status, after = response_head(data[:RESPONSE_HEAD])
        if status == "200":
            data = data[after:]
        elif status:
            raise sniff_bytes(data).refuse(label, "Envoy stats", {})
    head = data[:4096].lstrip()
    if not head:
        raise InvalidInput(f"{label}: empty, not Envoy stats", hint="capture /stats again")
    if head.startswith(b"invalid path."):
        from pdebug.model.sniff import ADMIN_HELP, admin_help_given

        if head.startswith(ADMIN_HELP):
            raise admin_help_given(label)
    if head[:1] == b"{":
        import orjson

        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"{label}: invalid JSON: {exc}") from None
        if isinstance(doc, dict) and "configs" in doc:
            raise InvalidInput(
                f"{label}: this is a config dump; pdebug stats reads Envoy's /stats",
                hint="pass the admin URL or pod, a bundle from pdebug dump/snapshot, or a "
                "saved GET /stats?format=json",
            )
        other = _other_document(doc, label)
        if other is not None:
            raise other
        return _from_json(doc, label)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        from pdebug.model.sniff import sniff_bytes

        found = sniff_bytes(data)
        if found.kind in ("utf16", "utf16-be"):  # PowerShell 5's '>' (was "binary data")
            raise found.refuse(label, "Envoy stats", {}) from None
        raise InvalidInput(f"{label}: binary data, not Envoy stats") from None
    if head.startswith(b"# TYPE") or head.startswith(b"# HELP") or "{" in text.split("\n", 1)[0]:
        return _from_prometheus(text, label)
    return _from_text(text, label)


def select(stats: list[Stat], pattern: str | None) -> list[Stat]:
    """The stats whose name matches ``pattern`` (a Python regex, searched anywhere)."""
    if not pattern:
        return stats
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise UsageError(
            f"--filter {pattern!r}: not a valid regular expression ({exc})",
            hint="e.g. --filter 'update_rejected' or --filter '^cluster\\.outbound'",
        ) from None
    return [s for s in stats if rx.search(s.name)]


#: Counters that count xDS updates Envoy refused (the config dump keeps the old config).
REJECTED = re.compile(r"(^|[._])update_rejected($|\{)")


def rejected(stats: list[Stat]) -> list[Stat]:
    """The non-zero ``*.update_rejected`` counters (CDS, LDS, RDS, EDS, SDS...).

    A counter whose value is not known (:func:`unknown_rejected`) is not among them.
    """
    return [
        s
        for s in stats
        if REJECTED.search(s.name) and s.value not in ("0", "0.0") and not _unread(s)
    ]


def unknown_rejected(stats: list[Stat]) -> list[Stat]:
    """The ``*.update_rejected`` counters whose value is not known.

    Redacted in a bundle (:attr:`Stat.unknown`), or a text where a count belongs (a
    ``stats.json`` whose value a redaction made ``"[redacted]"``).
    """
    return [s for s in stats if REJECTED.search(s.name) and _unread(s)]


def _unread(stat: Stat) -> bool:
    return stat.unknown or stat.readout


def known(stats: list[Stat]) -> tuple[list[Stat], int]:
    """The stats whose value is known, and how many were left out (:attr:`Stat.unknown`)."""
    kept = [s for s in stats if not s.unknown]
    return kept, len(stats) - len(kept)


__all__ = ["REJECTED", "Stat", "known", "parse", "rejected", "select", "unknown_rejected"]
