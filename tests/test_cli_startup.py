"""Start-up of the hot commands: Typer's parameter coercion without pydantic (#17).

pdebug replaces Typer 0.29's per-parameter pydantic ``TypeAdapter`` with a light coercion
for plain values (``pdebug.cli._light_value``); whatever it does not take goes to Typer's
own adapter. These tests hold it to pydantic's answers, and check that a table command
never imports pydantic.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.models import OptionInfo

from pdebug.cli import _NOT_LIGHT, _light_value

ROOT = Path(__file__).resolve().parent.parent
DUMP = ROOT / "fixtures" / "real" / "sidecar" / "config_dump.json"
ZTUNNEL = ROOT / "fixtures" / "istioctl" / "ztunnel-config" / "dump.json"

TEXTS = [
    "0", "7", "012", "80", "65535", "65536", "-1", "-0", "1_000", " 12", "12 ", "+5",
    "1e3", "1.5", "12.0", ".5", "5.", "nan", "inf", "-inf", "", "abc", "٣", "10" * 12,
    "0.1", "30", "-2.5", "1" * 19,
]  # fmt: skip

CASES: list[tuple[Any, dict[str, Any]]] = [
    (int, {}),
    (int, {"min": 1, "max": 65535}),
    (int, {"min": 0, "max": 65535}),
    (int, {"min": 0, "max": 10, "clamp": True}),
    (float, {}),
    (float, {"min": 0.1}),
    (float, {"min": 0}),
    (str, {}),
]


def _pydantic(annotation: Any, info: OptionInfo, value: Any) -> tuple[str, Any]:
    from typer._adapters import build_adapter

    try:
        out = build_adapter(annotation, info).validate_python(value)
    except Exception as exc:  # noqa: BLE001 - any refusal
        return ("error", type(exc).__name__)
    return ("ok", (type(out), out))


@pytest.mark.parametrize(("annotation", "bounds"), CASES)
def test_light_coercion_agrees_with_pydantic(annotation: Any, bounds: dict[str, Any]) -> None:
    info = OptionInfo(**bounds)
    values: list[Any] = [*TEXTS, 0, 5, 15000, 70000, -3, 2.5, 30.0, True, None, b"80"]
    for value in values:
        light = _light_value(annotation, info, value)
        if light is _NOT_LIGHT:
            continue  # pydantic decides, as before
        want = _pydantic(annotation, info, value)
        assert want == ("ok", (type(light), light)), (annotation, bounds, value)


def test_light_coercion_of_string_lists() -> None:
    info = OptionInfo()
    assert _light_value(list[str], info, ("a", "b")) == ["a", "b"]
    assert _light_value(list[str], info, ()) == []
    assert _light_value(list[str], info, (1,)) is _NOT_LIGHT
    assert _light_value(list[int], info, ("1",)) is _NOT_LIGHT


def test_values_it_leaves_to_pydantic() -> None:
    info = OptionInfo(min=1, max=65535)
    for value in ("0", "70000", "abc", " 12", "1_000", "+5", True):
        assert _light_value(int, info, value) is _NOT_LIGHT


def _imports_after(*args: str, exit_code: int = 0) -> set[str]:
    code = (
        "import sys, contextlib, io\n"
        "from pdebug.cli import main\n"
        "out, err = contextlib.redirect_stdout, contextlib.redirect_stderr\n"
        "with out(io.StringIO()), err(io.StringIO()):\n"
        f"    code = main({list(args)!r})\n"
        f"assert code == {exit_code}, code\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "args",
    [
        ("clusters", str(DUMP)),
        ("listeners", str(DUMP), "--port", "15006"),
        ("endpoints", str(DUMP), "--admin-port", "15000"),
        ("routes", str(DUMP), "--timeout", "2.5"),
    ],
)
def test_tables_do_not_import_pydantic(args: tuple[str, ...]) -> None:
    assert "pydantic" not in _imports_after(*args)


#: An admin URL where nothing listens (port 1 is not bound by tests).
NOWHERE = "http://127.0.0.1:1"


@pytest.mark.parametrize(
    "args",
    [
        ("dump", NOWHERE, "-o", "unwritten.tar.gz"),
        ("dump", NOWHERE, "-o", "unwritten.json", "--timeout", "2"),
    ],
)
def test_live_commands_do_not_import_pydantic(args: tuple[str, ...]) -> None:
    # pdebug dump's --max-body is an option with a parser: not given, it is None without
    # Typer's adapter (0.05 s of `pdebug dump`'s start-up, perflive5)
    assert "pydantic" not in _imports_after(*args, exit_code=3)


@pytest.mark.parametrize(
    ("value", "exit_code"),
    [("2KiB", 3), ("12x", 2)],
)
def test_max_body_given_goes_through_its_parser(value: str, exit_code: int) -> None:
    # given, --max-body is still parsed by its parser (through Typer): a size is taken,
    # anything else is a usage error
    assert "pydantic" in _imports_after(
        "dump", NOWHERE, "-o", "unwritten.tar.gz", "--max-body", value, exit_code=exit_code
    )


def test_a_value_for_a_parser_is_never_taken_plainly() -> None:
    # an int option with a parser: "2K" is the parser's 2048, and "12" its 12000, never
    # int("12") (the light path would take a plain int without asking the parser)
    from types import SimpleNamespace

    from typer._coercion import resolve_type_descriptor

    from pdebug.cli import _LightParam

    info = OptionInfo(parser=lambda text: int(text.rstrip("K")) * (1024 if "K" in text else 1000))
    light = _LightParam(info, int, resolve_type_descriptor(int, info))
    param = SimpleNamespace(multiple=False, nargs=1)
    assert light.coerce(None, param, None) is None
    assert light.coerce("2K", param, None) == 2048
    assert light.coerce("12", param, None) == 12000


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--port", "abc", "Invalid value for '--port': Input should be a valid integer"),
        ("--admin-port", "0", "greater than or equal to 1"),
    ],
)
def test_bad_values_keep_typers_messages(option: str, value: str, message: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-m", "pdebug", "clusters", str(DUMP), option, value],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 2
    assert message in out.stderr


def test_only_the_command_that_runs_is_built() -> None:
    from pdebug.cli import _app_for, app

    one = _app_for(["clusters", "x.json"])
    assert [c.name for c in one.registered_commands] == ["clusters"]
    assert one.registered_groups == []
    cut = _app_for(["zc", "workload", "-f", "x.json"])
    assert cut.registered_commands == []
    [group] = cut.registered_groups
    assert group.typer_instance is not None
    assert [c.name for c in group.typer_instance.registered_commands] == ["workload"]
    # No subcommand named (help, an option first): the whole group, not the whole app.
    whole_group = _app_for(["zc", "--help"])
    assert whole_group.registered_commands == []
    [group] = whole_group.registered_groups
    assert group.typer_instance is not None
    assert len(group.typer_instance.registered_commands) > 6
    assert _app_for(["--help"]) is app
    assert _app_for(["no-such-command"]) is app


@pytest.mark.parametrize(
    ("args", "module"),
    [
        (("clusters", str(DUMP), "--direction", "outbound"), "pdebug.cli.views"),
        (("c", str(DUMP), "--direction", "outbound"), "pdebug.cli.views"),
        (("routes", str(DUMP), "--no-verbose"), "pdebug.cli.views"),
    ],
)
def test_a_command_imports_only_its_own_command_module(args: tuple[str, ...], module: str) -> None:
    """#17: the other commands' modules (report, assert, snapshot, zc...) stay unimported."""
    loaded = {m for m in _imports_after(*args) if m.startswith("pdebug.cli.")}
    others = {f"pdebug.cli.{m}" for _, m, _, _ in _commands()} | {"pdebug.cli.ztunnel"}
    assert module in loaded
    assert loaded & others == {module}


