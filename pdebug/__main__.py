"""``python -m pdebug``."""

from pdebug.cli import main

raise SystemExit(main())
