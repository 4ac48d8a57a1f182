"""The unfiltered ``clusters -o wide`` rows (one pass, for the report) equal the general path's.

``views.clusters._wide_rows`` builds the unfiltered wide table without a row object per
cluster; the filtered path builds each row from :func:`cells`. Both must print the same
table: a rule added to one (a ``cluster_type`` extension named in TYPE, a state, a
count) and not the other shows here, on every config dump of the corpus.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pdebug.errors import PdebugError
from pdebug.model.load import load
from pdebug.proxy import ProxyData
from pdebug.views import clusters
from tests import harness as eh


class _AllMatch(clusters.ClusterFilter, frozen=True):
    """A filter that is "set" (the general path) yet matches every cluster."""

    @property
    def empty(self) -> bool:
        return False


@pytest.mark.parametrize("path", eh.corpus_config_dumps(), ids=lambda p: p.parent.name)
def test_one_pass_wide_rows_equal_the_general_path(path: Path) -> None:
    try:
        data = ProxyData(str(path), load(path.read_bytes(), str(path)).dump)
        fast = clusters.view(data, clusters.ClusterFilter(), wide=True).table.rows
    except PdebugError:
        pytest.skip("not a clusters dump")
    slow = clusters.view(data, _AllMatch(), wide=True).table.rows
    assert [tuple(r) for r in fast] == [tuple(r) for r in slow]
