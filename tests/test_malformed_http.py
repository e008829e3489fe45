"""HTTP that aiohttp's parser refuses before any handler runs is answered as S3 answers it.

Each request goes on a raw socket, byte for byte, since no HTTP client would send it.
The answer must be a 400 with S3's `<Error>` document (never aiohttp's plain text,
never a traceback), the connection must close after it, it must be counted like any
S3 error, and the proxy must go on answering. Both ways of serving use the same
runner: the embedded proxy here, and `mimicdb-proxy serve` in the last test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from lxml import etree

from proxy.embedded import EmbeddedProxy
from proxy.server import make_runner
from tests.fixtures.s3_server import MotoUpstream
from tests.signing import send, sign_v4

from .test_access_log import MIMICDB_PROXY, wait_until_healthy
from .test_startup import free_port

BUCKET = "malformed"


@dataclass(frozen=True)
class RawAnswer:
    """A response read off a socket up to the server's close."""

    status_line: str
    headers: dict[str, str]
    body: bytes

    @property
    def status(self) -> int:
        return int(self.status_line.split(" ", 2)[1])

    @property
    def code(self) -> str:
        root = etree.fromstring(self.body)
        assert root.tag == "Error", self.body[:300]
        return root.findtext("Code") or ""


def parse(raw: bytes) -> RawAnswer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(lines[0], headers, body)


def exchange(port: int, request: bytes) -> RawAnswer:
    """Send `request`, then read until the server closes the connection (it must)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        raw = b""
        while chunk := sock.recv(65536):  # a timeout here means the connection stayed open
            raw += chunk
    return parse(raw)


def refused_as_s3(answer: RawAnswer, code: str) -> None:
    assert answer.status == 400, answer.status_line
    assert answer.headers["content-type"] == "application/xml", answer
    assert answer.code == code, answer.body[:300]
    assert answer.body.startswith(b"<?xml")
    assert b"Traceback" not in answer.body


@pytest.fixture
def proxy(make_proxy: Callable[..., EmbeddedProxy]) -> EmbeddedProxy:
    """A proxy whose index holds BUCKET."""
    running = make_proxy("memory")
    assert send(running.url, sign_v4("PUT", f"{running.url}/{BUCKET}")).status == 200
    return running


def get(headers: str = "", target: str = f"/{BUCKET}") -> bytes:
    """A GET with a Host header and `headers` (raw `Name: value\\r\\n` lines)."""
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode("latin-1")


BAD = {
    # (a) past max_field_size (8190 bytes): the header section is too large, as S3 says
    "header-line-20k": (get("x-amz-meta-big: " + "v" * 20_000 + "\r\n"),
                        "RequestHeaderSectionTooLarge"),
    "header-name-20k": (get("x-" + "n" * 20_000 + ": v\r\n"), "RequestHeaderSectionTooLarge"),
    "request-line-20k": (get(target=f"/{BUCKET}/" + "k" * 20_000),
                         "RequestHeaderSectionTooLarge"),
    "200-headers": (get("".join(f"x-amz-meta-h{i}: v\r\n" for i in range(200))),
                    "RequestHeaderSectionTooLarge"),
    # (b) bytes no header name or value may hold
    "space-in-name": (get("Bad Name: v\r\n"), "BadRequest"),
    "control-in-name": (get("X-Bad\x01Name: v\r\n"), "BadRequest"),
    "nul-in-value": (get("x-amz-meta-nul: a\x00b\r\n"), "BadRequest"),
    "del-in-value": (get("x-amz-meta-del: a\x7fb\r\n"), "BadRequest"),
    # (c) request lines that are not one
    "garbage-line": (b"\x00\x01garbage garbage\r\n\r\n", "BadRequest"),
    "no-method": (b"/ HTTP/1.1\r\nHost: x\r\n\r\n", "BadRequest"),
    "bad-version": (b"GET / HTTP/9.x\r\nHost: x\r\n\r\n", "BadRequest"),
    "tls-on-http": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64), "BadRequest"),
    # (d) framing the parser cannot trust
    "content-length-abc": (f"PUT /{BUCKET}/k HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
                           .encode(), "BadRequest"),
    "two-content-lengths": (f"PUT /{BUCKET}/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                            "Content-Length: 2\r\n\r\nab".encode(), "BadRequest"),
    "no-host": (f"GET /{BUCKET} HTTP/1.1\r\n\r\n".encode(), "BadRequest"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(BAD))
def test_parser_refusals_are_s3_errors(proxy: EmbeddedProxy, name: str) -> None:
    request, code = BAD[name]
    refused_as_s3(exchange(proxy.port, request), code)
    assert proxy.context.errors[code] == 1  # counted, as on /_mimicdb/metrics
    # and the proxy goes on
    assert send(proxy.url, sign_v4("GET", f"{proxy.url}/{BUCKET}")).status == 200


def test_a_refusal_after_a_good_request_on_one_connection(proxy: EmbeddedProxy) -> None:
    """Kept alive, a connection's second request may be the bad one: it is refused alone."""
    good = sign_v4("GET", f"{proxy.url}/{BUCKET}")
    head = f"GET {good.target} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in good.headers.items()
    )  # fmt: skip
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall((head + "\r\n").encode())
        raw = b""
        while b"</ListBucketResult>" not in raw:
            raw += sock.recv(65536)
        assert parse(raw).status == 200
        sock.sendall(get("Bad Name: v\r\n"))
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    refused_as_s3(parse(raw), "BadRequest")


async def test_an_exception_past_every_middleware_is_an_internal_error_document() -> None:
    """aiohttp's own 500 (a handler raised with nothing to catch it) is S3's InternalError,
    without the traceback aiohttp puts there in debug mode for a browser."""

    async def broken(request: web.Request) -> web.StreamResponse:
        raise RuntimeError("secret detail")

    app = web.Application()
    app.router.add_get("/", broken)
    runner = make_runner(app)
    await runner.setup()
    asyncio.get_running_loop().set_debug(True)
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n")
        raw = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    finally:
        asyncio.get_running_loop().set_debug(False)
        await runner.cleanup()
    answer = parse(raw)
    assert answer.status == 500
    assert answer.headers["content-type"] == "application/xml"
    assert answer.code == "InternalError"
    assert b"Traceback" not in raw and b"secret detail" not in raw


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_served_proxy_refuses_as_s3_and_stops_on_signals(
    s3_upstream: MotoUpstream, tmp_path: Path, signum: signal.Signals
) -> None:
    """`mimicdb-proxy serve` runs the same runner, and stops cleanly on SIGTERM and SIGINT."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMICDB_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    command = [MIMICDB_PROXY, "serve", "--listen", f"127.0.0.1:{port}",
               "--upstream", s3_upstream.url, "--backend", "memory://"]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        refused_as_s3(exchange(port, get("Bad Name: v\r\n")), "BadRequest")
        refused_as_s3(exchange(port, get("x-big: " + "v" * 20_000 + "\r\n")),
                      "RequestHeaderSectionTooLarge")  # fmt: skip
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr.decode()
    assert stdout == b""  # no aiohttp banner
    assert b"Traceback" not in stderr
    assert b"status=400" in stderr  # the access log saw both refusals
