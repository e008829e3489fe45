"""Multipart uploads: passed through; the index learns the object on completion."""

from __future__ import annotations

from aiohttp import web

from .. import s3xml
from ..context import Context
from ..routing import S3Request
from ..validation import check_key
from ..writes import mirror_keys
from .forward import forward, forward_whole, reply_response

__all__ = [
    "abort_multipart_upload",
    "complete_multipart_upload",
    "create_multipart_upload",
    "upload_part",
]


async def create_multipart_upload(context: Context, request: S3Request) -> web.StreamResponse:
    """CreateMultipartUpload: passed through."""
    assert request.key is not None
    check_key(request.key)
    context.count("CreateMultipartUpload", "upstream")
    return await forward(context, request)


async def upload_part(context: Context, request: S3Request) -> web.StreamResponse:
    """UploadPart and UploadPartCopy: passed through, body streamed."""
    context.count("UploadPart", "upstream")
    return await forward(context, request)


async def abort_multipart_upload(context: Context, request: S3Request) -> web.StreamResponse:
    """AbortMultipartUpload: passed through."""
    context.count("AbortMultipartUpload", "upstream")
    return await forward(context, request)


async def complete_multipart_upload(context: Context, request: S3Request) -> web.StreamResponse:
    """CompleteMultipartUpload; a 200 can hold an `<Error>`, so the body decides."""
    assert request.bucket is not None and request.key is not None
    reply = await forward_whole(context, request)
    if reply.status == 200 and s3xml.parse_complete_multipart_result(reply.body).ok:
        await mirror_keys(context, request.bucket, confirm=[request.key])
    context.count("CompleteMultipartUpload", "upstream")
    return reply_response(reply)
