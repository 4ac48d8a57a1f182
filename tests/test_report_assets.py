"""The report page's files (pdebug/report/static): shipped as package data, well formed, and
clean under the linters for their language (ESLint, Stylelint, html-validate).

The linters are pinned in tools/lint/package-lock.json and installed by ``make lint-assets``
(``make test`` installs them too when npm is there). Without them the lint tests skip and
say how to install them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.harness import ROOT

STATIC = ROOT / "pdebug" / "report" / "static"
LINT = ROOT / "tools" / "lint"
HARNESS = ROOT / "tests" / "harness" / "report_selftest.js"
NO_LINTERS = (
    "the asset linters are not installed (tools/lint/node_modules): run `make lint-assets` "
    "(needs node >= 20.19 and npm; `cd tools/lint && npm ci`)"
)


def need_linter(tool: str) -> Path:
    """``tools/lint/node_modules/.bin/TOOL``, or skip the test saying how to install it."""
    exe = LINT / "node_modules" / ".bin" / tool
    if not exe.exists() or shutil.which("node") is None:
        pytest.skip(NO_LINTERS)
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    found = tuple(int(x) for x in re.findall(r"\d+", version)[:2])
    if found < (20, 19):
        pytest.skip(f"the asset linters need node >= 20.19; this node is {version.strip()}")
    return exe


def run_linter(tool: str, *args: str | Path) -> None:
    """Run ``tools/lint/node_modules/.bin/TOOL ARGS`` from the repository root; no findings."""
    exe = need_linter(tool)
    done = subprocess.run(
        [str(exe), *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{tool} found problems:\n{done.stdout}{done.stderr}"


def test_script_passes_eslint():
    # the shipped script and the browser test's self-test script, as browser scripts
    run_linter("eslint", "-c", LINT / "eslint.config.js", STATIC / "report.js", HARNESS)


def test_style_sheet_passes_stylelint():
    run_linter("stylelint", "-c", LINT / "stylelint.config.js", STATIC / "report.css")


def test_page_passes_html_validate():
    run_linter("html-validate", "-c", LINT / ".htmlvalidate.json", STATIC / "page.html")


def test_the_linters_are_pinned_and_node_modules_is_not_committed():
    import json

    lock = json.loads((LINT / "package-lock.json").read_text())
    wanted = json.loads((LINT / "package.json").read_text())["devDependencies"]
    assert set(wanted) == {
        "eslint",
        "@eslint/js",
        "globals",
        "stylelint",
        "stylelint-config-standard",
        "html-validate",
    }
    for name, version in wanted.items():
        assert version[0].isdigit(), f"{name} is not pinned: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name
    assert "node_modules/" in (ROOT / ".gitignore").read_text().split()


def test_the_shipped_script_has_no_test_code():
    # the self-test lives in tests/harness/report_selftest.js, injected by the browser test
    script = (STATIC / "report.js").read_text()
    assert "selftest" not in script.lower()


def test_the_files_are_package_data():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "static/*" in config["tool"]["setuptools"]["package-data"]["pdebug.report"]
    assert {p.name for p in STATIC.iterdir()} == {"page.html", "report.css", "report.js"}


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_script_parses_as_javascript(tmp_path: Path):
    # node checks the syntax without running it (the page's own placeholders are numbers)
    from pdebug.report import assets

    script = tmp_path / "report.js"
    script.write_text(assets.js())
    done = subprocess.run(
        ["node", "--check", str(script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_style_sheet_is_balanced():
    css = (STATIC / "report.css").read_text()
    assert css.count("{") == css.count("}")
    assert "/*" not in css or css.count("/*") == css.count("*/")


def test_page_is_well_formed_html_with_every_placeholder():
    page = (STATIC / "page.html").read_text()
    for slot in ("@CSP@", "@CSS@", "@STATIC@", "@DATA@", "@JS@"):
        assert page.count(slot) == 1, slot

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag not in ("meta", "link", "br", "img", "input"):
                self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack and self.stack[-1] == tag, (tag, self.stack)
            self.stack.pop()

    parser = Tags()
    parser.feed(page)
    assert parser.stack == []


def test_generated_pages_pass_html_validate(pdebug, tmp_path: Path):
    # whole reports, with their script-free copy of the tables and hostile names in them
    from tests.test_report import HOSTILE, hostile_dump, make_bundle

    need_linter("html-validate")
    sidecar = ROOT / "fixtures" / "real" / "sidecar"
    bundle = tmp_path / "incident.tar.gz"
    make_bundle(bundle)
    pages = []
    for name, args in (
        ("sidecar", [sidecar / "config_dump.json", "--clusters-json", sidecar / "clusters.json"]),
        ("hostile", [hostile_dump(tmp_path), "--title", HOSTILE]),
        ("bundle", [bundle]),
    ):
        page = tmp_path / f"{name}.html"
        result = pdebug("report", *args, "-o", page)
        assert result.code == 0, result.err
        pages.append(page)
    run_linter("html-validate", "-c", LINT / ".htmlvalidate.json", *pages)
