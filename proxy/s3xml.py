"""S3's XML: builders for the documents the proxy answers, parsers for what it reads.

One namespace constant; lxml throughout. Parsers resolve no entities, load no DTD,
fetch nothing, and refuse any document that declares a DOCTYPE (XXE, billion laughs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_plus

from lxml import etree

from .backends.base import BucketRecord, ObjectRecord
from .errors import MalformedXML

__all__ = [
    "NS",
    "CompleteResult",
    "ListPage",
    "element_text",
    "error_document",
    "list_buckets_result",
    "location_constraint",
    "parse_complete_multipart_result",
    "parse_create_bucket_configuration",
    "parse_delete_objects",
    "parse_delete_result",
    "parse_list_buckets",
    "parse_list_objects",
    "parse_xml",
    "to_bytes",
]

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_Q = "{" + NS + "}"

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False
)


def parse_xml(body: bytes) -> etree._Element:
    """Parse untrusted XML; anything odd is `MalformedXML`."""
    # "<!" first: upper-casing a 200 KB listing page for nothing costs more than parsing it.
    if b"<!" in body and (b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper()):
        raise MalformedXML()
    try:
        root = etree.fromstring(body, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise MalformedXML() from exc
    if root is None:
        raise MalformedXML()
    return root


# Characters XML 1.0 cannot hold. S3 still lists keys containing them (as numeric
# references, which is why encoding-type=url exists); lxml refuses to write them, so
# they travel through lxml as a marker and become references after serialization.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MARK_OPEN, _MARK_CLOSE = "\ufdd0", "\ufdd1"
_MARKED = re.compile(f"{_MARK_OPEN}([0-9a-f]+){_MARK_CLOSE}".encode())


def xml_safe(text: str) -> str:
    """`text` with characters XML cannot hold replaced by markers `to_bytes` resolves."""
    if not _INVALID_XML.search(text):
        return text
    return _INVALID_XML.sub(lambda m: f"{_MARK_OPEN}{ord(m.group()):x}{_MARK_CLOSE}", text)


def to_bytes(root: etree._Element) -> bytes:
    """Serialize with S3's XML declaration."""
    body = etree.tostring(root, encoding="utf-8")
    if _MARK_OPEN.encode() in body:
        body = _MARKED.sub(lambda m: b"&#x" + m.group(1) + b";", body)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _local(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1]


def _children(parent: etree._Element, name: str) -> list[etree._Element]:
    """The children called `name`, in any namespace or none ("{*}": filtered in C, which
    matters on a listing page of a thousand other children)."""
    return list(parent.iterchildren("{*}" + name))


def element_text(parent: etree._Element, name: str, default: str = "") -> str:
    """Text of the first child called `name` (any namespace)."""
    for child in parent.iterchildren("{*}" + name):
        return child.text or ""
    return default


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    tag = _Q + name if parent.tag.startswith(_Q) else name
    child = etree.SubElement(parent, tag)
    if text is not None:
        child.text = xml_safe(text)
    return child


# Builders


def error_document(code: str, message: str, fields: dict[str, str], request_id: str) -> bytes:
    """S3's `<Error>` document (no namespace, as S3 sends it)."""
    root = etree.Element("Error")
    _sub(root, "Code", code)
    _sub(root, "Message", _xml_chars(message))
    for name, value in fields.items():
        _sub(root, name, _xml_chars(value))
    _sub(root, "RequestId", request_id)
    _sub(root, "HostId", request_id)
    return to_bytes(root)


# Characters XML 1.0 cannot carry even as references (controls, surrogates, U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_chars(text: str) -> str:
    """Client input echoed in an error, percent-encoded where XML cannot hold it."""

    def encode(match: re.Match[str]) -> str:
        return "".join(f"%{b:02X}" for b in match.group().encode("utf-8", "surrogatepass"))

    return _NOT_XML.sub(encode, text)


def list_buckets_result(buckets: Sequence[BucketRecord], owner_id: str, owner_name: str) -> bytes:
    """ListAllMyBucketsResult."""
    root = etree.Element(_Q + "ListAllMyBucketsResult", nsmap={None: NS})  # type: ignore[dict-item]
    container = _sub(root, "Buckets")
    for bucket in buckets:
        node = _sub(container, "Bucket")
        _sub(node, "Name", bucket.name)
        _sub(node, "CreationDate", bucket.created)
    owner = _sub(root, "Owner")
    _sub(owner, "DisplayName", owner_name)
    _sub(owner, "ID", owner_id)
    return to_bytes(root)


