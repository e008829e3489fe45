"""Shared fixtures: each lives in tests/fixtures/ and starts a real thing on a free port."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.redis_server",
    "tests.fixtures.s3_server",
    "tests.fixtures.proxy_server",
    "tests.fixtures.upstream_gate",
]


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """Undo what a test's in-process `mimicdb-proxy` run does to logging.

    `cli.main` points the root logger at the sys.stderr of the moment, which under
    pytest is that test's capture file, closed after it: every later log line from a
    background thread then fails with "I/O operation on closed file" (and one such line
    printed while the interpreter was compiling once crashed the session).
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    mimicdb_level = logging.getLogger("mimicdb").level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("mimicdb").setLevel(mimicdb_level)
