"""Turn client errors into translated Home Assistant errors."""

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir

from .api import (
    QwenTtsApiError,
    QwenTtsAudioRejectedError,
    QwenTtsAuthError,
    QwenTtsConnectionError,
    QwenTtsError,
    QwenTtsModelAccessError,
    QwenTtsQuotaError,
    QwenTtsRateLimitError,
    QwenTtsTimeoutError,
    QwenTtsValidationError,
    QwenTtsVoiceNotFoundError,
)
from .const import DOMAIN
from .data import QwenTtsConfigEntry

# Most specific first: the first matching class names the translation key.
_TRANSLATION_KEYS: tuple[tuple[type[QwenTtsError], str], ...] = (
    (QwenTtsModelAccessError, "model_access_denied"),
    (QwenTtsAuthError, "invalid_auth"),
    (QwenTtsRateLimitError, "rate_limited"),
    (QwenTtsQuotaError, "quota_exceeded"),
    (QwenTtsVoiceNotFoundError, "voice_not_found"),
    (QwenTtsAudioRejectedError, "audio_rejected"),
    (QwenTtsTimeoutError, "timeout"),
    (QwenTtsConnectionError, "cannot_connect"),
    (QwenTtsApiError, "service_error"),
)


def to_ha_error(
    hass: HomeAssistant, entry: QwenTtsConfigEntry, err: QwenTtsError, model: str = ""
) -> HomeAssistantError:
    """Return the translated error for ``err``; a rejected key also starts reauth.

    A valid key without access to ``model`` opens a Repairs issue naming the model
    instead: entering the key again cannot fix that.

    Validation errors become ``ServiceValidationError`` with the reason as key;
    server errors keep the server's code and message as placeholders.
    """
    if isinstance(err, QwenTtsValidationError):
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=err.reason,
            translation_placeholders=err.details,
        )
    if isinstance(err, QwenTtsModelAccessError):
        ir.async_create_issue(
            hass,
            DOMAIN,
            f"model_access_denied_{entry.entry_id}_{model}",
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="model_access_denied",
            translation_placeholders={"model": model or "?", "account": entry.title},
        )
    elif isinstance(err, QwenTtsAuthError):
        entry.async_start_reauth(hass)
    placeholders: dict[str, str]
    key = next((key for cls, key in _TRANSLATION_KEYS if isinstance(err, cls)), "unknown_error")
    if isinstance(err, QwenTtsApiError):
        placeholders = {"code": err.code, "message": err.server_message}
    else:
        placeholders = {"code": type(err).__name__, "message": str(err)}
    if isinstance(err, QwenTtsModelAccessError):
        placeholders["model"] = model or "?"
    return HomeAssistantError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )
