"""MimicDB 1.0's API, kept word for word: boto 2's S3 classes answered from a local index.

    from mimicdb import MimicDB
    from mimicdb.s3.connection import S3Connection

    MimicDB()                       # the index: Redis on localhost:6379 by default
    conn = S3Connection(KEY, SECRET)
    conn.sync()                     # S3's state into the index, once

The index is served by the proxy (`proxy/`), started inside this process.
"""

from __future__ import annotations

from . import compat

# Before anything imports boto: boto 2.49.0 needs it on Python 3.12 and later.
compat.install()

from .runtime import MimicDB  # noqa: E402 - boto must be importable first

__all__ = ["MimicDB", "__version__"]

__version__ = "2.0.0.dev0"
