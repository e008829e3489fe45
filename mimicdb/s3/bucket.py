"""`Bucket`: boto 2's Bucket, answered from the index unless a read is forced.

Every request already goes to the proxy, which answers reads (HEAD of a key, listings)
from the index and mirrors writes (puts, copies, deletes, multi-deletes, completed
multipart uploads) into it. What is left here is the seed's `force` argument, turned
into the proxy's force request, and `sync()`. `iter(bucket)` takes no arguments, so it
never forces (the seed documents that too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boto.s3.bucket import Bucket as BotoBucket

from . import with_force
from .key import Key

__all__ = ["Bucket"]


class Bucket(BotoBucket):
    """An S3 bucket whose keys and listings come from the index."""

    def __init__(self, connection: Any = None, name: str | None = None, key_class: Any = Key):
        super().__init__(connection, name, key_class)

    def get_key(
        self,
        key_name: str,
        headers: Mapping[str, str] | None = None,
        version_id: str | None = None,
        response_headers: Mapping[str, str] | None = None,
        validate: bool = True,
        force: bool = False,
    ) -> Key | None:
        """The key, with its metadata, from the index; None if the index lacks it.

        `force=True` asks S3 (a HEAD) and updates the index: the entry is replaced, or
        removed if S3 no longer has the key.
        """
        key: Key | None = super().get_key(
            key_name, with_force(headers, force), version_id, response_headers, validate
        )
        return key

    def get_all_keys(
        self, headers: Mapping[str, str] | None = None, force: bool = False, **params: Any
    ) -> Any:
        """One listing page from the index (boto's ResultSet: keys, Prefixes, is_truncated).

        `force=True` lists the page from S3 and records it, replacing what the index
        held for the range of keys the page covers.
        """
        return super().get_all_keys(with_force(headers, force), **params)

    def list(
        self,
        prefix: str = "",
        delimiter: str = "",
        marker: str = "",
        headers: Mapping[str, str] | None = None,
        encoding_type: str | None = None,
        force: bool = False,
    ) -> Any:
        """Every key (and common prefix) from the index, paged as boto pages S3.

        `force=True` pages through S3 instead, and every page is recorded in the index.
        """
        return super().list(
            prefix, delimiter, marker, with_force(headers, force), encoding_type=encoding_type
        )

    def sync(self, metadata: bool = False) -> None:
        """Replace the index's entries for this bucket with S3's current state.

        A listing carries no Content-Type or user metadata; the index completes an entry
        with one HEAD to S3 the first time it is asked for. `metadata=True` asks for
        every key now instead.
        """
        self.connection.sync(self.name)
        if metadata:
            for key in self.list():
                self.get_key(key.name)
