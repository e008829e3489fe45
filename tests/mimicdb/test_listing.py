"""Listings from the index with boto 2's full semantics: Prefix objects, truncation, paging.

Expected pages are written out as AWS documents ListObjects (v1): keys in UTF-8 byte
order, common prefixes counted against max-keys, `NextMarker` only with a delimiter.
moto differs from AWS here (it pages common prefixes apart from keys and returns an
opaque `NextMarker` even without a delimiter), so it is not used as the oracle; and a
forced `bucket.list()` over more than 1,000 keys is not run against it, because boto
would send moto's opaque marker back (on AWS that listing has no NextMarker and boto
uses the last key, which the forced paging test below does by hand).
"""

from __future__ import annotations

from typing import Any

import pytest
from boto.s3.prefix import Prefix

from mimicdb import MimicDB
from mimicdb.backends import Backend
from mimicdb.s3.connection import S3Connection
from mimicdb.s3.key import Key
from tests.fixtures.s3_server import MotoUpstream

from .conftest import BACKENDS, KEY, SECRET
from .helpers import plain_connection, put, seed_keys, upstream_requests

TREE = [
    "a",
    "a/b/c",
    "a/b/d",
    "a/e",
    "a-z",
    "b",
    "c/",
    "c//d",
    "photos/2015/jan/1.jpg",
    "photos/2015/feb/2.jpg",
    "photos/2014/3.jpg",
    "z y",
    "é/x",
    "日本/語",
]
IN_ORDER = sorted(TREE, key=lambda name: name.encode("utf-8"))

# get_all_keys(**params) -> (keys, common prefixes, is_truncated, next_marker)
PAGES: list[tuple[dict[str, Any], tuple[list[str], list[str], bool, str | None]]] = [
    ({}, (IN_ORDER, [], False, None)),
    (
        {"delimiter": "/"},
        (["a", "a-z", "b", "z y"], ["a/", "c/", "photos/", "é/", "日本/"], False, None),
    ),
    ({"prefix": "a/"}, (["a/b/c", "a/b/d", "a/e"], [], False, None)),
    ({"prefix": "a/", "delimiter": "/"}, (["a/e"], ["a/b/"], False, None)),
    ({"prefix": "photos/", "delimiter": "/"}, ([], ["photos/2014/", "photos/2015/"], False, None)),
    ({"delimiter": "/", "max_keys": 2}, (["a", "a-z"], [], True, "a-z")),
    ({"delimiter": "/", "max_keys": 3}, (["a", "a-z"], ["a/"], True, "a/")),
    (
        {"delimiter": "/", "max_keys": 3, "marker": "a/"},
        (["b"], ["c/", "photos/"], True, "photos/"),
    ),
    ({"marker": "a/b/d"}, (IN_ORDER[4:], [], False, None)),
    ({"marker": "b", "max_keys": 2}, (["c/", "c//d"], [], True, None)),
    ({"max_keys": 1}, (["a"], [], True, None)),
    ({"prefix": "c/", "delimiter": "/"}, (["c/"], ["c//"], False, None)),
    (
        {"delimiter": "b"},
        (
            ["a", "a-z", "a/e", "c/", "c//d", "photos/2014/3.jpg", "photos/2015/jan/1.jpg"]
            + ["z y", "é/x", "日本/語"],
            ["a/b", "b", "photos/2015/feb"],
            False,
            None,
        ),
    ),
    ({"prefix": "nothing"}, ([], [], False, None)),
]


def page_of(result: Any) -> tuple[list[str], list[str], bool, str | None]:
    """What a user sees of one get_all_keys page."""
    assert all(isinstance(entry, Key | Prefix) for entry in result)
    keys = [entry.name for entry in result if isinstance(entry, Key)]
    prefixes = [entry.name for entry in result if isinstance(entry, Prefix)]
    return keys, prefixes, bool(result.is_truncated), result.next_marker or None


def test_pages_follow_s3_semantics(
    conn: Any, s3: Any, s3_upstream: MotoUpstream, mimic: MimicDB
) -> None:
    s3.create_bucket("listing")
    seed_keys(s3_upstream.url, "listing", TREE)  # boto 2 would turn "c//d" into "c/d"
    conn.sync()
    bucket = conn.get_bucket("listing")
    before = upstream_requests(mimic)
    for params, expected in PAGES:
        assert page_of(bucket.get_all_keys(**params)) == expected, params
    # list() pages with boto's own logic: next_marker, else the last key.
    entries = list(bucket.list("", "/"))
    assert [e.name for e in entries if isinstance(e, Prefix)] == PAGES[1][1][1]
    assert [e.name for e in entries if isinstance(e, Key)] == PAGES[1][1][0]
    assert [e.name for e in bucket.list("photos/2015/")] == IN_ORDER[9:11]
    assert [e.name for e in bucket.list(marker="z y")] == ["é/x", "日本/語"]
    assert [k.name for k in bucket] == IN_ORDER
    assert upstream_requests(mimic) == before  # every page came from the index


