"""`EmbeddedProxy`: the proxy on its own event loop in a background thread, on a free port.

Used by the `mimicdb` package (the proxy inside the user's process) and by the tests.
The thread is a daemon and `stop()` is registered with `atexit`, so a process that
forgets to stop it still exits cleanly.
"""

from __future__ import annotations

import asyncio
import atexit
import ssl
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from aiohttp import web

from .app import CONTEXT, create_app
from .backends.base import Backend
from .config import Config
from .context import Context
from .server import make_runner

__all__ = ["EmbeddedProxy"]

T = TypeVar("T")


class EmbeddedProxy:
    """A running proxy in this process; `url` is where clients point."""

    def __init__(
        self,
        config: Config,
        backend: Backend | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._config = config
        self._ssl_context = ssl_context  # serve https, as clients act differently over TLS
        self._backend = backend
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="mimicdb-proxy", daemon=True)
        self._runner: web.AppRunner | None = None
        self._started: Future[int] = Future()
        self._stopped = False
        self.port = 0
        self.app: web.Application | None = None

    def start(self) -> EmbeddedProxy:
        """Start serving; returns once the port is bound."""
        self._thread.start()
        self.port = self._started.result(timeout=30)
        atexit.register(self.stop)
        return self

    @property
    def url(self) -> str:
        """The proxy's endpoint URL."""
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{self._config.host}:{self.port}"

    @property
    def context(self) -> Context:
        """The running application's context (backend, upstream, counters)."""
        assert self.app is not None
        return self.app[CONTEXT]

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the proxy's loop (e.g. against its backend) and wait."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            port = self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # report a failed start to start()
            if not self._started.done():
                self._started.set_exception(exc)
            return
        # Reported from inside run_forever: a stop() right after start() must find the
        # loop running, or run_until_complete's own stop would swallow it (a 30 s hang).
        self._loop.call_soon(self._started.set_result, port)
        self._loop.run_forever()
        self._loop.run_until_complete(self._shutdown())
        self._loop.close()

    async def _serve(self) -> int:
        self.app = create_app(self._config, self._backend)
        self._runner = make_runner(self.app)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self._config.host, self._config.port, ssl_context=self._ssl_context
        )
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return int(port)

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        """Stop serving and join the thread; safe to call twice."""
        if self._stopped or not self._thread.is_alive():
            self._stopped = True
            return
        self._stopped = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        atexit.unregister(self.stop)
