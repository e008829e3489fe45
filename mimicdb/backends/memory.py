"""`Memory`: the proxy's in-process index under the seed's name; nothing survives the process.

It is also the example to copy for a custom backend (see `proxy/backends/memory.py`).
"""

from __future__ import annotations

from proxy.backends.memory import MemoryBackend

__all__ = ["Memory"]


class Memory(MemoryBackend):
    """The index in a dict of sorted lists; `Memory()` takes no arguments."""
