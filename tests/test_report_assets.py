"""The report page's files (pdebug/report/static): shipped as package data, well formed."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.harness import ROOT

STATIC = ROOT / "pdebug" / "report" / "static"


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