def location_constraint(region: str) -> bytes:
    """GetBucketLocation's answer: empty for us-east-1, as S3 answers."""
    root = etree.Element(_Q + "LocationConstraint", nsmap={None: NS})  # type: ignore[dict-item]
    if region and region != "us-east-1":
        root.text = region
    return to_bytes(root)


def list_bucket_result(
    fields: Sequence[tuple[str, str]],
    contents: Iterable[etree._Element],
    common_prefixes: Iterable[str],
    trailer: Sequence[tuple[str, str]],
) -> bytes:
    """ListBucketResult: `fields` before the contents, `trailer` after the prefixes."""
    root = etree.Element(_Q + "ListBucketResult", nsmap={None: NS})  # type: ignore[dict-item]
    head = list(fields)
    # S3's documented element order: IsTruncated, Contents, Name, Prefix, ...
    for name, value in head[:1]:
        _sub(root, name, value)
    for node in contents:
        root.append(node)
    for name, value in head[1:]:
        _sub(root, name, value)
    for prefix in common_prefixes:
        _sub(_sub(root, "CommonPrefixes"), "Prefix", prefix)
    for name, value in trailer:
        _sub(root, name, value)
    return to_bytes(root)


def contents_element(
    record: ObjectRecord, key: str, *, owner: tuple[str, str] | None
) -> etree._Element:
    """One `<Contents>` of a listing; `key` is already encoded when asked."""
    node = etree.Element(_Q + "Contents")
    _sub(node, "Key", key)
    _sub(node, "LastModified", record.last_modified)
    _sub(node, "ETag", record.etag)
    if record.checksum_algorithm:
        _sub(node, "ChecksumAlgorithm", record.checksum_algorithm)
    if record.checksum_type:
        _sub(node, "ChecksumType", record.checksum_type)
    _sub(node, "Size", str(record.size))
    _sub(node, "StorageClass", record.storage_class)
    if owner is not None:
        owner_node = _sub(node, "Owner")
        _sub(owner_node, "DisplayName", owner[1])
        _sub(owner_node, "ID", owner[0])
    return node


# Parsers of requests


def parse_delete_objects(body: bytes) -> tuple[list[tuple[str, str | None]], bool]:
    """DeleteObjects' `<Delete>`: [(key, version id)], quiet."""
    root = parse_xml(body)
    if _local(root.tag) != "Delete":
        raise MalformedXML()
    objects: list[tuple[str, str | None]] = []
    for node in _children(root, "Object"):
        keys = _children(node, "Key")
        if len(keys) != 1:
            raise MalformedXML()
        version = _children(node, "VersionId")
        objects.append((keys[0].text or "", version[0].text if version else None))
    quiet = element_text(root, "Quiet", "false").strip().lower() == "true"
    return objects, quiet


def parse_create_bucket_configuration(body: bytes) -> str | None:
    """CreateBucket's optional body: the LocationConstraint, or None."""
    if not body.strip():
        return None
    root = parse_xml(body)
    if _local(root.tag) != "CreateBucketConfiguration":
        raise MalformedXML()
    value = element_text(root, "LocationConstraint", "")
    return value or None


# Parsers of upstream answers


@dataclass(frozen=True)
class ListPage:
    """One upstream listing page, as ListObjects(V2) answered it."""

    records: list[ObjectRecord]
    common_prefixes: list[str]
    is_truncated: bool
    next_token: str | None  # NextContinuationToken (v2) or NextMarker (v1)
    clipped: bool = False  # records past the caller's `until` were left out


# The fields of a listing's <Contents> the index keeps (ID, DisplayName: of its <Owner>).
_CONTENTS_FIELDS = (
    "Key",
    "Size",
    "ETag",
    "LastModified",
    "StorageClass",
    "ChecksumAlgorithm",
    "ChecksumType",
    "ID",
    "DisplayName",
)


