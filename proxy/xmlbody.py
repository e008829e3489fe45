"""The XML documents clients PUT and POST: which operations carry one, and checking it first.

Before a document is forwarded it must parse safely (no DOCTYPE, no entities, nothing
fetched: see s3xml.parse_xml), have the root element its operation takes, and not be
empty where S3 needs one; so the upstream never parses hostile or misplaced XML.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping

from .errors import MalformedXML, MaxMessageLengthExceeded, MissingRequestBodyError
from .s3xml import parse_xml

__all__ = ["MAX_XML_BODY", "check_document", "xml_checked", "xml_root"]

MAX_XML_BODY = 8 * 1024 * 1024  # far above what 1,000 keys or 10,000 parts take

# Sub-resource -> the root element of the document its PUT carries (policy is JSON).
_PUT_ROOTS = {
    "accelerate": "AccelerateConfiguration",
    "acl": "AccessControlPolicy",
    "analytics": "AnalyticsConfiguration",
    "cors": "CORSConfiguration",
    "encryption": "ServerSideEncryptionConfiguration",
    "intelligent-tiering": "IntelligentTieringConfiguration",
    "inventory": "InventoryConfiguration",
    "legal-hold": "LegalHold",
    "lifecycle": "LifecycleConfiguration",
    "logging": "BucketLoggingStatus",
    "metadataConfiguration": "MetadataConfiguration",
    "metrics": "MetricsConfiguration",
    "notification": "NotificationConfiguration",
    "object-lock": "ObjectLockConfiguration",
    "ownershipControls": "OwnershipControls",
    "publicAccessBlock": "PublicAccessBlockConfiguration",
    "replication": "ReplicationConfiguration",
    "requestPayment": "RequestPaymentConfiguration",
    "retention": "Retention",
    "tagging": "Tagging",
    "versioning": "VersioningConfiguration",
    "website": "WebsiteConfiguration",
}
_POST_ROOTS = {
    "delete": "Delete",
    "restore": "RestoreRequest",
    "select": "SelectObjectContentRequest",
    "uploadId": "CompleteMultipartUpload",
}
_GRANTS = ("x-amz-acl", "x-amz-grant-")


def xml_root(method: str, query_names: Collection[str]) -> str | None:
    """The root element of the document this PUT or POST sends, or None for no document."""
    roots = _PUT_ROOTS if method == "PUT" else _POST_ROOTS if method == "POST" else {}
    # a part upload (?uploadId&partNumber) is data, not a document
    if method == "PUT" and "partNumber" in query_names:
        return None
    found = [roots[name] for name in query_names if name in roots]
    return found[0] if found else None


def _may_be_empty(root: str, headers: Mapping[str, str]) -> bool:
    if root == "RestoreRequest":
        return True
    # an ACL can come as a canned ACL or grant headers instead of a document
    return root == "AccessControlPolicy" and any(
        name.lower().startswith(_GRANTS) for name in headers
    )


def check_document(body: bytes, root: str, headers: Mapping[str, str]) -> None:
    """MissingRequestBodyError or MalformedXML unless `body` is a safe `<root>` document."""
    if not body.strip():
        if _may_be_empty(root, headers):
            return
        raise MissingRequestBodyError()
    tag = str(parse_xml(body).tag)
    if tag.rsplit("}", 1)[-1] != root:
        raise MalformedXML()


async def xml_checked(
    chunks: AsyncIterator[bytes], root: str, headers: Mapping[str, str]
) -> AsyncIterator[bytes]:
    """The whole document, once `check_document` passes it; nothing before."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_XML_BODY:
            raise MaxMessageLengthExceeded()
        parts.append(chunk)
    body = b"".join(parts)
    check_document(body, root, headers)
    if body:
        yield body
