"""The SOURCE parser (pdebug.sources.spec): every form, and one error per malformed form."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from pdebug import bundle
from pdebug.errors import ExitCode, InvalidInput, PdebugError, SourceUnavailable, UsageError
from pdebug.sources.spec import (
    AdminSpec,
    FileSpec,
    KubeSpec,
    MemberSpec,
    classify,
    parse_source,
    source_spec,
    split_member,
)

DUMP = b'{"configs": []}'


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with a dump, a gzipped dump, a two-proxy bundle and a directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dump.json").write_bytes(DUMP)
    (tmp_path / "dump.json.gz").write_bytes(gzip.compress(DUMP))
    (tmp_path / "snapdir").mkdir()
    proxies = [
        bundle.CapturedProxy(name, f"pod/{name}", {bundle.DUMP: DUMP}, info={"pod": pod})
        for name, pod in (("web-1.shop", "web-1"), ("api-1.shop", "api-1"))
    ]
    for proxy, (pod, ns) in zip(proxies, (("web-1", "shop"), ("api-1", "shop")), strict=True):
        proxy.info.update(pod=pod, namespace=ns)
    bundle.write_bundle(str(tmp_path / "snap.tar.gz"), proxies, {"kind": "snapshot"})
    return tmp_path


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("-", FileSpec("-")),
        ("dump.json", FileSpec("dump.json")),
        ("dump.json.gz", FileSpec("dump.json.gz")),
        ("snap.tar.gz", FileSpec("snap.tar.gz")),
        ("snapdir", FileSpec("snapdir")),
        ("missing.json", FileSpec("missing.json")),  # reading it says "no such file"
        ("missing.json.gz", FileSpec("missing.json.gz")),
        ("some/dir/dump", FileSpec("some/dir/dump")),
        ("snap.tar.gz:web-1.shop", MemberSpec("snap.tar.gz", "web-1.shop")),
        ("snapdir:web-1.shop", MemberSpec("snapdir", "web-1.shop")),
        ("gone.tar.gz:web-1.shop", MemberSpec("gone.tar.gz", "web-1.shop")),
        ("gone.tgz:web", MemberSpec("gone.tgz", "web")),
        ("http://127.0.0.1:15000", AdminSpec("http://127.0.0.1:15000")),
        ("http://127.0.0.1:15000/", AdminSpec("http://127.0.0.1:15000/")),
        ("localhost:15000", AdminSpec("localhost:15000")),
        ("127.0.0.1:15000", AdminSpec("127.0.0.1:15000")),
        ("[::1]:15000", AdminSpec("[::1]:15000")),
        ("envoy.internal:9901", AdminSpec("envoy.internal:9901")),
        (
            "http://localhost:9901/config_dump",
            AdminSpec("http://localhost:9901", "SOURCE", "/config_dump"),
        ),
        (
            "127.0.0.1:15000/stats?format=json",
            AdminSpec("http://127.0.0.1:15000", "SOURCE", "/stats?format=json"),
        ),
        ("pod/web-1", KubeSpec("pod/web-1")),
        ("po/web-1", KubeSpec("po/web-1")),
        ("web-1", KubeSpec("web-1")),
        ("web-1.shop", KubeSpec("web-1.shop")),
        ("deploy/web", KubeSpec("deploy/web")),
        ("deployment/web.shop", KubeSpec("deployment/web.shop")),
        ("sts/db", KubeSpec("sts/db")),
        ("ds/agent", KubeSpec("ds/agent")),
        ("rs/web-5d9", KubeSpec("rs/web-5d9")),
        ("svc/web", KubeSpec("svc/web")),
        ("service/web.shop", KubeSpec("service/web.shop")),
    ],
)
def test_every_form(files: Path, text: str, spec: object) -> None:
    got = parse_source(text)
    assert got == spec
    assert type(got) is type(spec)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("-", "file"),
        ("dump.json", "file"),
        ("snap.tar.gz:web-1.shop", "file"),
        ("localhost:15000", "admin"),
        ("localhost:abc", "admin"),  # the form is an address; its port is checked on parsing
        ("pod/x", "kube"),
        ("x.ns", "kube"),
        ("nope.json", "file"),
    ],
)
def test_kind_of_each_form(files: Path, text: str, kind: str) -> None:
    assert classify(text) == kind
    if text != "localhost:abc":
        assert parse_source(text).kind == kind


@pytest.mark.parametrize("text", ["snap.tar.gz:web-1.shop", "dump.json", "x.ns", "localhost:1"])
def test_a_word_is_split_into_bundle_and_member_once(
    files: Path, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#14: the split that decides a word's kind is the one its spec is made of (it was
    done twice: once to tell the kind, once more to make the FileSpec or MemberSpec)."""
    from pdebug.sources import spec

    calls: list[str] = []

    def counted(word: str) -> tuple[str, str | None]:
        calls.append(word)
        return split_member(word)

    monkeypatch.setattr(spec, "split_member", counted)
    expected = {
        "snap.tar.gz:web-1.shop": MemberSpec("snap.tar.gz", "web-1.shop"),
        "dump.json": FileSpec("dump.json"),
        "x.ns": KubeSpec("x.ns"),
    }
    parsed = parse_source(text)
    if text in expected:
        assert parsed == expected[text]
    assert calls == [text]


