"""Key-space arithmetic for parallel listing: split points between keys, and range widths.

S3 orders keys by their UTF-8 bytes, which is the order of their code points, so keys
are compared here as Python strings. A key is read as a fraction in base B (one digit
per character, plus one for "the string ended here"), which makes the midpoint of two
keys and the width of a range plain integer arithmetic. B is 128 while both keys are
ASCII, so splits land between characters keys actually use instead of deep inside
the Unicode planes; otherwise it is every code point.
"""

from __future__ import annotations

import math

__all__ = ["range_width", "split_point"]

_ASCII = 0x80
_UNICODE = 0x110000
_SURROGATES = range(0xD800, 0xE000)


def _base(*keys: str) -> int:
    return _ASCII if all(key.isascii() for key in keys) else _UNICODE


def _digits(key: str, length: int) -> list[int]:
    # Digit 0 means "no character": "a" < "a\x00" must stay true as numbers.
    return [ord(c) + 1 for c in key] + [0] * (length - len(key))


def _value(digits: list[int], radix: int) -> int:
    total = 0
    for digit in digits:
        total = total * radix + digit
    return total


def _key(value: int, length: int, radix: int) -> str:
    digits = []
    for _ in range(length):
        value, digit = divmod(value, radix)
        digits.append(digit)
    chars = []
    for digit in reversed(digits):
        if digit == 0:
            break  # the string ends at its first "no character" digit
        code = digit - 1
        if code in _SURROGATES:
            chars.append(chr(_SURROGATES.stop))  # not a character: the next one that is
            break
        chars.append(chr(code))
    return "".join(chars)


def split_point(low: str, high: str | None) -> str | None:
    """A key strictly between `low` and `high`, near the middle, or None if there is none.

    Keys equal to the split point belong to the lower range: the lower reader lists up
    to and including it, the upper one starts after it. `high` None is the end of the
    key space: the split is then the next first character after `low`'s, a guess that
    costs one empty page when the bucket has no keys beyond it.
    """
    if high is None:
        if not low:
            return None
        code = ord(low[0]) + 1
        if code in _SURROGATES:
            code = _SURROGATES.stop
        return chr(code) if code < _UNICODE else None
    if not low < high:
        return None
    radix = _base(low, high) + 1
    length = max(len(low), len(high)) + 1
    middle = (_value(_digits(low, length), radix) + _value(_digits(high, length), radix)) // 2
    point = _key(middle, length, radix)
    # The shortest prefix of the midpoint that still splits: a short start-after.
    for end in range(1, len(point) + 1):
        if low < point[:end] < high:
            return point[:end]
    return None


def range_width(low: str, high: str | None) -> float:
    """log2 of the share of the key space between two keys: bigger is wider.

    Only ranges' order matters to the caller (which range to split next); the end of
    the key space counts as wider than any bounded range.
    """
    if high is None:
        return math.inf
    if not low < high:
        return -math.inf
    shared = 0
    while shared < min(len(low), len(high)) and low[shared] == high[shared]:
        shared += 1
    radix = _base(low, high) + 1
    # Three digits past the shared prefix are enough to rank ranges against each other.
    window = 3
    a = _value(_digits(low[shared : shared + window], window), radix)
    b = _value(_digits(high[shared : shared + window], window), radix)
    return (math.log2(max(b - a, 1)) - window * math.log2(radix)) - shared * math.log2(radix)
