"""Bucket-level operations: listings, HEAD, location, create, delete, multi-object delete."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime

from aiohttp import web

from .. import s3xml
from ..backends.base import BucketRecord, ObjectRecord, VersionedChange
from ..context import Context
from ..errors import MalformedXML, NoSuchBucket
from ..listing import (
    ListRequest,
    ListResult,
    encode_key,
    encode_token,
    list_page,
    parse_list_request,
)
from ..mirror import carry_headers
from ..payload import read_body
from ..routing import S3Request
from ..validation import check_bucket_name
from ..writes import BUCKET_WRITES, mirror_bucket, mirror_keys, versions_before
from .forward import forward, forward_whole, reply_response, upstream_headers
from .service import xml_response

log = logging.getLogger(__name__)

__all__ = [
    "create_bucket",
    "delete_bucket",
    "delete_objects",
    "get_bucket_location",
    "head_bucket",
    "list_objects",
    "list_objects_v2",
    "require_bucket",
]

MAX_DELETE_KEYS = 1000


async def require_bucket(context: Context, name: str) -> BucketRecord:
    """The bucket's record, or NoSuchBucket."""
    bucket = await context.backend.get_bucket(name)
    if bucket is None:
        raise NoSuchBucket(BucketName=name)
    return bucket


async def head_bucket(context: Context, request: S3Request) -> web.StreamResponse:
    """HeadBucket from the index (forced: from the upstream, and the index follows)."""
    assert request.bucket is not None
    if request.forced:
        reply = await forward_whole(context, request)
        await _follow_bucket(context, request.bucket, reply.status)
        context.count("HeadBucket", "upstream")
        return reply_response(reply)
    bucket = await context.backend.get_bucket(request.bucket)
    context.count("HeadBucket", "index")
    if bucket is None:
        return web.Response(status=404)
    return web.Response(
        status=200,
        headers={"x-amz-bucket-region": bucket.region, "Content-Type": "application/xml"},
    )


async def _follow_bucket(context: Context, name: str, status: int) -> None:
    if status == 404:
        await context.backend.delete_bucket(name)
    elif status == 200 and await context.backend.get_bucket(name) is None:
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        await context.backend.put_bucket(BucketRecord(name, created, context.config.region))


async def get_bucket_location(context: Context, request: S3Request) -> web.StreamResponse:
    """GetBucketLocation from the index."""
    assert request.bucket is not None
    if request.forced:
        context.count("GetBucketLocation", "upstream")
        return await forward(context, request)
    bucket = await require_bucket(context, request.bucket)
    context.count("GetBucketLocation", "index")
    return xml_response(s3xml.location_constraint(bucket.region))


async def list_objects_v2(context: Context, request: S3Request) -> web.StreamResponse:
    """ListObjectsV2 from the index, O(page + common prefixes)."""
    return await _list(context, request, "ListObjectsV2")


async def list_objects(context: Context, request: S3Request) -> web.StreamResponse:
    """ListObjects (v1) from the index."""
    return await _list(context, request, "ListObjects")


async def _list(context: Context, request: S3Request, operation: str) -> web.StreamResponse:
    assert request.bucket is not None
    params = parse_list_request(request.query)
    if request.forced:
        # The page is stored only if no write passed through the bucket meanwhile.
        writes = (await versions_before(context, request.bucket, [BUCKET_WRITES])).get(
            BUCKET_WRITES
        )
        reply = await forward_whole(context, request)
        if reply.status == 200 and params.encoding_type is None and writes is not None:
            await _replace_page(context, request.bucket, params, reply.body, writes)
        elif reply.status == 404 and s3xml.parse_error_code(reply.body) == "NoSuchBucket":
            await context.backend.delete_bucket(request.bucket)
        context.count(operation, "upstream")
        return reply_response(reply)
    bucket = await require_bucket(context, request.bucket)

    async def scan(prefix: bytes, after: bytes | None, limit: int) -> list[ObjectRecord]:
        return await context.backend.scan(bucket.name, prefix, after, limit)

    result = await list_page(scan, params)
    context.count(operation, "index")
    body = _render(bucket, params, result)
    response = xml_response(body)
    if bucket.synced_at is not None:
        response.headers["Age"] = str(max(0, int(time.time() - bucket.synced_at)))
    return response


