"""AWS Signature Version 2 (boto 2's default) as pure functions, for verifying clients.

`Authorization: AWS <key>:<base64 HMAC-SHA1>` over the string to sign
`VERB\\nContent-MD5\\nContent-Type\\nDate\\nCanonicalizedAmzHeaders CanonicalizedResource`;
presigned URLs put `Expires` (unix seconds) where the date goes. No I/O here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from .access import AccessKey
from .errors import AccessDenied, InvalidArgument, SignatureDoesNotMatch
from .signed import (
    NO_DATE,
    PayloadRule,
    SignedRequest,
    Verified,
    check_skew,
    http_date,
    iso_time,
    lookup_key,
    path_forms,
    query_pairs,
    unique,
)

__all__ = [
    "SUBRESOURCES",
    "canonical_amz_headers",
    "canonical_resource",
    "parse_authorization",
    "sign",
    "string_to_sign",
    "verify_v2_header",
    "verify_v2_presigned",
]

# Query parameters that belong to the canonicalized resource: S3's documented
# sub-resources and response overrides, as boto 2 and botocore's HmacV1Auth sign them.
SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "delete",
        "encryption",
        "inventory",
        "legal-hold",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "retention",
        "select",
        "select-type",
        "storageClass",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)


def parse_authorization(value: str) -> tuple[str, str] | None:
    """`AWS key:signature` into (key, signature); None when it is not that shape."""
    if not value.startswith("AWS "):
        return None
    key, sep, sig = value[4:].strip().rpartition(":")
    if not sep or not key or not sig:
        return None
    return key, sig


def canonical_amz_headers(headers: Mapping[str, str], *, skip: Iterable[str] = ()) -> str:
    """`x-amz-name:value\\n` for each x-amz-* header, sorted; names are lowercase already."""
    skipped = set(skip)
    names = sorted(n for n in headers if n.startswith("x-amz-") and n not in skipped)
    return "".join(f"{name}:{headers[name].strip()}\n" for name in names)


def canonical_resource(
    path: str, query: Iterable[tuple[str, str | None]], bucket: str | None
) -> str:
    """The canonicalized resource: `/bucket` for a virtual host, the path, its sub-resources.

    `path` is as the client sent it (encoded); `query` holds decoded (name, value) pairs,
    value None for a parameter given without `=`.
    """
    resource = (f"/{bucket}" if bucket is not None else "") + path
    kept = [(name, value) for name, value in query if name in SUBRESOURCES]
    if kept:
        kept.sort(key=lambda pair: pair[0])
        resource += "?" + "&".join(n if v is None else f"{n}={v}" for n, v in kept)
    return resource


def string_to_sign(
    method: str,
    content_md5: str,
    content_type: str,
    date: str,
    amz_headers: str,
    resource: str,
) -> str:
    """The string a V2 signature signs; `date` is the Date header, x-amz-date or Expires."""
    return f"{method}\n{content_md5}\n{content_type}\n{date}\n{amz_headers}{resource}"


def sign(secret_key: str, to_sign: str) -> str:
    """Base64 HMAC-SHA1 of the string to sign."""
    digest = hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


# Verification


def _v2_resources(request: SignedRequest) -> list[str]:
    pairs = [
        (name.decode("utf-8", "replace"), None if v is None else v.decode("utf-8", "replace"))
        for name, v in query_pairs(request.raw_query, plus_is_space=False)
    ]
    bucket = request.host_bucket
    return unique([canonical_resource(p, pairs, bucket) for p in path_forms(request.path)])


def _match_v2(
    request: SignedRequest,
    dates: list[tuple[str, tuple[str, ...]]],
    key: AccessKey,
    provided: str,
    access_key: str,
) -> None:
    """Try each (date line, x-amz-* headers left out) form over each resource form."""
    headers = request.headers
    first = ""
    for resource in _v2_resources(request):
        for date, skip in dates:
            to_sign = string_to_sign(
                request.method,
                headers.get("content-md5", "").strip(),
                headers.get("content-type", "").strip(),
                date,
                canonical_amz_headers(headers, skip=skip),
                resource,
            )
            if hmac.compare_digest(sign(key.secret_key, to_sign), provided):
                return
            first = first or to_sign
    raise SignatureDoesNotMatch(
        AWSAccessKeyId=access_key, StringToSign=first, SignatureProvided=provided
    )


def verify_v2_header(
    request: SignedRequest, authorization: str, keys: Mapping[str, AccessKey], now: datetime
) -> Verified:
    parsed = parse_authorization(authorization)
    if parsed is None:
        raise InvalidArgument(
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            ArgumentName="Authorization",
        )
    access_key, provided = parsed
    key = lookup_key(keys, access_key)
    amz_date = request.headers.get("x-amz-date")
    date = request.headers.get("date", "")
    sent = amz_date if amz_date is not None else date
    moment = http_date(sent)
    if moment is None:
        raise AccessDenied(NO_DATE)
    check_skew(moment, sent, now)
    # With x-amz-date, boto 2 leaves the date line empty; AWS's documented example puts
    # x-amz-date's value there instead; botocore keeps the Date header there.
    dates: list[tuple[str, tuple[str, ...]]] = [(date, ())]
    if amz_date is not None:
        dates = [("", ()), (amz_date, ("x-amz-date",)), (date, ())]
    _match_v2(request, dates, key, provided, access_key)
    return Verified(key, PayloadRule())


def verify_v2_presigned(
    request: SignedRequest, params: dict[str, str], keys: Mapping[str, AccessKey], now: datetime
) -> Verified:
    access_key = params["AWSAccessKeyId"]
    key = lookup_key(keys, access_key)
    expires = params.get("Expires", "")
    if not expires.isdigit():
        raise AccessDenied(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId "
            "parameters"
        )
    if now.timestamp() > int(expires):
        raise AccessDenied(
            "Request has expired",
            Expires=iso_time(datetime.fromtimestamp(int(expires), UTC)),
            ServerTime=iso_time(now),
        )
    _match_v2(request, [(expires, ())], key, params["Signature"], access_key)
    return Verified(key, PayloadRule())
