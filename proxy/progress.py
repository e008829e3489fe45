"""Progress of syncs and verifies: a board the admin API reads, and a terminal line for the CLI.

The upstream does not say how many keys a bucket holds, so progress is counted, not
a fraction: keys so far, keys per second and time elapsed, per bucket.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

__all__ = ["BucketProgress", "ProgressBoard", "TerminalProgress", "format_elapsed"]

# Finished runs kept for the admin API, newest first.
_KEEP_FINISHED = 50


def format_elapsed(seconds: float) -> str:
    """`0:07`, `12:30`, `1:02:03`."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class BucketProgress:
    """One sync or verify of one bucket, running or finished."""

    bucket: str
    kind: str  # "sync" or "verify"
    started: float
    keys: int = 0
    finished: float | None = None
    error: str = ""

    def to_json(self, now: float) -> dict[str, object]:
        """What the admin API shows."""
        elapsed = (self.finished or now) - self.started
        return {
            "bucket": self.bucket,
            "kind": self.kind,
            "keys": self.keys,
            "keys_per_second": round(self.keys / elapsed, 1) if elapsed > 0 else 0.0,
            "elapsed": round(elapsed, 3),
            "started_at": self.started,
            "finished_at": self.finished,
            "error": self.error,
        }


class ProgressBoard:
    """Running and recently finished syncs and verifies of one proxy."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._running: dict[str, BucketProgress] = {}
        self._finished: list[BucketProgress] = []

    def begin(self, bucket: str, kind: str) -> None:
        """A run of `bucket` starts."""
        self._running[bucket] = BucketProgress(bucket, kind, self._clock())

    def update(self, bucket: str, keys: int) -> None:
        """Keys walked so far (a `sync.Progress` callback)."""
        entry = self._running.get(bucket)
        if entry is None:  # a sync of every bucket names them as it reaches them
            entry = self._running[bucket] = BucketProgress(bucket, "sync", self._clock())
        entry.keys = keys

    def end(self, bucket: str, error: str = "") -> None:
        """The run of `bucket` finished (with `error` if it failed)."""
        entry = self._running.pop(bucket, None)
        if entry is None:
            return
        entry.finished = self._clock()
        entry.error = error
        self._finished.insert(0, entry)
        del self._finished[_KEEP_FINISHED:]

    def running(self) -> list[str]:
        """Buckets being walked now."""
        return sorted(self._running)

    def snapshot(self) -> dict[str, list[dict[str, object]]]:
        """Running and finished runs, as JSON."""
        now = self._clock()
        return {
            "running": [self._running[b].to_json(now) for b in sorted(self._running)],
            "finished": [entry.to_json(now) for entry in self._finished],
        }


class TerminalProgress:
    """One line per bucket on a terminal, redrawn in place at most 10 times a second."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._bucket: str | None = None
        self._started = 0.0
        self._drawn = 0.0
        self._keys = 0

    def __call__(self, bucket: str, keys: int) -> None:
        now = self._clock()
        if bucket != self._bucket:
            self.close()
            self._bucket, self._started, self._drawn = bucket, now, float("-inf")
        self._keys = keys
        if now - self._drawn >= 0.1:
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self._started
        rate = self._keys / elapsed if elapsed > 0 else 0.0
        spinner = "|/-\\"[int(now * 8) % 4]
        line = (
            f"{spinner} {self._bucket}  {self._keys:,} keys  {rate:,.0f} keys/s  "
            f"{format_elapsed(elapsed)}"
        )
        self._stream.write("\r\x1b[K" + line)
        self._stream.flush()
        self._drawn = now

    def close(self) -> None:
        """Finish the current bucket's line."""
        if self._bucket is not None:
            self._draw(self._clock())
            self._stream.write("\n")
            self._stream.flush()
            self._bucket = None
