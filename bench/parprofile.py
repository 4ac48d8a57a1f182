"""What ``pdebug CMD`` costs with its work forked (#17, ``pdebug.parallel``): one line.

Runs ``pdebug.cli.main`` in this process with the arguments given and, as the process
ends, prints on stderr: the parent's own user+sys CPU seconds and peak RSS, each
child's, and ``critical``: the parent's CPU plus its largest child's, which is the wall
time the run would take on idle CPUs (the parent waits while its children work). On a
shared machine the measured wall time is mostly waiting for a CPU; this is not.

    python bench/parprofile.py all bench/out/dump-5000-s1.json > /dev/null
"""

from __future__ import annotations

import atexit
import os
import resource
import sys


def _report() -> None:
    from pdebug.parallel import CHILDREN

    me = resource.getrusage(resource.RUSAGE_SELF)
    own = me.ru_utime + me.ru_stime
    kids = [cpu for cpu, _ in CHILDREN]
    rss = [kb for _, kb in CHILDREN]
    line = (
        f"parent_cpu {own:.3f} children_cpu {' '.join(f'{c:.3f}' for c in kids) or '-'} "
        f"critical {own + max(kids, default=0.0):.3f} total_cpu {own + sum(kids):.3f} "
        f"parent_rss_mb {me.ru_maxrss / 1024:.0f} "
        f"children_rss_mb {' '.join(f'{r / 1024:.0f}' for r in rss) or '-'} "
        f"sum_rss_mb {(me.ru_maxrss + sum(rss)) / 1024:.0f}\n"
    )
    os.write(2, line.encode())


if __name__ == "__main__":
    atexit.register(_report)
    from pdebug.cli import main

    sys.argv = ["pdebug", *sys.argv[1:]]
    main()
