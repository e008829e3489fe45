"""A `mimicdb-proxy serve` process killed mid-sync, and its restart: the previous index stays
intact and usable, the dead sync's session is cleaned up, the next start says the bucket's
last sync failed, and after a new sync `verify` finds no difference. Also the
`--upstream-timeout` flag of a real process."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.proxy_server import client_for
from tests.fixtures.upstream_gate import UpstreamGate
from tests.s3http import s3_request

from .test_sync import fill, wait_for

BUCKET = "killed"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    """`python -m proxy serve` on a free port; stderr goes to a file the test reads."""

    def __init__(self, log: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "proxy", "serve", "--listen", f"127.0.0.1:{self.port}"]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, *args], stdout=subprocess.DEVNULL, stderr=out, env=dict(os.environ)
            )
        wait_for(self._healthy)

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the proxy exited: {self.log.read_text()}")
        try:
            return s3_request("GET", self.url, "/_mimicdb/health").status_code == 200
        except OSError:
            return False

    def said(self, text: str) -> bool:
        return text in self.log.read_text()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*args: str) -> Served:
        served = Served(tmp_path / f"proxy-{len(started)}.log", *args)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


def table_rows(database: Path, table: str) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_a_proxy_killed_mid_sync(
    serve: Callable[..., Served], upstream_gate: UpstreamGate, tmp_path: Path
) -> None:
    database = tmp_path / "index.db"
    flags = ["--upstream", upstream_gate.url, "--backend", f"sqlite:///{database}"]
    flags += ["--sync-lease", "1s", "--sync-workers", "1"]
    client_for(upstream_gate.url).create_bucket(Bucket=BUCKET)
    fill(BUCKET, [f"k{i:04d}" for i in range(1500)])
    first = serve(*flags)
    assert s3_request("POST", first.url, "/_mimicdb/sync", [("bucket", BUCKET)]).ok

    # The upstream moves on; a sync starts, and the process dies after its first page.
    fill(BUCKET, [f"n{i:04d}" for i in range(500)])
    client_for(upstream_gate.url).delete_object(Bucket=BUCKET, Key="k0000")
    upstream_gate.hold(after_lists=1)
    wait_false = [("bucket", BUCKET), ("wait", "false")]
    assert s3_request("POST", first.url, "/_mimicdb/sync", wait_false).status_code == 202
    assert upstream_gate.held.wait(30)
    assert table_rows(database, "sync_open") == 1  # a sync is under way
    first.kill()
    upstream_gate.release()

    second = serve(*flags)
    wait_for(lambda: second.said(f"bucket {BUCKET}: the last sync failed"))
    [status] = s3_request("GET", second.url, "/_mimicdb/sync").json()["status"]
    assert status["state"] == "failed" and "lease expired" in status["error"]
    assert table_rows(database, "sync_open") == 0

    # The previous index is intact and in use; writes are no longer tracked for the dead sync.
    s3 = client_for(second.url)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    keys = [o["Key"] for page in pages for o in page["Contents"]]
    assert keys == [f"k{i:04d}" for i in range(1500)]
    s3.put_object(Bucket=BUCKET, Key="after-restart", Body=b"1")
    assert table_rows(database, "sync_touched") == 0

    assert s3_request("POST", second.url, "/_mimicdb/sync", [("bucket", BUCKET)]).ok
    verify = subprocess.run(
        [sys.executable, "-m", "proxy", "verify", BUCKET, *flags[:4]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.strip() == f"{BUCKET}: index equals upstream (2000 keys)"


def test_upstream_timeout_flag_bounds_a_hanging_upstream(
    serve: Callable[..., Served], upstream_gate: UpstreamGate, tmp_path: Path
) -> None:
    served = serve(
        "--upstream", upstream_gate.url,
        "--backend", f"sqlite:///{tmp_path}/index.db",
        "--upstream-timeout", "0.5",
    )  # fmt: skip
    s3 = client_for(served.url, read_timeout=10)
    s3.create_bucket(Bucket=BUCKET)
    upstream_gate.hang()
    try:
        with pytest.raises(Exception, match="ServiceUnavailable"):
            s3.put_object(Bucket=BUCKET, Key="k", Body=b"1")
        assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0  # the index still answers
    finally:
        upstream_gate.release()
