"""The one `aiohttp.ClientSession` to the upstream S3: re-signs, streams, maps transport errors.

Every request is sent path-style to the configured upstream and signed anew with
Signature V4. Transport failures become `ServiceUnavailable` here, at the boundary,
so handlers only ever see S3 errors.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .config import Config
from .errors import S3Error, ServiceUnavailable
from .sigv4 import EMPTY_SHA256, UNSIGNED_PAYLOAD, canonical_query, canonical_uri, sign_headers

__all__ = ["HOP_BY_HOP", "Reply", "Upstream"]

log = logging.getLogger(__name__)

# Headers that belong to one connection (RFC 9110 7.6.1) or to the client's signature.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "expect",
        "content-length",
        "authorization",
        "x-amz-date",
        "x-amz-content-sha256",
        "x-amz-security-token",
        "accept-encoding",
    }
)

Body = bytes | AsyncIterable[bytes] | None


@dataclass(frozen=True)
class Reply:
    """A small upstream answer read whole: status, headers, body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


def _body_error(exc: BaseException) -> S3Error | None:
    """The S3 error a streamed request body raised, which aiohttp wraps as its cause."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, S3Error):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class Upstream:
    """Sends signed requests to the upstream S3 over one pooled session."""

    def __init__(self, config: Config) -> None:
        self._config = config
        parts = urlsplit(config.upstream)
        self._scheme = parts.scheme or "https"
        self._host = parts.netloc
        self._base_path = parts.path.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self.requests_sent = 0
        # called with (method, seconds to the response headers) after each request: metrics
        self.observe_latency: Callable[[str, float], None] | None = None

    async def open(self) -> None:
        """Open the pooled session."""
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=self._config.upstream_timeout,
            sock_connect=self._config.upstream_timeout,
            sock_read=self._config.upstream_timeout,
        )
        self._session = aiohttp.ClientSession(
            timeout=timeout,
            auto_decompress=False,
            connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=300),
            skip_auto_headers=("Content-Type", "User-Agent", "Accept-Encoding"),
        )

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _url_and_headers(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        headers: Mapping[str, str],
        payload_hash: str,
    ) -> tuple[URL, dict[str, str]]:
        full_path = self._base_path + path
        pairs = list(query)
        out = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        creds = self._config.credentials
        if creds is not None:
            out.update(
                sign_headers(
                    method=method,
                    host=self._host,
                    path=full_path,
                    query=pairs,
                    headers=out,
                    payload_hash=payload_hash,
                    access_key=creds.access_key,
                    secret_key=creds.secret_key,
                    region=self._config.region,
                    now=datetime.now(UTC),
                    session_token=creds.session_token,
                )
            )
        else:
            out["Host"] = self._host
        encoded = f"{self._scheme}://{self._host}{canonical_uri(full_path)}"
        qs = canonical_query(pairs)
        if qs:
            encoded += "?" + qs
        return URL(encoded, encoded=True), out

    async def open_stream(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        content_length: int | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a request; the caller reads and releases the streamed response."""
        if self._session is None:
            raise RuntimeError("Upstream.open() was not called")
        if isinstance(body, bytes):
            payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
            content_length = len(body)
        else:
            payload_hash = UNSIGNED_PAYLOAD if body is not None else EMPTY_SHA256
        url, out = self._url_and_headers(method, path, query, headers or {}, payload_hash)
        if content_length is not None and (body is not None or method in ("PUT", "POST")):
            out["Content-Length"] = str(content_length)
        kwargs: dict[str, Any] = {"headers": out, "allow_redirects": False}
        if body is not None:
            kwargs["data"] = body
        self.requests_sent += 1
        started = time.perf_counter()
        try:
            return await self._session.request(method, url, **kwargs)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            body_error = _body_error(exc)
            if body_error is not None:
                # The client's body failed a check (or broke off) while streaming: that
                # is the client's error, and the cut-short request committed nothing.
                raise body_error from exc
            # aiohttp raises its own and OS errors for refused, reset and timed-out
            # connections; an S3 client understands 503 and retries it.
            log.warning("upstream %s %s failed: %r", method, path, exc)
            raise ServiceUnavailable("The upstream S3 could not be reached.") from exc
        finally:
            if self.observe_latency is not None:
                self.observe_latency(method, time.perf_counter() - started)

    async def fetch(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        """Send a request and read the whole (small) answer."""
        response = await self.open_stream(method, path, query, headers, body)
        try:
            data = await response.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ServiceUnavailable("The upstream S3 connection broke.") from exc
        finally:
            response.release()
        return Reply(response.status, CIMultiDictProxy(CIMultiDict(response.headers)), data)
