"""``pdebug status`` (istioctl proxy-status) from saved syncz answers.

Conformance: every proxy-status case of fixtures/istioctl/MANIFEST.md in its stated mode.
Then the status rules one by one, the layouts, ``-o wide``'s "since when", and bad input.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from pdebug.errors import InvalidInput
from pdebug.model import syncz as m
from pdebug.model.syncz import TypeSync, parse_syncz
from pdebug.views import status as v
from tests.harness import ISTIOCTL, heavy_imports

PS = ISTIOCTL / "proxy-status"
XDS = PS / "xds"
LEGACY = PS / "legacy-http-syncz"
XDS_2024 = PS / "xds-fixed-2024"
NOW = datetime(2024, 3, 4, 8, 40, 0, tzinfo=UTC)
IDENT = json.dumps({"Component": "istiod", "ID": "istiod-7d4f", "Info": {"version": "1.27.1"}})


def write(tmp_path: Path, doc: object, name: str = "syncz.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def client_config(
    node_id: str, ns: str | None = None, cluster: str = "Kubernetes", **types: object
) -> dict[str, object]:
    """A ClientConfig; ``types`` maps a short name to a status or (status, lastUpdated)."""
    meta: dict[str, str] = {"CLUSTER_ID": cluster, "ISTIO_VERSION": "1.27.1"}
    if ns is not None:
        meta["NAMESPACE"] = ns
    configs = []
    for short, value in types.items():
        status, when = value if isinstance(value, tuple) else (value, None)
        entry: dict[str, object] = {"typeUrl": m._BY_SHORT.get(short, short)}
        if status is not None:
            entry["configStatus"] = status
        if when is not None:
            entry["lastUpdated"] = when
        configs.append(entry)
    return {
        "@type": m.CLIENT_CONFIG,
        "node": {"id": node_id, "metadata": meta},
        "genericXdsConfigs": configs,
    }


def response(*resources: dict[str, object], ident: str | None = IDENT) -> dict[str, object]:
    out: dict[str, object] = {"typeUrl": m.CLIENT_CONFIG, "resources": list(resources)}
    if ident is not None:
        out["controlPlane"] = {"identifier": ident}
    return out


# --------------------------------------------------------------------- conformance


@pytest.mark.parametrize(
    ("case", "source", "golden", "args"),
    [
        # istioctl >= 1.27's default table for the xDS answer is pdebug's default for it
        (
            "ps-single-pilot",
            XDS / "xds_syncz_single_pilot.reconstructed.json",
            XDS / "multiXdsStatusSinglePilot.txt",
            [],
        ),
        (
            "ps-single-pilot-types",
            XDS / "xds_syncz_single_pilot.reconstructed.json",
            XDS / "multiXdsStatusSinglePilot.txt",
            ["--layout", "types"],
        ),
        (
            "ps-legacy-single",
            LEGACY / "http_syncz_single_pilot.reconstructed.json",
            LEGACY / "multiStatusSinglePilot.txt",
            [],
        ),
        (
            "ps-legacy-multi-pilot",
            LEGACY / "http_syncz_multi_pilot.reconstructed.json",
            LEGACY / "multiStatusMultiPilot.txt",
            [],
        ),
        (
            "ps-legacy-fallback",
            LEGACY / "http_syncz_proxy_version_fallback.reconstructed.json",
            LEGACY / "singleStatusFallback.txt",
            [],
        ),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_conformance_exact(pdebug, case, source, golden, args):
    result = pdebug("status", "--file", source, *args)
    assert result.code == 0, result.err
    assert result.out == golden.read_text(), case
    # istioctl's SUBSCRIBED TYPES table hides the STALE types of both proxies of the xDS
    # case: stderr says so (usersaudit); the legacy tables show STALE in their cells
    hidden = "note: 2 of 2 proxies out of sync with istiod, which this table does not show"
    assert result.err == "" if "legacy" in case else result.err.startswith(hidden)


@pytest.mark.parametrize(
    ("source", "golden"),
    [
        ("xds_syncz_multi_pilot.reconstructed.json", "multiXdsStatusMultiPilot.txt"),
        ("xds_syncz_single_pilot_2024.reconstructed.json", "multiXdsStatusSinglePilot.txt"),
    ],
)
def test_conformance_istioctl_1_22_to_1_26_table(pdebug, source, golden):
    """istioctl 1.22-1.26 printed the xDS answer in the per-type layout (--layout fixed)."""
    result = pdebug("status", "--file", str(XDS_2024 / source), "--layout", "fixed")
    assert result.code == 0, result.err
    want = (XDS_2024 / golden).read_text()
    assert result.out == (want if want.endswith("\n") else want + "\n")


@pytest.mark.parametrize("when", [NOW, datetime(2031, 1, 1, tzinfo=UTC)])
def test_xds_golden_does_not_depend_on_the_clock(when):
    # The golden has no ages: its input carries no lastUpdated (istioctl's test builds
    # ClientConfigs without one), so any `now` reproduces it.
    doc = parse_syncz((XDS / "xds_syncz_single_pilot.reconstructed.json").read_bytes(), "f")
    from pdebug.render.text import render_text

    text = render_text(v.view(doc, layout="types", now=when).table, wide=False)
    assert text == (XDS / "multiXdsStatusSinglePilot.txt").read_text()


@pytest.mark.parametrize(
    ("case", "source", "golden", "args", "load"),
    [
        (
            "ps-json",
            "xds_syncz_one_proxy.reconstructed.json",
            "multiXdsStatusSinglePilot.json",
            ["-o", "json"],
            json.loads,
        ),
        (
            "ps-yaml",
            "xds_syncz_one_proxy.reconstructed.json",
            "multiXdsStatusSinglePilot.yaml",
            ["-o", "yaml"],
            yaml.safe_load,
        ),
        (
            "ps-namespace-yaml",
            "xds_syncz_two_namespaces.reconstructed.json",
            "multiXdsStatusSingleNamespace.yaml",
            ["-n", "foo", "-o", "yaml"],
            yaml.safe_load,
        ),
    ],
    ids=lambda x: x if isinstance(x, str) and x.startswith("ps-") else "",
)
def test_conformance_as_data(pdebug, case, source, golden, args, load):
    result = pdebug("status", "-f", XDS / source, *args)
    assert result.code == 0, result.err
    assert load(result.out) == load((XDS / golden).read_text()), case


def test_ps_json_golden_is_the_istiod1_answer(pdebug):
    source = XDS / "xds_syncz_one_proxy.reconstructed.json"
    want = json.loads(source.read_text())["istiod1"]
    assert json.loads(pdebug("status", "-f", source, "-o", "json").out) == want


# ----------------------------------------------------------------- layouts, filters


def test_default_layout_is_istioctls_table_for_the_answer(pdebug):
    """xDS sync status: istioctl 1.27+'s SUBSCRIBED TYPES; legacy HTTP: the fixed columns."""
    xds = XDS / "xds_syncz_single_pilot.reconstructed.json"
    assert pdebug("status", "-f", xds).out == (XDS / "multiXdsStatusSinglePilot.txt").read_text()
    assert pdebug("status", "-f", xds, "--layout", "auto").out.split()[:5] == [
        "NAME",
        "CLUSTER",
        "ISTIOD",
        "VERSION",
        "SUBSCRIBED",
    ]
    legacy = LEGACY / "http_syncz_single_pilot.reconstructed.json"
    assert pdebug("status", "-f", legacy).out.split()[2:7] == ["CDS", "LDS", "EDS", "RDS", "ECDS"]
    # --layout still overrides, both ways
    assert pdebug("status", "-f", legacy, "--layout", "types").out.split()[4] == "SUBSCRIBED"
    assert (
        pdebug("status", "-f", legacy, "--layout", "fixed").out
        == pdebug("status", "-f", legacy).out
    )


