"""S3 errors: one `S3Error` subclass per S3 error code, rendered by one middleware in app.py."""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "BadDigest",
    "EntityTooLarge",
    "IncompleteBody",
    "InternalError",
    "InvalidArgument",
    "InvalidBucketName",
    "InvalidRequest",
    "InvalidURI",
    "KeyTooLongError",
    "MalformedXML",
    "MethodNotAllowed",
    "MissingContentLength",
    "NoSuchBucket",
    "NoSuchKey",
    "NotImplementedError_",
    "PreconditionFailed",
    "S3Error",
    "ServiceUnavailable",
]


class S3Error(Exception):
    """An error S3 would answer: a code, an HTTP status, a message and extra fields."""

    code = "InternalError"
    status = 500
    message = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, **fields: str) -> None:
        super().__init__(message or self.message)
        if message is not None:
            self.message = message
        self.fields = fields


class AccessDenied(S3Error):
    code, status, message = "AccessDenied", 403, "Access Denied"


class BadDigest(S3Error):
    code, status = "BadDigest", 400
    message = "The Content-MD5 you specified did not match what we received."


class EntityTooLarge(S3Error):
    code, status = "EntityTooLarge", 400
    message = "Your proposed upload exceeds the maximum allowed size"


class IncompleteBody(S3Error):
    code, status = "IncompleteBody", 400
    message = "You did not provide the number of bytes specified by the Content-Length HTTP header"


class InternalError(S3Error):
    pass


class InvalidArgument(S3Error):
    code, status, message = "InvalidArgument", 400, "Invalid Argument"


class InvalidBucketName(S3Error):
    code, status, message = "InvalidBucketName", 400, "The specified bucket is not valid."


class InvalidRequest(S3Error):
    code, status, message = "InvalidRequest", 400, "Invalid Request"


class KeyTooLongError(S3Error):
    code, status, message = "KeyTooLongError", 400, "Your key is too long"


class MalformedXML(S3Error):
    code, status = "MalformedXML", 400
    message = (
        "The XML you provided was not well-formed or did not validate against our published schema"
    )


class MethodNotAllowed(S3Error):
    code, status = "MethodNotAllowed", 405
    message = "The specified method is not allowed against this resource."


class NoSuchBucket(S3Error):
    code, status, message = "NoSuchBucket", 404, "The specified bucket does not exist"


class NoSuchKey(S3Error):
    code, status, message = "NoSuchKey", 404, "The specified key does not exist."


class NotImplementedError_(S3Error):  # noqa: N801 - the S3 code is NotImplemented
    code, status = "NotImplemented", 501
    message = "A header you provided implies functionality that is not implemented"


class PreconditionFailed(S3Error):
    code, status = "PreconditionFailed", 412
    message = "At least one of the pre-conditions you specified did not hold"


class ServiceUnavailable(S3Error):
    code, status = "ServiceUnavailable", 503
    message = "Service is unable to handle request."


class InvalidURI(S3Error):
    code, status, message = "InvalidURI", 400, "Couldn't parse the specified URI."


class MissingContentLength(S3Error):
    code, status, message = (
        "MissingContentLength",
        411,
        "You must provide the Content-Length HTTP header.",
    )
