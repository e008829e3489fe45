"""What a verifier sees of a signed request, and the helpers V4 and V2 verification share.

A `SignedRequest` keeps the path and query as the client sent them (encoded); the
helpers decode them to bytes, so nothing a client can send makes them fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

from .access import AccessKey
from .errors import InvalidAccessKeyId, RequestTimeTooSkewed

__all__ = [
    "MAX_SKEW",
    "NO_DATE",
    "Pairs",
    "PayloadRule",
    "SignedRequest",
    "Verified",
    "canonical_query_of",
    "check_skew",
    "first_params",
    "http_date",
    "iso_time",
    "lookup_key",
    "path_forms",
    "query_pairs",
    "unique",
]

MAX_SKEW = timedelta(minutes=15)  # S3's limit between a request's date and the server's
NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"

Pairs = list[tuple[bytes, bytes | None]]


@dataclass(frozen=True)
class SignedRequest:
    """A request as the signature sees it: nothing decoded that the client sent encoded."""

    method: str
    path: str  # as sent, percent-encoded, without the query
    raw_query: str  # as sent, without the '?'
    headers: Mapping[str, str]  # lowercase names; a repeated header's values joined by ','
    host_bucket: str | None = None  # the bucket a virtual host names (V2 signs it)


@dataclass(frozen=True)
class PayloadRule:
    """What the body must still satisfy once it arrives; the default: nothing."""

    sha256: str | None = None  # the hex digest the whole body must have
    chunk_signatures: bool = False  # aws-chunked, each chunk signed in a chain from `seed`
    trailer_signature: bool = False  # ... and the trailing headers signed after them
    trailers: tuple[str, ...] = ()  # the trailing checksum headers announced (x-amz-trailer)
    seed: str = ""
    signing_key: bytes = b""
    amz_date: str = ""
    scope: str = ""


@dataclass(frozen=True)
class Verified:
    """Who signed the request, and what its body must satisfy."""

    key: AccessKey
    payload: PayloadRule


def query_pairs(raw_query: str, *, plus_is_space: bool) -> Pairs:
    """(name, value) pairs decoded to bytes; value None for a parameter without '='."""
    pairs: Pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        if plus_is_space:
            part = part.replace("+", " ")
        name, sep, value = part.partition("=")
        pairs.append((unquote_to_bytes(name), unquote_to_bytes(value) if sep else None))
    return pairs


def first_params(pairs: Pairs) -> dict[str, str]:
    """The first value of each parameter, decoded."""
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name.decode("utf-8", "replace"), (value or b"").decode("utf-8", "replace"))
    return out


def _encode(raw: bytes) -> str:
    return quote(raw, safe="-_.~")


def canonical_query_of(pairs: Pairs, drop: frozenset[bytes] = frozenset()) -> str:
    """SigV4's canonical query string of decoded pairs, leaving out the names in `drop`."""
    encoded = sorted((_encode(k), _encode(v or b"")) for k, v in pairs if k not in drop)
    return "&".join(f"{k}={v}" for k, v in encoded)


def unique(values: Sequence[str]) -> list[str]:
    """The values without repeats, first occurrence first."""
    return list(dict.fromkeys(values))


def path_forms(path: str) -> list[str]:
    """The path as sent, and as S3 encodes it (every byte but unreserved ones and '/')."""
    return unique([path or "/", quote(unquote_to_bytes(path or "/"), safe="/-_.~")])


def iso_time(moment: datetime) -> str:
    """`2026-12-04T15:38:36Z`, as S3 writes times in its errors."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_skew(moment: datetime, sent: str, now: datetime) -> None:
    """RequestTimeTooSkewed when the request's date is more than 15 minutes off."""
    if abs(now - moment) > MAX_SKEW:
        raise RequestTimeTooSkewed(
            RequestTime=sent,
            ServerTime=iso_time(now),
            MaxAllowedSkewMilliseconds=str(int(MAX_SKEW.total_seconds() * 1000)),
        )


def lookup_key(keys: Mapping[str, AccessKey], access_key: str) -> AccessKey:
    """The pair of an access key id, or InvalidAccessKeyId."""
    key = keys.get(access_key)
    if key is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=access_key)
    return key


def http_date(value: str) -> datetime | None:
    """An RFC 1123 date (`Date`, V2's `x-amz-date`), or None when it is not one."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
