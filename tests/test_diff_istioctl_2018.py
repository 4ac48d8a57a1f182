"""istioctl's 2018-2020 sync-diff goldens (istio/istio@285c050, fixtures/istioctl/MANIFEST.md):
a v2 Envoy dump of mid-2018 against Pilot's /debug/config_dump answer of the same time.

Pilot's answer is lowerCamelCase and Envoy's snake_case; istioctl printed unified diffs of
its own re-serialisation, so the comparison is of verdict lines exactly and of the changed
lines as data (key spelling and indentation set aside).
"""

from __future__ import annotations

import re

import pytest

from tests.harness import ISTIOCTL

H = ISTIOCTL / "proxy-status-diff/historical-2018"
RDS = "(RDS last loaded at Tue, 19 Jun 2018 06:21:16 UTC)"


def test_same_config_matches(pdebug):
    result = pdebug("diff", H / "envoyconfigdump.json", "--expected", H / "pilotconfigdump.json")
    assert result.code == 0, result.err
    # its routes carry no last_updated (only its secrets do): no "(RDS last loaded ...)"
    assert result.out.splitlines() == ["Clusters Match", "Listeners Match", "Routes Match"]


def _changed(text: str) -> set[str]:
    """The -/+ lines of a unified diff that carry a value, spelled alike."""
    out = set()
    for line in text.splitlines():
        if line[:1] in "-+" and not line.startswith(("---", "+++")):
            body = re.sub(r"\s|_", "", line[1:]).lower().rstrip(",")
            if re.search(r"[a-z0-9]", body):
                out.add(line[0] + body)
    return out


@pytest.mark.parametrize("kind", ["cluster", "listener", "route"])
def test_differences_are_istioctls(pdebug, kind):
    args = ("diff", H / "diffenvoyconfigdump.json", "--expected", H / "pilotconfigdump.json")
    result = pdebug(*args, "--unified")
    assert result.code == 1, result.err
    verdicts = [line for line in result.out.splitlines() if "Match" in line]
    assert verdicts == [
        "Clusters Don't Match",
        "Listeners Don't Match",
        f"Routes Don't Match {RDS}",
    ]
    golden = (H / f"{kind}diff.txt").read_text()
    if kind == "route":
        assert golden.splitlines()[0] == verdicts[2]
    section = result.out.split(f"{kind.title()}s Don't Match", 1)[1].split(" Match", 1)[0]
    assert _changed(section) == _changed(golden), section
