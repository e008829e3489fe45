"""The index in Redis: a lex-sorted set of keys and a hash of metadata per bucket.

Layout (`ns` is the namespace, so several indexes can share one Redis):

- `{ns}:buckets`: hash, bucket name -> bucket record JSON
- `{ns}:{<bucket>}:keys`: sorted set, all scores 0, members the raw UTF-8 keys
- `{ns}:{<bucket>}:meta`: hash, raw key -> `ObjectRecord.to_json()` JSON
- `{ns}:{<bucket>}:syncs`: set of the ids of the syncs open on the bucket
- `{ns}:{<bucket>}:sync:<id>:keys|meta|touched`: a sync's staged state and the keys
  written while it runs
- `{ns}:sync-leases`: sorted set, `<id>:<bucket>` scored by the sync's deadline
- `{ns}:sync-status`: hash, bucket name -> `SyncStatus` JSON
- `{ns}:repairs`: hash, bucket name -> the token of its repair mark
- `{ns}:{<bucket>}:ver`: hash, raw key -> write version
- `{ns}:index`: a random id set when the index is first opened; every new connection
  reads it back, so a Redis restarted without its data (or another one) is noticed
  before anything is read from it (`Backend.index_lost`)

Every key of one bucket carries the bucket as hash tag, so a bucket's multi-key
operations stay in one Cluster slot. Each mutation is atomic: a Lua script (one round
trip) or MULTI/EXEC. The scripts also update `{ns}:buckets`, outside that slot: on
Redis Cluster that update would move to a second step.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

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
from .redis_scripts import APPLY_VERSIONED, PATCH, RENEW

log = logging.getLogger(__name__)

__all__ = ["RedisBackend"]

# Records per pipelined ZADD/HSET while a sync stages a bucket (which may hold millions).
_STAGE_BATCH = 10_000

# KEYS: keys, meta. ARGV: min, max, limit. Atomic, so a page never mixes two states.
# HMGET goes in slices: Lua's unpack() is limited by its C stack.
_SCAN = """
local keys = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'BYLEX', 'LIMIT', 0, ARGV[3])
local out = {}
for i = 1, #keys, 500 do
  local metas = redis.call('HMGET', KEYS[2], unpack(keys, i, math.min(i + 499, #keys)))
  for j = 1, #metas do out[#out + 1] = metas[j] end
end
return out
"""

# KEYS: buckets, keys, meta, syncs. ARGV: bucket, sync key prefix, then key, meta pairs.
# A key written during an open sync is recorded in that sync's touched set.
_PUT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local syncs = redis.call('SMEMBERS', KEYS[4])
for i = 3, #ARGV, 2 do
  redis.call('ZADD', KEYS[2], 0, ARGV[i])
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  for _, id in ipairs(syncs) do redis.call('SADD', ARGV[2] .. id .. ':touched', ARGV[i]) end
end
return 1
"""

# KEYS and ARGV as _PUT, with keys only.
_DELETE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local syncs = redis.call('SMEMBERS', KEYS[4])
for i = 3, #ARGV do
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('HDEL', KEYS[3], ARGV[i])
  for _, id in ipairs(syncs) do redis.call('SADD', ARGV[2] .. id .. ':touched', ARGV[i]) end
end
return 1
"""

# KEYS: buckets, keys, meta, syncs. ARGV: bucket, sync key prefix.
# Open syncs stop tracking writes; their staged state stays until commit or abort.
def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# KEYS[1] a hash; ARGV field, value: delete the field only if it still holds the value.
_CLEAR_IF_EQUAL = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

_DELETE_BUCKET = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('UNLINK', KEYS[2], KEYS[3])
for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  redis.call('DEL', ARGV[2] .. id .. ':touched')
end
redis.call('DEL', KEYS[4])
return 1
"""

# KEYS: buckets, keys, meta, syncs, staged keys, staged meta, touched, leases.
# ARGV: bucket, sync id, bucket record JSON, lease member.
# Touched keys take the live state (a write during the sync is newer than the listing),
# then the staged state is renamed over the live one; UNLINK frees the old one off-thread.
# A session that expired (or whose bucket was deleted) no longer saw every write: 0.
_COMMIT = """
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 0 then return 0 end
redis.call('ZREM', KEYS[8], ARGV[4])
for _, key in ipairs(redis.call('SMEMBERS', KEYS[7])) do
  local meta = redis.call('HGET', KEYS[3], key)
  if meta then
    redis.call('ZADD', KEYS[5], 0, key)
    redis.call('HSET', KEYS[6], key, meta)
  else
    redis.call('ZREM', KEYS[5], key)
    redis.call('HDEL', KEYS[6], key)
  end
end
redis.call('UNLINK', KEYS[2], KEYS[3])
if redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('RENAME', KEYS[5], KEYS[2])
  redis.call('RENAME', KEYS[6], KEYS[3])
end
redis.call('DEL', KEYS[7])
redis.call('SREM', KEYS[4], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


def _dump_bucket(bucket: BucketRecord) -> str:
    return json.dumps(bucket.to_json(), separators=(",", ":"), ensure_ascii=False)


def _load_bucket(data: bytes | str) -> BucketRecord:
    return BucketRecord.from_json(json.loads(data))


def _dump_object(record: ObjectRecord) -> bytes:
    # orjson: the same compact UTF-8 JSON as json.dumps, ten times faster (one per key).
    return orjson.dumps(record.to_json())


def _load_object(data: bytes | str) -> ObjectRecord:
    return ObjectRecord.from_json(json.loads(data))


class _RedisSync(SyncSession):
    def __init__(self, backend: RedisBackend, bucket: BucketRecord, session_id: int) -> None:
        self._backend = backend
        self._bucket = bucket
        self._id = session_id
        prefix = backend._sync_prefix(bucket.name) + str(session_id)
        self._keys = prefix + ":keys"
        self._meta = prefix + ":meta"
        self._touched = prefix + ":touched"
        self._lease = f"{session_id}:{bucket.name}"

    @property
    def id(self) -> str:
        return str(self._id)

    def _expired(self) -> SyncExpired:
        return SyncExpired(f"sync {self._id} of {self._bucket.name} is no longer open")

    async def renew(self, deadline: float) -> None:
        backend = self._backend
        syncs = backend._bucket_keys(self._bucket.name)[3]
        if not await backend._renew(
            keys=[syncs, backend._leases], args=[self._id, self._lease, deadline]
        ):
            raise self._expired()

    async def patch(self, put: Iterable[ObjectRecord], delete: Iterable[str]) -> int:
        backend, name = self._backend, self._bucket.name
        rows = [(record.key.encode("utf-8"), _dump_object(record)) for record in put]
        args: list[str | bytes | int] = [
            name, self._id, self._lease, backend._sync_prefix(name), len(rows)
        ]  # fmt: skip
        for raw, data in rows:
            args += [raw, data]
        args += [key.encode("utf-8") for key in delete]
        buckets, keys, meta, syncs = backend._bucket_keys(name)
        applied = int(
            await backend._patch(
                keys=[buckets, keys, meta, syncs, self._touched, backend._leases], args=args
            )
        )
        await backend._redis.unlink(self._keys, self._meta)
        if applied < 0:
            raise self._expired()
        return applied

    async def add(self, records: Iterable[ObjectRecord]) -> None:
        it = iter(records)
        while batch := list(itertools.islice(it, _STAGE_BATCH)):
            rows = {record.key.encode("utf-8"): _dump_object(record) for record in batch}
            async with self._backend._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(self._keys, dict.fromkeys(rows, 0))
                pipe.hset(self._meta, mapping=rows)  # type: ignore[arg-type]
                await pipe.execute()

    async def commit(self, synced_at: float) -> None:
        backend, name = self._backend, self._bucket.name
        record = dataclasses.replace(self._bucket, synced_at=synced_at)
        done = await backend._commit(
            keys=[
                *backend._bucket_keys(name),
                self._keys,
                self._meta,
                self._touched,
                backend._leases,
            ],
            args=[name, self._id, _dump_bucket(record), self._lease],
        )
        if not done:
            await self.abort()
            raise self._expired()

    async def abort(self) -> None:
        async with self._backend._redis.pipeline(transaction=True) as pipe:
            pipe.srem(self._backend._bucket_keys(self._bucket.name)[3], self._id)
            pipe.zrem(self._backend._leases, self._lease)
            pipe.unlink(self._keys, self._meta, self._touched)
            await pipe.execute()


class RedisBackend(Backend):
    """The index in Redis; arguments are `redis.asyncio.Redis`'s (host, port, db, ...).

    `client`, when given, is used as it is: it must not decode responses. `from_url` is the
    way for a server: its pool makes a burst of requests wait for a free connection, where
    redis-py's default pool fails with MaxConnectionsError.
    """

    def __init__(
        self,
        *args: Any,
        namespace: str = "mimicdb",
        client: aioredis.Redis | None = None,
        **kwargs: Any,
    ) -> None:
        if client is None:
            # Keys are raw UTF-8 bytes, and must come back as bytes to keep their order.
            kwargs["decode_responses"] = False
            client = aioredis.Redis(*args, **kwargs)
        self._redis = client
        self._ns = namespace
        self._buckets = f"{namespace}:buckets"
        self._leases = f"{namespace}:sync-leases"
        self._statuses = f"{namespace}:sync-status"
        self._repairs = f"{namespace}:repairs"
        self._clear_repair = self._redis.register_script(_CLEAR_IF_EQUAL)
        self._scan = self._redis.register_script(_SCAN)
        self._put = self._redis.register_script(_PUT)
        self._delete = self._redis.register_script(_DELETE)
        self._delete_bucket = self._redis.register_script(_DELETE_BUCKET)
        self._commit = self._redis.register_script(_COMMIT)
        self._renew = self._redis.register_script(RENEW)
        self._patch = self._redis.register_script(PATCH)
        self._apply_versioned = self._redis.register_script(APPLY_VERSIONED)
        self._identity_key = f"{namespace}:index"
        self._identity: bytes | None = None  # the id this index had when opened
        self._lost = False
        self._losses = 0
        # Runs on every new connection, before the command that needed it.
        self._redis.connection_pool.connection_kwargs["redis_connect_func"] = self._on_connect

    @classmethod
    def from_url(cls, url: str, namespace: str = "mimicdb", **kwargs: Any) -> RedisBackend:
        """A backend on the Redis a URL names: redis://host:port/db, rediss://, unix://."""
        kwargs["decode_responses"] = False
        # While Redis is down every index request answers 503 after these, not after
        # redis-py's default 10 retries (seconds of backoff per request).
        kwargs.setdefault("socket_connect_timeout", 2.0)
        kwargs.setdefault("socket_timeout", 5.0)
        kwargs.setdefault("retry", Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), 2))
        pool = aioredis.BlockingConnectionPool.from_url(url, **kwargs)
        return cls(namespace=namespace, client=aioredis.Redis.from_pool(pool))

    def _bucket_keys(self, bucket: str) -> list[str]:
        """buckets, keys, meta, syncs: the KEYS every per-bucket script takes first."""
        tag = f"{self._ns}:{{{bucket}}}"
        return [self._buckets, f"{tag}:keys", f"{tag}:meta", f"{tag}:syncs"]

    def _sync_prefix(self, bucket: str) -> str:
        return f"{self._ns}:{{{bucket}}}:sync:"

    async def open(self) -> None:
        await self._claim_identity()

    async def _claim_identity(self) -> None:
        """Adopt the index's id, giving it one if it has none (new, or emptied)."""
        await self._redis.set(self._identity_key, uuid.uuid4().hex, nx=True)
        identity = await self._redis.get(self._identity_key)
        self._identity = identity.encode() if isinstance(identity, str) else identity
        self._lost = False

    async def _on_connect(self, connection: Any) -> None:
        """redis-py's handshake, then a check that the index is still the one opened."""
        await connection.on_connect()
        if self._identity is None:
            return
        await connection.send_command("GET", self._identity_key)
        if await connection.read_response() != self._identity and not self._lost:
            self._lost, self._losses = True, self._losses + 1
            log.error(
                "the Redis index was emptied (restarted without its data, or replaced):"
                " its answers are not trusted until it is synced again"
            )

    @property
    def detects_loss(self) -> bool:
        return True

    @property
    def losses(self) -> int:
        return self._losses

    def index_lost(self) -> bool:
        return self._lost

    async def rebuilt(self) -> None:
        await self._claim_identity()

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    # Buckets

    async def list_buckets(self) -> list[BucketRecord]:
        records = await self._redis.hgetall(self._buckets)
        return sorted(
            (_load_bucket(data) for data in records.values()), key=lambda bucket: bucket.name
        )

    async def get_bucket(self, name: str) -> BucketRecord | None:
        data = await self._redis.hget(self._buckets, name)
        return _load_bucket(data) if data is not None else None

    async def put_bucket(self, bucket: BucketRecord) -> None:
        await self._redis.hset(self._buckets, bucket.name, _dump_bucket(bucket))

    async def delete_bucket(self, name: str) -> None:
        await self._delete_bucket(
            keys=self._bucket_keys(name), args=[name, self._sync_prefix(name)]
        )

    # Objects

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        meta_key = self._bucket_keys(bucket)[2]
        data = await self._redis.hget(meta_key, key.encode("utf-8"))
        return _load_object(data) if data is not None else None

    async def put_objects(self, bucket: str, records: Iterable[ObjectRecord]) -> None:
        args: list[str | bytes] = [bucket, self._sync_prefix(bucket)]
        for record in records:
            args += [record.key.encode("utf-8"), _dump_object(record)]
        if len(args) > 2:
            await self._put(keys=self._bucket_keys(bucket), args=args)

    async def delete_objects(self, bucket: str, keys: Iterable[str]) -> None:
        args: list[str | bytes] = [bucket, self._sync_prefix(bucket)]
        args += [key.encode("utf-8") for key in keys]
        if len(args) > 2:
            await self._delete(keys=self._bucket_keys(bucket), args=args)

    async def scan(
        self, bucket: str, prefix: bytes, after: bytes | None, limit: int
    ) -> list[ObjectRecord]:
        if limit <= 0:
            return []
        if not after or after < prefix:
            low = b"[" + prefix if prefix else b"-"
        else:
            low = b"(" + after
        upper = key_upper_bound(prefix)
        high = b"(" + upper if upper is not None else b"+"
        _, keys_key, meta_key, _ = self._bucket_keys(bucket)
        metas = await self._scan(keys=[keys_key, meta_key], args=[low, high, limit])
        return [_load_object(meta) for meta in metas if meta is not None]

    async def count_objects(self, bucket: str) -> int:
        return int(await self._redis.zcard(self._bucket_keys(bucket)[1]))

    async def start_sync(self, bucket: BucketRecord, deadline: float | None = None) -> SyncSession:
        # Ids come from one counter per namespace, so syncs run by two proxies never clash.
        session_id = int(await self._redis.incr(f"{self._ns}:sync-id"))
        lease = f"{session_id}:{bucket.name}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self._buckets, bucket.name, _dump_bucket(bucket))
            pipe.sadd(self._bucket_keys(bucket.name)[3], session_id)
            pipe.zadd(self._leases, {lease: deadline or time.time() + SYNC_LEASE})
            await pipe.execute()
        return _RedisSync(self, bucket, session_id)

    async def expire_syncs(self, now: float) -> list[tuple[str, str]]:
        expired: list[tuple[str, str]] = []
        for member in await self._redis.zrangebyscore(self._leases, "-inf", f"({now}"):
            text = member.decode() if isinstance(member, bytes) else str(member)
            session_id, _, bucket = text.partition(":")
            prefix = self._sync_prefix(bucket) + session_id
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(self._leases, text)
                pipe.srem(self._bucket_keys(bucket)[3], session_id)
                pipe.unlink(prefix + ":keys", prefix + ":meta", prefix + ":touched")
                removed, _, _ = await pipe.execute()
            if removed:  # another proxy may have expired it first
                expired.append((bucket, session_id))
        return sorted(expired)

    async def put_sync_status(self, status: SyncStatus) -> None:
        data = json.dumps(status.to_json(), separators=(",", ":"), ensure_ascii=False)
        await self._redis.hset(self._statuses, status.bucket, data)

    async def sync_statuses(self) -> list[SyncStatus]:
        records = await self._redis.hgetall(self._statuses)
        statuses = [SyncStatus.from_json(json.loads(data)) for data in records.values()]
        return sorted(statuses, key=lambda status: status.bucket)

    async def clear_sync_status(self, bucket: str) -> None:
        await self._redis.hdel(self._statuses, bucket)

    async def put_repair_mark(self, bucket: str, token: str) -> None:
        await self._redis.hset(self._repairs, bucket, token)

    async def repair_marks(self) -> dict[str, str]:
        marks = await self._redis.hgetall(self._repairs)
        return {_text(bucket): _text(token) for bucket, token in marks.items()}

    async def clear_repair_mark(self, bucket: str, token: str) -> bool:
        return bool(await self._clear_repair(keys=[self._repairs], args=[bucket, token]))

    def _versions_key(self, bucket: str) -> str:
        return f"{self._ns}:{{{bucket}}}:ver"

    async def object_versions(self, bucket: str, keys: Sequence[str]) -> list[int]:
        if not keys:
            return []
        raws = [key.encode("utf-8") for key in keys]
        values = await self._redis.hmget(self._versions_key(bucket), raws)
        return [int(value) if value is not None else 0 for value in values]

    async def bump_versions(self, bucket: str, keys: Sequence[str]) -> list[int]:
        if not keys:
            return []
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.hincrby(self._versions_key(bucket), key.encode("utf-8"), 1)
            return [int(value) for value in await pipe.execute()]

    async def apply_versioned(self, bucket: str, changes: Sequence[VersionedChange]) -> list[bool]:
        if not changes:
            return []
        args: list[str | bytes | int] = [bucket, self._sync_prefix(bucket)]
        for key, record, version in changes:
            args += [key.encode("utf-8"), version, _dump_object(record) if record else b""]
        keys = [*self._bucket_keys(bucket), self._versions_key(bucket)]
        return [bool(ok) for ok in await self._apply_versioned(keys=keys, args=args)]
