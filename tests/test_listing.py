"""proxy/listing.py: S3's listing semantics, on literal inputs and against the reference model."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.backends.base import BucketRecord, ObjectRecord
from proxy.backends.memory import MemoryBackend
from proxy.errors import InvalidArgument
from proxy.listing import (
    ListResult,
    decode_token,
    encode_key,
    encode_token,
    list_page,
    parse_list_request,
)

from .s3model import model_list

KEYS = ["a/b", "a/c", "a b+c%d/x", "é/1", "z", "a0", "a/b/c", "日本/語", "a/😀"]


def run_listing(keys: list[str], query: dict[str, str]) -> tuple[ListResult, list[int]]:
    """The page for `query` over `keys`, and the limits of every scan it made."""

    async def go() -> tuple[ListResult, list[int]]:
        backend = MemoryBackend()
        await backend.put_bucket(BucketRecord("bkt", "2026-01-01T00:00:00.000Z"))
        await backend.put_objects("bkt", [ObjectRecord(k, 1, '"e"', "m") for k in keys])
        limits: list[int] = []

        async def scan(prefix: bytes, after: bytes | None, limit: int) -> list[ObjectRecord]:
            limits.append(limit)
            return await backend.scan("bkt", prefix, after, limit)

        return await list_page(scan, parse_list_request(query)), limits

    return asyncio.run(go())


def names(result: ListResult) -> tuple[list[str], list[str], bool]:
    return [r.key for r in result.contents], result.common_prefixes, result.is_truncated


def test_flat_listing_is_in_utf8_byte_order() -> None:
    result, _ = run_listing(KEYS, {})
    assert names(result)[0] == sorted(KEYS, key=lambda k: k.encode())


def test_delimiter_rolls_keys_into_common_prefixes() -> None:
    result, _ = run_listing(KEYS, {"delimiter": "/"})
    assert names(result) == (["a0", "z"], ["a b+c%d/", "a/", "é/", "日本/"], False)


def test_prefix_and_delimiter() -> None:
    result, _ = run_listing(KEYS, {"prefix": "a/", "delimiter": "/"})
    assert names(result) == (["a/b", "a/c", "a/😀"], ["a/b/"], False)


def test_multi_character_delimiter() -> None:
    result, _ = run_listing(["x--1", "x--2", "y-1", "y--z--w"], {"delimiter": "--"})
    assert names(result) == (["y-1"], ["x--", "y--"], False)


def test_common_prefixes_count_toward_max_keys() -> None:
    result, _ = run_listing(KEYS, {"delimiter": "/", "max-keys": "2"})
    assert names(result) == ([], ["a b+c%d/", "a/"], True)
    assert result.last_entry == "a/"


def test_marker_inside_a_common_prefix_does_not_repeat_it() -> None:
    result, _ = run_listing(KEYS, {"delimiter": "/", "marker": "a/b"})
    assert names(result) == (["a0", "z"], ["é/", "日本/"], False)


def test_max_keys_zero_is_empty_and_not_truncated() -> None:
    result, limits = run_listing(KEYS, {"list-type": "2", "max-keys": "0"})
    assert names(result) == ([], [], False)
    assert limits == []


def test_max_keys_over_1000_is_clamped() -> None:
    request = parse_list_request({"max-keys": "5000"})
    assert (request.max_keys, request.requested_max_keys) == (1000, 5000)


@pytest.mark.parametrize("value", ["abc", "1.5", "", "0x10", "-1"])
def test_bad_max_keys_is_invalid_argument(value: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_list_request({"max-keys": value})


@pytest.mark.parametrize("token", ["garbage", "", "bTE6", "%%%", "é"])
def test_bad_continuation_token_is_invalid_argument(token: str) -> None:
    if token == "bTE6":  # base64 of "m1:" is a valid token for the empty position
        assert decode_token(token) == b""
        return
    with pytest.raises(InvalidArgument):
        parse_list_request({"list-type": "2", "continuation-token": token})


def test_token_round_trip_holds_any_bytes() -> None:
    for position in [b"", b"a/\xff", "日本".encode(), b"\x00\n"]:
        assert decode_token(encode_token(position)) == position


def test_encoding_type_url_keeps_slash_and_encodes_the_rest() -> None:
    assert encode_key("a b+c%d/é", "url") == "a%20b%2Bc%25d/%C3%A9"
    assert encode_key("a b", None) == "a b"


def test_bad_encoding_type_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        parse_list_request({"encoding-type": "base64"})


def test_delimiter_listing_jumps_over_big_prefixes() -> None:
    # 50 prefixes of 400 keys each: a page of all 50 prefixes must not read 20,000 rows.
    keys = [f"p{i:02d}/{j:04d}" for i in range(50) for j in range(400)]
    result, limits = run_listing(keys, {"delimiter": "/"})
    assert len(result.common_prefixes) == 50
    assert sum(limits) < 5_000


key_text = st.text(alphabet=st.sampled_from(list("ab/-é😀 +%")), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    keys=st.lists(key_text, min_size=0, max_size=25, unique=True),
    prefix=st.sampled_from(["", "a", "a/", "b/", "é"]),
    delimiter=st.sampled_from(["", "/", "-", "a/", "😀"]),
    max_keys=st.integers(min_value=1, max_value=7),
)
def test_paging_matches_the_model(
    keys: list[str], prefix: str, delimiter: str, max_keys: int
) -> None:
    """Page through with NextMarker (v1) and with tokens (v2); both equal the model."""
    base = {"prefix": prefix, "delimiter": delimiter, "max-keys": str(max_keys)}
    # v1 paging by NextMarker / last key, exactly as clients do
    marker = ""
    seen_keys: list[str] = []
    seen_prefixes: list[str] = []
    for _ in range(100):
        result, _ = run_listing(keys, {**base, "marker": marker})
        model = model_list(keys, prefix, delimiter, max_keys, marker)
        assert names(result) == (model.keys, model.prefixes, model.truncated)
        seen_keys += model.keys
        seen_prefixes += model.prefixes
        if not result.is_truncated:
            break
        assert result.last_entry is not None
        marker = result.last_entry
    full = model_list(keys, prefix, delimiter, 10_000)
    assert (seen_keys, seen_prefixes) == (full.keys, full.prefixes)
    # v2 paging by continuation token
    token: str | None = None
    v2_keys: list[str] = []
    v2_prefixes: list[str] = []
    for _ in range(100):
        query = {**base, "list-type": "2"}
        if token is not None:
            query["continuation-token"] = token
        result, _ = run_listing(keys, query)
        v2_keys += [r.key for r in result.contents]
        v2_prefixes += result.common_prefixes
        if not result.is_truncated:
            break
        assert result.next_after is not None
        token = encode_token(result.next_after)
    assert (v2_keys, v2_prefixes) == (full.keys, full.prefixes)
