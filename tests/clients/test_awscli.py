"""The AWS CLI through the proxy: `s3 ls/cp/sync/rm` and `s3api list-objects-v2` with paging."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from .conftest import BUCKET, SEEDED, VENV_BIN, Stack, client_env


def aws(stack: Stack, home: Path, *args: str, stdin: bytes | None = None) -> str:
    """Run `aws --endpoint-url PROXY ...`; its stdout, or a failure showing stderr."""
    result = subprocess.run(
        [str(VENV_BIN / "aws"), "--endpoint-url", stack.url, *args],
        env=client_env(home),
        input=stdin,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def listed_keys(output: str) -> list[str]:
    """Keys of `aws s3 ls --recursive` lines: date, time, size, key."""
    return [line.split(maxsplit=3)[3] for line in output.splitlines() if line.strip()]


def test_ls_lists_buckets_and_keys_from_the_index(stack: Stack, tmp_path: Path) -> None:
    assert BUCKET in aws(stack, tmp_path, "s3", "ls").split()
    assert listed_keys(aws(stack, tmp_path, "s3", "ls", f"s3://{BUCKET}", "--recursive")) == sorted(
        SEEDED
    )
    top = aws(stack, tmp_path, "s3", "ls", f"s3://{BUCKET}/")
    assert "PRE data/" in top and "PRE logs/" in top and "readme.txt" in top
    assert stack.answered_from_index("ListObjectsV2") >= 2


def test_cp_up_and_down_small_and_multipart(stack: Stack, tmp_path: Path) -> None:
    small = tmp_path / "small.txt"
    small.write_bytes(b"small file\n")
    aws(stack, tmp_path, "s3", "cp", str(small), f"s3://{BUCKET}/up/small.txt")
    # over 8 MiB: the CLI uploads in parts (CreateMultipartUpload, UploadPart, Complete)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))
    aws(stack, tmp_path, "s3", "cp", str(big), f"s3://{BUCKET}/up/big.bin")
    assert stack.proxy.context.requests[("CompleteMultipartUpload", "upstream")] == 1

    keys = listed_keys(aws(stack, tmp_path, "s3", "ls", f"s3://{BUCKET}/up/", "--recursive"))
    assert keys == ["up/big.bin", "up/small.txt"]
    assert sorted(k for k in stack.upstream_keys() if k.startswith("up/")) == keys
    assert aws(stack, tmp_path, "s3", "cp", f"s3://{BUCKET}/up/small.txt", "-") == "small file\n"
    back = tmp_path / "big.back"
    aws(stack, tmp_path, "s3", "cp", f"s3://{BUCKET}/up/big.bin", str(back))
    assert back.read_bytes() == big.read_bytes()
    assert (
        aws(stack, tmp_path, "s3", "cp", f"s3://{BUCKET}/readme.txt", "-")
        == SEEDED["readme.txt"].decode()
    )


def test_sync_uploads_once_then_finds_nothing_to_do(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "site"
    (source / "css").mkdir(parents=True)
    (source / "index.html").write_text("<h1>hi</h1>")
    (source / "css" / "site.css").write_text("h1 { color: red }")
    # S3's Last-Modified has whole seconds: a file written in the second of its upload
    # looks newer than its copy and is sent again (by S3 itself too). Age the files.
    an_hour_ago = time.time() - 3600
    for path in (source / "index.html", source / "css" / "site.css"):
        os.utime(path, (an_hour_ago, an_hour_ago))
    first = aws(stack, tmp_path, "s3", "sync", str(source), f"s3://{BUCKET}/site/")
    assert first.count("upload:") == 2
    # The second run compares sizes and dates from the proxy's listing: nothing changed.
    assert aws(stack, tmp_path, "s3", "sync", str(source), f"s3://{BUCKET}/site/").strip() == ""
    down = tmp_path / "down"
    aws(stack, tmp_path, "s3", "sync", f"s3://{BUCKET}/data/", str(down))
    assert (down / "nested" / "c.json").read_bytes() == SEEDED["data/nested/c.json"]
    assert (down / "a.csv").read_bytes() == SEEDED["data/a.csv"]


def test_rm_one_and_recursive(stack: Stack, tmp_path: Path) -> None:
    aws(stack, tmp_path, "s3", "rm", f"s3://{BUCKET}/readme.txt")
    aws(stack, tmp_path, "s3", "rm", f"s3://{BUCKET}/data/", "--recursive")
    left = listed_keys(aws(stack, tmp_path, "s3", "ls", f"s3://{BUCKET}", "--recursive"))
    assert left == ["logs/2026/app.log"]
    assert stack.upstream_keys() == ["logs/2026/app.log"]


def test_s3api_list_objects_v2_pages(stack: Stack, tmp_path: Path) -> None:
    before = stack.answered_from_index("ListObjectsV2")
    # --page-size 2: the CLI follows continuation tokens until the listing ends
    whole = json.loads(
        aws(stack, tmp_path, "s3api", "list-objects-v2", "--bucket", BUCKET, "--page-size", "2")
    )
    assert [item["Key"] for item in whole["Contents"]] == sorted(SEEDED)
    assert stack.answered_from_index("ListObjectsV2") - before == 3  # 2 + 2 + 1 keys
    # --max-items: the CLI's own paging, resumed with the token it prints
    first = json.loads(
        aws(
            stack,
            tmp_path,
            "s3api",
            "list-objects-v2",
            "--bucket",
            BUCKET,
            "--page-size",
            "2",
            "--max-items",
            "3",
        )
    )
    rest = json.loads(
        aws(
            stack,
            tmp_path,
            "s3api",
            "list-objects-v2",
            "--bucket",
            BUCKET,
            "--page-size",
            "2",
            "--starting-token",
            first["NextToken"],
        )
    )
    keys = [item["Key"] for item in first["Contents"] + rest["Contents"]]
    assert keys == sorted(SEEDED)
    # with a delimiter: the common prefixes, as S3 rolls them up
    folders = json.loads(
        aws(
            stack,
            tmp_path,
            "s3api",
            "list-objects-v2",
            "--bucket",
            BUCKET,
            "--delimiter",
            "/",
            "--prefix",
            "data/",
        )
    )
    assert [p["Prefix"] for p in folders["CommonPrefixes"]] == ["data/nested/"]
    assert [item["Key"] for item in folders["Contents"]] == ["data/a.csv", "data/b.csv"]


def test_a_write_outside_the_proxy_shows_after_sync(stack: Stack, tmp_path: Path) -> None:
    stack.direct.put_object(Bucket=BUCKET, Key="outside.txt", Body=b"made elsewhere")
    # The index is the truth: a key written around the proxy is unknown until a sync.
    assert "outside.txt" not in aws(stack, tmp_path, "s3", "ls", f"s3://{BUCKET}/")
    stack.sync()
    assert "outside.txt" in aws(stack, tmp_path, "s3", "ls", f"s3://{BUCKET}/")
