"""One access log line per request, text or JSON: operation, bucket, status, source, duration.

The handlers name the operation through `Context.count`, which has no request at
hand; `note_operation` hands it to this request's line through a context variable.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Middleware

from .routing import ADMIN_PREFIX, parse_s3_request

__all__ = [
    "ACCESS_LOGGER",
    "LOG_FORMATS",
    "JSONFormatter",
    "RequestNote",
    "access_log",
    "configure_logging",
    "log_unparsed",
    "note_operation",
]

ACCESS_LOGGER = "mimicdb.access"
LOG_FORMATS = ("text", "json")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RequestNote:
    """What the handler said about the request it answered."""

    operation: str = "-"
    answered_from: str = "-"


# Not shared state: each request runs in its own task, which sees only the note its
# own `access_log` middleware set (asyncio copies the context per task).
_CURRENT: ContextVar[RequestNote | None] = ContextVar("mimicdb_request_note", default=None)


def note_operation(operation: str, answered_from: str) -> None:
    """Record the S3 operation and where it was answered on the current request's line."""
    note = _CURRENT.get()
    if note is not None:
        note.operation = operation
        note.answered_from = answered_from


def _bucket(http: web.Request, domain: str | None) -> str:
    if http.path.startswith(ADMIN_PREFIX):
        return "-"
    try:
        return parse_s3_request(http, domain).bucket or "-"
    except (UnicodeDecodeError, UnicodeEncodeError, ValueError):
        return "-"


def access_log(domain: str | None) -> Middleware:
    """The outermost middleware: times each request and logs it once answered."""
    logger = logging.getLogger(ACCESS_LOGGER)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        http = request
        if not logger.isEnabledFor(logging.INFO):
            return await handler(http)  # logging off: not a nanosecond more per request
        note = RequestNote()
        if http.path.startswith(ADMIN_PREFIX):
            note.operation = "admin:" + http.path[len(ADMIN_PREFIX) :].strip("/")
        token = _CURRENT.set(note)
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(http)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            _CURRENT.reset(token)
            fields = {
                "method": http.method,
                # The path without its query: a presigned URL's query is a credential.
                "path": http.path,
                "operation": note.operation,
                "bucket": _bucket(http, domain),
                "status": status,
                "answered_from": note.answered_from,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "remote": http.remote or "-",
            }
            _log(logger, fields)

    return middleware


def log_unparsed(remote: str | None, status: int) -> None:
    """The line of a request aiohttp's parser refused: nothing of it is known but its peer."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if logger.isEnabledFor(logging.INFO):
        fields: dict[str, object] = {
            "method": "-",
            "path": "-",
            "operation": "-",
            "bucket": "-",
            "status": status,
            "answered_from": "-",
            "duration_ms": 0.0,
            "remote": remote or "-",
        }
        _log(logger, fields)


def _log(logger: logging.Logger, fields: dict[str, object]) -> None:
    logger.info(
        "%(method)s %(path)s %(operation)s bucket=%(bucket)s status=%(status)s "
        "from=%(answered_from)s %(duration_ms).1fms",
        fields,
        extra={"access": fields},
    )


class JSONFormatter(logging.Formatter):
    """One JSON object per line; an access line carries its fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "access", None)
        if isinstance(fields, dict):
            out.update(fields)
        else:
            out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"))


def configure_logging(log_format: str, *, access: bool) -> None:
    """Log to stderr as `text` or `json`; INFO lines (access lines) only when `access`."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r}: use text or json")
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    # "mimicdb.serve" (the start line) and ACCESS_LOGGER: what a server says at INFO
    logging.getLogger("mimicdb").setLevel(logging.INFO if access else logging.WARNING)
