"""`MimicDB` itself: constructors, where requests go, credentials upstream, a clean exit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from mimicdb import MimicDB
from mimicdb.backends import Backend, NamespaceError
from mimicdb.backends.default import Redis
from mimicdb.backends.memory import Memory
from mimicdb.backends.sqlite import SQLite
from mimicdb.runtime import NoMimicDB, TargetMismatch
from mimicdb.s3.connection import S3Connection
from proxy.backends.base import Backend as ProxyBackend
from proxy.backends.memory import MemoryBackend
from proxy.backends.redis import RedisBackend
from proxy.backends.sqlite import SQLiteBackend
from proxy.embedded import EmbeddedProxy
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.s3_server import MotoUpstream

from .helpers import plain_connection, put

ROOT = Path(__file__).resolve().parents[2]


def connect(upstream: MotoUpstream, key: str = "testing", **kwargs: Any) -> S3Connection:
    host, port = upstream.url.removeprefix("http://").split(":")
    return S3Connection(key, "secret-" + key, host=host, port=int(port), is_secure=False, **kwargs)


# Constructors and the seed's backend classes


def test_backends_are_the_proxy_backends() -> None:
    assert Backend is ProxyBackend
    assert issubclass(Memory, MemoryBackend) and issubclass(SQLite, SQLiteBackend)
    assert issubclass(Redis, RedisBackend)


def test_default_is_redis_on_localhost_6379() -> None:
    with MimicDB(env={}) as db:
        assert isinstance(db.backend, Redis)
        kwargs = db.backend.client.connection_pool.connection_kwargs
        assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("localhost", 6379, 0)
        assert db.backend.namespace == "mimicdb"


def test_backend_positional_or_keyword() -> None:
    sqlite, memory = SQLite(), Memory()
    with MimicDB(sqlite) as first:
        assert first.backend is sqlite and MimicDB.current() is first
    with MimicDB(backend=memory) as second:
        assert second.backend is memory


def test_backend_from_the_environment(tmp_path: Path) -> None:
    with MimicDB(env={"MIMICDB_BACKEND": f"sqlite:///{tmp_path}/x.db"}) as db:
        assert isinstance(db.backend, SQLiteBackend)
    assert (tmp_path / "x.db").exists()


def test_namespace_needs_redis() -> None:
    backend = SQLite()
    with pytest.raises(NamespaceError):
        MimicDB(backend, namespace="tests")
    asyncio.run(backend.close())
    with pytest.raises(ValueError):
        MimicDB(url="http://127.0.0.1:1", backend=Memory())


def test_namespaces_keep_indexes_apart_in_one_redis(
    s3: Any, s3_upstream: MotoUpstream, redis_server: RedisServer, redis_url: str
) -> None:
    s3.create_bucket("for-a")
    s3.create_bucket("for-b")
    first = MimicDB(Redis(host="127.0.0.1", port=redis_server.port), namespace="a")
    conn_a = connect(s3_upstream)  # bound to `first`, the current MimicDB when made
    conn_a.sync("for-a")
    second = MimicDB(namespace="b", env={"MIMICDB_BACKEND": redis_url})
    conn_b = connect(s3_upstream)
    conn_b.sync("for-b")
    try:
        assert [b.name for b in conn_a.get_all_buckets()] == ["for-a"]
        assert [b.name for b in conn_b.get_all_buckets()] == ["for-b"]
        keys = redis.Redis(port=redis_server.port).keys("*")
        assert {k.split(b":")[0] for k in keys} == {b"a", b"b"}
    finally:
        first.stop()
        second.stop()


# Where requests go


def test_connection_before_mimicdb_is_an_error() -> None:
    with pytest.raises(NoMimicDB):
        S3Connection("k", "s")


def test_one_upstream_and_principal_per_mimicdb(s3_upstream: MotoUpstream) -> None:
    with MimicDB(Memory()) as db:
        first = connect(s3_upstream)
        again = connect(s3_upstream)
        assert (first.host, first.port) == (again.host, again.port) == ("127.0.0.1", db.proxy.port)
        with pytest.raises(TargetMismatch) as raised:
            connect(s3_upstream, key="someone-else")
        assert "secret" not in str(raised.value)


def proxy_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "mimicdb-proxy" and t.is_alive())


def test_stop_right_after_start_ends_the_thread(s3_upstream: MotoUpstream) -> None:
    before = proxy_threads()
    db = MimicDB(Memory())
    connect(s3_upstream)  # starts the proxy; no request is made
    assert proxy_threads() == before + 1
    db.stop()
    assert proxy_threads() == before
    assert db.proxy is None
    with pytest.raises(NoMimicDB):
        connect(s3_upstream)


def test_attach_to_a_running_proxy(
    make_proxy: Callable[..., EmbeddedProxy],
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put(s3.create_bucket("shared"), "k", "v")
    running = make_proxy("memory")
    with MimicDB(url=running.url) as db:
        assert db.attached and db.backend is None
        conn = S3Connection("testing", "testing")  # upstream arguments do not apply
        assert (conn.host, conn.port) == ("127.0.0.1", running.port)
        conn.sync()
        assert conn.get_bucket("shared").get_key("k").size == 1
    monkeypatch.setenv("MIMICDB_URL", running.url)
    with MimicDB():
        assert [b.name for b in S3Connection("testing", "testing").get_all_buckets()] == ["shared"]


class Recorder(BaseHTTPRequestHandler):
    """A stand-in S3 that records each request's headers and lists no buckets."""

    seen: list[dict[str, str]]

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'<?xml version="1.0"?><ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[int, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_connection_names_upstream_and_credentials(
    recorder: tuple[int, list[dict[str, str]]],
) -> None:
    port, seen = recorder
    with MimicDB(Memory()):
        conn = S3Connection("AKIDUSER", "its-secret", host="127.0.0.1", port=port, is_secure=False)
        assert conn.get_all_buckets(force=True) == []
    (headers,) = seen
    assert headers["host"] == f"127.0.0.1:{port}"
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDUSER/")
    assert "/us-east-1/s3/aws4_request" in headers["authorization"]
    # force=True reached the proxy as its force request, and S3 saw no trace of it.
    assert "cache-control" not in headers and "force" not in headers


