"""Fixtures for the mimicdb package's tests: a MimicDB over each backend, boto 2 both ways.

`conn` is the user's mimicdb S3Connection (through the embedded proxy, to moto); `s3`
is plain boto 2 straight to moto, for changes made "outside MimicDB".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mimicdb import MimicDB
from mimicdb.backends import Backend
from mimicdb.backends.default import Redis
from mimicdb.backends.memory import Memory
from mimicdb.backends.sqlite import SQLite
from mimicdb.s3.connection import S3Connection
from tests.fixtures.s3_server import MotoUpstream

from .helpers import plain_connection

BACKENDS = ["memory", "sqlite", "redis"]
KEY = SECRET = "testing"  # moto accepts any credentials


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No MIMICDB_* or boto setting from the machine leaks in; no MimicDB outlives a test."""
    for name in ("MIMICDB_URL", "MIMICDB_BACKEND", "MIMICDB_UPSTREAM", "S3_USE_SIGV4"):
        monkeypatch.delenv(name, raising=False)
    yield
    try:
        MimicDB.current().stop()
    except RuntimeError:
        pass


@pytest.fixture
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """backend_url(kind): the `MIMICDB_BACKEND` URL of a fresh index of that kind."""

    def url(kind: str) -> str:
        if kind == "memory":
            return "memory://"
        if kind == "sqlite":
            return f"sqlite:///{tmp_path}/mimicdb.db"
        redis: str = request.getfixturevalue("redis_url")
        return redis

    return url


@pytest.fixture
def make_backend(request: pytest.FixtureRequest) -> Callable[[str], Backend]:
    """make_backend(kind): a fresh backend, built as a 2015 user would build it."""

    def make(kind: str) -> Backend:
        if kind == "memory":
            return Memory()
        if kind == "sqlite":
            return SQLite()
        port = request.getfixturevalue("redis_server").port
        request.getfixturevalue("redis_url")  # running and empty
        return Redis(host="127.0.0.1", port=port)

    return make


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Each backend in turn."""
    param: str = request.param
    return param


@pytest.fixture
def mimic(kind: str, make_backend: Callable[[str], Backend]) -> Iterator[MimicDB]:
    """A MimicDB over the backend `kind`, stopped after the test."""
    db = MimicDB(make_backend(kind))
    yield db
    db.stop()


@pytest.fixture
def s3(s3_upstream: MotoUpstream) -> object:
    """Plain boto 2 to moto, bypassing MimicDB."""
    return plain_connection(s3_upstream.url)


@pytest.fixture
def conn(mimic: MimicDB, s3_upstream: MotoUpstream) -> S3Connection:
    """The user's connection: mimicdb's S3Connection with moto as the upstream."""
    host, port = s3_upstream.url.removeprefix("http://").split(":")
    return S3Connection(KEY, SECRET, host=host, port=int(port), is_secure=False)
