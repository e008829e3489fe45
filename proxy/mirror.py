"""Turning upstream answers into index records: what a HEAD, a listing or a write tells us."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from .backends.base import ObjectRecord

__all__ = [
    "HEAD_HEADERS",
    "carry_headers",
    "http_date",
    "iso_from_http_date",
    "record_from_head",
]

# HEAD headers the index keeps, besides every x-amz-meta-* and x-amz-checksum-*.
HEAD_HEADERS = frozenset(
    {
        "content-type",
        "content-encoding",
        "cache-control",
        "content-disposition",
        "content-language",
        "expires",
        "last-modified",
        "etag",
        "content-length",
        "accept-ranges",
        "x-amz-version-id",
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-server-side-encryption-bucket-key-enabled",
        "x-amz-server-side-encryption-customer-algorithm",
        "x-amz-server-side-encryption-customer-key-md5",
        "x-amz-storage-class",
        "x-amz-website-redirect-location",
        "x-amz-object-lock-mode",
        "x-amz-object-lock-retain-until-date",
        "x-amz-object-lock-legal-hold",
        "x-amz-replication-status",
        "x-amz-restore",
        "x-amz-expiration",
        "x-amz-checksum-type",
        "x-amz-tagging-count",
        "x-amz-mp-parts-count",
    }
)


def iso_from_http_date(value: str) -> str:
    """`Fri, 04 Dec 2026 15:38:36 GMT` → `2026-12-04T15:38:36.000Z`."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        moment = datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def http_date(iso: str) -> str:
    """`2026-12-04T15:38:36.000Z` → `Fri, 04 Dec 2026 15:38:36 GMT`."""
    try:
        moment = datetime.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        moment = datetime.now(UTC)
    return format_datetime(moment, usegmt=True)


def parse_iso(iso: str) -> datetime:
    """An ISO timestamp from a listing as an aware datetime."""
    return datetime.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def record_from_head(key: str, headers: Mapping[str, str]) -> ObjectRecord:
    """An index record from an upstream HEAD (or GET) answer."""
    kept: dict[str, str] = {}
    checksum_algorithm = None
    for name, value in headers.items():
        lower = name.lower()
        if lower in HEAD_HEADERS or lower.startswith("x-amz-meta-"):
            kept[lower] = value
        elif lower.startswith("x-amz-checksum-"):
            checksum_algorithm = lower[len("x-amz-checksum-") :].upper()
    size = headers.get("Content-Length") or headers.get("content-length") or "0"
    if "content-range" in {k.lower() for k in headers}:
        # A ranged GET tells the full size after the slash.
        total = next(v for k, v in headers.items() if k.lower() == "content-range")
        size = total.rsplit("/", 1)[-1]
        kept["content-length"] = size
    return ObjectRecord(
        key=key,
        size=int(size) if size.isdigit() else 0,
        etag=kept.get("etag", ""),
        last_modified=iso_from_http_date(kept.get("last-modified", "")),
        storage_class=kept.get("x-amz-storage-class", "STANDARD"),
        headers=kept,
        confirmed_at=time.time(),
        checksum_algorithm=checksum_algorithm,
        checksum_type=kept.get("x-amz-checksum-type"),
    )


def carry_headers(record: ObjectRecord, known: ObjectRecord | None) -> ObjectRecord:
    """A listed `record` with the HEAD headers the index held, when the object is unchanged.

    Listings carry no HEAD headers; keeping the known ones (same ETag, same second of
    Last-Modified) saves an upstream HEAD on the next request.
    """
    if (
        known is not None
        and known.headers is not None
        and (known.etag, known.last_modified[:19]) == (record.etag, record.last_modified[:19])
    ):
        return replace(record, headers=known.headers)
    return record