def test_text_is_what_names_the_source(files: Path) -> None:
    assert parse_source("snap.tar.gz:web-1.shop").text == "snap.tar.gz:web-1.shop"
    assert parse_source("dump.json").text == "dump.json"
    assert parse_source("pod/web").text == "pod/web"
    assert parse_source("http://localhost:9901/config_dump").text == "http://localhost:9901"
    assert parse_source("localhost:15000").text == "localhost:15000"


def test_a_dropped_path_is_noted_once() -> None:
    spec = parse_source("http://localhost:9901/config_dump?include_eds")
    assert isinstance(spec, AdminSpec)
    assert spec.note == (
        "note: reading the Envoy admin at http://localhost:9901 (pdebug asks it for the "
        "paths it needs; /config_dump?include_eds is not used)"
    )
    assert parse_source("localhost:15000").note is None  # type: ignore[union-attr]


def test_specs_are_values() -> None:
    spec = parse_source("pod/web")
    with pytest.raises(AttributeError):  # frozen (a dataclass.FrozenInstanceError is one too)
        spec.text = "pod/api"  # type: ignore[misc]
    assert {parse_source("pod/web"), parse_source("pod/web")} == {KubeSpec("pod/web")}


@pytest.mark.parametrize(
    ("text", "what", "message"),
    [
        ("localhost:abc", "SOURCE", "SOURCE localhost:abc: port 'abc' is not a number"),
        ("localhost:", "SOURCE", "SOURCE localhost:: no port after ':'"),
        (
            "127.0.0.1:99999",
            "SOURCE",
            "SOURCE 127.0.0.1:99999: port 99999 is out of range (1-65535)",
        ),
        ("127.0.0.1:0", "OTHER", "OTHER 127.0.0.1:0: port 0 is out of range (1-65535)"),
        ("http://:15000", "SOURCE", "SOURCE http://:15000: not an Envoy admin URL"),
        (
            "https://127.0.0.1:15000",
            "SOURCE",
            "https://127.0.0.1:15000: Envoy's admin interface speaks plain HTTP, not HTTPS",
        ),
    ],
)
def test_one_error_per_malformed_address(text: str, what: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_source(text, what)
    assert caught.value.message == message
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.hint


def test_split_member(files: Path) -> None:
    assert split_member("snap.tar.gz:web-1.shop") == ("snap.tar.gz", "web-1.shop")
    assert split_member("dump.json") == ("dump.json", None)
    assert split_member("-") == ("-", None)
    assert split_member("http://h:1") == ("http://h:1", None)
    assert split_member("pod/x") == ("pod/x", None)
    assert split_member("gone.tar.gz:") == ("gone.tar.gz:", None)


# --------------------------------------------------------------- SOURCE, --admin, --bundle


def test_source_or_admin(files: Path) -> None:
    assert source_spec("dump.json") == FileSpec("dump.json")
    assert source_spec(None, "localhost:15000") == AdminSpec("localhost:15000", "--admin")
    # --admin is an address whatever it looks like: the admin source says what is wrong.
    assert source_spec(None, "envoy") == AdminSpec("envoy", "--admin")


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("dump.json", "localhost:15000", None), UsageError, "give SOURCE or --admin, not both"),
        ((None, None, None), UsageError, "missing SOURCE"),
        (("pod/x", "localhost:1", "snap.tar.gz"), UsageError, "give --bundle or --admin, not both"),
        ((None, "localhost:x", None), UsageError, "--admin localhost:x: port 'x' is not a number"),
        ((None, "ftp://h:1", None), UsageError, "--admin ftp://h:1: not an Envoy admin URL"),
        (("pod/x", None, "nope.tar.gz"), SourceUnavailable, "--bundle nope.tar.gz: no such file"),
        (("pod/x", None, "dump.json"), InvalidInput, "--bundle dump.json: not a pdebug bundle"),
        (
            ("pod/nobody", None, "snap.tar.gz"),
            SourceUnavailable,
            "snap.tar.gz: no proxy 'nobody' in the bundle",
        ),
    ],
)
def test_one_error_per_malformed_command_line(
    files: Path, args: tuple[str | None, str | None, str | None], error: type, message: str
) -> None:
    source, admin, in_bundle = args
    with pytest.raises(PdebugError) as caught:
        # --bundle's errors come when the spec is opened (parsing reads no file)
        _opened(source_spec(source, admin, in_bundle))
    assert type(caught.value) is error
    assert caught.value.message == message


def _opened(spec: object) -> object:
    """The spec as opening it resolves it (``--bundle B TEXT``: B's proxy TEXT names)."""
    from pdebug.sources.bundle import resolve

    return resolve(spec) if isinstance(spec, FileSpec | MemberSpec) else spec