def test_fixed_layout_on_xds_data(pdebug):
    out = pdebug(
        "status", "-f", XDS / "xds_syncz_single_pilot.reconstructed.json", "--layout", "fixed"
    ).out
    assert out == (
        "NAME       CLUSTER      CDS       LDS        EDS        RDS          ECDS         "
        "ISTIOD      VERSION\n"
        "proxy1     cluster1     STALE     SYNCED     SYNCED     NOT SENT     NOT SENT     "
        "istiod1     1.20\n"
        "proxy2     cluster2     STALE     SYNCED     STALE      SYNCED       NOT SENT     "
        "istiod1     1.20\n"
    )


def test_per_type_layout_sorts_columns_by_type_url(pdebug):
    source = XDS / "xds_syncz_one_proxy.reconstructed.json"
    out = pdebug("status", "-f", source, "--layout", "per-type").out
    assert out == (
        "NAME       CLUSTER      CDS       ECDS       EDS        LDS        RDS          "
        "ISTIOD      VERSION\n"
        "proxy1     cluster1     STALE     SYNCED     SYNCED     SYNCED     NOT SENT     "
        "istiod1     1.20\n"
    )
    assert pdebug("status", "-f", source, "--layout", "verbose").out == out


def test_empty_answers_print_the_header_and_say_so(pdebug, tmp_path):
    for doc, layout, header in [
        (
            [],
            "fixed",
            "NAME     CLUSTER     CDS     LDS     EDS     RDS     ECDS     ISTIOD     VERSION\n",
        ),
        ({}, "types", "NAME     CLUSTER     ISTIOD     VERSION     SUBSCRIBED TYPES\n"),
        (
            {"istiod-1": {}},
            "types",
            "NAME     CLUSTER     ISTIOD     VERSION     SUBSCRIBED TYPES\n",
        ),
    ]:
        result = pdebug("status", "-f", write(tmp_path, doc), "--layout", layout)
        assert result.code == 0
        assert result.out == header
        assert "No proxies found in" in result.err
    assert pdebug("status", "-f", write(tmp_path, []), "-o", "json").out.strip() == "[]"


