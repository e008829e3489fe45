"""Random requests at a running proxy: no 500, no traceback, S3 errors, an index that follows S3.

Hypothesis draws the method, the path (bucket, key, admin endpoint; odd and invalid
encodings), the query (sub-resources and arguments), headers, the body (bytes, S3's XML
documents, hostile XML, aws-chunked framing) and how it is signed (V4, V4 unsigned
payload, V2, not at all, or signed and then tampered with). Whatever comes back:

- never a 500 or 503 from the proxy, never a traceback (moto's own HTML pages aside:
  see `moto_page`);
- an error answer with a body is a well-formed S3 `<Error>` with a `<Code>`;
- the index is unchanged unless the upstream changed (or it changed to agree with the
  upstream: a forced read), and every bucket it holds agrees with the upstream's.

The proxy keeps its state from one example to the next, as a long-running one would.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.handlers import validate_bucket_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from proxy.embedded import EmbeddedProxy
from tests.fixtures.s3_server import MotoUpstream
from tests.signing import Answer, Wire, send, sign_v2, sign_v4

BUCKET = "fuzz"
KEYS = ["k", "dir/a", "dir/b", "ü nicode", "with+plus"]
# Thousands of requests within a minute or so; MIMICDB_FUZZ_EXAMPLES runs more (or fewer).
EXAMPLES = int(os.environ.get("MIMICDB_FUZZ_EXAMPLES", "1500"))

SUBRESOURCES = [
    "acl", "tagging", "uploads", "uploadId", "delete", "location", "versioning", "list-type",
    "max-keys", "prefix", "delimiter", "continuation-token", "marker", "encoding-type",
    "versionId", "partNumber", "lifecycle", "policy", "cors", "start-after", "fetch-owner",
    "x-id", "select", "restore", "attributes", "X-Amz-Signature", "AWSAccessKeyId",
]  # fmt: skip
HEADERS = [
    "Content-Type", "Content-MD5", "Cache-Control", "Range", "If-Match", "If-None-Match",
    "If-Modified-Since", "x-amz-copy-source", "Content-Encoding", "x-amz-decoded-content-length",
    "x-amz-trailer", "x-amz-meta-note", "x-amz-acl", "x-amz-checksum-crc32", "Expect",
    "x-amz-tagging", "x-amz-storage-class", "Content-Disposition",
]  # fmt: skip

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
# What HTTP allows in a field value (visible ASCII, space, obs-text); anything else is
# refused by aiohttp's HTTP parser before the application (test_hostile_input covers it).
_header_value = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
)


def _encoded(value: str) -> str:
    return quote(value, safe="/")


_raw_segment = st.one_of(
    _text.map(_encoded),
    st.sampled_from(KEYS).map(_encoded),
    st.sampled_from(["%ZZ", "%FF%FE", "%", "%2F", "..", ".", "k" * 1025, "%00", "~"]),
)
_bucket = st.one_of(
    st.just(BUCKET),
    st.sampled_from(["missing-bucket", "UPPER", "ab", "_mimicdb", "new-bucket", "a..b"]),
    _text.map(lambda t: quote(t, safe="")),
)
_path = st.one_of(
    st.just("/"),
    _bucket.map(lambda b: f"/{b}"),
    st.tuples(_bucket, _raw_segment).map(lambda bk: f"/{bk[0]}/{bk[1]}"),
    st.sampled_from(["health", "stats", "sync", "metrics", "nope", ""]).map(
        lambda n: f"/_mimicdb/{n}"
    ),
)
_query = st.lists(
    st.tuples(
        st.sampled_from(SUBRESOURCES) | _text,
        st.none() | st.sampled_from(["2", "-1", "abc", "url", "/", "1"]) | _text,
    ),
    max_size=4,
).map(
    lambda pairs: "&".join(
        quote(n, safe="") if v is None else f"{quote(n, safe='')}={quote(v, safe='')}"
        for n, v in pairs
    )
)


def _delete_doc(keys: list[str]) -> bytes:
    objects = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
    return f"<Delete><Quiet>false</Quiet>{objects}</Delete>".encode()


_xml_key = st.sampled_from(KEYS + ["new", "&amp;", "a<b"]).map(
    lambda k: k.replace("&", "&amp;").replace("<", "&lt;")
)
_body = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    st.lists(_xml_key, max_size=4).map(_delete_doc),
    st.sampled_from([
        b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>",
        b"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint>"
        b"</CreateBucketConfiguration>",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>"
        b"</CompleteMultipartUpload>",
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Delete><Object><Key>&x;</Key></Object></Delete>",
        b"<Delete><Object><Key>k</Key></Object>",
        b"3\r\nabc\r\n0\r\n\r\n",
        b"5;chunk-signature=00\r\nabc\r\n",
    ]),
)  # fmt: skip


@st.composite
def requests(draw: st.DrawFn, endpoint: str) -> Wire:
    """One random request, signed one way or another."""
    method = draw(st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"]))
    path = draw(_path)
    query = draw(_query)
    headers = {
        name: draw(_header_value)
        for name in draw(st.lists(st.sampled_from(HEADERS), max_size=4, unique=True))
    }
    if "Cache-Control" in headers and draw(st.booleans()):
        headers["Cache-Control"] = "no-cache"
    if "x-amz-copy-source" in headers and draw(st.booleans()):
        headers["x-amz-copy-source"] = f"/{BUCKET}/{quote(draw(st.sampled_from(KEYS)))}"
    body = draw(_body)
    url = f"{endpoint}{path}" + (f"?{query}" if query else "")
    auth = draw(st.sampled_from(["v4", "v4", "v4-unsigned", "v2", "none", "tampered"]))
    if auth == "none":
        host = endpoint.removeprefix("http://")
        return Wire(method, path + (f"?{query}" if query else ""), {"Host": host, **headers}, body)
    if auth == "v2":
        return sign_v2(method, url, headers, body)
    sha = "UNSIGNED-PAYLOAD" if auth == "v4-unsigned" else None
    wire = sign_v4(method, url, headers, body, content_sha256=sha)
    if auth == "tampered":
        what = draw(st.sampled_from(["signature", "header", "body", "path"]))
        if what == "signature":
            wire = wire.with_header("Authorization", wire.header("Authorization")[:-1] + "0")
        elif what == "header":
            wire = wire.with_header("x-amz-meta-note", "tampered")
        elif what == "body":
            wire = replace(wire, body=wire.body + b"!").with_header(
                "Content-Length", str(len(wire.body) + 1)
            )
        else:
            wire = replace(wire, target="/" + BUCKET + "/k" + wire.target[len(path) :])
    return wire


@pytest.fixture
def moto(s3_upstream: MotoUpstream) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=s3_upstream.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    # moto may hold buckets boto3 would not name (it creates one for a PUT ?metrics, say)
    client.meta.events.unregister("before-parameter-build.s3", validate_bucket_name)
    return client


def upstream_state(moto: Any) -> dict[str, list[tuple[str, str]]]:
    state = {}
    for bucket in moto.list_buckets()["Buckets"]:
        pages = moto.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
        try:
            contents = [o for page in pages for o in page.get("Contents", [])]
        except ClientError:
            # moto can name buckets it cannot list (odd names it created as a fallback)
            contents = [{"Key": "<not listable>", "ETag": ""}]
        state[bucket["Name"]] = sorted((o["Key"], o["ETag"]) for o in contents)
    return state


def index_state(proxy: EmbeddedProxy) -> dict[str, list[tuple[str, str]]]:
    backend = proxy.context.backend
    return {
        b.name: sorted((r.key, r.etag) for r in proxy.call(backend.scan(b.name, b"", None, 10000)))
        for b in proxy.call(backend.list_buckets())
    }


def moto_page(answer: Answer) -> bool:
    """An HTML page of moto's web server, which the proxy passes on as any upstream answer.

    moto differs from AWS there: some valid requests make it raise (a 500 page: GetObject
    with a partNumber of an object not uploaded in parts, which AWS answers 416), and its
    router cannot reach keys holding a newline (a 404 page; AWS stores such keys). The
    proxy itself only ever answers S3 XML, never text/html.
    """
    return answer.headers.get("Content-Type", "").startswith("text/html")


# Characters an XML 1.0 document cannot hold raw.
_NOT_XML = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def moto_raw_key(answer: Answer) -> bool:
    """moto's own error naming a key that holds a control character, written raw.

    moto differs from AWS there: its NoSuchKey for `GET /bucket/%1F?acl` (passed through
    unchanged, as every sub-resource the proxy does not answer) carries `<Key>\x1f</Key>`,
    which is not XML at all; AWS answers XML documents. The proxy's own documents never
    hold such a character (s3xml.error_document writes them as references or drops them).
    """
    return answer.status == 404 and _NOT_XML.search(answer.body) is not None


def well_formed_error(body: bytes) -> None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(body, parser)
    assert root.tag == "Error", body[:200]
    assert (root.findtext("Code") or "") != "", body[:200]


@pytest.fixture
def fuzz_proxy(make_proxy: Callable[..., EmbeddedProxy]) -> EmbeddedProxy:
    running = make_proxy("memory")
    assert send(running.url, sign_v4("PUT", f"{running.url}/{BUCKET}")).status == 200
    for key in KEYS:
        wire = sign_v4("PUT", f"{running.url}/{BUCKET}/{quote(key)}", body=key.encode())
        assert send(running.url, wire).status == 200
    return running


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_requests(fuzz_proxy: EmbeddedProxy, moto: Any, data: st.DataObject) -> None:
    wire = data.draw(requests(fuzz_proxy.url))
    upstream_before, index_before = upstream_state(moto), index_state(fuzz_proxy)
    assert index_before == {b: k for b, k in upstream_before.items() if b in index_before}
    answer = send(fuzz_proxy.url, wire)
    assert answer.status not in (500, 503) or moto_page(answer), (answer.status, answer.body)
    assert b"Traceback" not in answer.body
    moto_own = moto_page(answer) or moto_raw_key(answer)
    if answer.status >= 400 and answer.body and wire.method != "HEAD" and not moto_own:
        well_formed_error(answer.body)
    upstream_after, index_after = upstream_state(moto), index_state(fuzz_proxy)
    if upstream_after == upstream_before:
        # Unchanged, or changed only to agree with the upstream (a forced read, a
        # CreateBucket of a bucket the upstream had and the index did not).
        for bucket in index_before.keys() | index_after.keys():
            if index_after.get(bucket) != index_before.get(bucket):
                assert index_after.get(bucket) == upstream_after.get(bucket), (
                    bucket, wire, answer.status, answer.body[:300],
                )  # fmt: skip
    for bucket, keys in index_after.items():
        assert upstream_after.get(bucket) == keys, (bucket, wire, answer.status, answer.body[:300])