def _render(bucket: BucketRecord, params: ListRequest, result: ListResult) -> bytes:
    enc = params.encoding_type
    show_owner = params.fetch_owner or not params.v2
    bucket_owner = (bucket.owner_id, bucket.owner_name)

    def owner(record: ObjectRecord) -> tuple[str, str] | None:
        if not show_owner:
            return None
        if record.owner_id is not None:
            return (record.owner_id, record.owner_name or "")
        return bucket_owner if bucket_owner[0] else None

    contents = [
        s3xml.contents_element(r, encode_key(r.key, enc), owner=owner(r)) for r in result.contents
    ]
    prefixes = [encode_key(p, enc) for p in result.common_prefixes]
    fields: list[tuple[str, str]] = [("IsTruncated", "true" if result.is_truncated else "false")]
    trailer: list[tuple[str, str]] = []
    if params.v2:
        fields += [("Name", bucket.name), ("Prefix", encode_key(params.prefix, enc))]
        if params.delimiter:
            fields.append(("Delimiter", encode_key(params.delimiter, enc)))
        fields.append(("MaxKeys", str(params.requested_max_keys)))
        if enc:
            trailer.append(("EncodingType", enc))
        trailer.append(("KeyCount", str(len(contents) + len(prefixes))))
        if params.continuation_token is not None:
            trailer.append(("ContinuationToken", params.continuation_token))
        if result.is_truncated and result.next_after is not None:
            trailer.append(("NextContinuationToken", encode_token(result.next_after)))
        if params.start_after:
            trailer.append(("StartAfter", encode_key(params.start_after, enc)))
    else:
        fields.insert(0, ("IsTruncated", "true" if result.is_truncated else "false"))
        fields.pop(1)
        fields += [("Marker", encode_key(params.marker, enc))]
        if result.is_truncated and params.delimiter and result.last_entry is not None:
            fields.append(("NextMarker", encode_key(result.last_entry, enc)))
        fields += [("Name", bucket.name), ("Prefix", encode_key(params.prefix, enc))]
        if params.delimiter:
            fields.append(("Delimiter", encode_key(params.delimiter, enc)))
        fields.append(("MaxKeys", str(params.requested_max_keys)))
        if enc:
            trailer.append(("EncodingType", enc))
    return s3xml.list_bucket_result(fields, contents, prefixes, trailer)


async def _replace_page(
    context: Context, bucket: str, params: ListRequest, body: bytes, writes: int
) -> None:
    """A forced listing page replaces what the index held for the range it covers.

    `writes` is the bucket's write count read before the page was asked for: if a write
    passed through since, the index already holds newer news than the page for some key
    it cannot name, and the page is not stored. Otherwise each key is stored at the
    version read here, so a write that bumps it before the store wins.
    """
    page = s3xml.parse_list_objects(body)
    if await context.backend.get_bucket(bucket) is None:
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        await context.backend.put_bucket(BucketRecord(bucket, created, context.config.region))
    seen = {r.key.encode("utf-8") for r in page.records}
    covered = [p.encode("utf-8") for p in page.common_prefixes]
    ends = [r.key.encode("utf-8") for r in page.records] + [p + b"\xff" for p in covered]
    end = max(ends) if page.is_truncated and ends else None
    prefix = params.prefix.encode("utf-8")
    stale: list[str] = []
    known: dict[bytes, ObjectRecord] = {}  # what the index held for the page's keys
    after = params.after
    done = False
    while not done:
        batch = await context.backend.scan(bucket, prefix, after, 1000)
        done = len(batch) < 1000
        for record in batch:
            raw = record.key.encode("utf-8")
            if end is not None and raw > end:
                done = True
                break
            after = raw
            under = next((p for p in covered if raw.startswith(p)), None)
            if under is not None:
                # A returned common prefix stands for its keys: jump over them, unread.
                after, done = under + b"\xff", False
                break
            if raw in seen:
                known[raw] = record
            else:
                stale.append(record.key)
    now = time.time()
    merged = [
        replace(carry_headers(r, known.get(r.key.encode("utf-8"))), confirmed_at=now)
        for r in page.records
    ]
    keys = [BUCKET_WRITES, *stale, *(r.key for r in merged)]
    [current, *versions] = await context.backend.object_versions(bucket, keys)
    if current != writes:
        log.debug("a forced page of %s not stored: a write passed meanwhile", bucket)
        return
    gone, kept = versions[: len(stale)], versions[len(stale) :]
    changes: list[VersionedChange] = [(k, None, v) for k, v in zip(stale, gone, strict=True)]
    changes += [(r.key, r, v) for r, v in zip(merged, kept, strict=True)]
    await context.backend.apply_versioned(bucket, changes)


