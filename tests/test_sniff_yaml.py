"""#14: one "is it YAML?" rule (``sniff.looks_like_yaml``) for the three YAML readers.

Before, ``model/yamldump.from_yaml``, ``model/syncz._yaml_values`` and
``model/ztunnel.yaml_dump`` each guessed from the first 512 bytes with a rule of their
own. The three old rules are kept below as a record: the table says what each reader
did on every YAML/JSON file of the fixtures and of the shared corpus (the one rule must
agree on every one) and on odd heads (where they disagreed; each change is listed in
changes/walk9.md and asserted here).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pdebug.errors import InvalidInput
from pdebug.model.sniff import looks_like_yaml, strip_bom, without_bom
from tests.harness import FIXTURES

_OLD_SYNCZ_KEY = re.compile(r"^(?:'[^'\n]*'|\"[^\"\n]*\"|[A-Za-z_][\w.-]*):(?: |$)", re.M)


def _old_yamldump(body: bytes) -> bool:
    head = body[:512].lstrip()
    return not (not head or head[:1] in b"{[<" or b":" not in head.split(b"\n", 1)[0] + head[:200])


def _old_syncz(body: bytes) -> bool:
    head = body[:512].lstrip()
    return not (not head or head[:1] in b"{[<" or not _OLD_SYNCZ_KEY.match(head.decode("latin-1")))


def _old_ztunnel(body: bytes) -> bool:
    head = body[:512].lstrip()
    return not (not head or head[:1] in b'{[<"' or b":" not in head)


OLD = {"yamldump": _old_yamldump, "syncz": _old_syncz, "ztunnel": _old_ztunnel}


def _real_inputs() -> list[Path]:
    roots = [FIXTURES, FIXTURES.parents[1] / "shared" / "corpus", Path("/work/shared/corpus")]
    out: list[Path] = []
    for root in roots:
        if root.is_dir():
            out += [p for p in sorted(root.rglob("*")) if p.suffix in (".json", ".yaml", ".yml")]
    return out


REAL = _real_inputs()


def test_there_are_real_inputs_of_both_kinds() -> None:
    assert sum(p.suffix == ".json" for p in REAL) > 50
    assert sum(p.suffix in (".yaml", ".yml") for p in REAL) >= 3


#: Real files the old readers did not agree on: syncz's rule wanted a key on the first
#: line, so it did not try a YAML file opening with a comment or a list. The one rule
#: answers as the two others did (changes/walk9.md lists what syncz now says).
SPLIT = {"internal_listener_proxy.yaml": "syncz", "emptyfilter_output.yaml": "syncz"}
#: sweep29's copies of Envoy's configs that open with a comment: the same case
SPLIT.update(
    (name, "syncz")
    for name in (
        "proxy_connect.yaml",
        "jwt_authn.yaml",
        "envoy_ext_authz.yaml",
        "ext-proc-session-affinity-cookie.yaml",
    )
)
#: sweep27's Envoy Gateway goldens are YAML lists ("- name: ..."), the same case
SPLIT.update(
    (p.name, "syncz")
    for p in (FIXTURES / "corpus" / "envoy-gateway" / "xds-ir").glob("*.yaml")
    if p.read_bytes().lstrip().startswith(b"- ")
)


#: Commented files with no colon in their first 200 characters: the old yamldump reader did not
#: try them either (Envoy's configs/encapsulate_in_http2_connect.yaml, sweep29's copy)
SPLIT_BOTH = {"encapsulate_in_http2_connect.yaml": {"yamldump", "syncz"}}


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_the_one_rule_agrees_with_every_reader_on_real_inputs(path: Path) -> None:
    body = bytes(without_bom(path.read_bytes()))  # as each reader looked at it
    new = looks_like_yaml(body)
    for reader, old in OLD.items():
        if reader in SPLIT_BOTH.get(path.name, {SPLIT.get(path.name)}):
            assert old(body) != new, (reader, path)
        else:
            assert old(body) == new, (reader, path)


def test_a_commented_bootstrap_is_refused_by_syncz_as_yaml() -> None:
    """Was "not JSON (starts with '# This configuration...')": syncz reads YAML too."""
    from pdebug.model.syncz import parse_syncz

    path = FIXTURES / "envoy-examples" / "configs" / "internal_listener_proxy.yaml"
    with pytest.raises(InvalidInput) as exc:
        parse_syncz(path.read_bytes(), "F")
    assert _message(exc).startswith("F: not a syncz document ('admin' holds neither")


_COMMENTS = b"".join(b"# a comment line of the file, nothing else %03d\n" % i for i in range(14))
assert len(_COMMENTS) > 600

#: Odd heads: (name, bytes, old yamldump, old syncz, old ztunnel, the one rule now).
ODD = [
    ("bom-yaml", b"\xef\xbb\xbfconfigs:\n- a: 1\n", True, True, True, True),
    ("bom-json", b"\xef\xbb\xbf{}", False, False, False, False),
    ("comment-then-key", b"# saved by hand\nconfigs: []\n", True, False, True, True),
    ("comment-no-colon-early", b"# x\n" * 60 + b"configs: []\n", False, False, True, True),
    ("comments-600-then-key", _COMMENTS + b"configs: []\n", False, False, False, True),
    ("dashes-then-key", b"---\nconfigs: []\n", True, False, True, True),
    ("json-string", b'"a: b"', True, False, False, False),
    ("json-string-plain", b'"hello"', False, False, False, False),
    ("bare-scalar", b"hello", False, False, False, False),
    ("bare-scalar-then-key", b"hello\nconfigs: []\n", True, False, True, False),
    ("url-scalar", b"http://localhost:15000/config_dump\n", True, False, True, False),
    ("html", b"<html><body>a: b</body></html>", False, False, False, False),
    ("status-503", b"503\n{}", False, False, False, False),
    ("status-503-text", b"503 Service Unavailable: upstream\n", True, False, True, True),
    (
        "kubectl-error",
        b'Error from server (NotFound): pods "x" not found\n',
        True,
        False,
        True,
        True,
    ),
    ("kubectl-error-short", b"error: exit status 1\n", True, True, True, True),
    ("text-stats", b"cluster.outbound|80||a.svc.upstream_cx_total: 5\n", True, False, True, True),
    ("prometheus", b'# TYPE envoy_x counter\nenvoy_x{a="b"} 1\n', False, False, False, False),
    ("text-listeners", b"virtualOutbound::0.0.0.0:15001\n", True, False, True, False),
    ("text-clusters", b"outbound|80||a.svc::10.0.0.1:80::cx_active::0\n", True, False, True, False),
    ("list", b"- name: a\n  b: 1\n", True, False, True, True),
    ("quoted-key", b"'@type': x\n", True, True, True, True),
    ("json-key-no-braces", b'"configs": []\n', True, True, False, True),
    ("empty", b"", False, False, False, False),
    ("blank", b"\n\n  \n", False, False, False, False),
    ("binary", b"\x1f\x8b\x08\x00:", True, False, True, False),
]


@pytest.mark.parametrize(("name", "data", "yamldump", "syncz", "ztunnel", "now"), ODD)
def test_odd_heads_before_and_now(
    name: str, data: bytes, yamldump: bool, syncz: bool, ztunnel: bool, now: bool
) -> None:
    body = bytes(without_bom(data))
    assert (_old_yamldump(body), _old_syncz(body), _old_ztunnel(body)) == (
        yamldump,
        syncz,
        ztunnel,
    )
    assert looks_like_yaml(data) == now


def test_strip_bom_keeps_a_status_line() -> None:
    assert strip_bom(b"\xef\xbb\xbf200\n{}") == b"200\n{}"
    assert without_bom(b"\xef\xbb\xbf200\n{}") == b"{}"
    view = memoryview(b"\xef\xbb\xbfa")
    assert isinstance(strip_bom(view), memoryview)


def _message(exc: pytest.ExceptionInfo[InvalidInput]) -> str:
    return exc.value.message


def test_a_commented_yaml_dump_is_read_by_each_reader(tmp_path: Path) -> None:
    """A YAML file whose first 600 bytes are comments is read as YAML by all three."""
    import orjson

    from pdebug.model.syncz import parse_syncz
    from pdebug.model.yamldump import from_yaml
    from pdebug.model.ztunnel import parse

    dump = from_yaml(_COMMENTS + b"configs: []\n", "f.yaml")
    assert orjson.loads(bytes(dump)) == {"configs": []}
    zt = parse(_COMMENTS + b"workloads: []\nservices: []\n", "z.yaml")
    assert zt.workloads == []
    with pytest.raises(InvalidInput) as exc:
        parse_syncz(_COMMENTS + b"---\nnothing: here\n", "s.yaml")
    assert "s.yaml:" in _message(exc)


def test_a_bare_scalar_before_a_key_is_named_by_the_json_reader() -> None:
    from pdebug.model.ztunnel import parse

    with pytest.raises(InvalidInput) as exc:
        parse(b"hello\nworkloads: []\n", "z.txt")
    assert _message(exc) == "z.txt: not JSON (starts with 'hello')"
