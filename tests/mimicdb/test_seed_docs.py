"""Every code block of the seed's documentation, run as written, on each backend.

The blocks are copied from MimicDB 1.0's docs (quickstart, backends, syncing; the README
repeats the quickstart and adds two backend blocks); forcing.rst has no code block, only
the list of functions that take `force=True`, and each of those is exercised. The blocks
assume `KEY` and `SECRET`; the environment points them at the test upstream and the
backend: `MIMICDB_UPSTREAM` stands in for AWS, and `MIMICDB_BACKEND` picks the index
that a bare `MimicDB()` opens (Redis on localhost:6379 otherwise, which tests never use).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mimicdb import MimicDB
from mimicdb.backends.memory import Memory
from mimicdb.backends.sqlite import SQLite
from tests.fixtures.s3_server import MotoUpstream

from .helpers import put, upstream_requests

# quickstart.rst, in order (README.md, "Quickstart", has the same five blocks).
QUICKSTART = [
    "from boto.s3.connection import S3Connection\nfrom boto.s3.key import Key\n",
    "from mimicdb.s3.connection import S3Connection\nfrom mimicdb.s3.key import Key\n",
    "from mimicdb import MimicDB\nMimicDB()\n",
    "conn = S3Connection(KEY, SECRET)\nconn.sync()\n",
    "conn.sync('bucket1', 'bucket2')\n",
]

# backends.rst
BACKENDS_DOC = (
    "from mimicdb import MimicDB\nfrom mimicdb.backends.sqlite import SQLite\n\n"
    "MimicDB(backend=SQLite())\n"
)

# README.md, "Alternate Backends" (after the quickstart's `from mimicdb import MimicDB`)
README_BACKENDS = {
    "sqlite": "from mimicdb.backends.sqlite import SQLite\nMimicDB(SQLite())\n",
    "memory": "from mimicdb.backends.memory import Memory\nMimicDB(Memory())\n",
}

# syncing.rst
SYNCING = (
    "from mimicdb.s3.connection import S3Connection\n\n"
    "conn = S3Connection(KEY, SECRET)\nconn.sync()\n"
)


@pytest.fixture
def run(
    kind: str,
    backend_url: Callable[[str], str],
    s3_upstream: MotoUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[str], dict[str, Any]]:
    """run(block): exec a doc block in the reader's namespace (shared across calls)."""
    monkeypatch.setenv("MIMICDB_UPSTREAM", s3_upstream.url)
    monkeypatch.setenv("MIMICDB_BACKEND", backend_url(kind))
    namespace: dict[str, Any] = {"KEY": "testing", "SECRET": "testing"}

    def run_block(block: str) -> dict[str, Any]:
        exec(compile(block, "<seed docs>", "exec"), namespace)
        return namespace

    return run_block


@pytest.fixture
def buckets_on_s3(s3: Any) -> Any:
    """bucket1, bucket2, bucket3 on S3, made before MimicDB, one key each."""
    for name in ("bucket1", "bucket2", "bucket3"):
        put(s3.create_bucket(name), "hello.txt", f"hello from {name}")
    return s3


def bucket_names(conn: Any) -> list[str]:
    return [bucket.name for bucket in conn.get_all_buckets()]


def test_quickstart(run: Callable[[str], dict[str, Any]], buckets_on_s3: Any) -> None:
    run(QUICKSTART[0])
    run(QUICKSTART[1])
    namespace = run(QUICKSTART[2])
    assert namespace["S3Connection"].__module__ == "mimicdb.s3.connection"
    namespace = run(QUICKSTART[3])
    conn = namespace["conn"]
    assert bucket_names(conn) == ["bucket1", "bucket2", "bucket3"]
    # Changes on S3 after the first sync; then the quickstart's partial sync.
    for name in ("bucket1", "bucket2", "bucket3"):
        put(buckets_on_s3.get_bucket(name), "later.txt", "later")
    run(QUICKSTART[4])
    assert [k.name for k in conn.get_bucket("bucket1").list()] == ["hello.txt", "later.txt"]
    assert [k.name for k in conn.get_bucket("bucket2").list()] == ["hello.txt", "later.txt"]
    assert [k.name for k in conn.get_bucket("bucket3").list()] == ["hello.txt"]
    # "upload, download and list as you usually would"
    key = namespace["Key"](conn.get_bucket("bucket3"), "new.txt")
    key.set_contents_from_string("new")
    assert conn.get_bucket("bucket3").get_key("new.txt").get_contents_as_string() == b"new"