def test_namespace_filter_xds_uses_node_metadata(pdebug, tmp_path):
    source = XDS / "xds_syncz_two_namespaces.reconstructed.json"
    out = pdebug("status", "-f", source, "-n", "bar").out
    assert [line.split()[0] for line in out.splitlines()] == ["NAME", "proxy2"]
    none = pdebug("status", "-f", source, "-n", "baz")
    assert none.code == 0
    assert none.out.startswith("NAME") and len(none.out.splitlines()) == 1
    assert "No proxies in namespace 'baz' (2 in other namespaces)." in none.err


def test_namespace_filter_legacy_uses_the_proxy_id_suffix(pdebug, tmp_path):
    doc = {
        "istiod-a": [
            {"proxy": "reviews-v1-abc.bookinfo", "cluster_id": "c1", "istio_version": "1.20"},
            {"proxy": "sleep-xyz.default", "cluster_id": "c1", "istio_version": "1.20"},
            {"proxy": "no-namespace", "cluster_id": "c1", "istio_version": "1.20"},
        ]
    }
    path = write(tmp_path, doc)
    out = pdebug("status", "-f", path, "-n", "bookinfo").out
    assert [line.split()[0] for line in out.splitlines()] == ["NAME", "reviews-v1-abc.bookinfo"]
    data = json.loads(pdebug("status", "-f", path, "-n", "default", "-o", "json").out)
    assert data == {"istiod-a": [doc["istiod-a"][1]]}


def test_legacy_rows_sort_by_cluster_then_proxy(pdebug, tmp_path):
    doc = {
        "istiod-b": [
            {"proxy": "a.ns", "cluster_id": "zeta"},
            {"proxy": "z.ns", "cluster_id": "alpha"},
        ],
        "istiod-a": [{"proxy": "b.ns", "cluster_id": "zeta"}],
    }
    out = pdebug("status", "-f", write(tmp_path, doc)).out
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["z.ns", "a.ns", "b.ns"]


def test_xds_rows_sort_by_proxy_id_across_istiods(pdebug, tmp_path):
    doc = {
        "x": response(client_config("b.ns", cluster="alpha", CDS="SYNCED")),
        "y": response(client_config("a.ns", cluster="zeta", CDS="SYNCED")),
    }
    out = pdebug("status", "-f", write(tmp_path, doc), "--layout", "types").out
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["a.ns", "b.ns"]


# ------------------------------------------------------------------- status rules


