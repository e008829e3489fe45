"""`create_app(config)`: the application, its resources, route table and error middleware."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

from aiohttp import web

from . import s3xml
from .access_log import access_log
from .backends import backend_from_url
from .backends.base import Backend
from .backends.guarded import GuardedBackend
from .client_auth import client_auth
from .config import Config
from .context import Context
from .errors import InternalError, InvalidURI, MethodNotAllowed, S3Error
from .expect import close_if_unread, expect_continue
from .handlers import admin, bucket, multipart, object, service
from .handlers.forward import forward
from .keeper import IndexKeeper
from .metrics import METRICS, Metrics
from .repair import journal_for
from .routing import ADMIN_PREFIX, Route, S3Request, parse_s3_request, route_key
from .upstream import Upstream
from .validation import check_bucket_reference, check_method

__all__ = ["CONTEXT", "ROUTES", "create_app"]

log = logging.getLogger(__name__)

CONTEXT = web.AppKey("context", Context)

OperationHandler = Callable[[Context, S3Request], Awaitable[web.StreamResponse]]

# (method, level, sub-resource) -> handler. Anything else is passed through unchanged.
ROUTES: dict[Route, OperationHandler] = {
    ("GET", "service", None): service.list_buckets,
    ("HEAD", "bucket", None): bucket.head_bucket,
    ("GET", "bucket", None): bucket.list_objects,
    ("GET", "bucket", "list-type"): bucket.list_objects_v2,
    ("GET", "bucket", "location"): bucket.get_bucket_location,
    ("PUT", "bucket", None): bucket.create_bucket,
    ("DELETE", "bucket", None): bucket.delete_bucket,
    ("POST", "bucket", "delete"): bucket.delete_objects,
    ("HEAD", "object", None): object.head_object,
    ("GET", "object", None): object.get_object,
    ("PUT", "object", None): object.put_object,
    ("DELETE", "object", None): object.delete_object,
    ("DELETE", "object", "versionId"): object.delete_object,
    ("POST", "object", "uploads"): multipart.create_multipart_upload,
    ("PUT", "object", "uploadId"): multipart.upload_part,
    ("POST", "object", "uploadId"): multipart.complete_multipart_upload,
    ("DELETE", "object", "uploadId"): multipart.abort_multipart_upload,
}


async def pass_through(context: Context, request: S3Request) -> web.StreamResponse:
    """Every other S3 request: forwarded unchanged."""
    context.count("PassThrough", "upstream")
    return await forward(context, request)


def _request_id() -> str:
    return uuid.uuid4().hex[:16].upper()


def error_response(error: S3Error, method: str) -> web.Response:
    """The one place an S3 error becomes a response."""
    request_id = _request_id()
    headers = {"x-amz-request-id": request_id}
    if method == "HEAD":
        return web.Response(status=error.status, headers=headers)
    body = s3xml.error_document(error.code, error.message, error.fields, request_id)
    return web.Response(
        status=error.status, body=body, content_type="application/xml", headers=headers
    )


@web.middleware
async def s3_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Render S3 errors; turn anything unexpected into InternalError, never a traceback."""
    http = request
    context = http.app[CONTEXT]
    try:
        return await handler(http)
    except S3Error as error:
        context.errors[error.code] += 1
        return error_response(error, http.method)
    except web.HTTPException:
        raise
    except (UnicodeDecodeError, UnicodeEncodeError):
        context.errors["InvalidURI"] += 1
        return error_response(InvalidURI(), http.method)
    except Exception:
        log.exception("unexpected error in %s %s", http.method, http.path)
        context.errors["InternalError"] += 1
        return error_response(InternalError(), http.method)


async def dispatch(http: web.Request) -> web.StreamResponse:
    """Route one request through the table."""
    context = http.app[CONTEXT]
    if http.path.startswith(ADMIN_PREFIX):
        return await admin.admin(context, http, http.path[len(ADMIN_PREFIX) :].strip("/"))
    request = parse_s3_request(http, context.config.domain)
    if request.level == "service" and request.method != "GET":
        raise MethodNotAllowed(Method=request.method, ResourceType="SERVICE")
    check_method(request.method, request.level, request.query, http.headers.get("Content-Type", ""))
    if request.bucket is not None:
        check_bucket_reference(request.bucket)
    request = await context.keeper.admit(request)
    handler = ROUTES.get(route_key(request), pass_through)
    return await handler(context, request)


def create_app(config: Config, backend: Backend | None = None) -> web.Application:
    """The proxy application; the backend is opened and closed with it."""
    # access_log first: outermost, so it sees the status the other middlewares settle on
    app = web.Application(
        # client_auth inside s3_errors: its refusals are rendered like any S3 error
        middlewares=[access_log(config.domain), s3_errors, client_auth(config)],
        client_max_size=5 * 1024**3,
    )
    # The index's own failures become 503 ServiceUnavailable at this boundary.
    index = GuardedBackend(backend if backend is not None else backend_from_url(config.backend))
    context = Context(config=config, backend=index, upstream=Upstream(config))
    journal = journal_for(config.state_dir, config.backend)
    context.keeper = IndexKeeper(config, index, context.upstream, journal)
    app[CONTEXT] = context
    app[METRICS] = Metrics(context)
    context.upstream.observe_latency = app[METRICS].observe_upstream
    app.cleanup_ctx.append(partial(_resources, context))
    # [\s\S]: a key may hold a newline, which "." would not match (a bare aiohttp 404)
    # 100 Continue waits for the body's first read (expect.py), after every check
    app.router.add_route("*", r"/{tail:[\s\S]*}", dispatch, expect_handler=expect_continue)
    app.on_response_prepare.append(close_if_unread)
    return app


async def _resources(context: Context, app: web.Application) -> AsyncIterator[None]:
    await context.backend.open()
    await context.upstream.open()
    await context.keeper.start()
    yield
    await context.keeper.stop()
    await context.upstream.close()
    await context.backend.close()
