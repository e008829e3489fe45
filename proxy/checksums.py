"""The flexible checksums S3 accepts in `x-amz-checksum-*` (here: in aws-chunked trailers).

CRC32, CRC32C, CRC64NVME, SHA-1 and SHA-256, each computed incrementally and written as
S3 writes them: base64 of the big-endian digest. The CRCs without a C implementation in
the standard library are table-driven here, in pure Python.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Protocol

__all__ = ["ALGORITHMS", "Checksum", "new_checksum"]


def _table(polynomial: int) -> tuple[int, ...]:
    """The byte table of a reflected CRC."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ polynomial if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C = _table(0x82F63B78)
_CRC64NVME = _table(0x9A6C9329AC4BC9B5)


class Checksum(Protocol):
    """An incremental checksum."""

    def update(self, data: bytes) -> None:
        """Add data."""

    def value(self) -> str:
        """The checksum as S3 writes it: base64 of the big-endian digest."""


class _Crc32:
    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: bytes) -> None:
        self._crc = zlib.crc32(data, self._crc)

    def value(self) -> str:
        return base64.b64encode(self._crc.to_bytes(4, "big")).decode("ascii")


class _TableCrc:
    """A reflected CRC with all-ones initial value and final xor (CRC32C, CRC64NVME)."""

    def __init__(self, table: tuple[int, ...], width: int) -> None:
        self._table = table
        self._width = width
        self._mask = (1 << (8 * width)) - 1
        self._crc = self._mask

    def update(self, data: bytes) -> None:
        crc, table = self._crc, self._table
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        self._crc = crc

    def value(self) -> str:
        digest = (self._crc ^ self._mask).to_bytes(self._width, "big")
        return base64.b64encode(digest).decode("ascii")


class _Hash:
    def __init__(self, name: str) -> None:
        self._hash = hashlib.new(name)

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def value(self) -> str:
        return base64.b64encode(self._hash.digest()).decode("ascii")


ALGORITHMS = frozenset({"crc32", "crc32c", "crc64nvme", "sha1", "sha256"})


def new_checksum(header: str) -> Checksum | None:
    """A fresh checksum for `x-amz-checksum-<algorithm>`; None for any other name."""
    algorithm = header.lower().removeprefix("x-amz-checksum-")
    if algorithm == "crc32":
        return _Crc32()
    if algorithm == "crc32c":
        return _TableCrc(_CRC32C, 4)
    if algorithm == "crc64nvme":
        return _TableCrc(_CRC64NVME, 8)
    if algorithm in ("sha1", "sha256"):
        return _Hash(algorithm)
    return None
