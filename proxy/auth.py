"""Verifying clients as S3 does: Signature V4 and V2, in the header or presigned, as pure functions.

`verify` takes what the client sent, the key pairs the proxy knows, the time and,
optionally, the one region V4 credential scopes may name; it returns who signed and
what the body must still satisfy (`PayloadRule`), or raises the error S3 would
answer. Paths and queries are checked as sent and as S3 encodes them, so a client
that escapes a little more or less than the SDKs still verifies.
Signature V2 lives in `sigv2.py`; what both share, in `signed.py`.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from . import sigv2, sigv4
from .access import AccessKey
from .errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
    InvalidRequest,
    S3Error,
    SignatureDoesNotMatch,
)
from .signed import (
    MAX_SKEW,
    NO_DATE,
    PayloadRule,
    SignedRequest,
    Verified,
    canonical_query_of,
    check_skew,
    first_params,
    http_date,
    iso_time,
    lookup_key,
    path_forms,
    query_pairs,
    unique,
)

__all__ = [
    "MAX_PRESIGNED_EXPIRES",
    "MAX_SKEW",
    "PayloadRule",
    "SignedRequest",
    "Verified",
    "host_bucket",
    "verify",
]

MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_STREAMING = (
    sigv4.STREAMING_SIGNED,
    sigv4.STREAMING_SIGNED_TRAILER,
    sigv4.STREAMING_UNSIGNED_TRAILER,
)
_PRESIGNED_V4 = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)


def host_bucket(host: str, domain: str | None) -> str | None:
    """The bucket of a virtual-host request (`bucket.DOMAIN[:port]`), else None."""
    if not domain:
        return None
    name = host.rsplit(":", 1)[0].lower() if not host.endswith("]") else host.lower()
    suffix = "." + domain.lower()
    return name[: -len(suffix)] if name.endswith(suffix) and len(name) > len(suffix) else None


def verify(
    request: SignedRequest,
    keys: Mapping[str, AccessKey],
    now: datetime,
    region: str | None = None,
) -> Verified:
    """Check the request's signature; return the signer or raise S3's error.

    With `region`, a V4 credential scope must name it (V2 names no region).
    """
    pairs = query_pairs(request.raw_query, plus_is_space=False)
    names = {name.decode("utf-8", "replace") for name, _ in pairs}
    authorization = request.headers.get("authorization")
    v4_query = "X-Amz-Algorithm" in names or "X-Amz-Credential" in names
    v2_query = "AWSAccessKeyId" in names and "Signature" in names
    if (authorization is not None) + v4_query + v2_query > 1:
        raise InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            ArgumentName="Authorization",
        )
    if authorization is not None:
        if authorization.startswith(sigv4.ALGORITHM + " "):
            return _verify_v4_header(request, authorization, keys, now, region)
        if authorization.startswith("AWS "):
            return sigv2.verify_v2_header(request, authorization, keys, now)
        raise InvalidArgument(
            "Unsupported Authorization Type",
            ArgumentName="Authorization",
            ArgumentValue=authorization[:64],
        )
    if v4_query:
        return _verify_v4_presigned(request, first_params(pairs), keys, now, region)
    if v2_query:
        return sigv2.verify_v2_presigned(request, first_params(pairs), keys, now)
    raise AccessDenied()


def _amz_time(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _parse_credential(value: str) -> tuple[str, str, str, str] | None:
    """`KEY/YYYYMMDD/region/s3/aws4_request` into (key, date, region, scope)."""
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not all(parts):
        return None
    key, date, region, service, terminal = parts
    if service != "s3" or terminal != "aws4_request" or not re.fullmatch(r"\d{8}", date):
        return None
    return key, date, region, sigv4.credential_scope(date, region)


def _checked_credential(
    value: str, error: type[S3Error], where: str, expected_region: str | None
) -> tuple[str, str, str, str]:
    """`_parse_credential`, or `error` in S3's words (`where` says which credential): a
    malformed one, or one naming another region than `expected_region`."""
    credential = _parse_credential(value)
    if credential is None:
        raise error(
            where + "the Credential is mal-formed; "
            'expecting "<YOUR-AKID>/YYYYMMDD/REGION/s3/aws4_request".'
        )
    region = credential[2]
    if expected_region is not None and region != expected_region:
        raise error(
            where + f"the region '{region}' is wrong; expecting '{expected_region}'",
            Region=expected_region,
        )
    return credential


def _parse_v4_header(value: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in value[len(sigv4.ALGORITHM) :].split(","):
        name, sep, item = part.strip().partition("=")
        if sep:
            fields[name.strip()] = item.strip()
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        raise AuthorizationHeaderMalformed(
            "The authorization header is malformed; it needs Credential, SignedHeaders and "
            "Signature."
        )
    return fields


def _check_signed_headers(request: SignedRequest, signed: list[str]) -> None:
    """Host and every x-amz-* header sent must be signed, as S3 requires."""
    unsigned = sorted(
        name
        for name in request.headers
        if (name == "host" or name.startswith("x-amz-")) and name not in signed
    )
    if unsigned:
        raise AccessDenied(
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(unsigned),
        )


def _match_v4(
    request: SignedRequest,
    query_drop: frozenset[bytes],
    signed: list[str],
    payload_hash: str,
    amz_date: str,
    scope: str,
    key: bytes,
    provided: str,
    access_key: str,
) -> None:
    queries = [canonical_query_of(query_pairs(request.raw_query, plus_is_space=False), query_drop)]
    if "+" in request.raw_query:
        plus = query_pairs(request.raw_query, plus_is_space=True)
        queries.append(canonical_query_of(plus, query_drop))
    first: tuple[str, str] | None = None
    for path in path_forms(request.path):
        for query in unique(queries):
            canonical = sigv4.assemble_canonical_request(
                request.method, path, query, request.headers, signed, payload_hash
            )
            to_sign = sigv4.string_to_sign(amz_date, scope, canonical)
            if hmac.compare_digest(sigv4.signature(key, to_sign), provided.lower()):
                return
            first = first or (canonical, to_sign)
    assert first is not None
    raise SignatureDoesNotMatch(
        AWSAccessKeyId=access_key,
        StringToSign=first[1],
        SignatureProvided=provided,
        CanonicalRequest=first[0],
    )


def _payload_rule(
    request: SignedRequest, content_sha256: str, seed: str, key: bytes, amz_date: str, scope: str
) -> PayloadRule:
    trailers = tuple(
        name.strip().lower()
        for name in request.headers.get("x-amz-trailer", "").split(",")
        if name.strip()
    )
    if content_sha256 == sigv4.UNSIGNED_PAYLOAD:
        return PayloadRule()
    if content_sha256 == sigv4.STREAMING_UNSIGNED_TRAILER:
        return PayloadRule(trailers=trailers)
    if content_sha256 in (sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER):
        return PayloadRule(
            chunk_signatures=True,
            trailer_signature=content_sha256 == sigv4.STREAMING_SIGNED_TRAILER,
            trailers=trailers,
            seed=seed,
            signing_key=key,
            amz_date=amz_date,
            scope=scope,
        )
    return PayloadRule(sha256=content_sha256.lower())


def _verify_v4_header(
    request: SignedRequest,
    authorization: str,
    keys: Mapping[str, AccessKey],
    now: datetime,
    expected_region: str | None,
) -> Verified:
    fields = _parse_v4_header(authorization)
    access_key, date, _region, scope = _checked_credential(
        fields["Credential"],
        AuthorizationHeaderMalformed,
        "The authorization header is malformed; ",
        expected_region,
    )
    key = lookup_key(keys, access_key)
    content_sha256 = request.headers.get("x-amz-content-sha256")
    if content_sha256 is None:
        raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    if content_sha256 not in (sigv4.UNSIGNED_PAYLOAD, *_STREAMING) and not _HEX64.match(
        content_sha256
    ):
        raise InvalidArgument(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
            "or a valid sha256 value.",
            ArgumentName="x-amz-content-sha256",
            ArgumentValue=content_sha256[:128],
        )
    sent = request.headers.get("x-amz-date")
    moment = _amz_time(sent) if sent is not None else None
    if sent is None and "date" in request.headers:
        sent = request.headers["date"]
        moment = http_date(sent)
    if moment is None or sent is None:
        raise AccessDenied(NO_DATE)
    check_skew(moment, sent, now)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    if date != amz_date[:8]:
        raise AuthorizationHeaderMalformed(
            "The authorization header is malformed; Invalid credential date. "
            "Date is not the same as X-Amz-Date."
        )
    signed = fields["SignedHeaders"].split(";")
    _check_signed_headers(request, signed)
    signing_key = sigv4.signing_key(key.secret_key, date, _region)
    provided = fields["Signature"]
    _match_v4(
        request, frozenset(), signed, content_sha256, amz_date, scope, signing_key, provided,
        access_key,
    )  # fmt: skip
    rule = _payload_rule(request, content_sha256, provided.lower(), signing_key, amz_date, scope)
    return Verified(key, rule)


def _verify_v4_presigned(
    request: SignedRequest,
    params: dict[str, str],
    keys: Mapping[str, AccessKey],
    now: datetime,
    expected_region: str | None,
) -> Verified:
    missing = [name for name in _PRESIGNED_V4 if name not in params]
    if missing:
        raise AuthorizationQueryParametersError(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters."
        )
    if params["X-Amz-Algorithm"] != sigv4.ALGORITHM:
        raise AuthorizationQueryParametersError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    access_key, date, region, scope = _checked_credential(
        params["X-Amz-Credential"],
        AuthorizationQueryParametersError,
        "Error parsing the X-Amz-Credential parameter; ",
        expected_region,
    )
    key = lookup_key(keys, access_key)
    moment = _amz_time(params["X-Amz-Date"])
    if moment is None:
        raise AuthorizationQueryParametersError(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    expires_text = params["X-Amz-Expires"]
    if not expires_text.isdigit():
        raise AuthorizationQueryParametersError("X-Amz-Expires should be a number")
    expires = int(expires_text)
    if expires > MAX_PRESIGNED_EXPIRES:
        raise AuthorizationQueryParametersError(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        )
    if moment > now + MAX_SKEW:
        raise AccessDenied("Request is not valid yet")
    if now > moment + timedelta(seconds=expires):
        raise AccessDenied(
            "Request has expired",
            **{"X-Amz-Expires": expires_text},
            Expires=iso_time(moment + timedelta(seconds=expires)),
            ServerTime=iso_time(now),
        )
    if date != params["X-Amz-Date"][:8]:
        raise AuthorizationQueryParametersError(
            "Invalid credential date. Date is not the same as X-Amz-Date."
        )
    signed = params["X-Amz-SignedHeaders"].split(";")
    _check_signed_headers(request, signed)
    payload_hash = params.get("X-Amz-Content-Sha256", sigv4.UNSIGNED_PAYLOAD)
    signing_key = sigv4.signing_key(key.secret_key, date, region)
    _match_v4(
        request, frozenset({b"X-Amz-Signature"}), signed, payload_hash, params["X-Amz-Date"],
        scope, signing_key, params["X-Amz-Signature"], access_key,
    )  # fmt: skip
    return Verified(key, PayloadRule())
