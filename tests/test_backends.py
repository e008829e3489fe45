"""One contract for every index backend: memory, SQLite (in memory and on disk), Redis.

Each test runs against each backend; `MemoryBackend` is the reference the others copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from proxy.backends import Backend, BucketRecord, MemoryBackend, ObjectRecord, backend_from_url
from proxy.backends.base import SyncExpired, SyncStatus
from proxy.backends.redis import RedisBackend
from proxy.backends.sqlite import SQLiteBackend
from tests.fixtures.redis_server import RedisServer

BUCKET = BucketRecord(name="bucket", created="2026-12-04T15:00:00.000Z")
OTHER = BucketRecord(name="other", created="2026-12-05T15:00:00.000Z", region="eu-west-1")

# Keys whose UTF-8 byte order differs from naive expectations: case, punctuation below
# and above '/', control characters, multi-byte letters, astral-plane emoji, a long key.
ODD_KEYS = [
    "a",
    "A",
    "a b",
    "a+b",
    "a%2Fb",
    "a/b",
    "a\nb",
    "a\x01b",
    "\x01",
    "~",
    "\x7f",
    "é",
    "e",
    "f",
    "日本",
    "日本/語",
    "\U0001f600",
    "\ufffd",
    "ｚ",
    "k" * 1024,
    "k" * 1023,
    "Key",
    "key",
    "KEY",
]


def obj(key: str, size: int = 1, **fields: object) -> ObjectRecord:
    record = ObjectRecord(
        key=key, size=size, etag=f'"{size:032x}"', last_modified="2026-12-04T15:00:00.000Z"
    )
    return replace(record, **fields)  # type: ignore[arg-type]


def keys_of(records: Iterable[ObjectRecord]) -> list[str]:
    return [record.key for record in records]


def byte_order(keys: Iterable[str]) -> list[str]:
    return sorted(keys, key=lambda key: key.encode("utf-8"))


def byte_order_records(records: list[ObjectRecord]) -> list[ObjectRecord]:
    return sorted(records, key=lambda record: record.key.encode("utf-8"))


@pytest.fixture(params=["memory", "sqlite", "sqlite-file", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    index: Backend
    if request.param == "memory":
        index = MemoryBackend()
    elif request.param == "sqlite":
        index = SQLiteBackend()
    elif request.param == "sqlite-file":
        index = SQLiteBackend(str(tmp_path / "index.db"))
    else:
        index = RedisBackend.from_url(request.getfixturevalue("redis_url"))
    await index.open()
    try:
        yield index
    finally:
        await index.close()


@pytest.fixture
async def bucket(backend: Backend) -> Backend:
    """The backend, holding an empty BUCKET."""
    await backend.put_bucket(BUCKET)
    return backend


# Buckets


async def test_ping(backend: Backend) -> None:
    assert await backend.ping() is True


async def test_buckets_crud_and_order(backend: Backend) -> None:
    assert await backend.list_buckets() == []
    names = ["b-2", "a.1", "c3", "a-1", "a1"]
    for name in names:
        await backend.put_bucket(replace(BUCKET, name=name))
    assert [bucket.name for bucket in await backend.list_buckets()] == sorted(names)
    assert await backend.get_bucket("c3") == replace(BUCKET, name="c3")
    assert await backend.get_bucket("missing") is None

    await backend.delete_bucket("b-2")
    await backend.delete_bucket("missing")
    assert [bucket.name for bucket in await backend.list_buckets()] == ["a-1", "a.1", "a1", "c3"]


async def test_bucket_record_round_trips(backend: Backend) -> None:
    full = replace(OTHER, synced_at=1_700_000_000.25, owner_id="abc", owner_name="me")
    await backend.put_bucket(full)
    assert await backend.get_bucket("other") == full
    assert await backend.list_buckets() == [full]


async def test_put_bucket_replaces_record_and_keeps_objects(bucket: Backend) -> None:
    await bucket.put_object("bucket", obj("k"))
    await bucket.put_bucket(replace(BUCKET, region="eu-west-1"))
    assert (await bucket.get_bucket("bucket")) == replace(BUCKET, region="eu-west-1")
    assert await bucket.get_object("bucket", "k") == obj("k")


async def test_delete_bucket_removes_objects(bucket: Backend) -> None:
    await bucket.put_objects("bucket", [obj("a"), obj("b/c")])
    await bucket.delete_bucket("bucket")
    assert await bucket.get_bucket("bucket") is None
    assert await bucket.get_object("bucket", "a") is None
    assert await bucket.count_objects("bucket") == 0
    assert await bucket.scan("bucket", b"", None, 10) == []

    await bucket.put_bucket(BUCKET)
    assert await bucket.scan("bucket", b"", None, 10) == []


# Objects


async def test_put_get_delete(bucket: Backend) -> None:
    assert await bucket.get_object("bucket", "k") is None
    await bucket.put_object("bucket", obj("k", size=1))
    assert await bucket.get_object("bucket", "k") == obj("k", size=1)
    await bucket.put_object("bucket", obj("k", size=2))
    assert await bucket.get_object("bucket", "k") == obj("k", size=2)
    assert await bucket.count_objects("bucket") == 1

    await bucket.delete_object("bucket", "k")
    await bucket.delete_objects("bucket", ["k", "never-there"])
    assert await bucket.get_object("bucket", "k") is None
    assert await bucket.count_objects("bucket") == 0


async def test_objects_of_an_unknown_bucket_are_ignored(backend: Backend) -> None:
    await backend.put_object("nope", obj("k"))
    await backend.delete_object("nope", "k")
    assert await backend.get_bucket("nope") is None
    assert await backend.get_object("nope", "k") is None
    assert await backend.count_objects("nope") == 0
    assert await backend.scan("nope", b"", None, 10) == []


async def test_records_round_trip(bucket: Backend) -> None:
    records = [
        obj("listed-only"),
        obj("no-headers-known", headers={}),
        obj(
            "full",
            size=5_000_000_000,
            storage_class="GLACIER",
            headers={"Content-Type": "text/plain; charset=utf-8", "x-amz-meta-é": "日本"},
            confirmed_at=1_700_000_000.5,
            checksum_algorithm="CRC32",
            checksum_type="FULL_OBJECT",
            owner_id="id",
            owner_name="name",
        ),
    ]
    await bucket.put_objects("bucket", records)
    for record in records:
        assert await bucket.get_object("bucket", record.key) == record
    assert (await bucket.get_object("bucket", "listed-only")).headers is None  # type: ignore[union-attr]
    assert (await bucket.get_object("bucket", "no-headers-known")).headers == {}  # type: ignore[union-attr]
    assert await bucket.scan("bucket", b"", None, 10) == byte_order_records(records)


async def test_count_objects(bucket: Backend) -> None:
    await bucket.put_bucket(OTHER)
    await bucket.put_objects("bucket", [obj(f"k{i}") for i in range(7)])
    await bucket.put_objects("other", [obj("k0")])
    await bucket.delete_objects("bucket", ["k0", "k1"])
    assert await bucket.count_objects("bucket") == 5
    assert await bucket.count_objects("other") == 1


# Scans


async def test_scan_prefix_after_limit(bucket: Backend) -> None:
    await bucket.put_objects("bucket", [obj(k) for k in ["a", "a/1", "a/2", "a/3", "b", "b/1"]])

    async def scan(prefix: bytes, after: bytes | None, limit: int) -> list[str]:
        return keys_of(await bucket.scan("bucket", prefix, after, limit))

    assert await scan(b"", None, 100) == ["a", "a/1", "a/2", "a/3", "b", "b/1"]
    assert await scan(b"a/", None, 2) == ["a/1", "a/2"]
    assert await scan(b"a/", b"a/2", 10) == ["a/3"]
    assert await scan(b"a/", b"a/3", 10) == []
    assert await scan(b"a/", b"0", 10) == ["a/1", "a/2", "a/3"]  # after sorts before prefix
    assert await scan(b"a/", b"a/", 10) == ["a/1", "a/2", "a/3"]
    assert await scan(b"a/", b"z", 10) == []
    assert await scan(b"", b"a/3", 2) == ["b", "b/1"]
    assert await scan(b"a", None, 10) == ["a", "a/1", "a/2", "a/3"]
    assert await scan(b"a", b"a", 1) == ["a/1"]
    assert await scan(b"c", None, 10) == []
    assert await scan(b"", None, 0) == []


async def test_scan_orders_odd_keys_by_utf8_bytes(bucket: Backend) -> None:
    await bucket.put_objects("bucket", [obj(key) for key in ODD_KEYS])
    expected = byte_order(ODD_KEYS)
    assert keys_of(await bucket.scan("bucket", b"", None, 1000)) == expected

    # Paging with `after` = the last key of the page walks the same order.
    paged: list[str] = []
    after: bytes | None = None
    while page := await bucket.scan("bucket", b"", after, 3):
        paged += keys_of(page)
        after = page[-1].key.encode("utf-8")
    assert paged == expected

    for key in ODD_KEYS:
        assert await bucket.get_object("bucket", key) == obj(key)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("a/", ["a/", "a/b", "a/\U0001f600"]),
        ("a", ["a", "a.", "a/", "a/b", "a/\U0001f600", "a0"]),
        ("a/\U0001f600", ["a/\U0001f600"]),
        ("é", ["é", "éa"]),
        ("日", ["日", "日本"]),
    ],
)
async def test_scan_prefix_bound_is_byte_exact(
    bucket: Backend, prefix: str, expected: list[str]
) -> None:
    keys = ["a", "a.", "a/", "a/b", "a0", "a/\U0001f600", "b", "é", "éa", "ê", "日", "日本", "旦"]
    await bucket.put_objects("bucket", [obj(key) for key in keys])
    found = keys_of(await bucket.scan("bucket", prefix.encode("utf-8"), None, 100))
    assert found == byte_order(expected)


# Sync


async def test_sync_commit_replaces_state(bucket: Backend) -> None:
    await bucket.put_objects("bucket", [obj("old"), obj("kept", size=1)])
    sync = await bucket.start_sync(BUCKET)
    await sync.add([obj("kept", size=2), obj("new")])
    # Readers see the old state until the commit.
    assert keys_of(await bucket.scan("bucket", b"", None, 10)) == ["kept", "old"]

    await sync.commit(synced_at=1234.5)
    assert keys_of(await bucket.scan("bucket", b"", None, 10)) == ["kept", "new"]
    assert await bucket.get_object("bucket", "kept") == obj("kept", size=2)
    assert await bucket.get_object("bucket", "old") is None
    assert await bucket.count_objects("bucket") == 2
    assert await bucket.get_bucket("bucket") == replace(BUCKET, synced_at=1234.5)


async def test_sync_to_empty_listing_empties_bucket(bucket: Backend) -> None:
    await bucket.put_objects("bucket", [obj("a"), obj("b")])
    sync = await bucket.start_sync(BUCKET)
    await sync.commit(synced_at=1.0)
    assert await bucket.scan("bucket", b"", None, 10) == []
    assert await bucket.count_objects("bucket") == 0
    assert (await bucket.get_bucket("bucket")) == replace(BUCKET, synced_at=1.0)


async def test_sync_abort_keeps_old_state(bucket: Backend) -> None:
    await bucket.put_objects("bucket", [obj("old")])
    sync = await bucket.start_sync(BUCKET)
    await sync.add([obj("new")])
    await sync.abort()
    assert keys_of(await bucket.scan("bucket", b"", None, 10)) == ["old"]
    assert await bucket.get_bucket("bucket") == BUCKET


async def test_sync_creates_an_unknown_bucket(backend: Backend) -> None:
    sync = await backend.start_sync(OTHER)
    assert await backend.get_bucket("other") == OTHER
    await sync.add([obj("x")])
    await sync.commit(synced_at=2.0)
    assert await backend.get_bucket("other") == replace(OTHER, synced_at=2.0)
    assert keys_of(await backend.scan("other", b"", None, 10)) == ["x"]


async def test_writes_during_sync_survive_commit(bucket: Backend) -> None:
    await bucket.put_objects("bucket", [obj("a"), obj("b"), obj("c")])
    sync = await bucket.start_sync(BUCKET)
    # The listing was taken before the writes below reached the index.
    await sync.add([obj("a", size=10), obj("b", size=10), obj("c", size=10)])
    await bucket.put_object("bucket", obj("b", size=20))
    await bucket.put_object("bucket", obj("e", size=20))
    await bucket.delete_object("bucket", "c")
    await bucket.put_object("bucket", obj("f", size=20))
    await bucket.delete_object("bucket", "f")
    await sync.commit(synced_at=3.0)

    assert await bucket.scan("bucket", b"", None, 10) == [
        obj("a", size=10),
        obj("b", size=20),
        obj("e", size=20),
    ]


async def test_two_syncs_each_keep_writes_made_while_they_ran(bucket: Backend) -> None:
    first = await bucket.start_sync(BUCKET)
    second = await bucket.start_sync(BUCKET)
    await first.add([obj("listed")])
    await second.add([obj("listed")])
    await bucket.put_object("bucket", obj("written"))
    await first.commit(synced_at=1.0)
    await second.commit(synced_at=2.0)
    assert keys_of(await bucket.scan("bucket", b"", None, 10)) == ["listed", "written"]


async def test_sync_leaves_other_buckets_untouched(bucket: Backend) -> None:
    await bucket.put_bucket(OTHER)
    await bucket.put_objects("other", [obj("x"), obj("y")])
    sync = await bucket.start_sync(BUCKET)
    await sync.add([obj("x", size=9)])
    await bucket.delete_object("other", "y")
    await sync.commit(synced_at=1.0)
    assert await bucket.scan("other", b"", None, 10) == [obj("x")]
    assert await bucket.get_bucket("other") == OTHER
    assert await bucket.scan("bucket", b"", None, 10) == [obj("x", size=9)]


async def test_sync_stages_many_records(bucket: Backend) -> None:
    sync = await bucket.start_sync(BUCKET)
    await sync.add(obj(f"k{i:06d}") for i in range(25_000))
    await sync.add([obj("k000000", size=2)])
    await sync.commit(synced_at=1.0)
    assert await bucket.count_objects("bucket") == 25_000
    assert await bucket.get_object("bucket", "k000000") == obj("k000000", size=2)
    page = await bucket.scan("bucket", b"k01", b"k012344", 2)
    assert keys_of(page) == ["k012345", "k012346"]


# Backend-specific: the structure that makes a scan O(page), persistence, sharing.


@pytest.mark.parametrize(
    ("prefix", "after"), [(b"", None), (b"k1", None), (b"k1", b"k1"), (b"", b"k5")]
)
async def test_sqlite_scan_searches_the_primary_key(prefix: bytes, after: bytes | None) -> None:
    index = SQLiteBackend()
    await index.put_bucket(BUCKET)
    await index.put_objects("bucket", [obj(f"k{i}") for i in range(100)])
    statements: list[str] = []
    index._db.set_trace_callback(statements.append)
    assert len(await index.scan("bucket", prefix, after, 10)) == 10
    index._db.set_trace_callback(None)

    [statement] = statements
    plan = [row[3] for row in index._db.execute("EXPLAIN QUERY PLAN " + statement)]
    assert len(plan) == 1, plan
    assert plan[0].startswith("SEARCH objects USING PRIMARY KEY (bucket=? AND key>"), plan
    assert "LIMIT 10" in statement
    await index.close()


async def test_sqlite_file_persists_and_is_shared(tmp_path: Path) -> None:
    path = str(tmp_path / "index.db")
    first, second = SQLiteBackend(path), SQLiteBackend(path)
    assert first._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await first.put_bucket(BUCKET)
    await first.put_objects("bucket", [obj("a"), obj("b")])

    # A write through another proxy on the same file is tracked by a sync this one runs.
    sync = await first.start_sync(BUCKET)
    await sync.add([obj("a")])
    await second.put_object("bucket", obj("c"))
    assert keys_of(await second.scan("bucket", b"", None, 10)) == ["a", "b", "c"]
    await sync.commit(synced_at=5.0)
    await first.close()
    await second.close()

    reopened = SQLiteBackend(path)
    assert await reopened.get_bucket("bucket") == replace(BUCKET, synced_at=5.0)
    assert keys_of(await reopened.scan("bucket", b"", None, 10)) == ["a", "c"]
    await reopened.close()


async def test_redis_scan_issues_one_bounded_zrange(redis_url: str) -> None:
    index = RedisBackend.from_url(redis_url)
    await index.put_bucket(BUCKET)
    sync = await index.start_sync(BUCKET)
    await sync.add(obj(f"k{i:05d}") for i in range(20_000))
    await sync.commit(synced_at=1.0)
    assert await index.count_objects("bucket") == 20_000

    watcher = aioredis.Redis.from_url(redis_url)
    commands: list[str] = []
    async with watcher.monitor() as monitor:
        page = await index.scan("bucket", b"k1", b"k12344", 10)
        await index.ping()  # marks the end of the scan's commands
        while not (command := (await monitor.next_command())["command"]).startswith("PING"):
            commands.append(command)
    await watcher.aclose()
    await index.close()

    assert keys_of(page) == [f"k{i}" for i in range(12345, 12355)]
    # Scripts' own commands show up in MONITOR: exactly one bounded range read, one HMGET.
    reads = [c for c in commands if c.split()[0].upper() not in ("EVALSHA", "EVAL", "SCRIPT")]
    assert [c.split()[0].upper() for c in reads] == ["ZRANGE", "HMGET"], commands
    zrange = reads[0].split()[1:]
    assert zrange == ["mimicdb:{bucket}:keys", "(k12344", "(k1\\xff", "BYLEX", "LIMIT", "0", "10"]
    assert len(reads[1].split()) == 2 + 10  # HMGET, the hash, the page's keys


async def test_redis_namespaces_share_one_server(redis_url: str) -> None:
    first = RedisBackend.from_url(redis_url, namespace="one")
    second = RedisBackend.from_url(redis_url, namespace="two")
    await first.put_bucket(BUCKET)
    await first.put_object("bucket", obj("k"))
    sync = await first.start_sync(BUCKET)
    await first.put_object("bucket", obj("k2"))
    assert await second.list_buckets() == []
    assert await second.get_object("bucket", "k") is None

    keys = [k if isinstance(k, bytes) else k.encode() for k in await first._redis.keys("*")]
    assert keys and all(key.startswith(b"one:") for key in keys), keys
    # Every key of a bucket carries its hash tag, so a bucket stays in one Cluster slot.
    global_keys = (b"one:buckets", b"one:sync-id", b"one:sync-leases", b"one:sync-status")
    per_bucket = [key for key in keys if key not in global_keys]
    assert per_bucket and all(key.startswith(b"one:{bucket}:") for key in per_bucket), keys
    await sync.abort()
    await first.close()
    await second.close()


async def test_redis_recovers_after_a_restart(redis_server: RedisServer, redis_url: str) -> None:
    index = RedisBackend.from_url(redis_url, socket_connect_timeout=1)
    await index.put_bucket(BUCKET)
    redis_server.stop()
    with pytest.raises(redis.exceptions.ConnectionError):
        await index.ping()
    redis_server.start()
    assert await index.ping() is True
    assert await index.list_buckets() == []  # the server saves nothing
    # The restarted server has forgotten the scripts; they are loaded again.
    await index.put_bucket(BUCKET)
    await index.put_object("bucket", obj("k"))
    assert keys_of(await index.scan("bucket", b"", None, 10)) == ["k"]
    await index.close()


async def test_backend_from_url(tmp_path: Path, redis_url: str) -> None:
    assert isinstance(backend_from_url("memory://"), MemoryBackend)
    on_disk = backend_from_url(f"sqlite:///{tmp_path}/index.db")
    assert isinstance(on_disk, SQLiteBackend)
    await on_disk.put_bucket(BUCKET)
    await on_disk.close()
    assert (tmp_path / "index.db").exists()
    remote = backend_from_url(redis_url)
    assert isinstance(remote, RedisBackend)
    assert await remote.ping() is True
    await remote.close()


async def test_concurrent_writes_are_all_kept(backend: Backend) -> None:
    await backend.put_bucket(BUCKET)
    sync = await backend.start_sync(BUCKET)
    await asyncio.gather(*(backend.put_object("bucket", obj(f"w{i:03d}")) for i in range(200)))
    await sync.commit(synced_at=1.0)
    assert await backend.count_objects("bucket") == 200


# Sync leases, statuses, repair patches and versioned writes


async def test_sync_sessions_have_distinct_ids(bucket: Backend) -> None:
    first = await bucket.start_sync(BUCKET)
    second = await bucket.start_sync(BUCKET)
    assert first.id != second.id
    await first.abort()
    await second.abort()


async def test_expired_sync_is_dropped_and_stops_tracking_writes(bucket: Backend) -> None:
    await bucket.put_objects("bucket", [obj("old")])
    dead = await bucket.start_sync(BUCKET, deadline=100.0)
    live = await bucket.start_sync(BUCKET, deadline=10_000_000_000.0)
    await dead.add([obj("staged")])
    assert await bucket.expire_syncs(now=200.0) == [("bucket", dead.id)]
    assert await bucket.expire_syncs(now=200.0) == []
    await bucket.put_object("bucket", obj("written"))
    with pytest.raises(SyncExpired):
        await dead.commit(synced_at=1.0)
    with pytest.raises(SyncExpired):
        await dead.renew(300.0)
    # The old state is untouched, and the live session still tracks writes.
    assert keys_of(await bucket.scan("bucket", b"", None, 10)) == ["old", "written"]
    await live.add([obj("listed")])
    await live.commit(synced_at=2.0)
    assert keys_of(await bucket.scan("bucket", b"", None, 10)) == ["listed", "written"]


async def test_renew_moves_the_deadline(bucket: Backend) -> None:
    sync = await bucket.start_sync(BUCKET, deadline=100.0)
    await sync.renew(1000.0)
    assert await bucket.expire_syncs(now=500.0) == []
    assert await bucket.expire_syncs(now=1500.0) == [("bucket", sync.id)]


async def test_committed_and_aborted_syncs_never_expire(bucket: Backend) -> None:
    committed = await bucket.start_sync(BUCKET, deadline=100.0)
    aborted = await bucket.start_sync(BUCKET, deadline=100.0)
    await committed.commit(synced_at=1.0)
    await aborted.abort()
    assert await bucket.expire_syncs(now=200.0) == []


async def test_deleting_a_bucket_ends_its_syncs(bucket: Backend) -> None:
    sync = await bucket.start_sync(BUCKET)
    await sync.add([obj("a")])
    await bucket.delete_bucket("bucket")
    with pytest.raises(SyncExpired):
        await sync.commit(synced_at=1.0)
    assert await bucket.get_bucket("bucket") is None


async def test_patch_skips_keys_written_during_the_session(bucket: Backend) -> None:
    await bucket.put_objects("bucket", [obj("same"), obj("stale"), obj("gone"), obj("raced")])
    session = await bucket.start_sync(BUCKET)
    await bucket.put_object("bucket", obj("raced", size=5))  # a write passing through
    applied = await session.patch(
        put=[obj("stale", size=2), obj("new", size=3), obj("raced", size=9)],
        delete=["gone", "raced"],
    )
    assert applied == 3
    assert await bucket.scan("bucket", b"", None, 10) == [
        obj("new", size=3),
        obj("raced", size=5),
        obj("same"),
        obj("stale", size=2),
    ]
    assert (await bucket.get_bucket("bucket")) == BUCKET  # a patch is not a sync
    with pytest.raises(SyncExpired):
        await session.patch(put=[], delete=[])  # the patch ended the session


async def test_patch_of_an_expired_session_applies_nothing(bucket: Backend) -> None:
    session = await bucket.start_sync(BUCKET, deadline=100.0)
    await bucket.expire_syncs(now=200.0)
    with pytest.raises(SyncExpired):
        await session.patch(put=[obj("x")], delete=[])
    assert await bucket.get_object("bucket", "x") is None


async def test_patch_is_tracked_by_other_open_syncs(bucket: Backend) -> None:
    sync = await bucket.start_sync(BUCKET)
    repair = await bucket.start_sync(BUCKET)
    await sync.add([obj("listed")])
    await repair.patch(put=[obj("repaired")], delete=[])
    await sync.commit(synced_at=1.0)
    assert keys_of(await bucket.scan("bucket", b"", None, 10)) == ["listed", "repaired"]


async def test_sync_statuses_round_trip(backend: Backend) -> None:
    assert await backend.sync_statuses() == []
    running = SyncStatus("b", "running", session="7", started_at=1.5)
    failed = SyncStatus("a", "failed", "3", 1.0, 2.5, 10, "ServiceUnavailable: gone")
    await backend.put_sync_status(running)
    await backend.put_sync_status(failed)
    assert await backend.sync_statuses() == [failed, running]
    done = SyncStatus("b", "ok", started_at=1.5, finished_at=3.0, keys=42)
    await backend.put_sync_status(done)
    assert await backend.sync_statuses() == [failed, done]
    await backend.clear_sync_status("a")
    await backend.clear_sync_status("missing")
    assert await backend.sync_statuses() == [done]


async def test_repair_marks_are_cleared_only_by_their_own_token(backend: Backend) -> None:
    assert await backend.repair_marks() == {}
    await backend.put_repair_mark("a", "first")
    await backend.put_repair_mark("b", "other")
    assert await backend.repair_marks() == {"a": "first", "b": "other"}
    await backend.put_repair_mark("a", "second")  # marked again while being repaired
    assert not await backend.clear_repair_mark("a", "first")
    assert await backend.repair_marks() == {"a": "second", "b": "other"}
    assert await backend.clear_repair_mark("a", "second")
    assert not await backend.clear_repair_mark("missing", "x")
    assert await backend.repair_marks() == {"b": "other"}


async def test_write_versions_count_per_key(backend: Backend) -> None:
    assert await backend.object_versions("bucket", ["a", "é"]) == [0, 0]
    assert await backend.bump_versions("bucket", ["a", "é"]) == [1, 1]
    assert await backend.bump_versions("bucket", ["a"]) == [2]
    assert await backend.object_versions("bucket", ["a", "é", "z"]) == [2, 1, 0]
    assert await backend.object_versions("other", ["a"]) == [0]
    assert await backend.object_versions("bucket", []) == []
    # Versions outlive the bucket, so a re-created bucket never reuses one.
    await backend.put_bucket(BUCKET)
    await backend.delete_bucket("bucket")
    assert await backend.object_versions("bucket", ["a"]) == [2]


async def test_apply_versioned_applies_only_at_the_current_version(bucket: Backend) -> None:
    await bucket.put_objects("bucket", [obj("kept"), obj("dropped")])
    await bucket.bump_versions("bucket", ["kept", "dropped", "new"])
    await bucket.bump_versions("bucket", ["kept"])
    applied = await bucket.apply_versioned(
        "bucket",
        [
            ("kept", obj("kept", size=2), 1),  # a later write bumped it: stale
            ("dropped", None, 1),
            ("new", obj("new", size=3), 1),
            ("never", obj("never"), 0),
        ],
    )
    assert applied == [False, True, True, True]
    assert await bucket.scan("bucket", b"", None, 10) == [
        obj("kept"),
        obj("never"),
        obj("new", size=3),
    ]
    assert await bucket.apply_versioned("missing", [("k", obj("k"), 0)]) == [False]
    assert await bucket.get_bucket("missing") is None


async def test_versioned_writes_during_sync_survive_commit(bucket: Backend) -> None:
    sync = await bucket.start_sync(BUCKET)
    await sync.add([obj("a"), obj("b")])
    [version] = await bucket.bump_versions("bucket", ["b"])
    await bucket.apply_versioned("bucket", [("b", None, version), ("c", obj("c"), 0)])
    await sync.commit(synced_at=1.0)
    assert keys_of(await bucket.scan("bucket", b"", None, 10)) == ["a", "c"]


async def test_sqlite_keeps_leases_and_statuses_across_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "index.db")
    first = SQLiteBackend(path)
    await first.put_bucket(BUCKET)
    sync = await first.start_sync(BUCKET, deadline=100.0)
    await sync.add([obj("staged")])
    await first.put_sync_status(SyncStatus("bucket", "running", session=sync.id))
    await first.close()  # the process "dies" here, mid-sync

    second = SQLiteBackend(path)
    assert await second.sync_statuses() == [SyncStatus("bucket", "running", session=sync.id)]
    assert await second.expire_syncs(now=200.0) == [("bucket", sync.id)]
    await second.put_object("bucket", obj("later"))
    leftovers = [
        second._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in ("sync_open", "sync_touched")
    ]
    assert leftovers == [0, 0]  # and the staged listing went with the dead connection
    await second.close()


async def test_sqlite_adds_the_deadline_column_to_an_old_file(tmp_path: Path) -> None:
    import sqlite3

    path = str(tmp_path / "old.db")
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE sync_open (session INTEGER PRIMARY KEY AUTOINCREMENT, bucket TEXT NOT NULL)"
    )
    old.execute("INSERT INTO sync_open (bucket) VALUES ('bucket')")
    old.commit()
    old.close()
    index = SQLiteBackend(path)
    assert await index.expire_syncs(now=1.0) == [("bucket", "1")]
    await index.close()


async def test_redis_expiry_removes_the_staged_keys(redis_url: str) -> None:
    index = RedisBackend.from_url(redis_url)
    await index.put_bucket(BUCKET)
    sync = await index.start_sync(BUCKET, deadline=100.0)
    await sync.add([obj("staged")])
    await index.put_object("bucket", obj("written"))
    assert await index.expire_syncs(now=200.0) == [("bucket", sync.id)]
    names = sorted(k.decode() for k in await index._redis.keys("*"))
    assert not [name for name in names if ":sync:" in name], names
    assert await index._redis.zcard("mimicdb:sync-leases") == 0
    await index.close()