def _commands() -> list[tuple[str, str, str, tuple[str, ...]]]:
    from pdebug.cli import COMMANDS

    return COMMANDS


def test_the_whole_app_is_registered_on_first_use() -> None:
    """``pdebug.cli.app`` (help, completion, errors) has every command of the list."""
    from pdebug.cli import COMMANDS, ZC_NAMES, app

    names = [c.name for c in app.registered_commands]
    want = [n for name, _, _, aliases in COMMANDS for n in (name, *aliases)]
    assert names == want
    assert [g.name for g in app.registered_groups] == list(ZC_NAMES)


# --- a plain table runs without Typer (#17) ----------------------------------------------

PLAIN_LINES = [
    ("clusters", str(DUMP)),
    ("c", str(DUMP)),
    ("cluster", "-o", "wide", str(DUMP)),
    ("listeners", str(DUMP), "-o", "json"),
    ("l", str(DUMP), "--output", "yaml"),
    ("routes", str(DUMP)),
    ("endpoints", str(DUMP)),
    ("ep", str(DUMP), "-o", "wide"),
    ("eds", str(DUMP)),
    ("secrets", str(DUMP)),
    ("bootstrap", str(DUMP), "-o", "markdown"),
    ("ecds", str(DUMP)),
    ("pc", "cluster", "-f", str(DUMP)),
    ("clusters", "/nonexistent/dump.json"),
    ("clusters", str(DUMP), "-o", "nosuchformat"),
    ("clusters", str(DUMP), "-o", ""),
    ("clusters", ""),
    ("routes", str(ROOT / "fixtures")),
    ("all", str(DUMP)),
    ("a", str(DUMP), "-o", "wide"),
    ("all", str(DUMP), "-o", "json"),
    ("all", str(DUMP), "-o", "nosuchformat"),
    ("all", "/nonexistent/dump.json"),
    ("check", str(DUMP)),
    ("check", str(DUMP), "-o", "json"),
    ("check", str(DUMP), "--output", "markdown"),
    ("check", str(DUMP), "-o", "nosuchformat"),
    ("check", "/nonexistent/dump.json"),
    ("check", str(ZTUNNEL)),
    ("check", str(ZTUNNEL), "-o", "wide"),
    ("pc", "all", "-f", str(DUMP)),
    ("report", str(DUMP), "-o", "/nonexistent/dir/page.html"),
    ("report", str(DUMP), "-o", "json"),
    ("report", "/nonexistent/dump.json", "-o", "/dev/null"),
    ("report", str(ZTUNNEL), "-o", "/dev/null"),
]


