"""The admin API under `/_mimicdb/`: health, stats and sync."""

from __future__ import annotations

import time

from aiohttp import web

from ..context import Context
from ..errors import MethodNotAllowed, NoSuchKey, S3Error
from ..sync import sync_buckets

__all__ = ["admin"]


async def health(context: Context, http: web.Request) -> web.StreamResponse:
    """Liveness and readiness: the index answers."""
    try:
        ready = await context.backend.ping()
    except Exception:  # any failure of the index means not ready
        ready = False
    return web.json_response(
        {"status": "ok" if ready else "unavailable", "index": ready},
        status=200 if ready else 503,
    )


async def stats(context: Context, http: web.Request) -> web.StreamResponse:
    """Counters for people, as JSON."""
    buckets = []
    for bucket in await context.backend.list_buckets():
        buckets.append(
            {
                "name": bucket.name,
                "objects": await context.backend.count_objects(bucket.name),
                "synced_at": bucket.synced_at,
            }
        )
    requests = [
        {"operation": op, "answered_from": where, "count": n}
        for (op, where), n in sorted(context.requests.items())
    ]
    return web.json_response(
        {
            "buckets": buckets,
            "requests": requests,
            "upstream_requests": context.upstream.requests_sent,
            "syncs": context.syncs,
        }
    )


async def sync(context: Context, http: web.Request) -> web.StreamResponse:
    """Sync the buckets named by `?bucket=` (all when none), and report."""
    if http.method != "POST":
        raise MethodNotAllowed()
    names = http.query.getall("bucket", [])
    started = time.time()
    try:
        reports = await sync_buckets(context.backend, context.upstream, names)
    except S3Error as exc:
        return web.json_response(
            {"ok": False, "error": exc.code, "message": exc.message}, status=exc.status
        )
    for report in reports:
        context.syncs[report.bucket] = {
            "keys": report.keys,
            "seconds": round(report.seconds, 3),
            "finished_at": time.time(),
        }
    return web.json_response(
        {
            "ok": True,
            "seconds": round(time.time() - started, 3),
            "buckets": [{"bucket": r.bucket, "keys": r.keys} for r in reports],
        }
    )


_ENDPOINTS = {"health": health, "stats": stats, "sync": sync}


async def admin(context: Context, http: web.Request, name: str) -> web.StreamResponse:
    """Dispatch one admin endpoint by name."""
    handler = _ENDPOINTS.get(name)
    if handler is None:
        raise NoSuchKey(Key=f"_mimicdb/{name}")
    return await handler(context, http)
