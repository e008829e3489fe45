"""boto 2's S3 classes, bound to the MimicDB index: `connection`, `bucket`, `key`.

`force=True` on a read becomes the proxy's force request, `Cache-Control: no-cache`:
the proxy asks S3, answers with S3's reply and updates the index. The proxy drops the
header before forwarding, so S3 never sees it (the seed's `force` header did reach S3).
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import compat

compat.install()

__all__ = ["FORCE_HEADERS", "with_force"]

FORCE_HEADERS: Mapping[str, str] = {"Cache-Control": "no-cache"}


def with_force(headers: Mapping[str, str] | None, force: object) -> dict[str, str] | None:
    """The request headers, plus the force request when `force`; the caller's dict is kept."""
    if not force:
        return dict(headers) if headers is not None else None
    out = dict(headers or {})
    out.update(FORCE_HEADERS)
    return out
