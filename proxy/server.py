"""Serving the application: a runner whose own error answers are S3 `<Error>` documents.

aiohttp answers some requests before any handler or middleware runs: what its HTTP
parser refuses (a header line past its limits, a bad byte in a header, a request line
that is not one, a Content-Length that is not a number) and, in principle, a handler
that raised past every middleware. `RequestHandler.handle_error` answers those in plain
text; `S3RequestHandler` answers S3's error document instead, with no traceback, and
closes the connection. `make_runner` is the one way the proxy is served (cli.py's
`serve`, embedded.py), so every connection gets it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from .access_log import log_unparsed
from .app import CONTEXT, error_response
from .errors import BadRequest, InternalError, RequestHeaderSectionTooLarge, S3Error

__all__ = ["S3AppRunner", "S3RequestHandler", "S3Server", "make_runner", "rejection"]

log = logging.getLogger(__name__)

OnError = Callable[[BaseRequest, S3Error], None]

# The message of aiohttp's parser (C and Python) for more headers than max_headers.
_TOO_MANY_HEADERS = "Too many headers received"


def rejection(status: int, exc: BaseException | None) -> S3Error:
    """The S3 error for what `handle_error` is given: a 4xx is the parser's refusal.

    A line past aiohttp's max_line_size or max_field_size (request line, header name
    or value) and more headers than max_headers are S3's RequestHeaderSectionTooLarge;
    anything else the parser refuses is BadRequest, as S3 answers HTTP it cannot
    parse; a 5xx (a handler's exception no middleware caught) is InternalError.
    """
    if status >= 500:
        return InternalError()
    if isinstance(exc, LineTooLong) or (
        isinstance(exc, BadHttpMessage) and exc.message == _TOO_MANY_HEADERS
    ):
        return RequestHeaderSectionTooLarge()
    return BadRequest()


class S3RequestHandler(RequestHandler):
    """aiohttp's protocol for one connection, answering its own errors as S3 does."""

    __slots__ = ("_on_error",)

    def __init__(self, manager: web.Server, *, on_error: OnError, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._on_error = on_error

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """An S3 `<Error>` for `status` (never a traceback); the connection closes after it."""
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
        else:
            # the client's fault, and on the access log: no server-side traceback per probe
            log.debug("HTTP refused from %s: %r", request.remote, exc)
        if request.writer.output_size > 0:
            # As aiohttp does: a response has begun, so all that is left is to cut it.
            raise ConnectionError("a response was already being sent")
        error = rejection(status, exc)
        self._on_error(request, error)
        response = error_response(error, request.method)
        response.force_close()
        return response


class S3Server(web.Server):
    """aiohttp's low-level server, making `S3RequestHandler`s for its connections."""

    def __init__(self, *args: Any, on_error: OnError, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_error = on_error

    def __call__(self) -> RequestHandler:
        return S3RequestHandler(self, on_error=self._on_error, loop=self._loop, **self._kwargs)


class S3AppRunner(web.AppRunner):
    """`web.AppRunner` serving through `S3Server`; errors are counted in the app's context."""

    async def _make_server(self) -> web.Server:
        # The app's own server (started app, request factory, settings), made as aiohttp
        # makes it, then the same again with S3's error answers: aiohttp takes no
        # handler class, and this keeps every setting it chose.
        plain = await super()._make_server()
        return S3Server(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            on_error=self._count,
            **plain._kwargs,
        )

    def _count(self, request: BaseRequest, error: S3Error) -> None:
        """What a handler's answer would record: the error's count and, refused, a log line."""
        context = self.app.get(CONTEXT)
        if context is not None:
            context.errors[error.code] += 1
        if error.status < 500:  # a 5xx escaped the access_log middleware, which logged it
            log_unparsed(request.remote, error.status)


def make_runner(app: web.Application, **kwargs: Any) -> web.AppRunner:
    """The runner that serves the proxy: no aiohttp access log (access_log.py writes the
    line), no signal handlers of its own (the caller decides how it stops)."""
    return S3AppRunner(app, access_log=None, handle_signals=False, **kwargs)