@pytest.mark.parametrize(
    ("sent", "acked", "ztunnel", "text"),
    [
        ("", "", False, "NOT SENT"),
        ("", "n1", False, "NOT SENT"),
        ("", "", True, "IGNORED"),
        ("n1", "n1", False, "SYNCED"),
        ("n1", "n1", True, "SYNCED"),
        ("n2", "", False, "STALE (Never Acknowledged)"),
        ("n2", "n1", False, "STALE"),
    ],
)
def test_legacy_nonce_logic(sent, acked, ztunnel, text):
    state = m.nonce_state(sent, acked, ztunnel)
    assert v.status_text(TypeSync(m.CDS, state), NOW) == text


def test_legacy_ztunnel_types_not_sent_are_ignored(pdebug, tmp_path):
    doc = {
        "istiod-1": [
            {
                "proxy": "ztunnel-abcde.istio-system",
                "proxy_type": "ztunnel",
                "cluster_id": "Kubernetes",
                "istio_version": "1.21.0",
            },
            {
                "proxy": "sleep-1.default",
                "cluster_id": "Kubernetes",
                "istio_version": "1.21.0",
                "cluster_sent": "n1",
                "cluster_acked": "n1",
                "listener_sent": "n2",
                "endpoint_sent": "n3",
                "endpoint_acked": "n0",
            },
        ]
    }
    out = pdebug("status", "-f", write(tmp_path, doc)).out
    assert _cells(out)[2][2:7] == ["IGNORED"] * 5
    assert _cells(out)[1][2:7] == [
        "SYNCED",
        "STALE (Never Acknowledged)",
        "STALE",
        "NOT SENT",
        "NOT SENT",
    ]


def _cells(text: str) -> list[list[str]]:
    """Split a padding-5 table into cells (cells never hold 5 spaces)."""
    import re

    return [re.split(r" {5,}", line.rstrip()) for line in text.splitlines()]


@pytest.mark.parametrize(
    ("item", "version"),
    [
        ({"istio_version": "1.20.1", "proxy_version": "1.19"}, "1.20.1"),
        ({"proxy_version": "1.1"}, "1.1*"),
        ({}, "*"),
    ],
)
def test_legacy_version_falls_back_to_proxy_version_with_a_star(item, version):
    body = json.dumps([{"proxy": "p.ns", **item}]).encode()
    (proxy,) = parse_syncz(body, "f").proxies()
    assert proxy.version == version


def test_legacy_resources_give_more_types_and_wide_times(pdebug, tmp_path):
    doc = [
        {
            "proxy": "p.ns",
            "cluster_id": "c",
            "istio_version": "1.21",
            "cluster_sent": "n2",
            "cluster_acked": "n1",
            "resources": {
                m.CDS: {"sent": "n2", "acked": "n1", "sentTime": "2024-03-04T08:25:00.123456789Z"},
                "SDS": {"sent": "s1", "lastError": "bad cert"},
            },
        }
    ]
    path = write(tmp_path, doc)
    out = pdebug("status", "-f", path, "-o", "wide", "--now", "2024-03-04T08:40:00Z").out
    row = _cells(out)[1]
    assert row[2] == "STALE"  # legacy cells never carry ages (istioctl <= 1.21)
    # 14m59.877s: HumanDuration truncates
    assert row[-3:] == ["CDS,SDS", "14m (2024-03-04T08:25:00Z)", "SDS: bad cert"]
    per_type = pdebug("status", "-f", path, "--layout", "per-type").out
    assert _cells(per_type)[0][2:8] == ["CDS", "ECDS", "EDS", "LDS", "RDS", "SDS"]
    # a type whose last push the proxy NACKed (lastError) is ERROR, as istiod's xDS answer
    # and istioctl >= 1.22 say (it was STALE (Never Acknowledged))
    assert _cells(per_type)[1][7] == "ERROR"


# -------------------------------------------------------------------- xDS details


