"""s3cmd through the proxy: ls, put, get, sync, info, del (it lists with ListObjects v1)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from .conftest import ACCESS_KEY, BUCKET, REGION, SECRET_KEY, SEEDED, VENV_BIN, Stack, client_env


def s3cmd_config(stack: Stack, home: Path) -> Path:
    """The .s3cfg of docs/operations.md: path-style to host:port, plain http."""
    host = urlsplit(stack.url).netloc
    path = home / "s3cfg"
    path.write_text(
        "[default]\n"
        f"access_key = {ACCESS_KEY}\n"
        f"secret_key = {SECRET_KEY}\n"
        f"bucket_location = {REGION}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        "use_https = False\n",
        encoding="utf-8",
    )
    return path


def s3cmd(stack: Stack, home: Path, *args: str) -> str:
    config = s3cmd_config(stack, home)
    result = subprocess.run(
        [str(VENV_BIN / "s3cmd"), "-c", str(config), *args],
        env=client_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def keys_of(listing: str) -> list[str]:
    """The s3:// names of `s3cmd ls -r` lines (date, time, size, name)."""
    prefix = f"s3://{BUCKET}/"
    return [
        line.split()[-1].removeprefix(prefix) for line in listing.splitlines() if prefix in line
    ]


def test_ls_and_get_after_sync(stack: Stack, tmp_path: Path) -> None:
    assert f"s3://{BUCKET}" in s3cmd(stack, tmp_path, "ls")
    assert keys_of(s3cmd(stack, tmp_path, "ls", "-r", f"s3://{BUCKET}")) == sorted(SEEDED)
    top = s3cmd(stack, tmp_path, "ls", f"s3://{BUCKET}/")
    assert "DIR" in top and f"s3://{BUCKET}/data/" in top
    assert stack.answered_from_index("ListObjects") >= 2
    target = tmp_path / "readme.txt"
    s3cmd(stack, tmp_path, "get", f"s3://{BUCKET}/readme.txt", str(target))
    assert target.read_bytes() == SEEDED["readme.txt"]
    info = s3cmd(stack, tmp_path, "info", f"s3://{BUCKET}/data/a.csv")
    assert f"File size: {len(SEEDED['data/a.csv'])}" in info


def test_put_sync_and_del(stack: Stack, tmp_path: Path) -> None:
    upload = tmp_path / "note.txt"
    upload.write_text("from s3cmd\n")
    s3cmd(stack, tmp_path, "put", str(upload), f"s3://{BUCKET}/s3cmd/note.txt")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "one.txt").write_text("1")
    (folder / "two.txt").write_text("2")
    first = s3cmd(stack, tmp_path, "sync", f"{folder}/", f"s3://{BUCKET}/s3cmd/folder/")
    assert first.count("upload:") == 2
    listing = keys_of(s3cmd(stack, tmp_path, "ls", "-r", f"s3://{BUCKET}/s3cmd/"))
    assert listing == ["s3cmd/folder/one.txt", "s3cmd/folder/two.txt", "s3cmd/note.txt"]
    again = s3cmd(stack, tmp_path, "sync", f"{folder}/", f"s3://{BUCKET}/s3cmd/folder/")
    assert "upload:" not in again  # sizes and MD5s from the proxy's listing match
    s3cmd(stack, tmp_path, "del", "-r", "--force", f"s3://{BUCKET}/s3cmd/")
    assert keys_of(s3cmd(stack, tmp_path, "ls", "-r", f"s3://{BUCKET}/s3cmd/")) == []
    assert not [k for k in stack.upstream_keys() if k.startswith("s3cmd/")]
