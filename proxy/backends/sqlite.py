"""The index in SQLite: one file (or `:memory:`), keys as UTF-8 BLOBs in a (bucket, key) B-tree.

BLOBs compare with memcmp, which is S3's byte order, so a scan is one range search on the
primary key. Queries run on the event loop thread: each is O(page) on a local file.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import orjson

from .base import (
    SYNC_LEASE,
    Backend,
    BucketRecord,
    ObjectRecord,
    SyncExpired,
    SyncSession,
    SyncStatus,
    VersionedChange,
    key_upper_bound,
)

__all__ = ["SQLiteBackend"]

# WITHOUT ROWID makes each primary key the table's own B-tree, so a scan reads rows in key
# order with no second lookup. `sync_open` holds the sessions whose writes must be tracked
# (by any process on the file, in `sync_touched`). A session stages its listing in a TEMP
# table of its own connection: no write lock on the file while it stages, a DROP instead
# of deleting each row when it ends, and nothing left behind by a process that dies.
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
    bucket TEXT NOT NULL,
    deadline REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sync_open_bucket ON sync_open (bucket);
CREATE TABLE IF NOT EXISTS sync_touched (
    session INTEGER NOT NULL,
    key BLOB NOT NULL,
    PRIMARY KEY (session, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_status (
    bucket TEXT PRIMARY KEY,
    record TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS repair_marks (
    bucket TEXT PRIMARY KEY,
    token TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
"""


