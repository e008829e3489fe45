"""`Key`: boto 2's Key, with `md5` a `str` and known from the index.

Writes need nothing here: `set_contents_from_*`, `delete` and multipart completion go
through the proxy, which mirrors them into the index. What the seed added is the MD5:
a key read from the index (`get_key`, a listing) carries its ETag, and a single-part
ETag is the object's MD5, so `md5` answers from it when nothing was hashed locally. On
Python 3 boto keeps `md5` as bytes; the seed's users compared it with `hexdigest()`, so
it is a `str` here.
"""

from __future__ import annotations

import re

from boto.s3.key import Key as BotoKey

__all__ = ["Key", "md5_from_etag"]

_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')
# With these, S3's ETag is not the MD5 of the data (AWS: "Common Response Headers", ETag).
_NOT_MD5_ENCRYPTION = frozenset({"aws:kms", "aws:kms:dsse"})


def md5_from_etag(etag: str | None, encryption: str | None = None) -> str | None:
    """The MD5 an ETag stands for: single-part uploads not encrypted with KMS; else None."""
    if not etag or (encryption or "").lower() in _NOT_MD5_ENCRYPTION:
        return None
    match = _MD5_ETAG.match(etag)
    return match.group(1).lower() if match else None


class Key(BotoKey):
    """An S3 key; reads of its metadata come from the index."""

    def _get_md5(self) -> str | None:
        local = BotoKey.md5.fget(self)
        if local:
            return local.decode("ascii") if isinstance(local, bytes) else str(local)
        # Read, not stored: an upload must hash its own data, never trust an old ETag.
        return md5_from_etag(getattr(self, "etag", None), getattr(self, "encrypted", None))

    def _set_md5(self, value: str | bytes | None) -> None:
        BotoKey.md5.fset(self, value)

    md5 = property(_get_md5, _set_md5, doc="The MD5 of the contents, as hex `str` (or None).")