def test_syncing(run: Callable[[str], dict[str, Any]], buckets_on_s3: Any) -> None:
    run(QUICKSTART[2])  # the MimicDB() the docs set up first
    namespace = run(SYNCING)
    conn = namespace["conn"]
    assert conn.get_bucket("bucket1").get_key("hello.txt").size == len("hello from bucket1")
    # "All MimicDB data in the synced buckets is cleared before syncing"
    buckets_on_s3.get_bucket("bucket1").delete_key("hello.txt")
    buckets_on_s3.get_bucket("bucket3").delete_key("hello.txt")
    buckets_on_s3.delete_bucket("bucket3")
    run("conn.sync()\n")
    assert bucket_names(conn) == ["bucket1", "bucket2"]
    assert list(conn.get_bucket("bucket1").list()) == []


@pytest.mark.parametrize("kind", ["sqlite"])
def test_backends_doc(run: Callable[[str], dict[str, Any]], buckets_on_s3: Any) -> None:
    run(BACKENDS_DOC)
    assert isinstance(MimicDB.current().backend, SQLite)
    namespace = run(QUICKSTART[1] + QUICKSTART[3])
    assert bucket_names(namespace["conn"]) == ["bucket1", "bucket2", "bucket3"]


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_readme_alternate_backends(
    run: Callable[[str], dict[str, Any]], buckets_on_s3: Any, kind: str
) -> None:
    run(QUICKSTART[2].splitlines()[0])  # from mimicdb import MimicDB
    run(README_BACKENDS[kind])
    assert isinstance(MimicDB.current().backend, SQLite if kind == "sqlite" else Memory)
    namespace = run(QUICKSTART[1] + QUICKSTART[3])
    assert bucket_names(namespace["conn"]) == ["bucket1", "bucket2", "bucket3"]


def test_forcing(run: Callable[[str], dict[str, Any]], buckets_on_s3: Any) -> None:
    """forcing.rst: each function it lists asks S3 when forced, and records the answer."""
    run(QUICKSTART[1] + QUICKSTART[2])
    conn = run("conn = S3Connection(KEY, SECRET)\n")["conn"]
    db = MimicDB.current()
    assert conn.get_all_buckets() == []
    assert bucket_names(conn) == []
    assert [b.name for b in conn.get_all_buckets(force=True)] == ["bucket1", "bucket2", "bucket3"]
    assert bucket_names(conn) == ["bucket1", "bucket2", "bucket3"]
    conn.get_bucket("bucket1", force=True)
    bucket = conn.get_bucket("bucket1")
    assert bucket.get_key("hello.txt") is None  # the bucket's keys were never listed
    assert bucket.get_key("hello.txt", force=True).size == len("hello from bucket1")
    put(buckets_on_s3.get_bucket("bucket1"), "more.txt", "more")
    assert [k.name for k in bucket.get_all_keys()] == ["hello.txt"]
    assert [k.name for k in bucket.get_all_keys(force=True)] == ["hello.txt", "more.txt"]
    put(buckets_on_s3.get_bucket("bucket1"), "most.txt", "most")
    assert [k.name for k in bucket.list()] == ["hello.txt", "more.txt"]
    assert [k.name for k in bucket.list(force=True)] == ["hello.txt", "more.txt", "most.txt"]
    # "Bucket.__iter__ can not have arguments passed to it, so it defaults to not calling
    # the API."
    put(buckets_on_s3.get_bucket("bucket1"), "unseen.txt", "unseen")
    before = upstream_requests(db)
    assert [k.name for k in bucket] == ["hello.txt", "more.txt", "most.txt"]
    assert upstream_requests(db) == before
