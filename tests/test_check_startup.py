"""``pdebug check`` of one plain dump loads only what one proxy's checks need (#17).

The bundle machinery (the bundle reader, the manifest, tarfile, hashlib), the ztunnel
checks and cryptography (the certificates are read by ``pdebug.model.der``) stay out.
"""

from __future__ import annotations

import ast
import subprocess
import sys

from tests import harness as eh

_UNNEEDED = (
    "pdebug.manifest",
    "pdebug.sources.bundle",
    "tarfile",
    "pdebug.checks.ztunnel",
    "pdebug.model.ztunnel",
    "cryptography",
)


def _loaded(*args: str) -> tuple[int, list[str]]:
    code = (
        "import sys; from pdebug.cli import main; "
        f"rc = main({list(args)!r}); "
        f"print([m for m in {_UNNEEDED!r} if m in sys.modules]); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return proc.returncode, ast.literal_eval(proc.stdout.strip().splitlines()[-1])


def test_check_of_a_plain_dump_loads_no_bundle_or_ztunnel_code() -> None:
    dump = eh.FIXTURES / "real/sidecar/config_dump.json"
    rc, loaded = _loaded("check", str(dump), "-o", "json")
    assert rc in (0, 1)
    assert loaded == []


def test_check_ignore_still_knows_the_ztunnel_codes() -> None:
    dump = eh.FIXTURES / "real/sidecar/config_dump.json"
    rc, loaded = _loaded("check", str(dump), "--ignore", "PD701", "-o", "json")
    assert rc in (0, 1)
    assert "pdebug.checks.ztunnel" in loaded