async def create_bucket(context: Context, request: S3Request) -> web.StreamResponse:
    """CreateBucket upstream, then in the index (with the upstream's own creation date)."""
    assert request.bucket is not None
    check_bucket_name(request.bucket)
    body = await read_body(request.http)  # decoded and checked (payload.py)
    region = s3xml.parse_create_bucket_configuration(body) or "us-east-1"
    reply = await context.upstream.fetch(
        "PUT", request.upstream_path, request.query_pairs, upstream_headers(request), body
    )
    if reply.status == 200:
        update = _record_bucket(context, request.bucket, region)
        await mirror_bucket(context, request.bucket, update)
    context.count("CreateBucket", "upstream")
    return reply_response(reply)


async def _record_bucket(context: Context, name: str, region: str) -> None:
    record = (await _upstream_buckets(context)).get(name)
    if record is None:
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        record = BucketRecord(name, created, region)
    old = await context.backend.get_bucket(name)
    synced = old.synced_at if old is not None else None
    if old is None and await _upstream_is_empty(context, name):
        # A new bucket is empty: the index knows all of it, as if just synced. (AWS's
        # us-east-1 also answers 200 to re-creating a bucket you own, which may hold
        # keys: then the bucket stays unsynced until a sync.)
        synced = time.time()
    await context.backend.put_bucket(replace(record, region=region, synced_at=synced))


async def _upstream_is_empty(context: Context, name: str) -> bool:
    reply = await context.upstream.fetch("GET", f"/{name}", [("list-type", "2"), ("max-keys", "1")])
    return reply.status == 200 and not s3xml.parse_list_objects(reply.body).records


async def _upstream_buckets(context: Context) -> dict[str, BucketRecord]:
    reply = await context.upstream.fetch("GET", "/")
    if reply.status != 200:
        return {}
    buckets, _, _ = s3xml.parse_list_buckets(reply.body)
    return {b.name: b for b in buckets}


async def delete_bucket(context: Context, request: S3Request) -> web.StreamResponse:
    """DeleteBucket upstream, then from the index."""
    assert request.bucket is not None
    reply = await forward_whole(context, request)
    if reply.status in (200, 204):
        await mirror_bucket(context, request.bucket, context.backend.delete_bucket(request.bucket))
    context.count("DeleteBucket", "upstream")
    return reply_response(reply)


async def delete_objects(context: Context, request: S3Request) -> web.StreamResponse:
    """DeleteObjects upstream, then each deleted key from the index."""
    assert request.bucket is not None
    body = await read_body(request.http)  # decoded and checked (payload.py)
    objects, quiet = s3xml.parse_delete_objects(body)
    if len(objects) > MAX_DELETE_KEYS:
        raise MalformedXML()
    if not objects:
        raise MalformedXML()
    headers = {k: v for k, v in request.http.headers.items()}
    before = await versions_before(context, request.bucket, [key for key, _ in objects])
    reply = await context.upstream.fetch(
        "POST", request.upstream_path, request.query_pairs, _body_headers(headers), body
    )
    if reply.status == 200:
        deleted = s3xml.parse_delete_result(reply.body)
        if quiet:
            errors = _error_keys(reply.body)
            deleted = [key for key, _ in objects if key not in errors]
        unversioned = {key for key, version in objects if version is None}
        # A versioned delete may uncover an older version: those keys are asked again.
        versioned = {key for key, version in objects if version is not None} & set(deleted)
        await mirror_keys(
            context,
            request.bucket,
            confirm=sorted(versioned),
            deleted=[key for key in deleted if key in unversioned and key not in versioned],
            before=before,
        )
    context.count("DeleteObjects", "upstream")
    return reply_response(reply)


def _error_keys(body: bytes) -> set[str]:
    root = s3xml.parse_xml(body)
    return {s3xml.element_text(node, "Key") for node in root if str(node.tag).endswith("Error")}


_SIGNED_BODY_HEADERS = (
    "content-md5",
    "content-type",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
    "x-amz-checksum-crc64nvme",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-bypass-governance-retention",
    "x-amz-mfa",
    "x-amz-request-payer",
    "x-amz-expected-bucket-owner",
)


def _body_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() in _SIGNED_BODY_HEADERS}