@pytest.mark.parametrize("args", PLAIN_LINES)
def test_a_plain_table_is_what_typer_runs(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same output, messages and exit code with and without Typer."""
    import pdebug.cli as cli
    from pdebug.cli.habits import normalize

    plain = list(args) != ["clusters", ""]
    assert (cli._plain_view(normalize(list(args))) is not None) is plain
    got = cli.main(list(args)), *capsys.readouterr()
    monkeypatch.setattr(cli, "_plain_view", lambda args: None)
    want = cli.main(list(args)), *capsys.readouterr()
    assert got == want


def _recorded(monkeypatch: pytest.MonkeyPatch, args: list[str], typer: bool) -> Any:
    """The view body's arguments (by name, defaults applied) for one command line."""
    import inspect

    import pdebug.cli as cli
    from pdebug.cli import _run

    seen: list[Any] = []
    names = ("clusters", "listeners", "routes", "endpoints", "eds", "whole", "all_", "check")
    for name in (*names, "report"):
        body = getattr(_run, name)

        def record(*a: Any, _body: Any = body, **kw: Any) -> int:
            bound = inspect.signature(_body).bind(*a, **kw)
            bound.apply_defaults()
            seen.append((_body.__name__, dict(bound.arguments)))
            return 0

        monkeypatch.setattr(_run, name, record)
    if typer:
        code = cli._app_for(args)(args=args, prog_name="pdebug", standalone_mode=False)
    else:
        run = cli._plain_view(args)
        assert run is not None
        code = run()
    assert code == 0
    monkeypatch.undo()
    return seen


@pytest.mark.parametrize(
    "args",
    [
        ["clusters", "dump.json"],
        ["c", "-o", "wide", "x"],
        ["listeners", "-"],
        ["routes", "pod/x", "--output", "json"],
        ["endpoints", "bundle.tar.gz:a.b"],
        ["ep", "http://127.0.0.1:15000"],
        ["eds", "x.json", "-o", "yaml"],
        ["secrets", "x.json"],
        ["s", "x.json", "-o", "wide"],
        ["bootstrap", "x.json"],
        ["ecds", "x.json"],
        ["all", "x.json"],
        ["a", "-o", "json", "x.json"],
        ["all", "-"],
        ["check", "x.json"],
        ["check", "-o", "json", "bundle.tar.gz"],
        ["check", "-"],
        ["check", "pod/x", "--output", "wide"],
        ["report", "x.json", "-o", "page.html"],
        ["report", "--output", "page.html", "bundle.tar.gz"],
        ["report", "pod/x", "-o", "p.html"],
        ["report", "-", "-o", "p.html"],
    ],
)
def test_a_plain_table_gets_typers_values(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The body gets what Typer gives it: SOURCE, -o and every default (the live ones too)."""
    plain = _recorded(monkeypatch, args, typer=False)
    typer = _recorded(monkeypatch, args, typer=True)
    assert len(plain) == 1
    assert plain == typer


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["clusters"],
        ["clusters", "--help"],
        ["clusters", "a", "b"],
        ["clusters", "a", "--port", "80"],
        ["clusters", "a", "-o"],
        ["clusters", "a", "-o", "-x"],
        ["clusters", "a", "-o", "wide", "-o", "json"],
        ["clusters", "-oyaml", "a"],
        ["clusters", "--output=json", "a"],
        ["clusters", "--", "a"],
        ["clusters", "-n", "x", "a"],
        ["all", "a", "--with-headers"],
        ["all", "a", "--port", "80"],
        ["check", "a", "--fail-on", "error"],
        ["check", "a", "--ignore", "PD602"],
        ["check", "a", "--cert-days", "30"],
        ["check", "a", "--clusters-json", "c.json"],
        ["check", "a", "-o", "json", "--fail-on", "info"],
        ["check", "--help"],
        ["report", "a"],
        ["report", "a", "-o", "-"],
        ["report", "a", "-o", "p.html", "--title", "INC-1"],
        ["report", "a", "-o", "p.html", "--clusters-json", "c.json"],
        ["report", "a", "-o", "p.html", "--cert-days", "3"],
        ["report", "a", "-o", "p.html", "--ignore", "PD602"],
        ["report", "-o", "p.html"],
        ["report", "--help"],
        ["diff", "a"],
        ["zc", "workload", "a"],
        ["nosuch", "a"],
    ],
)
def test_everything_else_goes_to_typer(args: list[str]) -> None:
    from pdebug.cli import _plain_view

    assert _plain_view(args) is None


def test_shell_completion_goes_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    from pdebug.cli import _plain_view

    assert _plain_view(["clusters", "a"]) is not None
    monkeypatch.setenv("_PDEBUG_COMPLETE", "complete_bash")
    assert _plain_view(["clusters", "a"]) is None


def test_a_plain_table_imports_no_typer_and_no_command_module() -> None:
    for args in (("clusters", str(DUMP)), ("endpoints", str(DUMP), "-o", "wide")):
        loaded = _imports_after(*args)
        assert not {m for m in loaded if m == "typer" or m.startswith(("typer.", "click"))}
        others = {f"pdebug.cli.{m}" for _, m, _, _ in _commands()} | {"pdebug.cli.ztunnel"}
        assert not loaded & others


# --- all and check, plain: bundles, ztunnels, stdin (#17) ---------------------------------


def _both(
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: bytes | None = None,
) -> tuple[Any, Any]:
    """(plain run, Typer run) of one command line: exit code, stdout, stderr."""
    import io

    import pdebug.cli as cli
    from pdebug.cli.habits import normalize

    assert cli._plain_view(normalize(list(args))) is not None
    runs = []
    for typer in (False, True):
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        if typer:
            monkeypatch.setattr(cli, "_plain_view", lambda args: None)
        runs.append((cli.main(list(args)), *capsys.readouterr()))
    monkeypatch.undo()
    return runs[0], runs[1]


def test_plain_check_of_bundles_is_typers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole bundles, one proxy of one, a failed capture inside: the same lines and codes."""
    from tests.harness import ambient

    fine = ambient.make_bundle(tmp_path / "fine.tar.gz", ambient.worker(), ambient.worker2())
    broken = ambient.make_bundle(tmp_path / "broken.tar.gz", ambient.worker2(), None)
    codes = set()
    for args in (
        ["check", str(fine)],
        ["check", str(fine), "-o", "json"],
        ["check", f"{fine}:sleep-1.bookinfo"],
        ["check", f"{fine}:{ambient.Z2}"],
        ["check", f"{fine}:nosuch.pod"],
        ["check", str(broken)],
        ["all", f"{fine}:sleep-1.bookinfo"],
        ["all", str(fine)],
    ):
        plain, typer = _both(args, capsys, monkeypatch)
        assert plain == typer, args
        codes.add(plain[0])
    # findings (1), a table (0), a usage error (2), no such pod (3), a failed capture (4)
    assert codes == {0, 1, 2, 3, 4}


def test_plain_check_and_all_of_stdin_are_typers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for args, data in (
        (["check", "-"], DUMP.read_bytes()),
        (["check", "-", "-o", "json"], ZTUNNEL.read_bytes()),
        (["all", "-"], DUMP.read_bytes()),
        (["check", "-"], b"{not json"),
        (["all", "-"], b""),
    ):
        plain, typer = _both(args, capsys, monkeypatch, stdin=data)
        assert plain == typer, args
        assert plain[1] or plain[2]


def test_plain_check_keeps_its_exit_codes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real sidecar has warnings: 1 under the default --fail-on warning, both ways."""
    plain, typer = _both(["check", str(DUMP)], capsys, monkeypatch)
    assert plain == typer
    assert plain[0] == 1
    assert "PD" in plain[1]


def test_plain_all_and_check_import_no_typer() -> None:
    for args in (("all", str(DUMP)), ("check", str(ZTUNNEL))):
        code = (
            "import sys, contextlib, io\n"
            "from pdebug.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    main({list(args)!r})\n"
            "print(' '.join(sorted(sys.modules)))\n"
        )
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        loaded = set(out.stdout.split())
        assert not {m for m in loaded if m == "typer" or m.startswith(("typer.", "click"))}
        others = {f"pdebug.cli.{m}" for _, m, _, _ in _commands()} | {"pdebug.cli.ztunnel"}
        assert not loaded & others, args


# --- what the program imports at start-up (#17) --------------------------------------------


def _program_imports(*args: str) -> tuple[str, set[str]]:
    """Run ``pdebug ARGS`` as the program does (``main()``), return stdout and sys.modules."""
    code = (
        "import sys, contextlib, io\n"
        "import pdebug.cli as cli\n"
        "cli._exit_now = lambda code: None  # keep the process, to list its modules\n"
        f"sys.argv = ['pdebug', *{list(args)!r}]\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    assert cli.main() == 0\n"
        "sys.stderr.write(' '.join(sorted(k for k, v in sys.modules.items() if v)))\n"
        "sys.__stdout__.write(out.getvalue())\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout, set(out.stderr.split())


def test_a_table_loads_msgspec_without_typing_extensions() -> None:
    """msgspec falls back to :mod:`typing`'s hints: the same table, 13 ms less start-up."""
    out, loaded = _program_imports("clusters", str(DUMP))
    assert "msgspec" in loaded
    assert "typing_extensions" not in loaded
    assert "orjson" not in loaded  # -o json's decoder, imported by the code that uses it
    with_it = subprocess.run(
        [sys.executable, "-m", "pdebug", "clusters", str(DUMP)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=True,
    )
    assert out == with_it.stdout and out.count("\n") > 10


def test_typing_extensions_is_refused_only_while_msgspec_loads() -> None:
    code = (
        "import builtins, sys\n"
        "import pdebug.cli as cli\n"
        "seen = []\n"
        "real = builtins.__import__\n"
        "def spy(name, *a, **k):\n"
        "    if name == 'msgspec':\n"
        "        seen.append(sys.modules.get('typing_extensions', 'absent'))\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = spy\n"
        "cli._import_msgspec()\n"
        "builtins.__import__ = real\n"
        "assert seen[:1] == [None], seen\n"
        "assert 'typing_extensions' not in sys.modules\n"
        "import typing_extensions, msgspec\n"
        "class S(msgspec.Struct):\n"
        "    a: typing_extensions.Annotated[int, msgspec.Meta(ge=0)] = 0\n"
        "assert msgspec.json.decode(b'{\"a\": 3}', type=S).a == 3\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


# --- report SOURCE -o FILE, plain (#17) ----------------------------------------------------


def test_plain_report_writes_typers_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same page (its "generated" stamp aside), messages and exit code, without Typer."""
    import re

    import pdebug.cli as cli

    runs = []
    for typer in (False, True):
        out = tmp_path / f"{typer}.html"
        args = ["report", str(DUMP), "-o", str(out)]
        assert (cli._plain_view(args) is None) is typer
        code = cli.main(args)
        stdout, stderr = capsys.readouterr()
        page = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"T", out.read_bytes())  # stamps
        runs.append((code, stdout, stderr.replace(str(out), "OUT"), page))
        monkeypatch.setattr(cli, "_plain_view", lambda args: None)
    assert runs[0] == runs[1]
    assert runs[0][:3] == (0, "", "wrote OUT (1 proxy)\n")
    assert b"pdebug-report/2" in runs[0][3]


def test_plain_report_imports_no_typer(tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    code = (
        "import sys\n"
        "from pdebug.cli import main\n"
        f"assert main(['report', {str(DUMP)!r}, '-o', {str(out)!r}]) == 0\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    loaded = set(done.stdout.split())
    assert not {m for m in loaded if m == "typer" or m.startswith(("typer.", "click"))}
    assert "pdebug.cli.report" not in loaded
    assert out.read_bytes().startswith(b"<!DOCTYPE html>")
