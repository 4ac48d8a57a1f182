"""#14 (walk11): the sniffer's one look, ``sniff.prepare``, before the syncz and ztunnel readers."""

from __future__ import annotations

import pytest

from pdebug.errors import InvalidInput
from pdebug.model import syncz, ztunnel
from pdebug.model.sniff import prepare

_TWO = (
    b"controlPlane:\n  identifier: a\nresources: []\n"
    b"controlPlane:\n  identifier: b\nresources: []\n"
)


def test_the_record_holds_the_decision_and_the_yaml() -> None:
    look = prepare(b"\xef\xbb\xbf" + _TWO, "s.yaml", syncz.reader())
    assert bytes(look.data) == _TWO  # the mark dropped for the JSON reader too
    assert look.docs is not None and len(look.docs) == 2  # istioctl's back-to-back answers
    assert look.aliases is None and look.refusal is not None  # no JSON: refused unless YAML
    zlook = prepare(b'{"workloads": {}}', "z.json", ztunnel.reader())
    assert zlook.docs is None and zlook.refusal is None


def test_a_reader_raises_the_records_alias_refusal_only_when_it_takes_the_yaml() -> None:
    bomb = b"workloads: &a [1]\nservices: *a\n"
    look = prepare(bomb, "z.yaml", ztunnel.reader())
    assert look.aliases is not None
    with pytest.raises(InvalidInput, match="YAML with aliases"):
        ztunnel.read(look)
    other = b"configs: &a [1]\nmore: *a\n"  # not ztunnel's: its JSON refusal, as before
    with pytest.raises(InvalidInput, match="not JSON"):
        ztunnel.read(prepare(other, "z.yaml", ztunnel.reader()))


def test_the_two_calls_are_the_parse() -> None:
    body = b'[{"proxy": "p.ns", "cluster_sent": "1", "cluster_acked": "1"}]'
    one = syncz.parse_syncz(body, "f")
    two = syncz.read_syncz(prepare(body, "f", syncz.reader()))
    assert [p.name for p in one.proxies()] == [p.name for p in two.proxies()] == ["p.ns"]
