"""The benchmarks, a package: run each from the repository root as ``python -m bench.NAME``.

``bench.run`` (``make bench``) is the table of pdebug against the JSON-parse floor; the
other scripts import what they share from it (``bench.interleave``, ``bench.run``) and
the test harness (``tests.harness``) as packages, with no edits of ``sys.path``.
"""