def test_xds_cells_carry_the_age_of_last_updated(tmp_path):
    body = json.dumps(
        response(
            client_config(
                "p.ns",
                CDS=("STALE", "2024-03-04T08:35:00Z"),
                LDS=("SYNCED", "2024-03-04T05:10:00Z"),
                EDS=("NOT_SENT", "2024-03-04T08:39:00Z"),
                RDS=("ERROR", "2024-03-04T08:39:59.5Z"),
                ECDS=(None, "2024-03-01T00:00:00Z"),
            )
        )
    ).encode()
    doc = parse_syncz(body, "f")
    from pdebug.render.text import render_text

    result = v.view(doc, layout="fixed", now=NOW)
    rows = _cells(render_text(result.table, wide=True))
    assert rows[1][2:7] == ["STALE (5m)", "SYNCED (3h30m)", "NOT SENT", "ERROR (0s)", "IGNORED"]
    assert rows[1][-3:] == ["CDS,RDS", "5m (2024-03-04T08:35:00Z)", "-"]
    types = render_text(v.view(doc, layout="types", now=NOW).table, wide=False)
    assert _cells(types)[1][-1] == "4 (CDS,LDS,EDS,RDS)"  # NOT SENT and ERROR count


def test_cli_now_option_and_current_time(pdebug, tmp_path):
    path = write(tmp_path, response(client_config("p.ns", CDS=("STALE", "2024-03-04T08:35:00Z"))))
    fixed = ("--layout", "fixed")
    out = pdebug("status", "-f", path, *fixed, "--now", "2024-03-04T09:40:00+01:00").out
    assert _cells(out)[1][2] == "STALE (5m)"
    current = pdebug("status", "-f", path, *fixed).out  # years later: the wall clock
    assert _cells(current)[1][2].startswith("STALE (") and "y" in _cells(current)[1][2]
    bad = pdebug("status", "-f", path, "--now", "yesterday")
    assert bad.code == 2 and "--now" in bad.err


def test_subscribed_types_order_and_short_names():
    proxy = parse_syncz(
        json.dumps(
            response(
                client_config(
                    "ztunnel-1.istio-system",
                    WADS="SYNCED",
                    WDS="SYNCED",
                    **{m.WDS_WORKLOAD: "UNKNOWN", "type.googleapis.com/x.Y": "STALE"},
                ),
                client_config("s.ns", RDS="SYNCED", SDS="NOT_SENT", CDS="SYNCED", LDS="STALE"),
            )
        ).encode(),
        "f",
    )
    from pdebug.render.text import render_text

    rows = _cells(render_text(v.view(proxy, layout="types", now=NOW).table, wide=False))
    # CDS, LDS, EDS, RDS (seen ones) first, then the other type URLs sorted as strings
    assert rows[1][-1] == "4 (CDS,LDS,RDS,SDS)"
    assert rows[2][-1] == "3 (WADS,WDS,type.googleapis.com/x.Y)"


def test_xds_old_xds_config_form_and_numeric_enums(pdebug, tmp_path):
    resource = {
        "@type": m.CLIENT_CONFIG,
        "node": {"id": "old.ns", "metadata": {"CLUSTER_ID": "c"}},
        "xdsConfig": [
            {"status": "SYNCED", "listenerConfig": {}},
            {"status": 3, "clusterConfig": {}},
            {"status": "NOT_SENT", "routeConfig": {}},
            {"endpointConfig": {}},
            {"status": "STALE", "scopedRouteConfig": {}},
        ],
    }
    out = pdebug("status", "-f", write(tmp_path, response(resource)), "--layout", "fixed").out
    assert _cells(out)[1][:7] == [
        "old.ns",
        "c",
        "STALE",
        "SYNCED",
        "IGNORED",
        "NOT SENT",
        "IGNORED",
    ]


def test_snake_case_keys_are_read_too(tmp_path):
    body = json.dumps(
        {
            "type_url": m.CLIENT_CONFIG,
            "control_plane": {"identifier": IDENT},
            "resources": [
                {
                    "@type": m.CLIENT_CONFIG,
                    "node": {"id": "p.ns", "metadata": {"NAMESPACE": "ns"}},
                    "generic_xds_configs": [
                        {
                            "type_url": m.CDS,
                            "config_status": "SYNCED",
                            "last_updated": "2024-03-04T08:00:00Z",
                        }
                    ],
                }
            ],
        }
    ).encode()
    (proxy,) = parse_syncz(body, "f").proxies()
    assert (proxy.istiod, proxy.namespace) == ("istiod-7d4f", "ns")
    assert v.status_text(proxy.types[m.CDS], NOW) == "SYNCED (40m)"


