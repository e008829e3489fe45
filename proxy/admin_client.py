"""`mimicdb-proxy stats`: read a running proxy's `/_mimicdb/stats` and print it for people.

The request is signed with Signature V4 like any S3 request, so it passes once the
proxy checks its clients (the admin endpoints are checked too).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .config import Config
from .sigv4 import EMPTY_SHA256, sign_headers
from .startup import StartupError

__all__ = ["fetch_admin", "fetch_stats", "format_stats", "proxy_url"]

_TIMEOUT = 10.0


def proxy_url(config: Config) -> str:
    """Where a proxy started with this configuration listens (loopback for a wildcard)."""
    host = config.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.port}"


def _signing_pair(config: Config) -> tuple[str, str, str | None] | None:
    """The upstream pair (always accepted by the proxy), else a configured client pair."""
    if config.credentials is not None:
        creds = config.credentials
        return creds.access_key, creds.secret_key, creds.session_token
    if config.client_keys:
        return config.client_keys[0].access_key, config.client_keys[0].secret_key, None
    return None


def fetch_admin(url: str, config: Config, endpoint: str) -> tuple[int, bytes]:
    """GET `{url}/_mimicdb/{endpoint}`, signed with a configured key pair when there is one.

    Any HTTP status is returned; only a proxy that cannot be reached is an error.
    """
    parts = urlsplit(url.rstrip("/") + "/_mimicdb/" + endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise StartupError(f"not a proxy URL: {url!r} (expected http://HOST:PORT)")
    headers: dict[str, str] = {}
    pair = _signing_pair(config)
    if pair is not None:
        headers = sign_headers(
            method="GET",
            host=parts.netloc,
            path=parts.path,
            query=[],
            headers={},
            payload_hash=EMPTY_SHA256,
            access_key=pair[0],
            secret_key=pair[1],
            region=config.client_region or config.region,  # what the proxy accepts
            now=datetime.now(UTC),
            session_token=pair[2],
        )
        headers.pop("Host", None)  # urllib sends the same Host itself
    request = urllib.request.Request(parts.geturl(), headers=headers, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StartupError(f"cannot reach the proxy at {url}: {reason}") from exc


def fetch_stats(url: str, config: Config) -> dict[str, Any]:
    """The proxy's `/_mimicdb/stats` document."""
    status, body = fetch_admin(url, config, "stats")
    if status != 200:
        raise StartupError(f"the proxy at {url} answered {status}: {_error_code(body)}")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise StartupError(f"the proxy at {url} did not answer with JSON") from exc
    if not isinstance(data, dict):
        raise StartupError(f"the proxy at {url} did not answer with a JSON object")
    return data


def _error_code(body: bytes) -> str:
    """The <Code> of an S3 error document, for a one-line message."""
    start, end = body.find(b"<Code>"), body.find(b"</Code>")
    if start < 0 or end < start:
        return "no S3 error code"
    return body[start + len(b"<Code>") : end].decode("utf-8", "replace")


def _when(timestamp: object) -> str:
    if not isinstance(timestamp, int | float):
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def format_stats(stats: Mapping[str, Any]) -> str:
    """The stats document as a few lines and tables for a terminal."""
    lines: list[str] = []
    saved = stats.get("avoided") or {}
    where = stats.get("answered_from") or {}
    lines.append(
        f"answered from the index: {where.get('index', 0):,}   "
        f"sent upstream: {stats.get('upstream_requests', 0):,}"
    )
    lines.append(
        f"upstream requests avoided: {saved.get('requests', 0):,}   "
        f"saved: ${saved.get('dollars', 0.0):.6f} in S3 request charges"
    )
    latency = stats.get("upstream_latency") or {}
    count = latency.get("count") or 0
    if count:
        mean = 1000 * latency.get("seconds_total", 0.0) / count
        lines.append(f"upstream latency: {int(count):,} requests, mean {mean:.1f} ms")
    buckets = stats.get("buckets") or []
    if buckets:
        rows = [("BUCKET", "OBJECTS", "LAST SYNC")]
        rows += [(b["name"], f"{b['objects']:,}", _when(b.get("synced_at"))) for b in buckets]
        lines += ["", *_table(rows)]
    requests = stats.get("requests") or []
    if requests:
        rows = [("OPERATION", "ANSWERED FROM", "REQUESTS")]
        rows += [(r["operation"], r["answered_from"], f"{r['count']:,}") for r in requests]
        lines += ["", *_table(rows)]
    errors = stats.get("errors") or {}
    if errors:
        pairs = [("ERROR", "COUNT")] + [(code, f"{n:,}") for code, n in sorted(errors.items())]
        lines += ["", *_table(pairs)]
    return "\n".join(lines)
