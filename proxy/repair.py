"""The repair journal: buckets whose index missed a write, kept in a local file.

When a write went through to the upstream but the index could not record it, the
index itself is usually what failed (Redis stopped), so the mark cannot live there.
It goes to a small JSON file beside the proxy instead, rewritten atomically (write to
a temporary file, fsync, rename), so it survives a crash or restart of the proxy; the
proxy that forwarded the write is the one that knows, and repairs when the index
answers again. Each mark carries a generation, so that a repair that began before a
newer failure does not clear the newer mark.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RepairJournal", "RepairMark", "journal_for", "journal_path"]

log = logging.getLogger(__name__)


def journal_path(state_dir: str, backend_url: str) -> Path:
    """The journal of one index: proxies with different indexes may share a directory."""
    digest = hashlib.sha256(backend_url.encode("utf-8")).hexdigest()[:12]
    return Path(state_dir) / f"mimicdb-repair-{digest}.json"


def journal_for(state_dir: str, backend_url: str) -> RepairJournal:
    """The journal of an index: in `state_dir` if given, else beside a SQLite file, else
    in the working directory; an in-memory index (gone with the process) keeps it in memory.
    """
    scheme = backend_url.partition(":")[0]
    if state_dir:
        return RepairJournal(journal_path(state_dir, backend_url))
    if scheme == "memory":
        return RepairJournal(None)
    if scheme == "sqlite":
        database = backend_url[len("sqlite://") :].removeprefix("/")
        if not database or database == ":memory:":
            return RepairJournal(None)
        return RepairJournal(journal_path(os.path.dirname(database) or ".", backend_url))
    return RepairJournal(journal_path(".", backend_url))


@dataclass(frozen=True)
class RepairMark:
    """A bucket owed a repair: since when, why, and which mark this is."""

    bucket: str
    marked_at: float
    reason: str
    generation: int
    add_bucket: bool = False  # the missed write created the bucket: sync it if absent


class RepairJournal:
    """Buckets needing repair, in memory and in a file; None path keeps them in memory only."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._marks: dict[str, RepairMark] = {}
        self._generation = 0
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            for bucket, mark in data.get("buckets", {}).items():
                self._marks[bucket] = RepairMark(
                    bucket,
                    float(mark["marked_at"]),
                    str(mark["reason"]),
                    int(mark["generation"]),
                    bool(mark.get("add_bucket", False)),
                )
            self._generation = max([int(data.get("generation", 0))] + [
                m.generation for m in self._marks.values()
            ])  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # A damaged journal must not stop the proxy; the buckets it named are lost
            # to automatic repair, so say so loudly: `verify --repair` finds them.
            log.error("repair journal %s unreadable (%r): run `mimicdb-proxy verify`", path, exc)

    @property
    def path(self) -> Path | None:
        """Where the marks are kept."""
        return self._path

    def marks(self) -> list[RepairMark]:
        """Every bucket owed a repair, by name."""
        return [self._marks[name] for name in sorted(self._marks)]

    def __contains__(self, bucket: object) -> bool:
        return bucket in self._marks

    def __len__(self) -> int:
        return len(self._marks)

    def mark(self, bucket: str, reason: str, add_bucket: bool = False) -> RepairMark:
        """Record that `bucket`'s index missed a write; durable before this returns."""
        self._generation += 1
        previous = self._marks.get(bucket)
        add_bucket = add_bucket or (previous is not None and previous.add_bucket)
        mark = RepairMark(bucket, time.time(), reason, self._generation, add_bucket)
        self._marks[bucket] = mark
        self._save()
        return mark

    def clear(self, mark: RepairMark) -> bool:
        """Forget a mark once repaired, unless the bucket was marked again since."""
        current = self._marks.get(mark.bucket)
        if current is None or current.generation != mark.generation:
            return False
        del self._marks[mark.bucket]
        self._save()
        return True

    def _save(self) -> None:
        if self._path is None:
            return
        data = {
            "generation": self._generation,
            "buckets": {
                m.bucket: {
                    "marked_at": m.marked_at,
                    "reason": m.reason,
                    "generation": m.generation,
                    "add_bucket": m.add_bucket,
                }
                for m in self._marks.values()
            },
        }
        temporary = self._path.with_name(self._path.name + ".tmp")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("w", encoding="utf-8") as out:
                json.dump(data, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self._path)
        except OSError as exc:
            # The mark still holds in memory: this process repairs it if it lives.
            log.error("cannot write the repair journal %s: %r", self._path, exc)
