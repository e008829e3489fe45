"""parse_list_objects (proxy/s3xml.py), as a sync reads upstream listing pages."""

from __future__ import annotations

from lxml import etree

from proxy.s3xml import error_document, parse_list_objects

NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def page(contents: str, extra: str = "", xmlns: bool = True) -> bytes:
    namespace = f' xmlns="{NS}"' if xmlns else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult{namespace}>'
        f"<Name>b</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
        f"<IsTruncated>true</IsTruncated>{extra}{contents}</ListBucketResult>"
    ).encode()


def contents(key: str, etag: str = "&quot;e&quot;", more: str = "") -> str:
    return (
        f"<Contents><Key>{key}</Key><LastModified>2026-12-04T15:00:00.123Z</LastModified>"
        f"<ETag>{etag}</ETag>{more}<Size>7</Size><StorageClass>GLACIER</StorageClass></Contents>"
    )


def test_fields_owner_and_checksums() -> None:
    owner = "<Owner><ID>abc</ID><DisplayName>me</DisplayName></Owner>"
    body = page(
        contents("a", more=f"<ChecksumAlgorithm>CRC32</ChecksumAlgorithm>{owner}")
        + contents("b")
        + "<NextContinuationToken>tok</NextContinuationToken>"
    )
    parsed = parse_list_objects(body, confirmed_at=5.0)
    first, second = parsed.records
    assert (first.key, first.etag, first.size, first.storage_class) == ("a", '"e"', 7, "GLACIER")
    assert (first.last_modified, first.confirmed_at) == ("2026-12-04T15:00:00.123Z", 5.0)
    assert (first.checksum_algorithm, first.owner_id, first.owner_name) == ("CRC32", "abc", "me")
    assert (second.owner_id, second.checksum_algorithm) == (None, None)
    assert (parsed.is_truncated, parsed.next_token, parsed.clipped) == (True, "tok", False)


def test_url_encoded_keys_are_decoded() -> None:
    body = page(
        contents("a+b%2Bc") + contents("%E6%97%A5%2F%01"),
        "<EncodingType>url</EncodingType><StartAfter>x</StartAfter>",
    )
    assert [r.key for r in parse_list_objects(body).records] == ["a b+c", "日/\x01"]
    # Without EncodingType the text is the key.
    assert [r.key for r in parse_list_objects(page(contents("a+b"))).records] == ["a+b"]


def test_without_namespace() -> None:
    body = page(contents("k"), xmlns=False)
    assert [r.key for r in parse_list_objects(body).records] == ["k"]


def test_records_past_until_are_not_built() -> None:
    body = page("".join(contents(k) for k in ("a", "b", "c", "d")))
    parsed = parse_list_objects(body, until="b")
    assert [r.key for r in parsed.records] == ["a", "b", "c"]  # one past, to show the end
    assert parsed.clipped
    assert not parse_list_objects(body, until="d").clipped


def test_error_documents_stay_xml_whatever_the_key() -> None:
    """What the fuzz test's moto exemption relies on: the proxy never writes a raw control
    character into an error document."""
    body = error_document("NoSuchKey", "The specified key does not exist.", {"Key": "a\x1fb"}, "ID")
    assert b"\x1f" not in body
    assert etree.fromstring(body).findtext("Code") == "NoSuchKey"
