"""s3fs / fsspec through the proxy: `ls`, `find`, `glob`, `open`, `info`, `rm`."""

from __future__ import annotations

import fsspec
import s3fs

from .conftest import ACCESS_KEY, BUCKET, SECRET_KEY, SEEDED, Stack


def filesystem(url: str) -> s3fs.S3FileSystem:
    """As docs/operations.md shows it. No region_name: with us-east-1, s3fs's mkdir would
    send a LocationConstraint that S3 rejects. No listings cache, so each call asks."""
    return s3fs.S3FileSystem(
        endpoint_url=url,
        key=ACCESS_KEY,
        secret=SECRET_KEY,
        use_listings_cache=False,
        skip_instance_cache=True,
    )


def test_ls_find_glob_from_the_index(stack: Stack) -> None:
    fs = filesystem(stack.url)
    assert BUCKET in fs.ls("")
    top = fs.ls(BUCKET, detail=True)
    assert {(e["name"], e["type"]) for e in top} == {
        (f"{BUCKET}/readme.txt", "file"),
        (f"{BUCKET}/data", "directory"),
        (f"{BUCKET}/logs", "directory"),
    }
    assert fs.find(BUCKET) == [f"{BUCKET}/{key}" for key in sorted(SEEDED)]
    assert fs.glob(f"{BUCKET}/data/*.csv") == [f"{BUCKET}/data/a.csv", f"{BUCKET}/data/b.csv"]
    assert fs.glob(f"{BUCKET}/**/*.json") == [f"{BUCKET}/data/nested/c.json"]
    assert fs.info(f"{BUCKET}/data/a.csv")["size"] == len(SEEDED["data/a.csv"])
    assert fs.isdir(f"{BUCKET}/data/nested") and not fs.exists(f"{BUCKET}/nothing")
    assert stack.answered_from_index("ListObjectsV2") > 0
    assert stack.proxy.context.requests[("ListObjectsV2", "upstream")] == 0


def test_open_read_and_write(stack: Stack) -> None:
    fs = filesystem(stack.url)
    with fs.open(f"{BUCKET}/data/b.csv", "rb") as handle:
        assert handle.read() == SEEDED["data/b.csv"]
    with fs.open(f"{BUCKET}/out/report.txt", "wb") as handle:
        handle.write(b"written through s3fs\n")
    assert fs.cat(f"{BUCKET}/out/report.txt") == b"written through s3fs\n"
    assert fs.ls(f"{BUCKET}/out") == [f"{BUCKET}/out/report.txt"]
    assert "out/report.txt" in stack.upstream_keys()
    fs.rm(f"{BUCKET}/out/report.txt")
    assert not fs.exists(f"{BUCKET}/out/report.txt")
    assert "out/report.txt" not in stack.upstream_keys()


def test_fsspec_url_with_storage_options(stack: Stack) -> None:
    options = {"endpoint_url": stack.url, "key": ACCESS_KEY, "secret": SECRET_KEY}
    with fsspec.open(f"s3://{BUCKET}/logs/2026/app.log", "rb", **options) as handle:
        assert handle.read() == SEEDED["logs/2026/app.log"]
    fs, path = fsspec.core.url_to_fs(f"s3://{BUCKET}/data", **options)
    assert sorted(fs.ls(path, detail=False)) == [
        f"{BUCKET}/data/a.csv",
        f"{BUCKET}/data/b.csv",
        f"{BUCKET}/data/nested",
    ]