def parse_list_objects(
    body: bytes, confirmed_at: float | None = None, until: str | None = None
) -> ListPage:
    """An upstream ListBucketResult (v1 or v2); keys URL-decoded if it says EncodingType url.

    The fields are read in one C-filtered pass over the document: a sync parses a page
    of 1,000 keys per request, and looking each field up by name costs twice as much.
    `confirmed_at` is set on every record: when the listing was taken. Records after
    the first key above `until` are not built (a parallel sync's reader has no use for
    them).
    """
    root = parse_xml(body)
    tag = str(root.tag)
    ns = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
    # S3 encodes a space as "+" (form encoding) under encoding-type=url.
    decode = _url_decoded if root.findtext(ns + "EncodingType") == "url" else _same
    wanted = {ns + name: name for name in _CONTENTS_FIELDS}
    wanted.update({name: name for name in _CONTENTS_FIELDS})  # children without namespace
    contents = {ns + "Contents", "Contents"}
    records: list[ObjectRecord] = []
    found: dict[str, str] | None = None
    clipped = False
    # One C-filtered walk over the elements that matter, in document order: each
    # <Contents> starts a record, the fields that follow are its own (none of these
    # names occurs outside <Contents> in a ListBucketResult).
    for element in root.iter(*contents, *wanted):
        tag = element.tag
        if tag in contents:
            if found is not None:
                records.append(_listed(found, decode, confirmed_at))
                if until is not None and records[-1].key > until:
                    clipped, found = True, None
                    break
            found = {}
        elif found is not None:
            found.setdefault(wanted[str(tag)], element.text or "")
    if found is not None:
        records.append(_listed(found, decode, confirmed_at))
    prefixes = [decode(element_text(node, "Prefix")) for node in _children(root, "CommonPrefixes")]
    truncated = element_text(root, "IsTruncated", "false").lower() == "true"
    token = element_text(root, "NextContinuationToken") or decode(element_text(root, "NextMarker"))
    return ListPage(records, prefixes, truncated, token or None, clipped)


def _listed(
    found: dict[str, str], decode: Callable[[str], str], confirmed_at: float | None
) -> ObjectRecord:
    owned = "ID" in found or "DisplayName" in found
    return ObjectRecord(
        key=decode(found.get("Key", "")),
        size=int(found.get("Size") or 0),
        etag=found.get("ETag", ""),
        last_modified=found.get("LastModified", ""),
        storage_class=found.get("StorageClass") or "STANDARD",
        confirmed_at=confirmed_at,
        checksum_algorithm=found.get("ChecksumAlgorithm") or None,
        checksum_type=found.get("ChecksumType") or None,
        owner_id=found.get("ID", "") if owned else None,
        owner_name=found.get("DisplayName", "") if owned else None,
    )


def _same(text: str) -> str:
    return text


def _url_decoded(text: str) -> str:
    return unquote_plus(text) if "%" in text or "+" in text else text


def parse_list_buckets(body: bytes) -> tuple[list[BucketRecord], str, str]:
    """An upstream ListAllMyBucketsResult: buckets, owner id, owner name."""
    root = parse_xml(body)
    owner = _children(root, "Owner")
    owner_id = element_text(owner[0], "ID") if owner else ""
    owner_name = element_text(owner[0], "DisplayName") if owner else ""
    buckets = []
    for container in _children(root, "Buckets"):
        for node in _children(container, "Bucket"):
            buckets.append(
                BucketRecord(
                    name=element_text(node, "Name"),
                    created=element_text(node, "CreationDate"),
                    region=element_text(node, "BucketRegion") or "us-east-1",
                    owner_id=owner_id,
                    owner_name=owner_name,
                )
            )
    return buckets, owner_id, owner_name


def parse_location(body: bytes) -> str:
    """An upstream LocationConstraint: the region, us-east-1 when empty."""
    root = parse_xml(body)
    region = (root.text or "").strip()
    return "eu-west-1" if region == "EU" else (region or "us-east-1")


@dataclass(frozen=True)
class CompleteResult:
    """CompleteMultipartUpload's 200 body: a result, or an error inside the 200."""

    ok: bool
    etag: str


def parse_complete_multipart_result(body: bytes) -> CompleteResult:
    """S3 may answer 200 and still fail: an `<Error>` root means it did."""
    try:
        root = parse_xml(body)
    except MalformedXML:
        return CompleteResult(False, "")
    if _local(root.tag) == "Error":
        return CompleteResult(False, "")
    return CompleteResult(True, element_text(root, "ETag"))


def parse_delete_result(body: bytes) -> list[str]:
    """DeleteResult: the keys reported deleted."""
    root = parse_xml(body)
    return [element_text(node, "Key") for node in _children(root, "Deleted")]


def parse_error_code(body: bytes) -> str:
    """The `<Code>` of an error document, or ''."""
    try:
        return element_text(parse_xml(body), "Code")
    except MalformedXML:
        return ""