def _dumps(data: dict[str, object]) -> str:
    # orjson: a sync encodes one record per key, ten times faster than json.dumps; the
    # text is the same compact JSON (UTF-8, no spaces) that json.loads reads back.
    return orjson.dumps(data).decode("utf-8")


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
        self._staged = f"temp.sync_staged_{session_id}"
        backend._db.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS sync_staged_{session_id}"
            " (key BLOB PRIMARY KEY, meta TEXT NOT NULL) WITHOUT ROWID"
        )

    def _drop(self, db: sqlite3.Connection) -> None:
        self._backend._drop_session(db, self._id)

    @property
    def id(self) -> str:
        return str(self._id)

    def _check_open(self, db: sqlite3.Connection) -> None:
        row = db.execute("SELECT 1 FROM sync_open WHERE session = ?", (self._id,)).fetchone()
        if row is None:
            raise SyncExpired(f"sync {self._id} of {self._bucket.name} is no longer open")

    async def renew(self, deadline: float) -> None:
        with self._backend._transaction() as db:
            self._check_open(db)
            db.execute("UPDATE sync_open SET deadline = ? WHERE session = ?", (deadline, self._id))

    async def patch(self, put: Iterable[ObjectRecord], delete: Iterable[str]) -> int:
        name, session = self._bucket.name, self._id
        rows = [_encode(record) for record in put]
        raws = [key.encode("utf-8") for key in delete]
        with self._backend._transaction() as db:
            self._check_open(db)
            touched = {
                raw
                for (raw,) in db.execute(
                    "SELECT key FROM sync_touched WHERE session = ?", (session,)
                )
            }
            self._drop(db)
            if not self._backend._has_bucket(db, name):
                return 0
            rows = [(raw, meta) for raw, meta in rows if raw not in touched]
            raws = [raw for raw in raws if raw not in touched]
            db.executemany(
                "INSERT OR REPLACE INTO objects (bucket, key, meta) VALUES (?, ?, ?)",
                ((name, raw, meta) for raw, meta in rows),
            )
            db.executemany(
                "DELETE FROM objects WHERE bucket = ? AND key = ?", ((name, raw) for raw in raws)
            )
            self._backend._touch(db, name, [raw for raw, _ in rows] + raws)
        return len(rows) + len(raws)

    async def add(self, records: Iterable[ObjectRecord]) -> None:
        rows = [_encode(record) for record in records]
        # Only the connection's TEMP table is written: a deferred transaction, no file lock.
        with self._backend._transaction("BEGIN") as db:
            db.executemany(f"INSERT OR REPLACE INTO {self._staged} (key, meta) VALUES (?, ?)", rows)

    async def commit(self, synced_at: float) -> None:
        name, session = self._bucket.name, self._id
        with self._backend._transaction() as db:
            self._check_open(db)
            # A write that passed through during the sync is newer than the listing.
            db.execute(
                f"DELETE FROM {self._staged} WHERE key IN"
                " (SELECT key FROM sync_touched WHERE session = ?)",
                (session,),
            )
            db.execute(
                f"INSERT INTO {self._staged} (key, meta)"
                " SELECT o.key, o.meta FROM sync_touched AS t"
                " JOIN objects AS o ON o.bucket = ? AND o.key = t.key WHERE t.session = ?",
                (name, session),
            )
            db.execute("DELETE FROM objects WHERE bucket = ?", (name,))
            db.execute(
                "INSERT INTO objects (bucket, key, meta)"
                f" SELECT ?, key, meta FROM {self._staged} ORDER BY key",
                (name,),
            )
            _put_bucket(db, replace(self._bucket, synced_at=synced_at))
            self._drop(db)

    async def abort(self) -> None:
        with self._backend._transaction() as db:
            self._drop(db)


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
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(sync_open)")}
        if "deadline" not in columns:  # a file made before sync sessions had leases
            self._db.execute("ALTER TABLE sync_open ADD COLUMN deadline REAL NOT NULL DEFAULT 0")

    @contextmanager
    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so two writers wait instead of deadlocking.
        self._db.execute(begin)
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _drop_session(self, db: sqlite3.Connection, session: int | str) -> None:
        db.execute("DELETE FROM sync_open WHERE session = ?", (session,))
        db.execute("DELETE FROM sync_touched WHERE session = ?", (session,))
        # A session of this connection expired by `expire_syncs`: its staging goes too.
        db.execute(f"DROP TABLE IF EXISTS temp.sync_staged_{int(session)}")

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

    async def start_sync(self, bucket: BucketRecord, deadline: float | None = None) -> SyncSession:
        with self._transaction() as db:
            _put_bucket(db, bucket, verb="IGNORE")
            cursor = db.execute(
                "INSERT INTO sync_open (bucket, deadline) VALUES (?, ?)",
                (bucket.name, deadline or time.time() + SYNC_LEASE),
            )
            session_id = cursor.lastrowid
        assert session_id is not None
        return _SQLiteSync(self, bucket, session_id)

    async def expire_syncs(self, now: float) -> list[tuple[str, str]]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT bucket, session FROM sync_open WHERE deadline < ? ORDER BY bucket, session",
                (now,),
            ).fetchall()
            for _, session in rows:
                self._drop_session(db, session)
        return [(bucket, str(session)) for bucket, session in rows]

    async def put_sync_status(self, status: SyncStatus) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO sync_status (bucket, record) VALUES (?, ?)",
                (status.bucket, _dumps(status.to_json())),
            )

    async def sync_statuses(self) -> list[SyncStatus]:
        rows = self._db.execute("SELECT record FROM sync_status ORDER BY bucket")
        return [SyncStatus.from_json(json.loads(record)) for (record,) in rows]

    async def clear_sync_status(self, bucket: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM sync_status WHERE bucket = ?", (bucket,))

    async def put_repair_mark(self, bucket: str, token: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO repair_marks (bucket, token) VALUES (?, ?)", (bucket, token)
            )

    async def repair_marks(self) -> dict[str, str]:
        rows = self._db.execute("SELECT bucket, token FROM repair_marks")
        return {bucket: token for bucket, token in rows}

    async def clear_repair_mark(self, bucket: str, token: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM repair_marks WHERE bucket = ? AND token = ?", (bucket, token)
            )
            return cursor.rowcount > 0

    def _versions(self, db: sqlite3.Connection, bucket: str, raws: Sequence[bytes]) -> list[int]:
        out = []
        for raw in raws:
            row = db.execute(
                "SELECT version FROM versions WHERE bucket = ? AND key = ?", (bucket, raw)
            ).fetchone()
            out.append(int(row[0]) if row is not None else 0)
        return out

    async def object_versions(self, bucket: str, keys: Sequence[str]) -> list[int]:
        return self._versions(self._db, bucket, [key.encode("utf-8") for key in keys])

    async def bump_versions(self, bucket: str, keys: Sequence[str]) -> list[int]:
        raws = [key.encode("utf-8") for key in keys]
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO versions (bucket, key, version) VALUES (?, ?, 1)"
                " ON CONFLICT (bucket, key) DO UPDATE SET version = version + 1",
                ((bucket, raw) for raw in raws),
            )
            return self._versions(db, bucket, raws)

    async def apply_versioned(self, bucket: str, changes: Sequence[VersionedChange]) -> list[bool]:
        raws = [key.encode("utf-8") for key, _, _ in changes]
        with self._transaction() as db:
            if not self._has_bucket(db, bucket):
                return [False] * len(changes)
            current = self._versions(db, bucket, raws)
            wanted = [version for _, _, version in changes]
            applied = [now == version for now, version in zip(current, wanted, strict=True)]
            for ok, raw, (_, record, _) in zip(applied, raws, changes, strict=True):
                if not ok:
                    continue
                if record is None:
                    db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, raw))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO objects (bucket, key, meta) VALUES (?, ?, ?)",
                        (bucket, raw, _encode(record)[1]),
                    )
            self._touch(db, bucket, [raw for ok, raw in zip(applied, raws, strict=True) if ok])
        return applied
