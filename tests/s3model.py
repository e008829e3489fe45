"""A reference model of S3's listing semantics: a full scan of sorted keys, obviously right.

The proxy's listing (O(page) over an index) must agree with this model on every
request; moto is compared too, except where moto is known to differ from AWS.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelPage:
    """What S3 answers: keys, common prefixes, truncation and the last entry returned."""

    keys: list[str]
    prefixes: list[str]
    truncated: bool
    last: str | None


def model_list(
    keys: list[str], prefix: str = "", delimiter: str = "", max_keys: int = 1000, after: str = ""
) -> ModelPage:
    """The page after `after` (exclusive; a common prefix <= after is not repeated)."""
    if max_keys == 0:
        return ModelPage([], [], False, None)  # S3 (and moto) answer IsTruncated false
    ordered = sorted(keys, key=lambda k: k.encode("utf-8"))
    out_keys: list[str] = []
    out_prefixes: list[str] = []
    last: str | None = None
    count = 0
    raw_after = after.encode("utf-8")
    for key in ordered:
        raw = key.encode("utf-8")
        if not key.startswith(prefix) or (after and raw <= raw_after):
            continue
        entry = key
        is_prefix = False
        if delimiter:
            index = key.find(delimiter, len(prefix))
            if index >= 0:
                entry = key[: index + len(delimiter)]
                is_prefix = True
        if is_prefix:
            if entry in out_prefixes or (after and entry.encode("utf-8") <= raw_after):
                continue
        if count == max_keys:
            return ModelPage(out_keys, out_prefixes, True, last)
        if is_prefix:
            out_prefixes.append(entry)
        else:
            out_keys.append(entry)
        last = entry
        count += 1
    return ModelPage(out_keys, out_prefixes, False, last)
