"""A section whose ``@type`` is written with JSON escapes is found by every view.

The layout search finds a section by its type written plainly (``...ConfigDump"``); a
type written with escapes (``Secr\\u0065tsConfigDump``, ``type.googleapis.com\\/...``:
valid JSON, the same string) is read as part of the section before it. A view that
needs that section must not conclude it is absent: ``pdebug secrets`` said "No active or
warming secrets found." of such a dump while ``pdebug all`` (one process) listed two
(fuzz seed 2323, case 18, of tests/test_fuzz_fastpaths.py, on Envoy Gateway's
credential-injection dump). Each case escapes one section's type in a dump other people
produced and asks the view of that kind for what it printed of the original.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from tests import harness as eh

ROOT = Path(__file__).resolve().parent.parent
EG = ROOT / "fixtures/corpus/envoy-gateway/xds-ir/credential-injection.config_dump.json"

#: (dump, section type, the view that reads it)
CASES = [
    (EG, "SecretsConfigDump", ["secrets"]),
    (EG, "RoutesConfigDump", ["routes"]),
    (EG, "EndpointsConfigDump", ["eds"]),
    (EG, "ClustersConfigDump", ["clusters"]),
]


def _escaped(text: str, type_name: str, seed: int) -> str:
    """``text`` with the ``@type`` value of the ``type_name`` section written with escapes."""
    rng = random.Random(seed)
    pattern = re.compile(r'"(type\.googleapis\.com/envoy\.admin\.v3\.' + type_name + ')"')
    match = pattern.search(text)
    assert match is not None, type_name

    def esc(ch: str) -> str:
        if ch == "/":
            return "\\/"
        return f"\\u{ord(ch):04x}" if rng.random() < 0.4 else ch

    value = "".join(esc(ch) for ch in match.group(1))
    if value.endswith("ConfigDump"):  # at least one escape in the part the search reads
        value = value[: -len("ConfigDump")] + "Con\\u0066igDump"
    return text[: match.start(1)] + value + text[match.end(1) :]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("dump", "type_name", "view"), CASES)
def test_a_section_with_an_escaped_type_is_read(
    dump: Path,
    type_name: str,
    view: list[str],
    seed: int,
    tmp_path: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    want = eh.run_main([*view, str(dump)], capsys)
    assert want[0] == 0 and want[1].count("\n") > 1, want
    hidden = tmp_path / "escaped.json"
    hidden.write_text(_escaped(dump.read_text(), type_name, seed))
    for jobs in ("1", "3"):
        monkeypatch.setenv("PDEBUG_JOBS", jobs)
        got = eh.run_main([*view, str(hidden)], capsys)
        assert got[:2] == want[:2], (jobs, got)


def test_all_forked_and_in_one_process_agree(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hidden = tmp_path / "escaped.json"
    hidden.write_text(_escaped(EG.read_text(), "SecretsConfigDump", 3))
    got = []
    for jobs in ("1", "3"):
        monkeypatch.setenv("PDEBUG_JOBS", jobs)
        got.append(eh.run_main(["all", str(hidden)], capsys))
    assert got[0] == got[1]
    assert "credential-injection-2" in got[0][1]
