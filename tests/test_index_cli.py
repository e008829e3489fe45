"""`mimicdb-proxy sync` as a user runs it: a progress line per bucket on a terminal, a
one-line JSON summary with `--json`, and a word about the last failed sync at start."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from proxy.backends.base import SyncStatus
from proxy.backends.sqlite import SQLiteBackend
from proxy.progress import TerminalProgress, format_elapsed
from tests.fixtures.proxy_server import client_for
from tests.fixtures.s3_server import MotoUpstream

from .test_sync import fill

BUCKET = "cli-sync"


def command(s3_upstream: MotoUpstream, tmp_path: Path, *args: str) -> list[str]:
    backend = f"sqlite:///{tmp_path}/index.db"
    return [
        sys.executable,
        "-m",
        "proxy",
        *args,
        "--upstream",
        s3_upstream.url,
        "--backend",
        backend,
    ]


def two_buckets(s3_upstream: MotoUpstream) -> None:
    s3 = client_for(s3_upstream.url)
    for name in (BUCKET, BUCKET + "-2"):
        s3.create_bucket(Bucket=name)
    fill(BUCKET, [f"k{i:05d}" for i in range(3000)])
    fill(BUCKET + "-2", ["one"])


def test_json_summary_is_one_line(s3_upstream: MotoUpstream, tmp_path: Path) -> None:
    two_buckets(s3_upstream)
    done = subprocess.run(
        command(s3_upstream, tmp_path, "sync", "--json"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    summary = json.loads(line)
    assert summary["ok"] is True and summary["keys"] == 3001
    assert [(b["bucket"], b["keys"]) for b in summary["buckets"]] == [
        (BUCKET, 3000),
        (BUCKET + "-2", 1),
    ]
    assert summary["buckets"][0]["pages"] >= 3
    assert "\r" not in done.stderr  # not a terminal: no progress line


def test_progress_line_on_a_terminal(s3_upstream: MotoUpstream, tmp_path: Path) -> None:
    two_buckets(s3_upstream)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        command(s3_upstream, tmp_path, "sync", "--sync-workers", "2"),
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        output += chunk
    stdout, _ = process.communicate(timeout=120)
    os.close(leader)
    assert process.returncode == 0
    screen = output.decode()
    lines = screen.replace("\r\n", "\n").split("\n")
    last_of = {name: [line for line in lines if f" {name}  " in line] for name in (BUCKET,)}
    assert last_of[BUCKET], screen
    final = last_of[BUCKET][-1].rsplit("\r\x1b[K", 1)[-1]
    assert "3,000 keys" in final and "keys/s" in final, final
    assert f" {BUCKET}-2  1 keys" in screen
    assert stdout.splitlines()[0].startswith(f"{BUCKET}: 3000 keys in ")


def test_start_says_which_buckets_last_sync_failed(
    s3_upstream: MotoUpstream, tmp_path: Path
) -> None:
    client_for(s3_upstream.url).create_bucket(Bucket=BUCKET)
    failed = SyncStatus(BUCKET, "failed", "", 1.0, 2.0, 10, "ServiceUnavailable: gone away")

    async def record() -> None:
        index = SQLiteBackend(str(tmp_path / "index.db"))
        await index.put_sync_status(failed)
        await index.close()

    asyncio.run(record())
    done = subprocess.run(
        command(s3_upstream, tmp_path, "sync", BUCKET),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0
    assert f"bucket {BUCKET}: the last sync failed" in done.stderr
    assert "ServiceUnavailable: gone away" in done.stderr


class Screen:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_terminal_progress_redraws_in_place() -> None:
    now = [0.0]
    screen = Screen()
    bar = TerminalProgress(screen, clock=lambda: now[0])  # type: ignore[arg-type]
    bar("b", 1000)
    now[0] = 0.05
    bar("b", 2000)  # within a tenth of a second: not redrawn
    now[0] = 2.0
    bar("b", 4000)
    bar.close()
    assert screen.text.count("\r\x1b[K") == 3
    assert screen.text.endswith("b  4,000 keys  2,000 keys/s  0:02\n")
    assert format_elapsed(3725) == "1:02:05"
