"""Regressions found by helper fuzzlong (session 11): the long ``make fuzz`` run, minimised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pdebug import parallel
from tests import harness as eh


def _dump(tmp_path: Path, warming: list[Any]) -> Path:
    """A non-Istio dump (its secrets table searches the clusters for inline certificates)
    whose warming clusters are ``warming``."""
    doc = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                "dynamic_active_clusters": [{"cluster": {"name": "a", "type": "EDS"}}],
                "dynamic_warming_clusters": warming,
            },
            {"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump"},
        ]
    }
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    return path


BAD = {"lastUpdated": {}, "cluster": {"name": "b", "type": "EDS"}}
GOOD = {"last_updated": "2026-12-07T06:00:00Z", "cluster": {"name": "c", "type": "EDS"}}


@pytest.mark.parametrize("warming", [[BAD], [BAD, GOOD]], ids=["all-bad", "one-bad"])
@pytest.mark.parametrize("args", [["all"], ["all", "-o", "json"]])
def test_all_forked_says_what_one_process_says_of_a_warming_cluster(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    warming: list[Any],
    args: list[str],
) -> None:
    """tests/test_fuzz_fastpaths.py (seed 1796623163, case 28): a warming cluster whose
    ``lastUpdated`` is an object (an entry spelled both ways, the camel one damaged).
    ``all`` in one process built the clusters table first; the secrets part then took the
    decoded lists as "may hold an inline certificate" without its byte search, read every
    cluster (the warming ones too) and said the entry skipped (or, every warming entry
    damaged, ended with exit 4). Forked, the secrets part ran before any list was decoded,
    searched the bytes, found nothing and said nothing (exit 0). Now the search is skipped
    only when every list it would read is decoded already: the same answer either way."""
    path = _dump(tmp_path, warming)
    got = []
    for jobs in ("1", "3"):
        with monkeypatch.context() as m:
            m.setenv("PDEBUG_JOBS", jobs)
            m.setattr(parallel, "_threads_alive", lambda: False)
            got.append(eh.run_main([*args, str(path)], capsys))
    assert got[0] == got[1]
    assert got[0][0] == 0, got[0][2]
    # The secrets part of a clusters section without inline certificates reads no warming
    # entry; ``clusters -o wide`` does, and says it (or ends with exit 4: none decodes).
    code, _, err = eh.run_main(["clusters", str(path), "-o", "wide"], capsys)
    assert "dynamic_warming_clusters[0]" in err
    assert code == (4 if len(warming) == 1 else 0)


#: tests/test_fuzz_fastpaths.py, seed 1796626229 case 1170 (from fixtures/corpus/envoy-gateway/
#: translate/jwt-single-route-single-match-to-xds.envoy-gateway-system_eg.config_dump.json with
#: ``\u`` escapes put in its strings), minimised: a section whose ``@type`` is written with an
#: escape. Valid JSON; no Envoy writes it so.
ESCAPED_TYPE = (
    b'{"configs": [\n'
    b' {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",'
    b' "dynamic_active_clusters": [{"cluster": {"name": "a", "type": "EDS"}}]},\n'
    b' {"@type": "type.googleapis.com/envoy.admin.v3.Endpoints\\u0043onfigDump",'
    b' "dynamic_endpoint_configs": [{"endpoint_config": {"cluster_name": "a", "endpoints":'
    b' [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "10.0.0.1",'
    b' "port_value": 80}}}}]}]}}]}\n'
    b"]}\n"
)


def test_a_section_whose_type_is_escaped_is_found_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pdebug endpoints`` said "the dump has no endpoints section" and ``all`` skipped it,
    while ``clusters -o wide`` counted its endpoint (1, healthy 1) when the clusters were
    decoded first, and ``-`` when not (the fuzz finding: one-pass rows against the general
    path's)."""
    path = tmp_path / "escaped.json"
    path.write_bytes(ESCAPED_TYPE)
    code, out, err = eh.run_main(["endpoints", str(path)], capsys)
    assert code == 0, err
    assert "10.0.0.1:80" in out
    code, out, err = eh.run_main(["all", str(path)], capsys)
    assert "endpoints" not in err