@pytest.mark.parametrize(
    ("ident", "key", "want"),
    [
        (IDENT, "saved-key", "istiod-7d4f"),
        (None, None, "MISSING"),
        (None, "saved-key", "saved-key"),
        ("not json", None, "INVALID"),
        ("not json", "saved-key", "saved-key"),
    ],
)
def test_istiod_column_comes_from_the_control_plane_identifier(ident, key, want):
    answer = response(client_config("p.ns", CDS="SYNCED"), ident=ident)
    doc = {key: answer} if key else answer
    (proxy,) = parse_syncz(json.dumps(doc).encode(), "f").proxies()
    assert proxy.istiod == want


def test_several_responses_back_to_back(pdebug, tmp_path):
    # `istioctl proxy-status -o json` with two istiods prints two objects in a row
    one = response(client_config("a.ns", CDS="SYNCED"), ident=IDENT)
    other = json.dumps({"Component": "istiod", "ID": "istiod-other"})
    two = response(client_config("b.ns", CDS="STALE"), ident=other)
    path = write(tmp_path, json.dumps(one, indent=4) + "\n" + json.dumps(two, indent=4) + "\n")
    out = pdebug("status", "-f", path, "--layout", "types").out
    assert [r[2] for r in _cells(out)[1:]] == ["istiod-7d4f", "istiod-other"]
    data = json.loads(pdebug("status", "-f", path, "-o", "json").out)
    assert data == {"istiod-7d4f": one, "istiod-other": two}
    as_list = write(tmp_path, [one, two], "list.json")
    assert pdebug("status", "-f", as_list, "--layout", "types").out == out


def test_a_real_istiods_answer_carries_the_request_type(pdebug, tmp_path):
    """istiod answers with the request's type, istio.io/debug/syncz (istioctl's unit tests
    fake ClientConfig there); `istioctl proxy-status -o json` prints it as is. It was
    exit 4 "a DiscoveryResponse of istio.io/debug/syncz, not istio.io/debug/syncz"."""
    faked = response(client_config("a.ns", CDS="SYNCED"), client_config("b.ns", CDS="STALE"))
    real = {**faked, "typeUrl": "istio.io/debug/syncz", "nonce": "n", "versionInfo": "v"}
    want = pdebug("status", "-f", write(tmp_path, faked, "faked.json"))
    got = pdebug("status", "-f", write(tmp_path, real, "real.json"))
    assert got.code == 0 and got.out == want.out and "a.ns" in got.out, got.err
    # an istiod no proxy is connected to: proto-JSON leaves out the empty resources
    empty = {"versionInfo": "v", "typeUrl": "istio.io/debug/syncz", "nonce": "n"}
    result = pdebug("status", "-f", write(tmp_path, {"istiod-1": empty}, "empty.json"))
    assert result.code == 0 and "No proxies found in" in result.err, result.err


def test_istioctl_yaml_output_is_read(pdebug, tmp_path):
    """`istioctl proxy-status -o yaml` (was exit 4, "not JSON"): one mapping per istiod,
    written one after another with nothing between them, or with ``---``."""
    import yaml

    one = pdebug("status", "--file", str(XDS / "multiXdsStatusSinglePilot.yaml"))
    want = pdebug("status", "--file", str(XDS / "xds_syncz_one_proxy.reconstructed.json"))
    assert (one.code, one.out) == (0, want.out), one.err
    multi = json.loads((XDS_2024 / "xds_syncz_multi_pilot.reconstructed.json").read_text())
    docs = [yaml.safe_dump(r, sort_keys=True) for r in multi.values()]
    for sep, name in (("", "run.yaml"), ("---\n", "docs.yaml")):
        path = tmp_path / name
        path.write_text(sep.join(docs))
        got = pdebug("status", "--file", str(path), "--layout", "fixed")
        assert got.code == 0, got.err
        assert got.out == (XDS_2024 / "multiXdsStatusMultiPilot.txt").read_text() + "\n"