def test_listed_keys_carry_size_etag_and_md5(conn: Any, s3: Any) -> None:
    upstream = s3.create_bucket("listing")
    put(upstream, "k", "twelve bytes")
    conn.sync()
    (key,) = conn.get_bucket("listing").list()
    expected = upstream.get_key("k")
    assert (key.size, key.etag, key.md5) == (12, expected.etag, expected.etag.strip('"'))
    assert key.last_modified == upstream.get_all_keys()[0].last_modified


def test_paging_past_1000_keys_on_every_backend(
    s3_upstream: MotoUpstream, make_backend: Any
) -> None:
    names = [f"k{i:04d}" for i in range(1205)]
    plain_connection(s3_upstream.url).create_bucket("many")
    seed_keys(s3_upstream.url, "many", names)  # once, for the three backends
    host, port = s3_upstream.url.removeprefix("http://").split(":")
    for kind in BACKENDS:
        backend: Backend = make_backend(kind)
        with MimicDB(backend) as db:
            conn = S3Connection(KEY, SECRET, host=host, port=int(port), is_secure=False)
            conn.sync("many")
            bucket = conn.get_bucket("many")
            before = upstream_requests(db)
            first = bucket.get_all_keys()
            assert len(first) == 1000 and first.is_truncated, kind
            rest = bucket.get_all_keys(marker=first[-1].name)
            assert [k.name for k in rest] == names[1000:] and not rest.is_truncated, kind
            assert [k.name for k in bucket.list()] == names, kind
            assert [k.name for k in bucket] == names, kind
            assert upstream_requests(db) == before, kind


def test_forced_list_asks_s3_and_records(conn: Any, s3: Any, mimic: MimicDB) -> None:
    upstream = s3.create_bucket("forced")
    for name in ("old0", "old1", "old2"):
        put(upstream, name, "x")
    conn.sync()
    for name in ("new0", "new1"):
        put(upstream, name, "y")
    upstream.delete_key("old1")
    bucket = conn.get_bucket("forced")
    assert [k.name for k in bucket.list()] == ["old0", "old1", "old2"]
    assert [k.name for k in bucket] == ["old0", "old1", "old2"]  # iter never forces
    before = upstream_requests(mimic)
    assert [k.name for k in bucket.list(force=True)] == ["new0", "new1", "old0", "old2"]
    assert upstream_requests(mimic) > before
    assert [k.name for k in bucket.list()] == ["new0", "new1", "old0", "old2"]
    assert bucket.get_key("new1").size == 1


@pytest.mark.parametrize("page", [1, 2, 3])
def test_forced_pages_record_only_their_range(conn: Any, s3: Any, page: int) -> None:
    upstream = s3.create_bucket("forced-pages")
    for name in ("a", "b", "c", "d", "e"):
        put(upstream, name, "x")
    conn.sync()
    upstream.delete_key("b")
    upstream.delete_key("e")
    put(upstream, "c2", "new")
    bucket = conn.get_bucket("forced-pages")
    seen: list[str] = []
    marker = ""
    while True:  # by hand, as boto pages AWS without a delimiter: marker = last key
        result = bucket.get_all_keys(force=True, max_keys=page, marker=marker)
        seen += [k.name for k in result]
        if not result.is_truncated:
            break
        marker = result[-1].name
    assert seen == ["a", "c", "c2", "d"]
    assert [k.name for k in bucket.get_all_keys()] == seen


def test_forced_get_all_keys_records_its_page(conn: Any, s3: Any) -> None:
    upstream = s3.create_bucket("forced-page")
    put(upstream, "a", "x")
    conn.sync()
    put(upstream, "b", "y")
    bucket = conn.get_bucket("forced-page")
    assert [k.name for k in bucket.get_all_keys()] == ["a"]
    assert [k.name for k in bucket.get_all_keys(force=True)] == ["a", "b"]
    assert [k.name for k in bucket.get_all_keys()] == ["a", "b"]
