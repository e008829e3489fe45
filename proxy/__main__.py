"""`python -m proxy`: the same as the `mimicdb-proxy` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
