"""A config dump saved as YAML, read as the JSON the loader takes, or named as what it is.

``pdebug all -o yaml`` and YAML-converted captures are config dumps too; ``istioctl zc
all -o yaml`` is a ztunnel dump (turned back into JSON here, and named as one by the
loader). Any other YAML is refused here with what it is instead: a Kubernetes object, one
view's list of resources, Envoy's text ``/stats``, an Envoy bootstrap, some other mapping.
The reader of one proxy's bytes (``pdebug.proxy._load``) calls :func:`from_yaml` before
:func:`pdebug.model.load.load`.
"""

from __future__ import annotations

from pdebug.errors import InvalidInput
from pdebug.model.load import BOOTSTRAP_HINT, BOOTSTRAP_KEYS
from pdebug.model.sniff import as_argument, looks_like_yaml, without_bom

__all__ = ["from_yaml"]


def from_yaml(body: bytes | memoryview, label: str) -> bytes | memoryview:
    """A YAML config dump (``pdebug all -o yaml``, a YAML-converted capture) as JSON.

    JSON input is returned as it is, untouched (the fast path). Other YAML is named as
    what it is: a Kubernetes object, one view's list of resources, or some other mapping.
    """
    # JSON is returned with its mark or ``200`` line: the reader skips them, keeping the
    # file's offsets in its errors
    text_body = without_bom(body)
    if not looks_like_yaml(text_body):
        return body
    import yaml

    from pdebug.model.sniff import no_timestamps

    try:
        text = bytes(text_body).decode("utf-8")
        # a timestamp left unquoted (``last_updated: 2026-11-25T21:49:12.798123456Z`` from
        # a converter) stays its text: read as a datetime it was rewritten, nanoseconds cut
        doc = yaml.load(text, Loader=no_timestamps())  # noqa: S506 - a safe loader
    except (UnicodeDecodeError, yaml.YAMLError):
        return body  # not YAML either: the JSON reader says what it is
    from pdebug.model.sniff import refuse_what_json_lacks, refuse_yaml_aliases
    from pdebug.model.ztunnel import looks_like_ztunnel

    if isinstance(doc, dict) and isinstance(doc.get("configs"), list):
        import orjson

        refuse_yaml_aliases(doc, label)
        refuse_what_json_lacks(doc, label)
        return orjson.dumps(doc)
    if isinstance(doc, dict) and all(isinstance(k, str) for k in doc) and looks_like_ztunnel(doc):
        import orjson  # istioctl zc all -o yaml: named (and read by zc) as a ztunnel dump

        refuse_yaml_aliases(doc, label)
        refuse_what_json_lacks(doc, label)
        return orjson.dumps(doc, default=str)
    if isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"):
        raise InvalidInput(
            f"{label}: this is a Kubernetes {doc['kind']} object (YAML), not an Envoy config dump",
            hint="pass the pod itself (pdebug clusters pod/NAME -n NS) or save "
            "`kubectl exec POD -c istio-proxy -- curl -s localhost:15000/config_dump`",
        )
    from pdebug.model.sniff import one_view, one_view_given

    view = one_view(doc)
    if view is not None:
        raise one_view_given(label, view, "yaml")
    if isinstance(doc, list):
        raise InvalidInput(
            f"{label}: this is a YAML list of {len(doc)} resources (one view's -o yaml), "
            "not a whole Envoy config dump",
            hint="save a whole dump: pdebug all SOURCE -o yaml (or -o json), or GET /config_dump",
        )
    if (
        isinstance(doc, dict)
        and doc
        and all(isinstance(k, str) and "." in k for k in doc)
        and all(isinstance(v, int | float | str) for v in doc.values())
    ):
        raise InvalidInput(  # "server.live: 1" lines parse as a YAML mapping
            f"{label}: this looks like Envoy's text /stats, not a config dump",
            hint=f"read it with: pdebug stats {as_argument(label)}",
        )
    if isinstance(doc, dict) and "xds_servers" in doc:
        from pdebug.model.sniff import grpc_bootstrap_given

        raise grpc_bootstrap_given(label)
    if isinstance(doc, dict) and any(k in doc for k in BOOTSTRAP_KEYS):
        raise InvalidInput(
            f"{label}: this is an Envoy bootstrap (the config Envoy starts from), not a "
            "config dump",
            hint=BOOTSTRAP_HINT,
        )
    from pdebug.model.refusals import egctl_given, fragment_given, syncz_given

    fragment = fragment_given(label, doc) or syncz_given(label, doc) or egctl_given(label, doc)
    if fragment is not None:
        raise fragment
    if isinstance(doc, dict):
        raise InvalidInput(
            f"{label}: YAML without a 'configs' list, not an Envoy config dump",
            hint="expected GET /config_dump (JSON, or pdebug all -o yaml)",
        )
    return body
