"""Custom voices over the DashScope customization HTTP API (protocol.md B).

The request envelope, the errors and the voice records are shared by voice
enrollment (cloning, ``qwen-voice-enrollment``) and voice design
(``qwen-voice-design``, see ``design.py``); only the ``model`` differs.
"""

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
    """A custom voice of the account: cloned or designed (``kind``).

    ``created`` is the server's ``gmt_create`` text (``YYYY-MM-DD HH:MM:SS``; the
    service does not state its time zone).
    """

    voice_id: str
    target_model: str
    created: str | None = None
    language: str | None = None
    kind: VoiceKind = VoiceKind.CLONED

    @property
    def label(self) -> str:
        """Return e.g. ``guanyu (2025-08-11 17:59)``: the chosen name and when it was made."""
        name = custom_voice_name(self.voice_id)
        return f"{name} ({self.created[:16]})" if self.created else name


def audio_data_uri(data: bytes, mime_type: str) -> str:
    """Encode a recording as the ``data:`` URI the create action accepts."""
    return f"data:{mime_type};base64,{base64.b64encode(data).decode()}"


def validate_voice_request(
    kind: VoiceKind, target_model: str, preferred_name: str, language: str | None
) -> None:
    """Refuse what both create actions check: the name, a target of ``kind``, the language."""
    if not PREFERRED_NAME.fullmatch(preferred_name):
        raise QwenTtsValidationError(
            "invalid_preferred_name",
            "preferred_name may hold only letters, digits and _ (at most 16)",
            value=preferred_name,
        )
    # A model newer than the catalogue is left to the service to judge.
    model = get_model(target_model)
    if model is not None and model.voice_kind is not kind:
        reason = "not_a_cloning_model" if kind is VoiceKind.CLONED else "not_a_design_model"
        raise QwenTtsValidationError(
            reason, f"{target_model} cannot use {kind} voices", model=target_model
        )
    if language is not None and language not in ENROLLMENT_LANGUAGES:
        raise QwenTtsValidationError(
            "unsupported_language", f"Unsupported language {language}", value=language
        )


def validate_create(
    target_model: str, preferred_name: str, audio: str, language: str | None
) -> None:
    """Refuse a create request the service would reject, before uploading anything."""
    validate_voice_request(VoiceKind.CLONED, target_model, preferred_name, language)
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


def parse_voice(record: dict[str, Any], kind: VoiceKind) -> EnrolledVoice:
    """Read one ``voice_list`` entry (or a create ``output``) of a ``kind`` action.

    A target model the catalogue knows decides the kind, so a list that mixes
    cloned and designed voices is still read right.
    """
    voice_id = record.get("voice")
    if not isinstance(voice_id, str):
        raise QwenTtsProtocolError("Voice record without a voice id")
    target_model = str(record.get("target_model") or "")
    model = get_model(target_model)
    if model is not None and model.voice_kind is not VoiceKind.SYSTEM:
        kind = model.voice_kind
    return EnrolledVoice(
        voice_id=voice_id,
        target_model=target_model,
        created=record.get("gmt_create"),
        language=record.get("language"),
        kind=kind,
    )


async def post_action(  # noqa: PLR0913 - the request's parts, all needed
    http: aiohttp.ClientSession,
    endpoint: Endpoint,
    api_key: str,
    input_fields: dict[str, Any],
    time_limit: float,
    *,
    model: str = ENROLLMENT_MODEL,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Send one customization action and return the decoded answer, or raise our error."""
    request: dict[str, Any] = {"model": model, "input": input_fields}
    if parameters:
        request["parameters"] = parameters
    try:
        async with http.post(
            endpoint.customization_url,
            json=request,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=aiohttp.ClientTimeout(total=time_limit),
        ) as response:
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
            status = response.status
    except TimeoutError as err:
        raise QwenTtsTimeoutError(f"The {model} service did not answer in time") from err
    except (aiohttp.ClientError, OSError) as err:
        raise QwenTtsConnectionError(f"Cannot reach the {model} service: {err}") from err
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
