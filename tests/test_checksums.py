"""The trailer checksums against their published check values and AWS's trailer example."""

from __future__ import annotations

import base64

import pytest

from proxy.checksums import new_checksum

# The catalogue's check value of each CRC: the checksum of b"123456789".
CHECKS = [
    ("x-amz-checksum-crc32", 0xCBF43926, 4),
    ("x-amz-checksum-crc32c", 0xE3069283, 4),
    ("x-amz-checksum-crc64nvme", 0xAE8B14860A799888, 8),
]


@pytest.mark.parametrize("header, check, width", CHECKS)
def test_crc_check_values_in_pieces(header: str, check: int, width: int) -> None:
    checksum = new_checksum(header)
    assert checksum is not None
    for piece in (b"123", b"", b"456789"):
        checksum.update(piece)
    assert checksum.value() == base64.b64encode(check.to_bytes(width, "big")).decode()


def test_aws_trailer_example_crc32c() -> None:
    """sigv4-streaming-trailers: 66,560 bytes of 'a' carry x-amz-checksum-crc32c:sOO8/Q==."""
    checksum = new_checksum("x-amz-checksum-crc32c")
    assert checksum is not None
    checksum.update(b"a" * 65536)
    checksum.update(b"a" * 1024)
    assert checksum.value() == "sOO8/Q=="


def test_hashes_and_unknown_names() -> None:
    sha256 = new_checksum("X-Amz-Checksum-SHA256")
    sha1 = new_checksum("x-amz-checksum-sha1")
    assert sha256 is not None and sha1 is not None
    sha256.update(b"abc")
    sha1.update(b"abc")
    assert sha256.value() == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
    assert sha1.value() == "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="
    assert new_checksum("x-amz-checksum-md5") is None
    assert new_checksum("content-md5") is None
