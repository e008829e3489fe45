"""Service-level operations: ListBuckets."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from .. import s3xml
from ..context import Context
from ..routing import S3Request
from .forward import forward_whole, reply_response

__all__ = ["list_buckets", "xml_response"]


def xml_response(body: bytes, status: int = 200) -> web.Response:
    """An XML answer as S3 sends it."""
    return web.Response(status=status, body=body, content_type="application/xml")


async def list_buckets(context: Context, request: S3Request) -> web.StreamResponse:
    """ListBuckets from the index; forced: from the upstream, which then replaces the list."""
    if request.forced:
        reply = await forward_whole(context, request)
        if reply.status == 200:
            buckets, _, _ = s3xml.parse_list_buckets(reply.body)
            known = {b.name: b for b in await context.backend.list_buckets()}
            for bucket in buckets:
                old = known.pop(bucket.name, None)
                region = old.region if old is not None else bucket.region
                synced = old.synced_at if old is not None else None
                await context.backend.put_bucket(replace(bucket, region=region, synced_at=synced))
            for name in known:
                await context.backend.delete_bucket(name)
        context.count("ListBuckets", "upstream")
        return reply_response(reply)
    buckets = await context.backend.list_buckets()
    owner_id = next((b.owner_id for b in buckets if b.owner_id), "")
    owner_name = next((b.owner_name for b in buckets if b.owner_name), "")
    context.count("ListBuckets", "index")
    return xml_response(s3xml.list_buckets_result(buckets, owner_id, owner_name))
