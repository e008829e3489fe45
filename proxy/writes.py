"""Mirroring writes into the index so that concurrent writers end with the upstream's state.

Two clients writing one key through one proxy, or through two proxies on one Redis,
may see their upstream writes land in one order and their index updates in the other.
So each key has a write version in the index (`Backend.bump_versions`), bumped *after*
the upstream write returned, and what a writer stores is applied only while the
version is still the one it bumped to (`Backend.apply_versioned`). The writer with the
last bump looks at the upstream (one HEAD) after every write that bumped before it had
returned upstream, so the last thing applied is the upstream's final state.

A delete skips that HEAD when no other write bumped the key between the version read
before the delete and the bump after it: then nothing could have landed upstream after
the delete without bumping later.

Every bump also bumps the bucket's own write count (`BUCKET_WRITES`, kept as the version
of the empty key, which no S3 object can have): a forced listing page, whose keys are
not known before it arrives, is stored only if no write passed through the bucket
while it was on its way.

When the index cannot record a write that the upstream took (the index is down, or
the HEAD failed), the bucket is marked for repair (`keeper`) and the client still gets
the upstream's answer: the write happened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import replace

from .backends.base import ObjectRecord, VersionedChange
from .context import Context
from .errors import S3Error, ServiceUnavailable
from .mirror import record_from_head

__all__ = ["BUCKET_WRITES", "confirm_key", "mirror_bucket", "mirror_keys", "versions_before"]

log = logging.getLogger(__name__)

# Upstream HEADs in flight at once for one multi-key write.
_HEADS = 16

# The "key" whose write version counts every write to its bucket (S3 keys are never empty).
BUCKET_WRITES = ""


async def versions_before(context: Context, bucket: str, keys: Sequence[str]) -> dict[str, int]:
    """The keys' write versions before an upstream write; empty when the index cannot say."""
    try:
        return dict(zip(keys, await context.backend.object_versions(bucket, keys), strict=True))
    except S3Error:
        return {}  # the mirror step then finds the index down too, and marks the bucket


async def _head(context: Context, bucket: str, key: str) -> ObjectRecord | None:
    """The upstream's record of one key; None when it does not exist."""
    reply = await context.upstream.fetch(
        "HEAD", f"/{bucket}/{key}", headers={"x-amz-checksum-mode": "ENABLED"}
    )
    if reply.status == 404:
        return None
    if reply.status != 200:
        raise ServiceUnavailable(f"The upstream answered HEAD with {reply.status}.")
    record = record_from_head(key, reply.headers)
    old = await context.backend.get_object(bucket, key)
    if old is not None and old.owner_id:  # a HEAD does not name the owner; a listing did
        record = replace(record, owner_id=old.owner_id, owner_name=old.owner_name)
    return record


async def mirror_keys(
    context: Context,
    bucket: str,
    *,
    confirm: Sequence[str] = (),
    deleted: Sequence[str] = (),
    before: dict[str, int] | None = None,
) -> None:
    """After an upstream write took: make the index agree for these keys, or mark for repair.

    `confirm` keys are looked up upstream (their exact headers and date); `deleted`
    keys were deleted by this write, `before` holding their versions read before it.
    """
    keys = list(dict.fromkeys([*confirm, *deleted]))
    if not keys:
        return
    try:
        if await context.backend.get_bucket(bucket) is None:
            return  # a bucket the index does not hold stays unknown until synced
        counted = [*keys, BUCKET_WRITES]
        bumps = await context.backend.bump_versions(bucket, counted)
        bumped = dict(zip(counted, bumps, strict=True))
        changes: list[VersionedChange] = []
        look = list(confirm)
        for key in deleted:
            if before is not None and key in before and bumped[key] == before[key] + 1:
                changes.append((key, None, bumped[key]))
            else:
                look.append(key)
        limit = asyncio.Semaphore(_HEADS)

        async def head(key: str) -> ObjectRecord | None:
            async with limit:
                return await _head(context, bucket, key)

        records = await asyncio.gather(*(head(key) for key in look))
        changes += [(key, record, bumped[key]) for key, record in zip(look, records, strict=True)]
        await context.backend.apply_versioned(bucket, changes)
    except S3Error as exc:
        context.keeper.mark_for_repair(bucket, f"a write's index update failed: {exc.code}")


async def mirror_bucket(context: Context, bucket: str, update: Awaitable[None]) -> None:
    """After a bucket-level write took upstream: run the index update, or mark for repair."""
    try:
        await update
    except S3Error as exc:
        context.keeper.mark_for_repair(
            bucket, f"a bucket write's index update failed: {exc.code}", add_bucket=True
        )


async def confirm_key(context: Context, bucket: str, key: str) -> ObjectRecord | None:
    """One upstream HEAD completes a key known from a listing; None when it is gone.

    Applied at the version read before the HEAD, so a write that passed meanwhile wins.
    """
    [version] = await context.backend.object_versions(bucket, [key])
    record = await _head(context, bucket, key)
    await context.backend.apply_versioned(bucket, [(key, record, version)])
    return record
