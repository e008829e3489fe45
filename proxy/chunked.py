"""Decoding of `aws-chunked` request bodies (SigV4 streaming uploads), chunk by chunk.

`<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n` ... a zero-size chunk, then optional
trailers (`x-amz-checksum-crc32:...`) and a blank line. The decoder yields the data
and keeps the chunk signatures and trailers for whoever verifies them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from .errors import IncompleteBody, InvalidRequest

__all__ = ["ChunkedDecoder", "is_aws_chunked"]

_MAX_LINE = 4096
# SDKs send 8 KiB to a few MiB per chunk; a bigger one would only grow this process.
_MAX_CHUNK = 64 * 1024 * 1024


class _Reader(Protocol):
    async def readuntil(self, separator: bytes = ...) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...


def is_aws_chunked(content_encoding: str, content_sha256: str) -> bool:
    """Whether a request body is aws-chunked."""
    encodings = [part.strip().lower() for part in content_encoding.split(",")]
    return "aws-chunked" in encodings or content_sha256.upper().startswith("STREAMING-")


@dataclass
class ChunkedDecoder:
    """Reads an aws-chunked body from `reader`; iterate `chunks()` for the payload."""

    reader: _Reader
    signatures: list[str] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    decoded_length: int = 0

    async def _line(self) -> bytes:
        try:
            line = await self.reader.readuntil(b"\r\n")
        except Exception as exc:  # IncompleteReadError, LimitOverrunError, ClientPayloadError
            raise IncompleteBody() from exc
        if len(line) > _MAX_LINE:
            raise InvalidRequest("Chunk header too long")
        return line[:-2]

    async def chunks(self) -> AsyncIterator[bytes]:
        """The decoded payload, one chunk at a time."""
        while True:
            header = await self._line()
            size_text, _, extension = header.partition(b";")
            try:
                size = int(size_text.strip(), 16)
            except ValueError:
                raise InvalidRequest("Invalid chunk size in aws-chunked body") from None
            if not 0 <= size <= _MAX_CHUNK:
                raise InvalidRequest("Invalid chunk size in aws-chunked body")
            if extension.startswith(b"chunk-signature="):
                signature = extension[len(b"chunk-signature=") :]
                self.signatures.append(signature.decode("ascii", "replace"))
            if size == 0:
                break
            try:
                data = await self.reader.readexactly(size)
                end = await self.reader.readexactly(2)
            except Exception as exc:
                raise IncompleteBody() from exc
            if end != b"\r\n":
                raise InvalidRequest("Chunk not terminated by CRLF in aws-chunked body")
            self.decoded_length += size
            yield data
        # Trailers until a blank line or the end of the body.
        while True:
            try:
                line = await self._line()
            except IncompleteBody:
                return
            if not line:
                return
            name, _, value = line.decode("latin-1").partition(":")
            self.trailers[name.strip().lower()] = value.strip()