def test_anonymous_connection_signs_nothing(recorder: tuple[int, list[dict[str, str]]]) -> None:
    port, seen = recorder
    with MimicDB(Memory()):
        conn = S3Connection(host="127.0.0.1", port=port, is_secure=False, anon=True)
        conn.get_all_buckets(force=True)
    assert "authorization" not in seen[0]


# A clean exit


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_process_exits_cleanly(
    kind: str, s3_upstream: MotoUpstream, backend_url: Callable[[str], str]
) -> None:
    """The user's script ends without stop(): no hang, no traceback, no warning of ours."""
    plain_connection(s3_upstream.url).create_bucket("exit")
    host, port = s3_upstream.url.removeprefix("http://").split(":")
    script = textwrap.dedent(
        f"""
        from mimicdb import MimicDB
        from mimicdb.s3.connection import S3Connection

        MimicDB()
        conn = S3Connection("k", "s", host="{host}", port={port}, is_secure=False)
        conn.sync()
        print([b.name for b in conn.get_all_buckets()], conn.port)
        """
    )
    env = {"PATH": "/usr/bin:/bin", "MIMICDB_BACKEND": backend_url(kind), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        # ResourceWarning shown too: an unclosed session, socket or database of ours would be.
        [sys.executable, "-W", "always::ResourceWarning", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard, not a timing assertion
    )
    assert done.returncode == 0, done.stderr
    names, proxy_port = done.stdout.rsplit(" ", 1)
    assert names == "['exit']"
    # boto leaves its keep-alive socket (to the proxy) open at exit, as plain boto does.
    boto_socket = f"raddr=('127.0.0.1', {int(proxy_port)})"
    assert [line for line in done.stderr.splitlines() if boto_socket not in line] == []
