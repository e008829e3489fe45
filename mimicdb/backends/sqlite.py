"""`SQLite`: the proxy's SQLite index under the seed's name; `sqlite3.connect` arguments.

`SQLite()` is an in-memory database, gone when the process ends; `SQLite('mimicdb.db')`
persists in a file.
"""

from __future__ import annotations

from proxy.backends.sqlite import SQLiteBackend

__all__ = ["SQLite"]


class SQLite(SQLiteBackend):
    """The index in one SQLite database; arguments are `sqlite3.connect`'s (default `:memory:`)."""
