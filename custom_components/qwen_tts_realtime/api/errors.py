"""Exceptions raised by the DashScope client.

Every failure leaves the client as one of these, so callers never see aiohttp or
JSON errors. Server-side failures keep the server's ``code`` and ``message``.
"""

from http import HTTPStatus


class QwenTtsError(Exception):
    """Base class of every error raised by this package."""


class QwenTtsConnectionError(QwenTtsError):
    """The service could not be reached, or the connection broke."""


class QwenTtsTimeoutError(QwenTtsConnectionError):
    """The service did not answer in time."""


class QwenTtsWarmSessionError(QwenTtsConnectionError):
    """A session opened ahead of the request was gone when the request took it.

    Never shown to a user: the request starts again on a fresh connection at once.
    """


class QwenTtsProtocolError(QwenTtsError):
    """The service sent something the protocol does not allow."""


class QwenTtsValidationError(QwenTtsError, ValueError):
    """A request was refused locally, before anything was sent.

    ``reason`` is a stable machine-readable key and ``details`` holds the values
    that explain it, so an application can show a translated message.
    """

    def __init__(self, reason: str, message: str, **details: str) -> None:
        """Store the reason key and its details."""
        super().__init__(message)
        self.reason = reason
        self.details = details


class QwenTtsApiError(QwenTtsError):
    """The service answered with an error code."""

    def __init__(
        self, code: str, message: str, *, status: int | None = None, param: str | None = None
    ) -> None:
        """Keep the server's code, message, HTTP status and offending parameter (if any)."""
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.server_message = message
        self.status = status
        self.param = param


class QwenTtsAuthError(QwenTtsApiError):
    """The API key was rejected (invalid, wrong region, or no access)."""


class QwenTtsModelAccessError(QwenTtsAuthError):
    """The key is valid but may not use this model (not enabled, or workspace without access)."""


class QwenTtsRateLimitError(QwenTtsApiError):
    """Too many requests; retrying later may work."""


class QwenTtsQuotaError(QwenTtsApiError):
    """A quota is used up (voice storage, account balance)."""


class QwenTtsVoiceNotFoundError(QwenTtsApiError):
    """The voice does not exist on this account."""


class QwenTtsAudioRejectedError(QwenTtsApiError):
    """The enrollment recording was refused by the service (``Audio.*`` codes)."""


_AUTH_CODES = frozenset(
    {
        "InvalidApiKey",
        "AccessDenied",
        "AccessDenied.Unpurchased",
        "Model.AccessDenied",
        "Workspace.AccessDenied",
    }
)
_QUOTA_CODES = frozenset({"Throttling.AllocationQuota", "Arrearage"})


def error_from_response(
    code: str, message: str, status: int | None = None, *, param: str | None = None
) -> QwenTtsApiError:
    """Map a DashScope error code (HTTP body or ``error`` event) to its exception."""
    error_type: type[QwenTtsApiError]
    if (
        code.endswith("AccessDenied")
        or code.startswith("AccessDenied")
        or (status == HTTPStatus.FORBIDDEN)
    ):
        error_type = QwenTtsModelAccessError
    elif code in _AUTH_CODES or status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        error_type = QwenTtsAuthError
    elif code in _QUOTA_CODES:
        error_type = QwenTtsQuotaError
    elif code.startswith("Throttling") or status == HTTPStatus.TOO_MANY_REQUESTS:
        error_type = QwenTtsRateLimitError
    elif code == "BadRequest.VoiceNotFound":
        error_type = QwenTtsVoiceNotFoundError
    elif code.startswith("Audio."):
        error_type = QwenTtsAudioRejectedError
    else:
        error_type = QwenTtsApiError
    return error_type(code, message, status=status, param=param)


def rejects_voice(err: QwenTtsApiError, voice: str) -> bool:
    """Tell whether an ``error`` event refuses the session's voice (it does not exist).

    Both shapes of protocol.md A.8: the older one names the parameter
    (``session.voice``); the newer one has only the message, which quotes the value.
    """
    if err.code != "invalid_value":
        return False
    return err.param == "session.voice" or (bool(voice) and f"'{voice}'" in err.server_message)
