"""Sweep 14: hostile files, misbehaving admins, live sources (each test failed before its fix)."""

from __future__ import annotations

import json
from pathlib import Path

from pdebug.errors import ExitCode
from tests.harness import FIXTURES

SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"
RATINGS = "outbound|9080||ratings.default.svc.cluster.local"


def test_assert_names_a_resource_with_two_name_keys_by_the_last_as_diff_and_the_views(
    pdebug, tmp_path: Path
) -> None:
    # `pdebug clusters` and `pdebug diff` name it "renamed" (JSON decoders keep the last
    # key); assert read the first (diff's fast path without exact=True) and disagreed.
    text = SIDECAR.read_text()
    first = f'"name": "{RATINGS}",\n'
    assert text.count(first) == 1
    dup = tmp_path / "dup.json"
    dup.write_text(text.replace(first, first + '            "name": "renamed",\n'))
    book = tmp_path / "book.yaml"
    book.write_text(
        "version: 1\nexpectations:\n"
        f'  - name: first\n    resource: {{kind: cluster, name: "{RATINGS}"}}\n'
        "  - name: last\n    resource: {kind: cluster, name: renamed}\n"
        "  - name: gone\n    resource: {kind: cluster, name: renamed, exists: false}\n"
    )
    assert "renamed" in pdebug("clusters", dup, "-o", "json").out
    r = pdebug("diff", SIDECAR, dup, "-o", "json")
    changes = {(c["name"], c["status"]) for k in json.loads(r.out)["kinds"] for c in k["changes"]}
    assert changes == {(RATINGS, "only-left"), ("renamed", "only-right")}
    r = pdebug("assert", book, dup, "-o", "json")
    assert r.code == ExitCode.FINDINGS, r.err
    verdicts = {row["expectation"]: row["result"] for row in json.loads(r.out)["results"]}
    assert verdicts == {"first": "FAIL", "last": "PASS", "gone": "FAIL"}, r.out
