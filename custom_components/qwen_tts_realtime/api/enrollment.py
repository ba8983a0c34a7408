"""Voice enrollment (cloning) over the DashScope customization HTTP API (protocol.md B)."""

import base64
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import aiohttp

from .catalog import ENROLLMENT_LANGUAGES, VoiceKind, custom_voice_name, get_model
from .endpoints import Endpoint
from .errors import (
    QwenTtsConnectionError,
    QwenTtsProtocolError,
    QwenTtsTimeoutError,
    QwenTtsValidationError,
    error_from_response,
)

ENROLLMENT_MODEL = "qwen-voice-enrollment"
PREFERRED_NAME = re.compile(r"[A-Za-z0-9_]{1,16}")
# The encoded data URI must stay below 10 MB (protocol.md B.2).
MAX_AUDIO_URI_BYTES = 10 * 1024 * 1024
AUDIO_MIME_TYPES = ("audio/wav", "audio/mpeg", "audio/mp4")
LIST_PAGE_SIZE = 100
# 1000 voices per account (B.8): more pages than that means the server is not paging.
_MAX_PAGES = 1000 // LIST_PAGE_SIZE + 1


@dataclass(frozen=True, slots=True)
class EnrolledVoice:
    """A cloned voice of the account.

    ``created`` is the server's ``gmt_create`` text (``YYYY-MM-DD HH:MM:SS``; the
    service does not state its time zone).
    """

    voice_id: str
    target_model: str
    created: str | None = None
    language: str | None = None

    @property
    def label(self) -> str:
        """Return e.g. ``guanyu (2025-08-11 17:59)``: the chosen name and when it was made."""
        name = custom_voice_name(self.voice_id)
        return f"{name} ({self.created[:16]})" if self.created else name


def audio_data_uri(data: bytes, mime_type: str) -> str:
    """Encode a recording as the ``data:`` URI the create action accepts."""
    return f"data:{mime_type};base64,{base64.b64encode(data).decode()}"


def validate_create(
    target_model: str, preferred_name: str, audio: str, language: str | None
) -> None:
    """Refuse a create request the service would reject, before uploading anything."""
    if not PREFERRED_NAME.fullmatch(preferred_name):
        raise QwenTtsValidationError(
            "invalid_preferred_name",
            "preferred_name may hold only letters, digits and _ (at most 16)",
            value=preferred_name,
        )
    model = get_model(target_model)
    if model is not None and model.voice_kind is not VoiceKind.CLONED:
        raise QwenTtsValidationError(
            "not_a_cloning_model", f"{target_model} cannot use cloned voices", model=target_model
        )
    if language is not None and language not in ENROLLMENT_LANGUAGES:
        raise QwenTtsValidationError(
            "unsupported_language", f"Unsupported language {language}", value=language
        )
    if audio.startswith("data:"):
        mime_type = audio[5:].split(";", 1)[0]
        if mime_type not in AUDIO_MIME_TYPES:
            raise QwenTtsValidationError(
                "unsupported_audio_type", f"Unsupported audio type {mime_type}", value=mime_type
            )
        if len(audio) >= MAX_AUDIO_URI_BYTES:
            raise QwenTtsValidationError(
                "audio_too_large", "The encoded recording must stay below 10 MB"
            )
    elif not audio.startswith(("http://", "https://")):
        raise QwenTtsValidationError(
            "invalid_audio", "The recording must be a data URI or an http(s) URL"
        )


def parse_voice(record: dict[str, Any]) -> EnrolledVoice:
    """Read one ``voice_list`` entry (or a create ``output``)."""
    voice_id = record.get("voice")
    if not isinstance(voice_id, str):
        raise QwenTtsProtocolError("Voice record without a voice id")
    return EnrolledVoice(
        voice_id=voice_id,
        target_model=str(record.get("target_model") or ""),
        created=record.get("gmt_create"),
        language=record.get("language"),
    )


async def post_action(
    http: aiohttp.ClientSession,
    endpoint: Endpoint,
    api_key: str,
    input_fields: dict[str, Any],
    time_limit: float,
) -> dict[str, Any]:
    """Send one enrollment action and return the decoded answer, or raise our error."""
    try:
        async with http.post(
            endpoint.customization_url,
            json={"model": ENROLLMENT_MODEL, "input": input_fields},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=aiohttp.ClientTimeout(total=time_limit),
        ) as response:
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
            status = response.status
    except TimeoutError as err:
        raise QwenTtsTimeoutError("The voice enrollment service did not answer in time") from err
    except (aiohttp.ClientError, OSError) as err:
        raise QwenTtsConnectionError(f"Cannot reach the voice enrollment service: {err}") from err
    code = body.get("code") if isinstance(body, dict) else None
    if status == HTTPStatus.OK and isinstance(body, dict) and not code:
        return body
    if not code:
        # No DashScope error body: a proxy, gateway or outage page.
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR or status == HTTPStatus.OK:
            raise QwenTtsConnectionError(f"Unexpected answer (HTTP {status})")
        code = f"HTTP{status}"
    message = body.get("message") if isinstance(body, dict) else None
    raise error_from_response(str(code), str(message or ""), status)
