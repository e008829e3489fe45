"""S3 errors: one `S3Error` subclass per S3 error code, rendered by one middleware in app.py."""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AuthorizationHeaderMalformed",
    "AuthorizationQueryParametersError",
    "InvalidAccessKeyId",
    "MalformedTrailerError",
    "MaxMessageLengthExceeded",
    "MissingRequestBodyError",
    "RequestTimeTooSkewed",
    "SignatureDoesNotMatch",
    "XAmzContentSHA256Mismatch",
    "BadDigest",
    "BadRequest",
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
    "RequestHeaderSectionTooLarge",
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


class BadRequest(S3Error):
    code, status, message = "BadRequest", 400, "An error occurred when parsing the HTTP request."


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


class RequestHeaderSectionTooLarge(S3Error):
    code, status = "RequestHeaderSectionTooLarge", 400
    message = "Your request header section exceeds the maximum allowed size."


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


# Client authentication (SigV4, SigV2) and payload verification.


class AuthorizationHeaderMalformed(S3Error):
    code, status = "AuthorizationHeaderMalformed", 400
    message = "The authorization header you provided is invalid."


class AuthorizationQueryParametersError(S3Error):
    code, status = "AuthorizationQueryParametersError", 400
    message = "Error parsing the X-Amz-Credential parameter."


class InvalidAccessKeyId(S3Error):
    code, status = "InvalidAccessKeyId", 403
    message = "The AWS Access Key Id you provided does not exist in our records."


class MalformedTrailerError(S3Error):
    code, status = "MalformedTrailerError", 400
    message = "The request contained trailing data that was not well-formed."


class MaxMessageLengthExceeded(S3Error):
    code, status, message = "MaxMessageLengthExceeded", 400, "Your request was too big."


class RequestTimeTooSkewed(S3Error):
    code, status = "RequestTimeTooSkewed", 403
    message = "The difference between the request time and the current time is too large."


class SignatureDoesNotMatch(S3Error):
    code, status = "SignatureDoesNotMatch", 403
    message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )


class XAmzContentSHA256Mismatch(S3Error):
    code, status = "XAmzContentSHA256Mismatch", 400
    message = "The provided 'x-amz-content-sha256' header does not match what was computed."


class MissingRequestBodyError(S3Error):
    code, status, message = "MissingRequestBodyError", 400, "Request Body is empty"
