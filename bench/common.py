"""Shared pieces of the benchmarks: a moto upstream, an embedded proxy, signed requests, timing."""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from moto.server import ThreadedMotoServer

from proxy.config import Config, Credentials
from proxy.embedded import EmbeddedProxy
from proxy.sigv4 import EMPTY_SHA256, canonical_query, canonical_uri, sign_headers

KEY = SECRET = "testing"

# moto logs every request through werkzeug; a benchmark prints only its figures.
logging.getLogger("werkzeug").setLevel(logging.ERROR)


@contextmanager
def moto_upstream() -> Iterator[str]:
    """A moto server on a free port; yields its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    finally:
        server.stop()


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free port; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", directory],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait()


def start_proxy(upstream: str, backend: str) -> EmbeddedProxy:
    """An embedded proxy over `backend` in front of `upstream`."""
    config = Config(
        host="127.0.0.1",
        port=0,
        upstream=upstream,
        backend=backend,
        credentials=Credentials(KEY, SECRET),
    )
    return EmbeddedProxy(config).start()


def signed(
    session: requests.Session,
    method: str,
    endpoint: str,
    path: str,
    query: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> requests.Response:
    """One SigV4-signed request, as an SDK would send it."""
    payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    headers = sign_headers(
        method=method,
        host=urlsplit(endpoint).netloc,
        path=path,
        query=list(query),
        headers={},
        payload_hash=payload,
        access_key=KEY,
        secret_key=SECRET,
        region="us-east-1",
        now=datetime.now(UTC),
    )
    url = endpoint + canonical_uri(path)
    if query:
        url += "?" + canonical_query(list(query))
    response = session.request(method, url, headers=headers, data=body or None, timeout=120)
    if response.status_code >= 300:
        raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:200]}")
    return response


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    """The median wall time of `action` over `repeat` runs (after one warm-up)."""
    action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
