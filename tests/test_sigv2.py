"""Signature V2 against AWS's documented examples ("Signing and Authenticating REST Requests").

The examples' strings to sign and signatures, then whole requests through the verifier
(virtual-host and path style, header and presigned), then one change at a time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto.utils
import pytest

from proxy import sigv2
from proxy.access import AccessKey
from proxy.auth import SignedRequest, verify
from proxy.errors import S3Error

KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEYS = {KEY: AccessKey(KEY, SECRET)}

STRINGS = [
    ("GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg",
     "bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
    ("PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/johnsmith/photos/puppy.jpg",
     "MyyxeRY7whkBe+bq8fHCL/2kKUg="),
    ("GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/johnsmith/", "htDYFYduRNen8P9ZfE/s9SuKy0U="),
    ("GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/johnsmith/?acl", "c2WLPFtWHVgbEmeEG93a4cG37dM="),
    ("DELETE\n\n\nTue, 27 Mar 2007 21:20:26 +0000\n/johnsmith/photos/puppy.jpg",
     "lx3byBScXR6KzyMaifNkardMwNk="),
    ("PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n"
     "x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779"
     "\nx-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n"
     "/static.johnsmith.net/db-backup.dat.gz", "ilyl83RwaSoYIEdixDQcA4OnAnc="),
    ("GET\n\n\nWed, 28 Mar 2007 01:29:59 +0000\n/", "qGdzdERIC03wnaRNKh6OqZehG9s="),
]  # fmt: skip


@pytest.mark.parametrize("to_sign, expected", STRINGS)
def test_documented_signatures(to_sign: str, expected: str) -> None:
    assert sigv2.sign(SECRET, to_sign) == expected


def test_string_to_sign_of_the_upload_example() -> None:
    headers = {
        "x-amz-acl": "public-read",
        "x-amz-meta-reviewedby": "joe@johnsmith.net,jane@johnsmith.net",
        "x-amz-meta-filechecksum": "0x02661779",
        "x-amz-meta-checksumalgorithm": "crc32",
        "content-disposition": "attachment; filename=database.dat",
    }
    resource = sigv2.canonical_resource("/db-backup.dat.gz", [], "static.johnsmith.net")
    text = sigv2.string_to_sign(
        "PUT",
        "4gJE4saaMU4BqNR0kLY+lw==",
        "application/x-download",
        "Tue, 27 Mar 2007 21:06:08 +0000",
        sigv2.canonical_amz_headers(headers),
        resource,
    )
    assert text == STRINGS[5][0]


def test_canonical_resource_keeps_only_subresources_sorted() -> None:
    query = [("prefix", "photos"), ("versionId", "v1"), ("acl", None), ("max-keys", "50")]
    assert sigv2.canonical_resource("/b/k", query, None) == "/b/k?acl&versionId=v1"
    assert sigv2.canonical_resource("/", [], "johnsmith") == "/johnsmith/"


def _request(
    method: str, path: str, query: str, bucket: str | None, **headers: str
) -> SignedRequest:
    lowered = {k.replace("_", "-"): v for k, v in headers.items()}
    return SignedRequest(method, path, query, lowered, host_bucket=bucket)


def _at(text: str) -> datetime:
    return datetime.strptime(text, "%a, %d %b %Y %H:%M:%S +0000").replace(tzinfo=UTC)


def _get() -> SignedRequest:
    return _request("GET", "/photos/puppy.jpg", "", "johnsmith", host="johnsmith.s3.amazonaws.com",
                    date="Tue, 27 Mar 2007 19:36:42 +0000",
                    authorization=f"AWS {KEY}:bWq2s1WEIj+Ydj0vQ697zp+IXMU=")  # fmt: skip


def _put() -> SignedRequest:
    return _request("PUT", "/photos/puppy.jpg", "", "johnsmith", host="johnsmith.s3.amazonaws.com",
                    date="Tue, 27 Mar 2007 21:15:45 +0000", content_type="image/jpeg",
                    content_length="94328",
                    authorization=f"AWS {KEY}:MyyxeRY7whkBe+bq8fHCL/2kKUg=")  # fmt: skip


def _list() -> SignedRequest:
    return _request("GET", "/", "prefix=photos&max-keys=50&marker=puppy", "johnsmith",
                    host="johnsmith.s3.amazonaws.com", date="Tue, 27 Mar 2007 19:42:41 +0000",
                    authorization=f"AWS {KEY}:htDYFYduRNen8P9ZfE/s9SuKy0U=")  # fmt: skip


def _acl() -> SignedRequest:
    return _request("GET", "/", "acl", "johnsmith", host="johnsmith.s3.amazonaws.com",
                    date="Tue, 27 Mar 2007 19:44:46 +0000",
                    authorization=f"AWS {KEY}:c2WLPFtWHVgbEmeEG93a4cG37dM=")  # fmt: skip


def _delete() -> SignedRequest:
    """Path style, and x-amz-date standing in for Date (AWS's own form of that case)."""
    return _request("DELETE", "/johnsmith/photos/puppy.jpg", "", None, host="s3.amazonaws.com",
                    date="Tue, 27 Mar 2007 21:20:27 +0000",
                    **{"x-amz-date": "Tue, 27 Mar 2007 21:20:26 +0000"},
                    authorization=f"AWS {KEY}:lx3byBScXR6KzyMaifNkardMwNk=")  # fmt: skip


PRESIGNED = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D"  # noqa: E501


def _presigned() -> SignedRequest:
    return _request("GET", "/photos/puppy.jpg", PRESIGNED, "johnsmith",
                    host="johnsmith.s3.amazonaws.com")  # fmt: skip


EXAMPLES = {
    "object-get": (_get, "Tue, 27 Mar 2007 19:36:42 +0000"),
    "object-put": (_put, "Tue, 27 Mar 2007 21:15:45 +0000"),
    "list": (_list, "Tue, 27 Mar 2007 19:42:41 +0000"),
    "fetch-acl": (_acl, "Tue, 27 Mar 2007 19:44:46 +0000"),
    "delete-path-style-x-amz-date": (_delete, "Tue, 27 Mar 2007 21:20:26 +0000"),
    "presigned": (_presigned, "Tue, 27 Mar 2007 19:36:42 +0000"),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_documented_requests_verify(name: str) -> None:
    build, when = EXAMPLES[name]
    assert verify(build(), KEYS, _at(when)).key.access_key == KEY


def test_boto2_form_with_x_amz_date_verifies() -> None:
    """boto 2 leaves the date line empty and signs x-amz-date among the amz headers."""
    headers = {"x-amz-date": "Tue, 27 Mar 2007 21:20:26 +0000", "x-amz-meta-a": "b"}
    text = boto.utils.canonical_string("DELETE", "/johnsmith/photos/puppy.jpg", headers)
    digest = hmac.new(SECRET.encode(), text.encode(), hashlib.sha1).digest()
    signature = base64.b64encode(digest).decode()
    request = _request("DELETE", "/johnsmith/photos/puppy.jpg", "", None, host="s3.amazonaws.com",
                       authorization=f"AWS {KEY}:{signature}", **headers)  # fmt: skip
    assert verify(request, KEYS, _at("Tue, 27 Mar 2007 21:20:26 +0000")).key.access_key == KEY


def _replace(request: SignedRequest, **changes: object) -> SignedRequest:
    fields: dict[str, object] = {
        "method": request.method,
        "path": request.path,
        "raw_query": request.raw_query,
        "headers": dict(request.headers),
        "host_bucket": request.host_bucket,
    }
    headers = changes.pop("headers", {})
    assert isinstance(headers, dict)
    fields.update(changes)
    merged = {**fields["headers"], **headers}  # type: ignore[dict-item]
    fields["headers"] = {k: v for k, v in merged.items() if v is not None}
    return SignedRequest(**fields)  # type: ignore[arg-type]


TAMPERED: dict[str, tuple[Callable[[], SignedRequest], dict[str, Any], str]] = {
    "content-type": (_put, {"headers": {"content-type": "image/png"}}, "SignatureDoesNotMatch"),
    "date": (_get, {"headers": {"date": "Tue, 27 Mar 2007 19:36:43 +0000"}},
             "SignatureDoesNotMatch"),
    "path": (_get, {"path": "/photos/kitten.jpg"}, "SignatureDoesNotMatch"),
    "bucket of the virtual host": (_get, {"host_bucket": "janesmith"}, "SignatureDoesNotMatch"),
    "method": (_get, {"method": "DELETE"}, "SignatureDoesNotMatch"),
    "a subresource added": (_get, {"raw_query": "acl"}, "SignatureDoesNotMatch"),
    "an x-amz header added": (_get, {"headers": {"x-amz-acl": "public-read"}},
                              "SignatureDoesNotMatch"),
    "signature": (_get, {"headers": {"authorization": f"AWS {KEY}:bWq2s1WEIj+Ydj0vQ697zp+IXMV="}},
                  "SignatureDoesNotMatch"),
    "access key": (_get, {"headers": {"authorization": "AWS AKIAOTHER:" + _get().headers[
        "authorization"].split(":")[1]}}, "InvalidAccessKeyId"),
    "malformed header": (_get, {"headers": {"authorization": f"AWS {KEY}"}}, "InvalidArgument"),
    "no date": (_get, {"headers": {"date": None}}, "AccessDenied"),
    "presigned path": (_presigned, {"path": "/photos/kitten.jpg"}, "SignatureDoesNotMatch"),
    "presigned expiry": (_presigned, {"raw_query": PRESIGNED.replace("1175139620", "1175139621")},
                         "SignatureDoesNotMatch"),
}  # fmt: skip


@pytest.mark.parametrize("what", sorted(TAMPERED))
def test_one_thing_changed_is_refused(what: str) -> None:
    build, changes, code = TAMPERED[what]
    when = _at(build().headers.get("date", "Tue, 27 Mar 2007 19:36:42 +0000"))
    with pytest.raises(S3Error) as caught:
        verify(_replace(build(), **changes), KEYS, when)
    assert caught.value.code == code


def test_skew_and_expiry() -> None:
    when = _at("Tue, 27 Mar 2007 19:36:42 +0000")
    assert verify(_get(), KEYS, when + timedelta(minutes=15)).key
    with pytest.raises(S3Error) as caught:
        verify(_get(), KEYS, when + timedelta(minutes=16))
    assert caught.value.code == "RequestTimeTooSkewed"
    expires = datetime.fromtimestamp(1175139620, UTC)
    assert verify(_presigned(), KEYS, expires).key
    with pytest.raises(S3Error) as caught:
        verify(_presigned(), KEYS, expires + timedelta(seconds=1))
    assert (caught.value.code, caught.value.message) == ("AccessDenied", "Request has expired")
