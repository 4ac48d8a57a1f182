"""Is ``pdebug report`` of the big bench dump usable in a browser? First paint in Chromium.

Generates the report of the bench's 5,000-service dump (the ~160 MB one ``bench/run.py``
caches in ``bench/out/``), opens it ``--runs`` times in a fresh headless Chromium, and
reads, from the page itself, over the DevTools protocol (``--remote-debugging-pipe``: no
port, no extra package):

* ``first-contentful-paint`` (the ``paint`` performance entries): when the user first sees
  the page;
* the time until the page's first data table is in the DOM (a MutationObserver installed
  before the page's own script runs);
* ``DOMContentLoaded`` and ``load`` (the navigation entry), and the DOM's size.

Prints one row per measure with its median, spread and the target (issue #17: the page
stays usable: first paint, and the page's script done so that its tables sort and filter,
each within 5 s) as MET/MISSED, with the machine's load before and after; saves them to
``bench/out/report_paint.json``. Without Chromium (Debian: ``apt-get install chromium``, or
``PDEBUG_CHROMIUM=/path``) it says so and exits 0; a page that shows an error exits 1.

Usage::

    python -m bench.report_paint [--services 5000] [--runs 5]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.run import OUT, get_dump, tools
from tests.harness import find_chromium

#: Issue #17: the HTML of a 200 MB dump's report "stays usable": first paint, and the
#: page's script done (DOMContentLoaded: every table drawn, sortable), within this.
USABLE_LIMIT_S = 5.0

#: Runs before the page's script (Page.addScriptToEvaluateOnNewDocument): notes when the
#: first data table enters the DOM.
WATCH = """
(() => {
  const seen = () => {
    if (window.__pdebugTable === undefined && document.querySelector("#app table.data")) {
      window.__pdebugTable = performance.now();
      return true;
    }
    return window.__pdebugTable !== undefined;
  };
  new MutationObserver((_, obs) => { if (seen()) { obs.disconnect(); } })
    .observe(document, {childList: true, subtree: true});
})();
"""

#: Evaluated after the load event: waits (up to 30 s) for the paint entries, then reports.
MEASURE = """
new Promise((resolve) => {
  const t0 = performance.now();
  const done = () => {
    const paint = {};
    performance.getEntriesByType("paint").forEach((e) => { paint[e.name] = e.startTime; });
    if (!("first-contentful-paint" in paint) && performance.now() - t0 < 30000) {
      requestAnimationFrame(() => setTimeout(done, 50));
      return;
    }
    const nav = performance.getEntriesByType("navigation")[0];
    resolve(JSON.stringify({
      fcp: paint["first-contentful-paint"] ?? null,
      fp: paint["first-paint"] ?? null,
      table: window.__pdebugTable ?? null,
      dcl: nav.domContentLoadedEventEnd,
      load: nav.loadEventEnd,
      nodes: document.getElementsByTagName("*").length,
      rows: document.querySelectorAll("table.data tbody tr").length,
      errors: document.querySelectorAll(".errbox").length,
    }));
  };
  done();
})
"""


class Browser:
    """One headless Chromium driven over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out)."""

    def __init__(self, chromium: str, profile: str) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def fds() -> None:  # the child's fd 3 reads our commands, fd 4 writes answers
            r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1400,1000",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=fds,
            pass_fds=(3, 4),  # kept open past preexec_fn's dup2
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            got = self._read()
            if got.get("id") == self._id:
                if "error" in got:
                    raise RuntimeError(f"{method}: {got['error']}")
                return got.get("result", {})
            self.events.append(got)

    def wait_event(self, method: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read())
        raise TimeoutError(method)

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buf:
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\0")
        result: dict[str, Any] = json.loads(line)
        return result

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (OSError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def measure(chromium: str, page: Path, timeout: float = 180) -> dict[str, Any]:
    """Open ``page`` in a fresh Chromium; the page's paint, table and load times (ms)."""
    with tempfile.TemporaryDirectory(prefix="pdebug-paint-") as profile:
        browser = Browser(chromium, profile)
        try:
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            browser.send("Page.enable", session=session)
            browser.send("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH}, session)
            t0 = time.perf_counter()
            browser.send("Page.navigate", {"url": page.as_uri()}, session)
            browser.wait_event("Page.loadEventFired", timeout)
            wall = time.perf_counter() - t0
            got = browser.send(
                "Runtime.evaluate",
                {"expression": MEASURE, "awaitPromise": True, "returnByValue": True},
                session,
            )
            result: dict[str, Any] = json.loads(got["result"]["value"])
            result["wall"] = wall * 1000
            return result
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--services", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pdebug", help="pdebug executable (default .venv/bin/pdebug)")
    ap.add_argument("--page", type=Path, help="measure this report instead of generating one")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    chromium = find_chromium()
    if chromium is None:
        print("report first paint: SKIPPED (no Chromium; apt-get install chromium)")
        return 0
    page = args.page
    if page is None:
        dump = get_dump(args.services, args.seed, regen=False)
        page = OUT / f"report-{args.services}.html"
        pdebug = tools(args.pdebug)["pdebug"] or "pdebug"
        subprocess.run([pdebug, "report", str(dump.path), "-o", str(page)], check=True)
        source = f"{dump.bytes / 1e6:.0f} MB dump, {args.services} services"
    else:
        source = str(page)
    load_before = os.getloadavg()
    samples = [measure(chromium, page) for _ in range(args.runs)]
    load_after = os.getloadavg()
    size = page.stat().st_size
    last = samples[-1]
    print(
        f"pdebug report in headless Chromium ({source}; page {size / 1e6:.1f} MB, "
        f"{last['nodes']:,} elements, {last['rows']:,} table rows drawn; "
        f"{args.runs} runs, load {load_before[0]:.2f} -> {load_after[0]:.2f})"
    )
    print(f"{'measure':<28} {'median':>9} {'min':>9} {'max':>9}  target")
    rows: list[dict[str, Any]] = []
    for key, label in (
        ("fcp", "first contentful paint"),
        ("table", "first script-drawn table"),
        ("dcl", "DOMContentLoaded"),
        ("load", "load event"),
        ("wall", "navigate -> load (wall)"),
    ):
        values = [s[key] / 1000 for s in samples if s.get(key) is not None]
        targeted = key in ("fcp", "dcl")
        row: dict[str, Any] = {"measure": label, "seconds": values}
        if not values:
            met = False
            line = f"{label:<28} {'-':>9} {'':>9} {'':>9}"
        else:
            med = statistics.median(values)
            met = med <= USABLE_LIMIT_S
            row["median"] = med
            line = f"{label:<28} {med:>8.2f}s {min(values):>8.2f}s {max(values):>8.2f}s"
        if targeted:
            row["target"] = f"<= {USABLE_LIMIT_S:.0f} s"
            row["met"] = met
            line += f"  <= {USABLE_LIMIT_S:.0f} s {'MET' if met else 'MISSED'}"
        print(line)
        rows.append(row)
    (OUT / "report_paint.json").write_text(
        json.dumps(
            {
                "source": source,
                "page_bytes": size,
                "runs": args.runs,
                "load": [load_before[0], load_after[0]],
                "rows": rows,
                "samples": samples,
            },
            indent=2,
        )
        + "\n"
    )
    if any(s["errors"] for s in samples):
        print("error: the page showed an error box instead of (part of) the report")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
