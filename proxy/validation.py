"""S3's rules for names: bucket names and key lengths, checked before anything is forwarded."""

from __future__ import annotations

import ipaddress
import re

from .errors import InvalidBucketName, KeyTooLongError

__all__ = ["MAX_KEY_BYTES", "check_bucket_name", "check_key"]

MAX_KEY_BYTES = 1024
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def check_bucket_name(name: str) -> None:
    """S3's general-purpose bucket naming rules (for CreateBucket)."""
    bad = (
        not _BUCKET.match(name)
        or ".." in name
        or ".-" in name
        or "-." in name
        or name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))
        or _is_ip(name)
    )
    if bad:
        raise InvalidBucketName(BucketName=name)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def check_key(key: str) -> None:
    """Keys are at most 1,024 bytes of UTF-8."""
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise KeyTooLongError(Size=str(len(key.encode("utf-8"))), MaxSizeAllowed=str(MAX_KEY_BYTES))
