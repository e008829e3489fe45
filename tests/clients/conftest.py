"""Fixtures for the client tests: a proxy over moto holding a synced bucket, and client envs.

Every client signs with the key pair the proxy accepts by default (the upstream's,
"testing"/"testing") in region us-east-1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from proxy.embedded import EmbeddedProxy

from ..fixtures.proxy_server import client_for
from ..fixtures.s3_server import MotoUpstream
from ..s3http import s3_request

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
BUCKET = "client-bucket"
# What the upstream holds before the proxy syncs: key -> body.
SEEDED = {
    "readme.txt": b"hello from upstream\n",
    "data/a.csv": b"id,value\n1,a\n",
    "data/b.csv": b"id,value\n2,b\n",
    "data/nested/c.json": b'{"c": 3}\n',
    "logs/2026/app.log": b"started\n",
}
VENV_BIN = Path(sys.executable).parent
# Set to 1 on a machine that cannot have rclone: test_rclone.py is then left out, loudly.
WITHOUT_RCLONE = "MIMICDB_TESTS_WITHOUT_RCLONE"
_LEFT_OUT = pytest.StashKey[bool]()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave test_rclone.py out only when the machine says it cannot have rclone."""
    if collection_path.name == "test_rclone.py" and os.environ.get(WITHOUT_RCLONE) == "1":
        config.stash[_LEFT_OUT] = True
        return True
    return None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say, at the end of the run, that the rclone tests did not run."""
    if config.stash.get(_LEFT_OUT, False):
        terminalreporter.write_sep(
            "!", f"rclone client tests NOT RUN: {WITHOUT_RCLONE}=1 says this machine lacks rclone"
        )


@dataclass
class Stack:
    """The proxy, the upstream behind it, and a boto3 client straight to the upstream."""

    proxy: EmbeddedProxy
    upstream: MotoUpstream
    direct: Any

    @property
    def url(self) -> str:
        return self.proxy.url

    def sync(self, bucket: str = BUCKET) -> None:
        response = s3_request("POST", self.proxy.url, "/_mimicdb/sync", [("bucket", bucket)])
        assert response.status_code == 200, response.text

    def upstream_keys(self, bucket: str = BUCKET) -> list[str]:
        pages = self.direct.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def answered_from_index(self, operation: str) -> int:
        """How many `operation` requests the proxy answered from its index so far."""
        return int(self.proxy.context.requests[(operation, "index")])


@pytest.fixture
def stack(make_proxy: Callable[..., EmbeddedProxy], s3_upstream: MotoUpstream) -> Stack:
    """A synced bucket (SEEDED) behind a proxy over a SQLite index."""
    direct = client_for(s3_upstream.url)
    direct.create_bucket(Bucket=BUCKET)
    for key, body in SEEDED.items():
        direct.put_object(Bucket=BUCKET, Key=key, Body=body)
    result = Stack(make_proxy("sqlite"), s3_upstream, direct)
    result.sync()
    return result


def client_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment for a client subprocess: the test key pair, no user config.

    AWS_CA_BUNDLE is dropped: these machines set it, and rclone refuses to start with it
    (LoadCustomCABundleError) even for a plain-http endpoint.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MIMICDB_", "RCLONE_"))}
    env.update(
        HOME=str(home),
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
    )
    env.update(extra)
    return env
