"""Unknown is not failure (#11.5): what a dump lacks makes checks skipped, never findings.

Dumps are the real Envoy 1.40 sidecar capture with sections removed, as a masked capture,
an older Envoy or a dump without ``include_eds`` leaves them out.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pdebug.checks import ALL_CHECKS, run_checks
from pdebug.errors import ExitCode
from pdebug.model import ProxyData
from pdebug.model.load import load
from tests.harness import FIXTURES

DUMP = FIXTURES / "real" / "sidecar" / "config_dump.json"
_BASE = json.loads(DUMP.read_text())
Json = dict[str, Any]
SECRET_CHECKS = {"PD501", "PD502", "PD503"}
EDS_CHECKS = {"PD202", "PD203", "PD403", "PD404"}
HEALTH_CHECKS = {"PD401", "PD402"}
PARTIAL = "(taken with a mask? capture the whole /config_dump)"


def without(*kinds: str, keep_only: tuple[str, ...] = ()) -> Json:
    doc = copy.deepcopy(_BASE)
    doc["configs"] = [
        c
        for c in doc["configs"]
        if not c["@type"].endswith(tuple("." + k + "ConfigDump" for k in kinds))
        and (not keep_only or c["@type"].endswith(tuple("." + k + "ConfigDump" for k in keep_only)))
    ]
    return doc


def save(tmp_path: Path, doc: Json) -> Path:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    return path


def report_of(doc: Json):
    return run_checks(ProxyData("d", load(json.dumps(doc).encode(), "d").dump, None))


def test_full_dump_without_secrets_section_has_no_secrets(pdebug, tmp_path):
    """Envoy (older ones) writes no secrets section when it holds no secret: none, not missing."""
    doc = without("Secrets")
    report = report_of(doc)
    skipped = {s.code for s in report.skipped}
    assert not skipped & SECRET_CHECKS
    assert not any(f.code in SECRET_CHECKS for f in report.findings)
    assert report.run == len(ALL_CHECKS) - len(skipped)
    path = save(tmp_path, doc)
    text = pdebug("check", path)
    assert "secrets" not in text.out and "capture" not in text.out + text.err
    as_json = json.loads(pdebug("check", path, "-o", "json").out)
    assert not {s["code"] for s in as_json["skipped"]} & SECRET_CHECKS
    # the secrets view says "none" as istioctl does for an empty section; json is empty
    view = pdebug("secrets", path)
    assert (view.code, view.out, view.err) == (0, "No active or warming secrets found.\n", "")
    assert json.loads(pdebug("secrets", path, "-o", "json").out) == {}
    # and `all` shows the part instead of calling it missing
    every = pdebug("all", path, "--with-headers")
    assert every.code == 0 and "no secrets section" not in every.err
    assert "No active or warming secrets found." in every.out


def test_partial_dump_without_secrets_skips_and_says_what_to_capture(pdebug, tmp_path):
    doc = without(keep_only=("Listeners", "Clusters", "Routes"))
    report = report_of(doc)
    reasons = {s.code: s.reason for s in report.skipped}
    for code in SECRET_CHECKS:
        assert reasons[code] == f"the dump has no secrets section {PARTIAL}"
    assert reasons["PD601"] == f"the dump has no bootstrap section {PARTIAL}"
    assert not any(f.code in SECRET_CHECKS | {"PD601"} for f in report.findings)
    result = pdebug("check", save(tmp_path, doc))
    assert f"Skipped PD501, PD502, PD503: the dump has no secrets section {PARTIAL}." in result.out
    view = pdebug("secrets", save(tmp_path, doc))
    assert view.code == ExitCode.INVALID_INPUT and "has no secrets section" in view.err


@pytest.mark.parametrize(
    ("kinds", "skipped", "reason"),
    [
        (("Endpoints",), EDS_CHECKS, "needs endpoints: a dump taken with config_dump?include_eds"),
        (("Routes",), {"PD301", "PD302"}, "the dump has no routes section"),
        (("Clusters",), {"PD104", "PD201", "PD203", "PD301"}, "the dump has no clusters section"),
        (("Listeners",), {"PD101", "PD102", "PD103", "PD104", "PD601", "PD602"}, "no listeners"),
    ],
)
def test_missing_section_skips_its_checks_never_a_finding(pdebug, tmp_path, kinds, skipped, reason):
    """A section the checks need is missing: they are listed as skipped with the reason."""
    full = report_of(copy.deepcopy(_BASE))
    doc = without(*kinds)
    report = report_of(doc)
    got = {s.code: s.reason for s in report.skipped}
    assert skipped <= set(got), got
    assert all(reason in got[c] for c in skipped)
    before = {(f.code, f.resource) for f in full.findings}
    new = [f for f in report.findings if (f.code, f.resource) not in before]
    assert new == []
    assert not any(f.code in skipped for f in report.findings)
    # json: the documented `skipped` list (code, name, reason, error)
    out = json.loads(pdebug("check", save(tmp_path, doc), "-o", "json").out)
    entries = {s["code"]: s for s in out["skipped"]}
    for code in skipped:
        assert set(entries[code]) == {"code", "name", "reason", "error"}
        assert entries[code]["error"] is False and reason in entries[code]["reason"]
    assert out["summary"]["checks_run"] == len(ALL_CHECKS) - len(out["skipped"])


def test_no_eds_with_clusters_nothing_reaches_means_no_false_no_endpoints(tmp_path):
    """Without EDS, an EDS cluster's endpoints are unknown: PD203 must not call them absent."""
    doc = without("Endpoints")
    report = report_of(doc)
    assert not any(f.code in EDS_CHECKS for f in report.findings)
    assert {s.code for s in report.skipped} >= EDS_CHECKS | HEALTH_CHECKS


def test_eds_view_without_endpoints_section_says_unknown_not_none(pdebug, tmp_path):
    """Not captured is not none: no table (istioctl's header alone read as "no endpoints"
    in a script), one error line saying what to capture, exit 4 as `endpoints` and every
    view whose section is missing."""
    result = pdebug("eds", save(tmp_path, without("Endpoints")))
    assert result.code == 4
    assert result.out == ""
    assert "has no endpoints section" in result.err and "include_eds" in result.err
    assert pdebug("eds", DUMP).err == ""
