"""Raw, signed S3 requests for tests that compare bytes on the wire (SigV4, key `testing`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests

from proxy.sigv4 import EMPTY_SHA256, canonical_query, canonical_uri, sign_headers

ACCESS_KEY = "testing"
SECRET_KEY = "testing"


def s3_request(
    method: str,
    endpoint: str,
    path: str,
    query: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    host: str | None = None,
) -> requests.Response:
    """Send one request signed as a client would; `path` is unencoded (/bucket/key).

    `host` overrides the Host header (virtual-host addressing).
    """
    import hashlib

    host = host or urlsplit(endpoint).netloc
    payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    signed = sign_headers(
        method=method,
        host=host,
        path=path,
        query=list(query),
        headers=dict(headers or {}),
        payload_hash=payload,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region="us-east-1",
        now=datetime.now(UTC),
    )
    url = endpoint + canonical_uri(path)
    qs = canonical_query(list(query))
    if qs:
        url += "?" + qs
    all_headers = {**(headers or {}), **signed}
    all_headers["Host"] = host
    return requests.request(method, url, headers=all_headers, data=body or None, timeout=30)
