"""The per-application `Context` handed to every handler: config, index, upstream, counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .access_log import note_operation
from .backends.base import Backend
from .config import Config
from .keeper import IndexKeeper
from .upstream import Upstream

__all__ = ["Context"]


@dataclass
class Context:
    """What a handler needs; built once by `create_app`."""

    config: Config
    backend: Backend
    upstream: Upstream
    # requests by (operation, answered_from), read by /_mimicdb/stats
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    syncs: dict[str, dict[str, object]] = field(default_factory=dict)
    # syncs, verifies, repairs and read-through in the background; set by `create_app`
    keeper: IndexKeeper = field(init=False, repr=False)

    def count(self, operation: str, answered_from: str) -> None:
        """Record one request."""
        self.requests[(operation, answered_from)] += 1
        note_operation(operation, answered_from)