def test_bundle_names_a_member(files: Path) -> None:
    assert _opened(source_spec("pod/web-1", bundle="snap.tar.gz")) == MemberSpec(
        "snap.tar.gz", "web-1.shop"
    )
    assert _opened(source_spec("web-1", bundle="snap.tar.gz", namespace="shop")) == MemberSpec(
        "snap.tar.gz", "web-1.shop"
    )
    assert _opened(source_spec("api-1.shop", bundle="snap.tar.gz")) == MemberSpec(
        "snap.tar.gz", "api-1.shop"
    )
    assert _opened(source_spec(None, bundle="snap.tar.gz")) == FileSpec("snap.tar.gz")


def test_bundle_parsing_reads_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--bundle B TEXT`` keeps TEXT as typed: B need not exist until the spec is opened."""
    monkeypatch.chdir(tmp_path)
    assert source_spec("pod/x", bundle="nope.tar.gz", namespace="ns") == MemberSpec(
        "nope.tar.gz", "pod/x", "ns", flag=True
    )
    assert source_spec(None, bundle="nope.tar.gz") == FileSpec("nope.tar.gz", flag=True)
    from pdebug.sources import open_source

    with (
        pytest.raises(SourceUnavailable, match="^--bundle nope.tar.gz: no such file$"),
        open_source(source_spec("pod/x", bundle="nope.tar.gz")) as source,
    ):
        source.get("/config_dump")


def test_a_file_word_is_a_file_whatever_it_looks_like(files: Path) -> None:
    from pdebug.sources.spec import file_spec

    assert file_spec("localhost:15000") == FileSpec("localhost:15000")  # -f, --clusters-json
    assert file_spec("pod/x") == FileSpec("pod/x")
    assert file_spec("snap.tar.gz:web-1.shop") == MemberSpec("snap.tar.gz", "web-1.shop")


def test_an_admin_spec_knows_where_to_connect() -> None:
    spec = parse_source("localhost:15000")
    assert isinstance(spec, AdminSpec)
    assert spec.address == "http://localhost:15000"
    assert (spec.parts.hostname, spec.parts.port) == ("localhost", 15000)


def test_a_member_opens_its_saved_answers(files: Path) -> None:
    from pdebug.sources import open_source

    clusters = b'{"cluster_statuses": []}'
    proxy = bundle.CapturedProxy("web-1.shop", "pod/web-1", {bundle.DUMP: DUMP})
    proxy.files[bundle.CLUSTERS] = clusters
    bundle.write_bundle(str(files / "one.tar.gz"), [proxy], {})
    with open_source(parse_source("one.tar.gz:web-1.shop")) as source:
        assert not source.live
        assert bytes(source.get("/config_dump")) == DUMP
        assert source.saved("/clusters?format=json") == clusters
        assert source.saved("/stats?format=json") is None
        assert source.label.endswith("one.tar.gz:web-1.shop")


def test_diff_finds_bundle_proxies_before_its_other_checks(files: Path) -> None:
    """``diff --bundle B X Y``: B's errors come first, as when parsing read the manifest."""
    from pdebug.expected import DiffRequest
    from pdebug.sources.spec import in_bundle

    request = DiffRequest(in_bundle("snap.tar.gz", "web-1", None))
    assert request.source == MemberSpec("snap.tar.gz", "web-1.shop")
    with pytest.raises(SourceUnavailable, match="^snap.tar.gz: no proxy 'nobody' in the bundle$"):
        # OTHER with --expected would be a usage error, checked after
        DiffRequest(
            in_bundle("snap.tar.gz", "nobody", None),
            in_bundle("snap.tar.gz", "web-1", None),
            FileSpec("dump.json"),
        ).check_one_proxy()


def test_the_library_parses_the_words_a_command_hands_it(files: Path, capsys) -> None:
    """#14: commands hand SOURCE's words as typed; spec_of/word_spec parse them once."""
    from pdebug.sources.spec import SourceWords, spec_of, word_spec

    assert spec_of(SourceWords("dump.json")) == FileSpec("dump.json")
    assert spec_of(SourceWords(None, "localhost:15000")) == AdminSpec("localhost:15000", "--admin")
    assert spec_of(SourceWords("web-1", bundle="snap.tar.gz", namespace="shop")) == MemberSpec(
        "snap.tar.gz", "web-1", "shop", flag=True
    )
    spec = KubeSpec("pod/web")
    assert spec_of(spec) is spec  # a spec is already parsed
    with pytest.raises(UsageError, match="missing SOURCE"):
        spec_of(SourceWords(""))
    assert word_spec("") == KubeSpec("")  # one word is never missing (pdebug dump's SOURCE)
    capsys.readouterr()
    spec_of(SourceWords("http://localhost:9901/config_dump"))
    word_spec("http://localhost:9901/stats", "OTHER")
    err = capsys.readouterr().err.splitlines()
    assert [line.split(";")[1] for line in err] == [
        " /config_dump is not used)",
        " /stats is not used)",
    ]