def test_json_keeps_the_map_for_several_istiods_and_drops_filtered_proxies(pdebug, tmp_path):
    doc = {
        "istiod-a": response(client_config("a.foo", ns="foo", CDS="SYNCED")),
        "istiod-b": response(client_config("b.bar", ns="bar", CDS="SYNCED")),
    }
    path = write(tmp_path, doc)
    assert json.loads(pdebug("status", "-f", path, "-o", "json").out) == doc
    only = json.loads(pdebug("status", "-f", path, "-n", "foo", "-o", "json").out)
    assert only["istiod-a"] == doc["istiod-a"]
    assert "resources" not in only["istiod-b"]


def test_markdown_and_wide(pdebug):
    source = LEGACY / "http_syncz_single_pilot.reconstructed.json"
    md = pdebug("status", "-f", source, "-o", "markdown").out
    assert md.splitlines()[0].startswith("| NAME")
    assert "OUT OF SYNC" in md.splitlines()[0]
    wide = pdebug("status", "-f", source, "-o", "wide").out
    assert _cells(wide)[1][-3:] == ["CDS", "unknown", "-"]
    assert _cells(wide)[2][-3:] == ["CDS,EDS", "unknown", "-"]


def test_stdin_gzip_and_aliases(pdebug, monkeypatch, tmp_path):
    source = LEGACY / "http_syncz_single_pilot.reconstructed.json"
    want = (LEGACY / "multiStatusSinglePilot.txt").read_text()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(source.read_bytes())))
    assert pdebug("status", "-f", "-").out == want
    packed = tmp_path / "syncz.json.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    assert pdebug("status", "-f", packed).out == want
    assert pdebug("ps", "-f", source).out == want
    assert pdebug("proxy-status", "--file", source).out == want


# ------------------------------------------------------------------- HumanDuration


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-2), "<invalid>"),
        (timedelta(seconds=-1.5), "0s"),  # Go truncates -1.5 s to -1: still "now"
        (timedelta(seconds=-1), "0s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=119.9), "119s"),
        (timedelta(minutes=2), "2m"),
        (timedelta(minutes=2, seconds=1), "2m1s"),
        (timedelta(minutes=9, seconds=59), "9m59s"),
        (timedelta(minutes=10), "10m"),
        (timedelta(hours=2, minutes=59, seconds=59), "179m"),
        (timedelta(hours=3), "3h"),
        (timedelta(hours=3, minutes=1), "3h1m"),
        (timedelta(hours=7, minutes=59, seconds=59), "7h59m"),
        (timedelta(hours=8), "8h"),
        (timedelta(hours=47, minutes=59), "47h"),
        (timedelta(hours=48), "2d"),
        (timedelta(hours=49), "2d1h"),
        (timedelta(days=8) - timedelta(seconds=1), "7d23h"),
        (timedelta(days=8), "8d"),
        (timedelta(days=730) - timedelta(seconds=1), "729d"),
        (timedelta(days=730), "2y"),
        (timedelta(days=731), "2y1d"),
        (timedelta(days=365 * 8) - timedelta(days=1), "7y364d"),
        (timedelta(days=365 * 8), "8y"),
        (timedelta(days=365 * 8 + 1), "8y"),
        (timedelta(days=365 * 100), "100y"),
        (timedelta(days=365 * 1000), "292y"),  # Go's Duration saturates
    ],
)
def test_human_duration_boundaries(delta, text):
    assert v.human_duration(delta) == text


