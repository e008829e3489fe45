"""Verify (proxy/verify.py) and `mimicdb-proxy verify`: drift found without changing the
index, exit codes, and `--repair` applying only the differences."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from proxy.backends import ObjectRecord
from proxy.backends.sqlite import SQLiteBackend
from proxy.config import Config, Credentials
from proxy.mirror import record_from_head
from proxy.sync import SyncOptions, sync_buckets
from proxy.upstream import Upstream
from proxy.verify import Difference, compare, verify_buckets
from tests.fixtures.proxy_server import client_for
from tests.fixtures.s3_server import MotoUpstream

BUCKET = "verify-bucket"


def rec(key: str, etag: str = '"1"', modified: str = "2026-12-04T15:00:00.000Z") -> ObjectRecord:
    return ObjectRecord(key, 1, etag, modified)


def test_compare_finds_missing_extra_and_changed() -> None:
    index = [rec("a"), rec("b"), rec("c", '"old"'), rec("e", modified="2026-12-04T15:00:00.000Z")]
    upstream = [
        rec("b"),
        rec("c", '"new"'),
        rec("d"),
        rec("e", modified="2026-12-04T15:00:00.457Z"),
    ]
    assert compare(index, upstream) == [
        Difference("extra", "a", rec("a"), None),
        Difference("changed", "c", rec("c", '"old"'), rec("c", '"new"')),
        Difference("missing", "d", None, rec("d")),
    ]  # "e": a HEAD's date has no milliseconds, a listing's has: the same second is equal
    assert compare([], []) == []


@pytest.fixture
async def synced(
    s3_upstream: MotoUpstream, tmp_path: Path
) -> AsyncIterator[tuple[SQLiteBackend, Upstream]]:
    """A bucket of 30 keys upstream, synced into a SQLite index."""
    s3 = client_for(s3_upstream.url)
    s3.create_bucket(Bucket=BUCKET)
    for i in range(30):
        s3.put_object(Bucket=BUCKET, Key=f"k{i:02d}", Body=b"v1", ContentType="text/plain")
    backend = SQLiteBackend(str(tmp_path / "index.db"))
    upstream = Upstream(
        Config(upstream=s3_upstream.url, credentials=Credentials("testing", "testing"))
    )
    await upstream.open()
    await sync_buckets(backend, upstream, [BUCKET])
    yield backend, upstream
    await upstream.close()
    await backend.close()


async def drift(backend: SQLiteBackend, s3_url: str) -> None:
    """Upstream changes behind the proxy's back, and a stray index entry."""
    s3 = client_for(s3_url)
    s3.put_object(Bucket=BUCKET, Key="k05", Body=b"version two")
    s3.delete_object(Bucket=BUCKET, Key="k06")
    s3.put_object(Bucket=BUCKET, Key="k30", Body=b"new")
    await backend.put_object(BUCKET, rec("stray"))


async def test_verify_reports_drift_and_changes_nothing(
    synced: tuple[SQLiteBackend, Upstream], s3_upstream: MotoUpstream
) -> None:
    backend, upstream = synced
    await drift(backend, s3_upstream.url)
    before = await backend.scan(BUCKET, b"", None, 1000)
    options = SyncOptions(workers=4, page_size=4)
    [report] = await verify_buckets(backend, upstream, [BUCKET], options=options)
    assert not report.equal
    assert [(d.kind, d.key) for d in report.differences] == [
        ("changed", "k05"),
        ("extra", "k06"),
        ("missing", "k30"),
        ("extra", "stray"),
    ]
    assert report.keys == 30
    assert report.counts == {"missing": 1, "extra": 2, "changed": 1}
    assert report.lines()[0] == f"{BUCKET}: 1 missing, 2 extra, 1 changed (of 30 keys upstream)"
    assert "etag" in report.lines()[1] and "size 2 -> 11" in report.lines()[1]
    assert await backend.scan(BUCKET, b"", None, 1000) == before


