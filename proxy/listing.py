"""S3 listing semantics over an ordered key scan: prefix, delimiter, markers, tokens, max-keys.

`list_page` walks the index through a `Scan` callable, jumping over each common prefix
instead of reading it, so a page costs O(max-keys + common prefixes) scan rows.
The request parsing and the encoding are pure functions tested with literal inputs.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from .backends.base import ObjectRecord
from .errors import InvalidArgument

__all__ = [
    "MAX_KEYS",
    "ListRequest",
    "ListResult",
    "Scan",
    "decode_token",
    "encode_key",
    "encode_token",
    "list_page",
    "parse_list_request",
]

MAX_KEYS = 1000

Scan = Callable[[bytes, "bytes | None", int], Awaitable[list[ObjectRecord]]]
"""scan(prefix, after, limit): objects under `prefix` with key > `after`, in byte order."""


@dataclass(frozen=True)
class ListRequest:
    """A listing request, v1 or v2, with its parameters checked."""

    v2: bool
    prefix: str = ""
    delimiter: str = ""
    max_keys: int = MAX_KEYS
    requested_max_keys: int = MAX_KEYS
    marker: str = ""  # v1
    start_after: str = ""  # v2
    continuation_token: str | None = None  # v2, as the client sent it
    fetch_owner: bool = False
    encoding_type: str | None = None

    @property
    def after(self) -> bytes | None:
        """Where the scan starts (exclusive)."""
        if self.continuation_token is not None:
            return decode_token(self.continuation_token)
        start = self.start_after if self.v2 else self.marker
        return start.encode("utf-8") if start else None


@dataclass
class ListResult:
    """One page: objects, common prefixes, and where the next page starts."""

    contents: list[ObjectRecord] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_after: bytes | None = None  # the scan position after the last entry returned
    last_entry: str | None = None  # the last key or common prefix returned


def parse_list_request(query: Mapping[str, str]) -> ListRequest:
    """Check the query of ListObjects / ListObjectsV2 as S3 does."""
    v2 = query.get("list-type") == "2"
    raw_max = query.get("max-keys")
    max_keys = MAX_KEYS
    if raw_max is not None:
        try:
            max_keys = int(raw_max)
        except ValueError:
            raise InvalidArgument(
                "Provided max-keys not an integer or within integer range",
                ArgumentName="max-keys",
                ArgumentValue=raw_max,
            ) from None
        if not 0 <= max_keys <= 2147483647:
            raise InvalidArgument(
                "Argument maxKeys must be an integer between 0 and 2147483647",
                ArgumentName="maxKeys",
                ArgumentValue=raw_max,
            )
    encoding = query.get("encoding-type")
    if encoding is not None and encoding.lower() != "url":
        raise InvalidArgument(
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=encoding,
        )
    token = query.get("continuation-token") if v2 else None
    if token is not None:
        decode_token(token)  # reject a bad token before any work
    return ListRequest(
        v2=v2,
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter", ""),
        max_keys=min(max_keys, MAX_KEYS),
        requested_max_keys=max_keys,
        marker="" if v2 else query.get("marker", ""),
        start_after=query.get("start-after", "") if v2 else "",
        continuation_token=token,
        fetch_owner=query.get("fetch-owner", "").lower() == "true",
        encoding_type="url" if encoding is not None else None,
    )


_TOKEN_MAGIC = b"m1:"


def encode_token(after: bytes) -> str:
    """An opaque continuation token holding the scan position."""
    return base64.urlsafe_b64encode(_TOKEN_MAGIC + after).decode("ascii")


def decode_token(token: str) -> bytes:
    """The scan position a token holds; `InvalidArgument` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b""
    if not raw.startswith(_TOKEN_MAGIC):
        raise InvalidArgument(
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
        )
    return raw[len(_TOKEN_MAGIC) :]


def encode_key(value: str, encoding_type: str | None) -> str:
    """Percent-encode a key as S3 does for `encoding-type=url` ('/' kept)."""
    return quote(value, safe="/") if encoding_type else value


async def list_page(scan: Scan, request: ListRequest) -> ListResult:
    """The page S3 would answer, read from an ordered scan of the index."""
    result = ListResult()
    if request.max_keys == 0:
        return result
    prefix = request.prefix.encode("utf-8")
    delimiter = request.delimiter.encode("utf-8")
    marker = request.after
    after = marker
    count = 0
    skipping: bytes | None = None  # the common prefix whose keys are being passed over
    limit = min(request.max_keys + 1, MAX_KEYS + 1)
    while True:
        batch = await scan(prefix, after, limit)
        for record in batch:
            raw = record.key.encode("utf-8")
            if skipping is not None and raw.startswith(skipping):
                continue
            skipping = None
            common = _common_prefix(raw, prefix, delimiter)
            if common is not None:
                skipping = common
                if marker is not None and common <= marker:
                    continue  # the marker lies inside this prefix: S3 does not repeat it
                if count == request.max_keys:
                    result.is_truncated = True
                    return result
                result.common_prefixes.append(common.decode("utf-8"))
                result.last_entry = result.common_prefixes[-1]
                # Every key under `common` sorts before common + 0xFF (never in UTF-8).
                result.next_after = common + b"\xff"
                count += 1
                continue
            if count == request.max_keys:
                result.is_truncated = True
                return result
            result.contents.append(record)
            result.last_entry = record.key
            result.next_after = raw
            count += 1
        if len(batch) < limit:
            return result
        if skipping is not None:
            # The batch ended inside a common prefix: jump over the rest of it, and read
            # smaller batches, since big prefixes waste most of what a batch reads.
            after = skipping + b"\xff"
            limit = max(8, limit // 4)
        else:
            after = batch[-1].key.encode("utf-8")
            limit = min(limit * 2, MAX_KEYS + 1)


def _common_prefix(raw: bytes, prefix: bytes, delimiter: bytes) -> bytes | None:
    if not delimiter:
        return None
    index = raw.find(delimiter, len(prefix))
    if index < 0:
        return None
    return raw[: index + len(delimiter)]
