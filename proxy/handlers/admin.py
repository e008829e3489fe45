"""The admin API under `/_mimicdb/`: health, stats, Prometheus metrics, sync and verify."""

from __future__ import annotations

import time

from aiohttp import web

from ..context import Context
from ..errors import MethodNotAllowed, NoSuchKey, S3Error
from ..metrics import CONTENT_TYPE, METRICS

__all__ = ["admin"]


async def health(context: Context, http: web.Request) -> web.StreamResponse:
    """Liveness and readiness: the index answers. `rebuilding`: it was found emptied and
    is being synced back, meanwhile reads go upstream (still ready)."""
    try:
        ready = await context.backend.ping()
    except Exception:  # any failure of the index means not ready
        ready = False
    return web.json_response(
        {
            "status": "ok" if ready else "unavailable",
            "index": ready,
            "rebuilding": context.backend.index_lost(),
        },
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
            "upkeep": await context.keeper.report(),
            **await http.app[METRICS].summary(),
        }
    )


async def metrics(context: Context, http: web.Request) -> web.StreamResponse:
    """The Prometheus text exposition of this proxy's registry."""
    body = await http.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def sync(context: Context, http: web.Request) -> web.StreamResponse:
    """POST: sync the buckets named by `?bucket=` (all when none), and report; with
    `?wait=false`, answer 202 at once. GET: running syncs, each bucket's last sync status
    and pending repairs."""
    if http.method == "GET":
        return web.json_response(await context.keeper.report())
    if http.method != "POST":
        raise MethodNotAllowed()
    names = http.query.getall("bucket", [])
    if http.query.get("wait", "true").lower() in ("false", "0", "no"):
        context.keeper.spawn(_sync(context, names))
        return web.json_response({"ok": True, "started": names}, status=202)
    body, status = await _sync(context, names)
    return web.json_response(body, status=status)


async def _sync(context: Context, names: list[str]) -> tuple[dict[str, object], int]:
    started = time.time()
    try:
        reports = await context.keeper.sync(names)
    except S3Error as exc:
        return {"ok": False, "error": exc.code, "message": exc.message}, exc.status
    for report in reports:
        context.syncs[report.bucket] = {
            "keys": report.keys,
            "seconds": round(report.seconds, 3),
            "finished_at": time.time(),
        }
    return {
        "ok": True,
        "seconds": round(time.time() - started, 3),
        "buckets": [{"bucket": r.bucket, "keys": r.keys} for r in reports],
    }, 200


async def verify(context: Context, http: web.Request) -> web.StreamResponse:
    """Compare the buckets named by `?bucket=` (all the index holds when none) with the
    upstream; POST with `?repair=true` also applies the differences."""
    repair = http.query.get("repair", "false").lower() in ("true", "1", "yes")
    if http.method not in ("GET", "POST") or (repair and http.method != "POST"):
        raise MethodNotAllowed()
    try:
        reports = await context.keeper.verify(http.query.getall("bucket", []), repair)
    except S3Error as exc:
        return web.json_response(
            {"ok": False, "error": exc.code, "message": exc.message}, status=exc.status
        )
    return web.json_response(
        {
            "ok": True,
            "equal": all(r.equal for r in reports),
            "buckets": [r.to_json() for r in reports],
        }
    )


_ENDPOINTS = {
    "health": health,
    "stats": stats,
    "sync": sync,
    "verify": verify,
    "metrics": metrics,
}


async def admin(context: Context, http: web.Request, name: str) -> web.StreamResponse:
    """Dispatch one admin endpoint by name."""
    handler = _ENDPOINTS.get(name)
    if handler is None:
        raise NoSuchKey(Key=f"_mimicdb/{name}")
    return await handler(context, http)
