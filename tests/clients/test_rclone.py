"""rclone (Debian's package) through the proxy: `lsf`, `lsjson`, `cat`, `copy`, `sync`, `delete`.

rclone is not a Python package: `make test` installs it with apt where it can
(scripts/install-clients.sh). A machine without it fails here, saying so, unless
MIMICDB_TESTS_WITHOUT_RCLONE=1 declares it cannot have rclone (tests/clients/conftest.py
then leaves this file out and says so in the summary).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ACCESS_KEY, BUCKET, REGION, SECRET_KEY, SEEDED, Stack, client_env

REMOTE = "mimicdb"


def rclone_binary() -> str:
    binary = shutil.which("rclone")
    if binary is None:
        pytest.fail(
            "rclone is not installed: run `make test` (it installs rclone with apt where it "
            "can) or `apt-get install rclone`; on a machine that cannot have rclone, set "
            "MIMICDB_TESTS_WITHOUT_RCLONE=1 to leave these tests out"
        )
    return binary


def rclone(stack: Stack, home: Path, *args: str, log: bool = False) -> str:
    """Run rclone against a remote defined by RCLONE_CONFIG_* variables (no config file).

    Its output, or with `log` its log (rclone logs on stderr, `-v` says what it copied).
    """
    prefix = f"RCLONE_CONFIG_{REMOTE.upper()}_"
    remote = {
        "TYPE": "s3",
        "PROVIDER": "Other",
        "ENDPOINT": stack.url,
        "ACCESS_KEY_ID": ACCESS_KEY,
        "SECRET_ACCESS_KEY": SECRET_KEY,
        "REGION": REGION,
        "FORCE_PATH_STYLE": "true",
    }
    env = client_env(home, **{prefix + name: value for name, value in remote.items()})
    env["RCLONE_CONFIG"] = str(home / "rclone.conf")  # none: the remote is in the environment
    # client_env drops AWS_CA_BUNDLE: with it set, rclone stops (LoadCustomCABundleError).
    assert "AWS_CA_BUNDLE" not in env
    result = subprocess.run(
        [rclone_binary(), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stderr if log else result.stdout


def test_lists_and_reads_after_sync(stack: Stack, tmp_path: Path) -> None:
    assert rclone(stack, tmp_path, "lsd", f"{REMOTE}:").split()[-1] == BUCKET
    files = rclone(stack, tmp_path, "lsf", "-R", "--files-only", f"{REMOTE}:{BUCKET}")
    assert files.split() == sorted(SEEDED)
    top = rclone(stack, tmp_path, "lsf", f"{REMOTE}:{BUCKET}").split()
    assert top == ["data/", "logs/", "readme.txt"]
    entries = json.loads(rclone(stack, tmp_path, "lsjson", f"{REMOTE}:{BUCKET}/data"))
    sizes = {e["Path"]: e["Size"] for e in entries if not e["IsDir"]}
    assert sizes == {"a.csv": len(SEEDED["data/a.csv"]), "b.csv": len(SEEDED["data/b.csv"])}
    assert (
        rclone(stack, tmp_path, "cat", f"{REMOTE}:{BUCKET}/readme.txt")
        == SEEDED["readme.txt"].decode()
    )
    assert (
        stack.answered_from_index("ListObjects") + stack.answered_from_index("ListObjectsV2") >= 3
    )


def test_copy_sync_and_delete(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "backup"
    (source / "deep").mkdir(parents=True)
    (source / "a.txt").write_text("alpha")
    (source / "deep" / "b.txt").write_text("beta")
    copied = rclone(
        stack, tmp_path, "copy", "-v", str(source), f"{REMOTE}:{BUCKET}/backup", log=True
    )
    assert copied.count("Copied (new)") == 2
    listed = rclone(stack, tmp_path, "lsf", "-R", "--files-only", f"{REMOTE}:{BUCKET}/backup")
    assert listed.split() == ["a.txt", "deep/b.txt"]
    assert {"backup/a.txt", "backup/deep/b.txt"} <= set(stack.upstream_keys())
    # sync makes the remote match: a file gone locally is deleted through the proxy
    (source / "a.txt").unlink()
    rclone(stack, tmp_path, "sync", str(source), f"{REMOTE}:{BUCKET}/backup")
    listed = rclone(stack, tmp_path, "lsf", "-R", "--files-only", f"{REMOTE}:{BUCKET}/backup")
    assert listed.split() == ["deep/b.txt"]
    # nothing changed: a second sync transfers nothing (sizes and dates from the listing)
    again = rclone(
        stack, tmp_path, "sync", "-v", str(source), f"{REMOTE}:{BUCKET}/backup", log=True
    )
    assert "Copied" not in again and "Deleted" not in again
    rclone(stack, tmp_path, "delete", f"{REMOTE}:{BUCKET}/backup")
    assert rclone(stack, tmp_path, "lsf", "-R", f"{REMOTE}:{BUCKET}/backup").split() == []
    assert not [k for k in stack.upstream_keys() if k.startswith("backup/")]
