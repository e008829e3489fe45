"""Object-level operations: HEAD from the index; GET, PUT, copy and DELETE through the upstream."""

from __future__ import annotations

import time

import aiohttp
from aiohttp import web

from .. import s3xml
from ..backends.base import ObjectRecord
from ..context import Context
from ..errors import NoSuchBucket, NoSuchKey
from ..mirror import http_date, parse_iso, record_from_head
from ..routing import S3Request
from ..signed import http_date as parse_http_date
from ..validation import check_key
from ..writes import confirm_key, mirror_keys, versions_before
from .forward import forward, forward_whole, reply_response

__all__ = [
    "conditional_status",
    "copy_object",
    "delete_object",
    "get_object",
    "head_object",
    "put_object",
]


def _etag_matches(header: str, etag: str) -> bool:
    wanted = etag.strip('"')
    for part in header.split(","):
        candidate = part.strip()
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate.strip('"') == wanted:
            return True
    return False


def _parse_http_date(value: str) -> float | None:
    moment = parse_http_date(value)
    return moment.timestamp() if moment is not None else None


def conditional_status(headers: dict[str, str], etag: str, last_modified: str) -> int | None:
    """304 or 412 when a conditional header fails, as S3 decides (RFC 7232 precedence)."""
    modified = parse_iso(last_modified).timestamp()
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _etag_matches(if_match, etag):
            return 412
    else:
        since = _parse_http_date(headers.get("if-unmodified-since", ""))
        if since is not None and modified > since:
            return 412
    if_none = headers.get("if-none-match")
    if if_none is not None:
        if _etag_matches(if_none, etag):
            return 304
    else:
        since = _parse_http_date(headers.get("if-modified-since", ""))
        if since is not None and modified <= since:
            return 304
    return None


def _head_headers(record: ObjectRecord) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (record.headers or {}).items():
        if name in ("content-length", "accept-ranges", "etag", "last-modified"):
            continue
        out[_title(name)] = value
    if record.headers and "last-modified" in record.headers:
        out["Last-Modified"] = record.headers["last-modified"]
    out["ETag"] = record.etag
    out["Last-Modified"] = out.get("Last-Modified") or http_date(record.last_modified)
    out.setdefault("Content-Type", "binary/octet-stream")
    out["Accept-Ranges"] = "bytes"
    return out


def _title(name: str) -> str:
    if name.startswith("x-amz-"):
        return name
    return "-".join(part.capitalize() for part in name.split("-"))


async def head_object(context: Context, request: S3Request) -> web.StreamResponse:
    """HeadObject from the index: the headers the upstream gave, conditionals honoured."""
    assert request.bucket is not None and request.key is not None
    if request.forced:
        return await _forced_read(context, request, "HeadObject")
    bucket = await context.backend.get_bucket(request.bucket)
    if bucket is None:
        context.count("HeadObject", "index")
        return web.Response(status=404)
    record = await context.backend.get_object(request.bucket, request.key)
    if record is not None and record.headers is None:
        # Known from a listing only: one upstream HEAD completes it for good.
        record = await confirm_key(context, request.bucket, request.key)
        context.count("HeadObject", "upstream")
    else:
        context.count("HeadObject", "index")
    if record is None:
        return web.Response(status=404)
    headers = _head_headers(record)
    # Age: since the bucket was last synced or this entry confirmed, whichever is later.
    seen = max((t for t in (record.confirmed_at, bucket.synced_at) if t is not None), default=None)
    if seen is not None:
        headers["Age"] = str(max(0, int(time.time() - seen)))
    wanted = {k.lower(): v for k, v in request.http.headers.items()}
    status = conditional_status(wanted, record.etag, record.last_modified)
    if status == 304:
        kept: dict[str, str] = {k: headers[k] for k in ("ETag", "Last-Modified") if k in headers}
        return web.Response(status=304, headers=kept)
    if status == 412:
        return web.Response(status=412)
    response = web.Response(status=200, headers=headers)
    response.headers["Content-Length"] = str(record.size)
    return response


async def _forced_read(context: Context, request: S3Request, operation: str) -> web.StreamResponse:
    assert request.bucket is not None and request.key is not None
    bucket, key = request.bucket, request.key
    conditional = any(k.lower().startswith("if-") for k in request.http.headers)
    # What the upstream says is stored only if no write passed meanwhile (writes.py).
    version = (await versions_before(context, bucket, [key])).get(key)

    async def follow(upstream: aiohttp.ClientResponse) -> None:
        if version is None:
            return  # the index does not answer: the upstream's answer is passed on as is
        if upstream.status in (200, 206) and not conditional:
            record = record_from_head(key, upstream.headers)
            await context.backend.apply_versioned(bucket, [(key, record, version)])
        elif upstream.status == 404:
            await context.backend.apply_versioned(bucket, [(key, None, version)])

    context.count(operation, "upstream")
    return await forward(context, request, follow)


async def get_object(context: Context, request: S3Request) -> web.StreamResponse:
    """GetObject streamed from the upstream; a key the index lacks is 404 here."""
    assert request.bucket is not None and request.key is not None
    if request.forced:
        return await _forced_read(context, request, "GetObject")
    if await context.backend.get_bucket(request.bucket) is None:
        raise NoSuchBucket(BucketName=request.bucket)
    if await context.backend.get_object(request.bucket, request.key) is None:
        context.count("GetObject", "index")
        raise NoSuchKey(Key=request.key)
    context.count("GetObject", "upstream")
    return await forward(context, request)


async def put_object(context: Context, request: S3Request) -> web.StreamResponse:
    """PutObject (or CopyObject) upstream, body streamed; the index learns the result."""
    assert request.bucket is not None and request.key is not None
    check_key(request.key)
    if "x-amz-copy-source" in request.http.headers:
        return await copy_object(context, request)
    reply = await forward_whole(context, request)
    if reply.status == 200:
        await _mirror(context, request.bucket, request.key)
    context.count("PutObject", "upstream")
    return reply_response(reply)


async def copy_object(context: Context, request: S3Request) -> web.StreamResponse:
    """CopyObject upstream; S3 can fail inside a 200, so the body is checked before mirroring."""
    assert request.bucket is not None and request.key is not None
    reply = await forward_whole(context, request)
    if reply.status == 200 and s3xml.parse_error_code(reply.body) == "":
        await _mirror(context, request.bucket, request.key)
    context.count("CopyObject", "upstream")
    return reply_response(reply)


async def delete_object(context: Context, request: S3Request) -> web.StreamResponse:
    """DeleteObject upstream, then from the index (a versioned delete re-asks the upstream)."""
    assert request.bucket is not None and request.key is not None
    before = await versions_before(context, request.bucket, [request.key])
    reply = await forward_whole(context, request)
    if reply.status in (200, 204):
        if "versionId" in request.query:
            await _mirror(context, request.bucket, request.key)
        else:
            await mirror_keys(context, request.bucket, deleted=[request.key], before=before)
    context.count("DeleteObject", "upstream")
    return reply_response(reply)


async def _mirror(context: Context, bucket: str, key: str) -> None:
    """Record a written key as the upstream now has it (one HEAD: exact headers and date)."""
    await mirror_keys(context, bucket, confirm=[key])
