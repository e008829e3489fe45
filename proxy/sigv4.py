"""AWS Signature Version 4 as pure functions, named after the steps of the spec.

Used to sign every request forwarded upstream and (in `auth.py`) to verify clients.
No I/O here: inputs are strings and bytes, outputs are strings.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime
from urllib.parse import quote

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "STREAMING_SIGNED",
    "STREAMING_SIGNED_TRAILER",
    "STREAMING_UNSIGNED_TRAILER",
    "UNSIGNED_PAYLOAD",
    "assemble_canonical_request",
    "authorization_header",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_trailers",
    "canonical_uri",
    "chunk_string_to_sign",
    "credential_scope",
    "sign_headers",
    "signature",
    "signing_key",
    "string_to_sign",
    "trailer_string_to_sign",
    "uri_encode",
]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# x-amz-content-sha256 values of aws-chunked uploads (SigV4 streaming).
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def uri_encode(value: str, *, encode_slash: bool = True) -> str:
    """Percent-encode everything but the unreserved characters (RFC 3986), as SigV4 asks."""
    return quote(value, safe="-_.~" if encode_slash else "-_.~/")


def canonical_uri(path: str) -> str:
    """S3's canonical URI: the path encoded once, slashes kept (no normalization)."""
    return uri_encode(path or "/", encode_slash=False)


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """Encoded name=value pairs sorted by name then value; a missing value is empty."""
    pairs = sorted((uri_encode(k), uri_encode(v)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_headers(headers: Mapping[str, str], signed: Iterable[str]) -> str:
    """`name:value\\n` for each signed header, names lowercased, runs of spaces folded."""
    lowered = {k.lower(): v for k, v in headers.items()}
    lines = []
    for name in signed:
        value = " ".join(lowered.get(name, "").strip().split())
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: list[str],
    payload_hash: str,
) -> str:
    """Step 1: the canonical request."""
    return assemble_canonical_request(
        method, canonical_uri(path), canonical_query(query), headers, signed_headers, payload_hash
    )


def assemble_canonical_request(
    method: str,
    uri: str,
    query_string: str,
    headers: Mapping[str, str],
    signed_headers: list[str],
    payload_hash: str,
) -> str:
    """Step 1 from an already canonical URI and query string (what a verifier rebuilds)."""
    return "\n".join(
        [
            method,
            uri,
            query_string,
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def credential_scope(date: str, region: str, service: str = "s3") -> str:
    """`YYYYMMDD/region/service/aws4_request`."""
    return f"{date}/{region}/{service}/aws4_request"


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    """Step 2: the string to sign."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def chunk_string_to_sign(amz_date: str, scope: str, previous_signature: str, chunk: bytes) -> str:
    """The string to sign of one aws-chunked chunk: chained to the previous signature."""
    return "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            amz_date,
            scope,
            previous_signature,
            EMPTY_SHA256,
            hashlib.sha256(chunk).hexdigest(),
        ]
    )


def canonical_trailers(trailers: Iterable[tuple[str, str]]) -> str:
    """`name:value\\n` for each trailing header, in the order sent."""
    return "".join(f"{name.lower()}:{value.strip()}\n" for name, value in trailers)


def trailer_string_to_sign(
    amz_date: str, scope: str, previous_signature: str, trailers: Iterable[tuple[str, str]]
) -> str:
    """The string to sign of the trailing headers, chained to the final chunk's signature."""
    digest = hashlib.sha256(canonical_trailers(trailers).encode("utf-8")).hexdigest()
    return "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous_signature, digest])


def signing_key(secret_key: str, date: str, region: str, service: str = "s3") -> bytes:
    """Step 3: the derived signing key."""
    key = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(key: bytes, to_sign: str) -> str:
    """Step 4: the hex signature."""
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization_header(access_key: str, scope: str, signed_headers: list[str], sig: str) -> str:
    """The `Authorization` header value."""
    return (
        f"{ALGORITHM} Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(signed_headers)}, Signature={sig}"
    )


def sign_headers(
    *,
    method: str,
    host: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime,
    session_token: str | None = None,
) -> dict[str, str]:
    """The headers that sign a request: Host, X-Amz-Date, X-Amz-Content-SHA256, Authorization.

    Every given header whose name is `host`, `content-*` or `x-amz-*` is signed.
    """
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    added = {
        "host": host,
        "x-amz-date": amz_date,
        "x-amz-content-sha256": payload_hash,
    }
    if session_token:
        added["x-amz-security-token"] = session_token
    merged: dict[str, str] = {k.lower(): v for k, v in headers.items()}
    merged.update(added)
    signed = sorted(
        name
        for name in merged
        if name in ("host", "content-md5", "content-type") or name.startswith("x-amz-")
    )
    scope = credential_scope(amz_date[:8], region)
    canonical = canonical_request(method, path, query, merged, signed, payload_hash)
    sig = signature(
        signing_key(secret_key, amz_date[:8], region), string_to_sign(amz_date, scope, canonical)
    )
    out = {
        "Host": host,
        "X-Amz-Date": amz_date,
        "X-Amz-Content-SHA256": payload_hash,
        "Authorization": authorization_header(access_key, scope, signed, sig),
    }
    if session_token:
        out["X-Amz-Security-Token"] = session_token
    return out
