"""`Expect: 100-continue`: noted when a request arrives, answered when its body is first read.

A client that sends the expectation waits for `100 Continue` before its body. The
proxy sends it only from `send_continue`, when a reader of the request body asks for
its first bytes through `continued` (payload.read_body, the forward path's body
stream): by then the request has passed authentication and every check before the
body, so a refused client is never invited to upload. An answer to such a request
whose body was never read closes the connection, so what the client sends next can
never be taken for a request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import HttpVersion11, web

__all__ = ["CONTINUE_OWED", "close_if_unread", "continued", "expect_continue", "send_continue"]

CONTINUE_OWED = web.RequestKey("mimicdb.continue_owed", bool)


async def expect_continue(http: web.Request) -> None:
    """The route's expect handler: `100-continue` on HTTP/1.1 is owed, to be sent by
    `send_continue`; any other Expect is ignored, as S3 ignores it (aiohttp's default
    answers 417, and a 500 for a value it cannot echo), and HTTP/1.0 never gets a 100."""
    if http.version == HttpVersion11 and http.headers.get("Expect", "").lower() == "100-continue":
        http[CONTINUE_OWED] = True


async def send_continue(http: web.Request) -> None:
    """Send the `100 Continue` the request is owed, once; call before reading its body."""
    if http.get(CONTINUE_OWED):
        http[CONTINUE_OWED] = False
        await http.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        http.writer.output_size = 0  # the answer's own body has not begun


async def continued(http: web.Request, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` of the request body, the owed `100 Continue` sent before the first is read."""
    await send_continue(http)
    async for chunk in chunks:
        yield chunk


async def close_if_unread(http: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` hook: the answer to a request still owed its `100 Continue`
    whose body is unread says `Connection: close`, and aiohttp closes after it."""
    if http.get(CONTINUE_OWED) and not http.content.is_eof():
        response.force_close()
        # The hook runs after aiohttp chose the Connection header; it is not yet sent.
        response.headers["Connection"] = "close"
        # Nor does aiohttp wait (up to 10 s, reading and dropping) for a body the client
        # was never invited to send: the connection ends with this answer. aiohttp has
        # no public setting per request for this.
        http.protocol._lingering_time = 0.0
