"""Runbooks as code: expectation files that ``pdebug assert`` checks on proxies.

:mod:`~pdebug.runbook.load` reads and validates a file (``schema.json``),
:mod:`~pdebug.runbook.predicates` is the field predicate language,
:mod:`~pdebug.runbook.targets` gathers the proxies, and
:mod:`~pdebug.runbook.evaluate` judges each expectation with trace, check and the dump.
"""
