"""Split points and range widths of the key space (proxy/keyspace.py): literal cases and laws."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proxy.keyspace import range_width, split_point

# Keys as S3 holds them: any characters but surrogates (not encodable in UTF-8).
keys = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def test_split_points_land_between_the_characters_keys_use() -> None:
    assert split_point("k000999", "l") == "kX"
    assert split_point("k003999", "k:") == "k5"
    assert split_point("a", "b") == "a?"
    assert split_point("a/b", "a\x7f") == "aW"
    assert split_point("kkkkkkkkkk", "kkkkkkkkkkk") == "kkkkkkkkkk5"


def test_the_open_end_is_split_after_the_first_character() -> None:
    assert split_point("k000999", None) == "l"
    assert split_point("\U0001f600", None) == "\U0001f601"
    assert split_point("\ud7ff", None) == "\ue000"  # surrogates are skipped
    assert split_point("", None) is None
    assert split_point("\U0010ffff", None) is None


def test_no_split_point_where_no_key_fits() -> None:
    assert split_point("a", "a\x00") is None  # nothing sorts between these two
    assert split_point("b", "a") is None
    assert split_point("a", "a") is None
    assert split_point("é", "f") is None  # é (U+00E9) sorts after f


def test_widths_rank_ranges() -> None:
    assert range_width("a", None) > range_width("a", "z") > range_width("a", "b")
    assert range_width("a", "b") > range_width("ab", "ac") > range_width("abc", "abd")
    assert range_width("b", "a") == float("-inf")


@given(keys, keys)
def test_a_split_point_is_strictly_inside_and_encodable(a: str, b: str) -> None:
    low, high = min(a, b), max(a, b)
    point = split_point(low, high)
    if point is not None:
        assert low < point < high
        assert point.encode("utf-8").decode("utf-8") == point
        # S3 orders by UTF-8 bytes: the split must agree with that order too.
        assert low.encode() < point.encode() < high.encode()


@given(keys.filter(bool))
def test_the_open_end_split_is_above(low: str) -> None:
    point = split_point(low, None)
    assert point is None or low < point


@given(st.text(st.characters(max_codepoint=0x7F), max_size=10), st.text(max_size=10))
def test_ascii_ranges_split_in_ascii(a: str, b: str) -> None:
    low, high = min(a, b), max(a, b)
    point = split_point(low, high)
    # Both ends ASCII: the split stays ASCII (with one end beyond, any key between will do).
    if point is not None and low.isascii() and high.isascii():
        assert point.isascii()
