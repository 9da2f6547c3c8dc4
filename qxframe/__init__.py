"""qxframe: push rows of a dataframe to Qualtrics."""

from qxframe.exceptions import (
    ApiError,
    AuthError,
    BadRequestError,
    ConfigError,
    MappingError,
    NotFoundError,
    OutcomeUnknownError,
    PayloadTooLargeError,
    QxError,
    RateLimitedError,
    ServerError,
    TransportError,
)

__all__ = [
    "ApiError",
    "AuthError",
    "BadRequestError",
    "ConfigError",
    "MappingError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PayloadTooLargeError",
    "QxError",
    "RateLimitedError",
    "ServerError",
    "TransportError",
]
