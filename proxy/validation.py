"""S3's rules for names and methods: bucket names, key lengths, which methods exist where.

Checked before anything is forwarded, so the upstream never sees what S3 would refuse.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from .errors import (
    InvalidArgument,
    InvalidBucketName,
    KeyTooLongError,
    MethodNotAllowed,
    PreconditionFailed,
)
from .routing import SUBRESOURCES

__all__ = [
    "MAX_KEY_BYTES",
    "check_bucket_name",
    "check_bucket_reference",
    "check_key",
    "check_method",
]

_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"})
# The sub-resources S3 answers a DELETE for, by level.
_DELETES = {
    "bucket": frozenset(
        {
            "analytics", "cors", "encryption", "intelligent-tiering", "inventory", "lifecycle",
            "metadataConfiguration", "metadataTable", "metrics", "ownershipControls", "policy",
            "publicAccessBlock", "replication", "tagging", "website",
        }
    ),
    "object": frozenset({"tagging", "uploadId", "versionId"}),
}  # fmt: skip
# The sub-resources S3 answers a PUT for, by level.
_PUTS = {
    "bucket": frozenset(
        {
            "accelerate", "acl", "analytics", "cors", "encryption", "intelligent-tiering",
            "inventory", "lifecycle", "logging", "metadataConfiguration", "metadataTable",
            "metrics", "notification", "object-lock", "ownershipControls", "policy",
            "publicAccessBlock", "replication", "requestPayment", "tagging", "versioning",
            "website",
        }
    ),
    "object": frozenset(
        {"acl", "legal-hold", "partNumber", "renameObject", "retention", "tagging", "uploadId",
         "versionId"}
    ),
}  # fmt: skip
# The sub-resources S3 answers a POST for, by level.
_POSTS = {
    "bucket": frozenset({"delete"}),
    "object": frozenset({"uploads", "uploadId", "restore", "select", "renameObject"}),
}

MAX_KEY_BYTES = 1024
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def check_bucket_name(name: str) -> None:
    """S3's general-purpose bucket naming rules (for CreateBucket)."""
    bad = (
        not _BUCKET.fullmatch(name)  # fullmatch: `$` would let a final newline through
        or ".." in name
        or ".-" in name
        or "-." in name
        or name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))
        or _is_ip(name)
    )
    if bad:
        raise InvalidBucketName(BucketName=name)


# Any bucket S3 ever let exist, legacy us-east-1 names (capitals, underscores) included.
_ANY_BUCKET = re.compile(r"[A-Za-z0-9._-]{1,255}")


def check_bucket_reference(name: str) -> None:
    """A bucket named in a request must be one S3 could hold; an empty name (`//key`)
    would reach the upstream as another request (moto reads `//k` as CreateBucket `k`)."""
    if not _ANY_BUCKET.fullmatch(name):
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


def check_method(method: str, level: str, query: Mapping[str, str], content_type: str) -> None:
    """Refuse methods S3 does not have, and PUTs, POSTs and DELETEs to no operation."""
    query_names = query.keys()
    if method == "PUT" and level == "object" and ("uploadId" in query or "partNumber" in query):
        _check_part(query)
    if method not in _METHODS:
        raise MethodNotAllowed(Method=method, ResourceType=level.upper())
    allowed = {"DELETE": _DELETES, "PUT": _PUTS}.get(method)
    if allowed is not None and set(query_names) & SUBRESOURCES - allowed.get(level, frozenset()):
        # Passed on, an upstream may take it for another operation (moto creates a
        # bucket for PUT ?restore): a write the index would never hear of.
        raise MethodNotAllowed(Method=method, ResourceType=level.upper())
    if method != "POST" or set(query_names) & _POSTS.get(level, frozenset()):
        return
    if level == "bucket" and not content_type.lower().startswith("multipart/form-data"):
        raise PreconditionFailed(
            "At least one of the pre-conditions you specified did not hold",
            Condition="Bucket POST must be of the enclosure-type multipart/form-data",
        )
    # A browser-based upload (a form with a signed policy) is not a signature this
    # proxy checks; anything else POSTed names no operation.
    raise MethodNotAllowed(Method=method, ResourceType=level.upper())


def _check_part(query: Mapping[str, str]) -> None:
    """UploadPart takes both an upload id and a part number (moto would store a whole
    object for a PUT with an upload id alone)."""
    number = query.get("partNumber", "")
    if "uploadId" not in query or not number.isdigit() or not 1 <= int(number) <= 10000:
        raise InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=number[:64],
        )
