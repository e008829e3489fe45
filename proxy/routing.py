"""One table from (method, level, sub-resource) to handler; path-style and virtual-host addressing.

A request whose sub-resources the table does not name is passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from aiohttp import web
from multidict import MultiDict

__all__ = ["HANDLED_SUBRESOURCES", "S3Request", "Route", "parse_s3_request", "route_key"]

# Query parameters S3 treats as naming a sub-resource (anything else is an argument).
SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "attributes",
        "cors",
        "delete",
        "encryption",
        "intelligent-tiering",
        "inventory",
        "legal-hold",
        "lifecycle",
        "location",
        "logging",
        "metadataConfiguration",
        "metrics",
        "notification",
        "object-lock",
        "ownershipControls",
        "partNumber",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "restore",
        "retention",
        "select",
        "session",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
        "list-type",
        "renameObject",
    }
)
HANDLED_SUBRESOURCES = frozenset({"location", "delete", "uploads", "uploadId", "list-type"})

ADMIN_PREFIX = "/_mimicdb/"


@dataclass(frozen=True)
class S3Request:
    """An S3 request as the proxy understands it."""

    http: web.Request
    method: str
    bucket: str | None
    key: str | None
    query: MultiDict[str]
    subresource: str | None  # None, one of HANDLED_SUBRESOURCES, or "*" (pass through)
    force: bool = False  # the proxy's own choice to read from the upstream (keeper.admit)

    @property
    def level(self) -> str:
        """'service', 'bucket' or 'object'."""
        if self.bucket is None:
            return "service"
        return "object" if self.key else "bucket"

    @property
    def forced(self) -> bool:
        """A read the client wants from the upstream (`Cache-Control: no-cache`)."""
        if self.method not in ("GET", "HEAD"):
            return False
        if self.force:
            return True
        value = self.http.headers.get("Cache-Control", "")
        return "no-cache" in value.lower()

    @property
    def upstream_path(self) -> str:
        """The path-style path of this request, unencoded."""
        if self.bucket is None:
            return "/"
        if self.key is None:
            return f"/{self.bucket}"
        return f"/{self.bucket}/{self.key}"

    @property
    def query_pairs(self) -> list[tuple[str, str]]:
        """The query as (name, value) pairs, in order."""
        return list(self.query.items())


Handler = Callable[[S3Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, str | None]


def route_key(request: S3Request) -> Route:
    """The table key of a request."""
    return (request.method, request.level, request.subresource)


def parse_s3_request(http: web.Request, domain: str | None) -> S3Request:
    """Split a request into bucket, key and query, path-style or virtual-host style."""
    raw_path, _, raw_query = http.raw_path.partition("?")
    query: MultiDict[str] = MultiDict(parse_qsl(raw_query, keep_blank_values=True))
    path = unquote(raw_path, errors="strict") if "%" in raw_path else raw_path
    bucket: str | None
    key: str | None
    host = (http.headers.get("Host") or "").rsplit(":", 1)[0].lower()
    if domain and host.endswith("." + domain.lower()):
        bucket = host[: -len(domain) - 1]
        key = path[1:] or None
    else:
        trimmed = path[1:]
        if not trimmed:
            bucket, key = None, None
        else:
            name, sep, rest = trimmed.partition("/")
            bucket, key = name, (rest if sep and rest else None)
    subs = {name for name in query if name in SUBRESOURCES}
    subresource: str | None
    if not subs:
        subresource = None
    elif len(subs) == 1 and subs <= HANDLED_SUBRESOURCES:
        subresource = subs.pop()
    else:
        subresource = "*"
    return S3Request(
        http=http,
        method=http.method.upper(),
        bucket=bucket,
        key=key,
        query=query,
        subresource=subresource,
    )
