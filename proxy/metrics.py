"""What the proxy saves, in numbers: Prometheus metrics in a per-app registry, and for people.

The request, error and sync counters live in `Context` (the handlers count there);
a collector reads them at scrape time, so the exposition and `/_mimicdb/stats` can
never disagree. Only the upstream latency histogram is a live instrument, fed by a
hook in `Upstream`. Index sizes are read from the backend just before each scrape.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .context import Context

__all__ = [
    "CONTENT_TYPE",
    "GET_CLASS",
    "LIST_CLASS",
    "METRICS",
    "IndexSize",
    "Metrics",
    "price_class",
]

# The text exposition format, version 0.0.4, as Prometheus scrapes it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LIST_CLASS = "list"
GET_CLASS = "get"

# S3 bills requests by class (https://aws.amazon.com/s3/pricing/, "Requests & data
# retrievals"): LIST with PUT/COPY/POST, and GET with HEAD and all other reads.
_LIST_OPERATIONS = frozenset({"ListBuckets", "ListObjects", "ListObjectsV2"})

# Latency buckets in seconds: an S3 round trip is 10-300 ms; slow ones go to seconds.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def price_class(operation: str) -> str:
    """The S3 price class of an operation; every other read bills as a GET."""
    return LIST_CLASS if operation in _LIST_OPERATIONS else GET_CLASS


@dataclass(frozen=True)
class IndexSize:
    """One bucket as the index holds it, read at scrape time."""

    bucket: str
    objects: int
    synced_at: float | None


class _ContextCollector(Collector):
    """Turns the context's counters (and the last index read) into metric families."""

    def __init__(self, context: Context) -> None:
        self._context = context
        # Replaced whole before each scrape; concurrent scrapes both write fresh values.
        self.index: tuple[bool, list[IndexSize]] = (False, [])

    def describe(self) -> Iterable[Metric]:
        # Nothing to check for clashes ahead of time: the names below are fixed.
        return []

    def collect(self) -> Iterator[Metric]:
        context = self._context
        config = context.config
        requests = CounterMetricFamily(
            "mimicdb_requests",
            "S3 requests by operation and where they were answered (index or upstream).",
            labels=["operation", "answered_from"],
        )
        avoided = CounterMetricFamily(
            "mimicdb_upstream_requests_avoided",
            "Requests answered from the index that would otherwise have gone to S3.",
            labels=["operation"],
        )
        dollars = CounterMetricFamily(
            "mimicdb_upstream_cost_avoided_dollars",
            "The S3 request charges avoided, at the configured per-1,000 prices.",
            labels=["operation", "price_class"],
        )
        for (operation, where), count in sorted(context.requests.items()):
            requests.add_metric([operation, where], count)
            if where == "index":
                avoided.add_metric([operation], count)
                klass = price_class(operation)
                price = config.list_price if klass == LIST_CLASS else config.get_price
                dollars.add_metric([operation, klass], count * price / 1000)
        yield from (requests, avoided, dollars)

        sent = CounterMetricFamily(
            "mimicdb_upstream_requests", "Requests the proxy sent to the upstream S3."
        )
        sent.add_metric([], context.upstream.requests_sent)
        yield sent

        errors = CounterMetricFamily(
            "mimicdb_errors", "S3 errors the proxy answered, by error code.", labels=["code"]
        )
        for code, count in sorted(context.errors.items()):
            errors.add_metric([code], count)
        yield errors

        syncs = CounterMetricFamily(
            "mimicdb_sync_runs",
            "Syncs this proxy ran (admin API, re-sync timer, first use), by outcome: "
            "ok per bucket synced, error per failed run.",
            labels=["outcome"],
        )
        for outcome in ("ok", "error"):
            syncs.add_metric([outcome], context.keeper.sync_runs[outcome])
        yield syncs

        up, sizes = self.index
        index_up = GaugeMetricFamily("mimicdb_index_up", "1 when the index answered the scrape.")
        index_up.add_metric([], 1 if up else 0)
        objects = GaugeMetricFamily(
            "mimicdb_index_objects", "Objects the index holds, per bucket.", labels=["bucket"]
        )
        synced = GaugeMetricFamily(
            "mimicdb_index_last_sync_timestamp_seconds",
            "When each bucket was last synced from the upstream (unix time).",
            labels=["bucket"],
        )
        for size in sizes:
            objects.add_metric([size.bucket], size.objects)
            if size.synced_at is not None:
                synced.add_metric([size.bucket], size.synced_at)
        yield from (index_up, objects, synced)


class Metrics:
    """One application's metrics: its own registry, never the process-global one."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self.registry = CollectorRegistry(auto_describe=False)
        self._collector = _ContextCollector(context)
        self.registry.register(self._collector)
        self.upstream_seconds = Histogram(
            "mimicdb_upstream_request_duration_seconds",
            "Time from sending a request upstream to its response headers, by HTTP method.",
            labelnames=["method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_upstream(self, method: str, seconds: float) -> None:
        """The hook `Upstream` calls after each upstream answer (or failure)."""
        self.upstream_seconds.labels(method=method).observe(seconds)

    async def read_index(self) -> tuple[bool, list[IndexSize]]:
        """Object counts per bucket, or (False, []) when the index does not answer."""
        backend = self._context.backend
        try:
            sizes = [
                IndexSize(b.name, await backend.count_objects(b.name), b.synced_at)
                for b in await backend.list_buckets()
            ]
        except Exception:  # an unreachable index is reported as mimicdb_index_up 0
            return False, []
        return True, sizes

    async def exposition(self) -> bytes:
        """The Prometheus text exposition, index sizes read fresh."""
        self._collector.index = await self.read_index()
        return generate_latest(self.registry)

    def upstream_latency(self) -> dict[str, float]:
        """Count and total seconds of the upstream latency histogram, over all methods."""
        count = total = 0.0
        for family in self.upstream_seconds.collect():
            for sample in family.samples:
                if sample.name.endswith("_count"):
                    count += sample.value
                elif sample.name.endswith("_sum"):
                    total += sample.value
        return {"count": count, "seconds_total": round(total, 6)}

    async def summary(self) -> dict[str, object]:
        """The numbers of the exposition as one JSON-able document, for `/_mimicdb/stats`."""
        context = self._context
        config = context.config
        up, sizes = await self.read_index()
        by_where = {"index": 0, "upstream": 0}
        avoided: dict[str, int] = {}
        dollars = 0.0
        for (operation, where), count in context.requests.items():
            by_where[where] = by_where.get(where, 0) + count
            if where == "index":
                avoided[operation] = avoided.get(operation, 0) + count
                klass = price_class(operation)
                dollars += count * (config.list_price if klass == LIST_CLASS else config.get_price)
        return {
            "index": {"up": up, "buckets": len(sizes), "objects": sum(s.objects for s in sizes)},
            "answered_from": by_where,
            "avoided": {
                "requests": sum(avoided.values()),
                "dollars": round(dollars / 1000, 9),
                "by_operation": dict(sorted(avoided.items())),
                "prices_per_1000": {LIST_CLASS: config.list_price, GET_CLASS: config.get_price},
            },
            "errors": dict(sorted(context.errors.items())),
            "sync_runs": {k: context.keeper.sync_runs[k] for k in ("ok", "error")},
            "upstream_latency": self.upstream_latency(),
        }


METRICS = web.AppKey("metrics", Metrics)
