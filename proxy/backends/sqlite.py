"""The index in SQLite: one file (or `:memory:`), keys as UTF-8 BLOBs in a (bucket, key) B-tree.

BLOBs compare with memcmp, which is S3's byte order, so a scan is one range search on the
primary key. Queries run on the event loop thread: each is O(page) on a local file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from .base import Backend, BucketRecord, ObjectRecord, SyncSession, key_upper_bound

__all__ = ["SQLiteBackend"]

# WITHOUT ROWID makes each primary key the table's own B-tree, so a scan reads rows in key
# order with no second lookup. `sync_open` holds the sessions whose writes must be tracked;
# a session's staged rows outlive its `sync_open` row if the bucket is deleted meanwhile.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    record TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    meta TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_open (
    session INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sync_open_bucket ON sync_open (bucket);
CREATE TABLE IF NOT EXISTS sync_staged (
    session INTEGER NOT NULL,
    key BLOB NOT NULL,
    meta TEXT NOT NULL,
    PRIMARY KEY (session, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_touched (
    session INTEGER NOT NULL,
    key BLOB NOT NULL,
    PRIMARY KEY (session, key)
) WITHOUT ROWID;
"""


def _dumps(data: dict[str, object]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _encode(record: ObjectRecord) -> tuple[bytes, str]:
    return record.key.encode("utf-8"), _dumps(record.to_json())


def _decode(meta: str) -> ObjectRecord:
    return ObjectRecord.from_json(json.loads(meta))


def _put_bucket(db: sqlite3.Connection, bucket: BucketRecord, verb: str = "REPLACE") -> None:
    db.execute(
        f"INSERT OR {verb} INTO buckets (name, record) VALUES (?, ?)",
        (bucket.name, _dumps(bucket.to_json())),
    )


class _SQLiteSync(SyncSession):
    def __init__(self, backend: SQLiteBackend, bucket: BucketRecord, session_id: int) -> None:
        self._backend = backend
        self._bucket = bucket
        self._id = session_id

    async def add(self, records: Iterable[ObjectRecord]) -> None:
        rows = ((self._id, *_encode(record)) for record in records)
        with self._backend._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO sync_staged (session, key, meta) VALUES (?, ?, ?)", rows
            )

    async def commit(self, synced_at: float) -> None:
        name, session = self._bucket.name, self._id
        with self._backend._transaction() as db:
            # A write that passed through during the sync is newer than the listing.
            db.execute(
                "DELETE FROM sync_staged WHERE session = ? AND key IN"
                " (SELECT key FROM sync_touched WHERE session = ?)",
                (session, session),
            )
            db.execute(
                "INSERT INTO sync_staged (session, key, meta)"
                " SELECT ?, o.key, o.meta FROM sync_touched AS t"
                " JOIN objects AS o ON o.bucket = ? AND o.key = t.key WHERE t.session = ?",
                (session, name, session),
            )
            db.execute("DELETE FROM objects WHERE bucket = ?", (name,))
            db.execute(
                "INSERT INTO objects (bucket, key, meta)"
                " SELECT ?, key, meta FROM sync_staged WHERE session = ? ORDER BY key",
                (name, session),
            )
            _put_bucket(db, replace(self._bucket, synced_at=synced_at))
            self._backend._drop_session(db, session)

    async def abort(self) -> None:
        with self._backend._transaction() as db:
            self._backend._drop_session(db, self._id)