async def test_repair_applies_only_the_differences(
    synced: tuple[SQLiteBackend, Upstream], s3_upstream: MotoUpstream
) -> None:
    backend, upstream = synced
    # One entry completed by a HEAD: an untouched entry must keep its headers.
    head = await upstream.fetch("HEAD", f"/{BUCKET}/k01")
    await backend.put_object(BUCKET, record_from_head("k01", head.headers))
    await drift(backend, s3_upstream.url)
    untouched = {r.key: r for r in await backend.scan(BUCKET, b"", None, 1000)}
    synced_at = (await backend.get_bucket(BUCKET)).synced_at  # type: ignore[union-attr]

    [report] = await verify_buckets(backend, upstream, [BUCKET], repair=True)
    assert report.repaired == 4

    after = {r.key: r for r in await backend.scan(BUCKET, b"", None, 1000)}
    assert set(after) == {f"k{i:02d}" for i in range(31)} - {"k06"}
    for key in set(after) - {"k05", "k30"}:
        assert after[key] == untouched[key]  # same record: confirmed_at, headers and all
    assert after["k01"].headers is not None
    # A repaired entry carries what one HEAD said: its headers are complete.
    assert after["k05"].size == len(b"version two") and after["k05"].headers is not None
    assert (await backend.get_bucket(BUCKET)).synced_at == synced_at  # type: ignore[union-attr]
    [again] = await verify_buckets(backend, upstream, [BUCKET])
    assert again.equal, again.lines()


async def test_buckets_missing_on_one_side(
    synced: tuple[SQLiteBackend, Upstream], s3_upstream: MotoUpstream
) -> None:
    backend, upstream = synced
    s3 = client_for(s3_upstream.url)
    s3.create_bucket(Bucket="never-synced")
    s3.put_object(Bucket="never-synced", Key="x", Body=b"1")
    await backend.put_bucket(replace((await backend.get_bucket(BUCKET)), name="gone-upstream"))  # type: ignore[type-var]
    reports = await verify_buckets(backend, upstream, ["never-synced", "gone-upstream"])
    assert [(r.bucket, r.bucket_state, r.equal) for r in reports] == [
        ("never-synced", "not-in-index", False),
        ("gone-upstream", "not-upstream", False),
    ]
    await verify_buckets(backend, upstream, ["never-synced", "gone-upstream"], repair=True)
    assert await backend.get_bucket("gone-upstream") is None
    assert [r.key for r in await backend.scan("never-synced", b"", None, 10)] == ["x"]
    reports = await verify_buckets(backend, upstream)  # every bucket the index holds
    assert [(r.bucket, r.equal) for r in reports] == [("never-synced", True), (BUCKET, True)]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_verify_command_exit_codes_and_output(
    synced: tuple[SQLiteBackend, Upstream], s3_upstream: MotoUpstream, tmp_path: Path
) -> None:
    backend, _ = synced
    await drift(backend, s3_upstream.url)
    env = {
        **os.environ,
        "MIMICDB_UPSTREAM": s3_upstream.url,
        "MIMICDB_BACKEND": f"sqlite:///{tmp_path}/index.db",
    }
    plain = run_cli("verify", BUCKET, env=env)
    assert plain.returncode == 1, plain.stderr
    assert plain.stdout.splitlines()[0].startswith(f"{BUCKET}: 1 missing, 2 extra, 1 changed")
    assert "  missing  k30" in plain.stdout.splitlines()

    as_json = run_cli("verify", BUCKET, "--json", "--sync-workers", "2", env=env)
    assert as_json.returncode == 1
    [line] = as_json.stdout.splitlines()
    summary = json.loads(line)
    assert summary["equal"] is False
    assert summary["buckets"][0]["missing"] == 1 and summary["buckets"][0]["extra"] == 2

    repaired = run_cli("verify", BUCKET, "--repair", env=env)
    assert repaired.returncode == 1  # they differed; now repaired
    assert "repaired 4" in repaired.stdout
    clean = run_cli("verify", env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.strip() == f"{BUCKET}: index equals upstream (30 keys)"
    missing = run_cli("verify", "no-such-bucket", env=env)
    assert missing.returncode == 2
    assert "NoSuchBucket" in missing.stderr