def test_zero_timestamp_saturates_at_292y():
    zero = TypeSync(m.CDS, m.STALE, last_updated=m.parse_time("0001-01-01T00:00:00Z"))
    assert v.status_text(zero, NOW) == "STALE (292y)"


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (b"", 4, "the input is empty"),
        (b"  \n", 4, "the input is empty"),
        (b"<html><body>502 Bad Gateway</body></html>", 4, "HTML page"),
        (b'{"istiod-1": [{"proxy": "a", "cluster_sent', 4, "truncated"),
        (b"[1, 2", 4, "truncated"),
        (b"NAME  CLUSTER\nproxy1 c1\n", 4, "not JSON"),
        # YAML (istioctl proxy-status -o yaml) is read; a YAML that is no answer is refused
        (b"hello:\n  world: 1\n", 4, "not a syncz document"),
        (b"controlPlane: [unclosed\n", 4, "not JSON"),
        (b"error: exit status 1\n", 4, "not JSON (starts with 'error: exit status 1')"),
        (b"\x00\x01\xff\xfe", 4, "binary data"),
        (b"N" * 511 + "\u00e9".encode(), 4, "not JSON"),  # a character cut at byte 512
        (b"42", 4, "a JSON number, not a syncz document"),
        (b'"text"', 4, "not a syncz document"),
        (b'{"configs": [{"@type": "x"}]}', 4, "Envoy config dump"),
        (b'{"cluster_statuses": []}', 4, "/clusters document"),
        (b'{"apiVersion": "v1", "kind": "Pod"}', 4, "Kubernetes Pod object"),
        (b'{"istiod-1": "oops"}', 4, "not a syncz document"),
        (b'{"istiod-1": {"foo": 1}}', 4, "not a syncz document"),
        (b"[1, 2]", 4, "is not a sync status"),
        (b'[{"name": "x"}]', 4, "is not a sync status"),
        (b'{"a": 1} {"b": 2}', 4, "is not an istio.io/debug/syncz response"),
        (b'{"a": 1} {', 4, "invalid JSON"),
        (
            json.dumps({"typeUrl": "istio.io/debug/config_dump", "resources": []}).encode(),
            4,
            "not istio.io/debug/syncz",
        ),
        (
            json.dumps(
                {
                    "versionInfo": "1",
                    "resources": [{"@type": m.PREFIX + "envoy.admin.v3.ConfigDump"}],
                }
            ).encode(),
            4,
            "not a ClientConfig",
        ),
        (
            json.dumps(response(client_config("p", CDS=("SYNCED", "yesterday")))).encode(),
            4,
            "bad timestamp",
        ),
    ],
)
def test_bad_input_is_one_clear_error(pdebug, tmp_path, content, code, message):
    path = tmp_path / "input.json"
    path.write_bytes(content)
    result = pdebug("status", "--file", path)
    assert result.code == code, result.err
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines[0].startswith("pdebug: error: ")
    assert message in lines[0]
    assert str(path) in lines[0]
    assert len(lines) <= 2 and all(ln.startswith(("pdebug: error:", "hint:")) for ln in lines)


def test_bad_command_lines(pdebug, tmp_path):
    source = LEGACY / "http_syncz_single_pilot.reconstructed.json"
    both = pdebug("status", "-f", source, "--istiod", "http://127.0.0.1:15014")
    assert both.code == 2  # live status is tested in test_istiod.py
    assert both.err.startswith(
        "pdebug: error: --file reads a saved answer; --istiod is for asking istiod live\n"
    )
    assert pdebug("status", "-f", source, "--layout", "nope").code == 2
    assert pdebug("status", "-f", source, "-o", "nope").code == 2
    missing = pdebug("status", "-f", tmp_path / "nope.json")
    assert missing.code == 3 and "no such file" in missing.err
    assert pdebug("status", "-f", tmp_path).code == 4


def test_parse_errors_are_invalid_input():
    with pytest.raises(InvalidInput):
        parse_syncz(b"{", "x")


def test_status_does_not_import_heavy_modules():
    source = LEGACY / "http_syncz_single_pilot.reconstructed.json"
    assert "HEAVY []" in heavy_imports("status", "-f", str(source))


def test_a_real_istiod_114_http_syncz_from_kiali(pdebug):
    """istiod 1.14.1's own /debug/syncz answer (Kiali's test data, fixtures/corpus/istiod):
    every proxy of the list, the egress gateway's RDS never sent, no ISTIOD name (one file
    without the pod's name), exit 0."""
    from tests.harness import FIXTURES

    path = FIXTURES / "corpus/istiod/2022-10-kiali/registry-syncz.json"
    doc = json.loads(path.read_text())
    result = pdebug("status", "-f", path)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "ECDS", "ISTIOD", "VERSION"
    ]  # fmt: skip
    assert sorted(ln.split()[0] for ln in lines[1:]) == sorted(p["proxy"] for p in doc)
    egress = next(ln for ln in lines if ln.startswith("istio-egressgateway"))
    assert egress.split()[1:] == [
        "Kubernetes",
        *["SYNCED"] * 3,
        "NOT",
        "SENT",
        "NOT",
        "SENT",
        "1.14.1",
    ]
    assert json.loads(pdebug("status", "-f", path, "-o", "json").out) == doc
