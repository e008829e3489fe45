"""Shared fixtures: each lives in tests/fixtures/ and starts a real thing on a free port."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.redis_server",
    "tests.fixtures.s3_server",
    "tests.fixtures.proxy_server",
    "tests.fixtures.upstream_gate",
]