class SQLiteBackend(Backend):
    """The index in one SQLite database; arguments are `sqlite3.connect`'s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not args and "database" not in kwargs:
            args = (":memory:",)
        # The proxy may build the backend in one thread and serve from another.
        kwargs.setdefault("check_same_thread", False)
        self._db = sqlite3.connect(*args, **kwargs)
        # Transactions are explicit (`_transaction`), never opened implicitly by a DML.
        self._db.isolation_level = None
        # WAL lets readers (other proxies on the same file) read while a sync commits;
        # a lost last transaction after a power cut only costs a re-sync of a cache.
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so two writers wait instead of deadlocking.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _drop_session(self, db: sqlite3.Connection, session: int) -> None:
        db.execute("DELETE FROM sync_open WHERE session = ?", (session,))
        db.execute("DELETE FROM sync_staged WHERE session = ?", (session,))
        db.execute("DELETE FROM sync_touched WHERE session = ?", (session,))

    def _touch(self, db: sqlite3.Connection, bucket: str, raws: list[bytes]) -> None:
        db.executemany(
            "INSERT OR IGNORE INTO sync_touched (session, key)"
            " SELECT session, ? FROM sync_open WHERE bucket = ?",
            ((raw, bucket) for raw in raws),
        )

    def _has_bucket(self, db: sqlite3.Connection, name: str) -> bool:
        row = db.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone()
        return row is not None

    async def close(self) -> None:
        self._db.close()

    # Buckets

    async def list_buckets(self) -> list[BucketRecord]:
        rows = self._db.execute("SELECT record FROM buckets ORDER BY name")
        return [BucketRecord.from_json(json.loads(record)) for (record,) in rows]

    async def get_bucket(self, name: str) -> BucketRecord | None:
        row = self._db.execute("SELECT record FROM buckets WHERE name = ?", (name,)).fetchone()
        return BucketRecord.from_json(json.loads(row[0])) if row is not None else None

    async def put_bucket(self, bucket: BucketRecord) -> None:
        with self._transaction() as db:
            _put_bucket(db, bucket)

    async def delete_bucket(self, name: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM buckets WHERE name = ?", (name,))
            db.execute("DELETE FROM objects WHERE bucket = ?", (name,))
            # Open syncs stop tracking writes; their staged rows stay until commit or abort.
            db.execute(
                "DELETE FROM sync_touched WHERE session IN"
                " (SELECT session FROM sync_open WHERE bucket = ?)",
                (name,),
            )
            db.execute("DELETE FROM sync_open WHERE bucket = ?", (name,))

    # Objects

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        row = self._db.execute(
            "SELECT meta FROM objects WHERE bucket = ? AND key = ?",
            (bucket, key.encode("utf-8")),
        ).fetchone()
        return _decode(row[0]) if row is not None else None

    async def put_objects(self, bucket: str, records: Iterable[ObjectRecord]) -> None:
        rows = [_encode(record) for record in records]
        with self._transaction() as db:
            if not self._has_bucket(db, bucket):
                return
            db.executemany(
                "INSERT OR REPLACE INTO objects (bucket, key, meta) VALUES (?, ?, ?)",
                ((bucket, raw, meta) for raw, meta in rows),
            )
            self._touch(db, bucket, [raw for raw, _ in rows])

    async def delete_objects(self, bucket: str, keys: Iterable[str]) -> None:
        raws = [key.encode("utf-8") for key in keys]
        with self._transaction() as db:
            if not self._has_bucket(db, bucket):
                return
            db.executemany(
                "DELETE FROM objects WHERE bucket = ? AND key = ?",
                ((bucket, raw) for raw in raws),
            )
            self._touch(db, bucket, raws)

    async def scan(
        self, bucket: str, prefix: bytes, after: bytes | None, limit: int
    ) -> list[ObjectRecord]:
        if limit <= 0:
            return []
        # Both bounds go to the primary key search: the page costs O(limit), not O(bucket).
        if not after or after < prefix:
            where, params = "bucket = ? AND key >= ?", [bucket, prefix]
        else:
            where, params = "bucket = ? AND key > ?", [bucket, after]
        upper = key_upper_bound(prefix)
        if upper is not None:
            where += " AND key < ?"
            params.append(upper)
        rows = self._db.execute(
            f"SELECT meta FROM objects WHERE {where} ORDER BY key LIMIT ?", (*params, limit)
        )
        return [_decode(meta) for (meta,) in rows]

    async def count_objects(self, bucket: str) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM objects WHERE bucket = ?", (bucket,))
        return int(row.fetchone()[0])

    async def start_sync(self, bucket: BucketRecord) -> SyncSession:
        with self._transaction() as db:
            _put_bucket(db, bucket, verb="IGNORE")
            cursor = db.execute("INSERT INTO sync_open (bucket) VALUES (?)", (bucket.name,))
            session_id = cursor.lastrowid
        assert session_id is not None
        return _SQLiteSync(self, bucket, session_id)
