"""Service actions for custom voices: clone or design one, list and delete them."""

from types import MappingProxyType
from typing import Any

import probatio
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import service
from homeassistant.helpers.selector import MediaSelector

from .api import (
    CLONING_MODELS,
    DESIGN_MODELS,
    EnrolledVoice,
    QwenTtsError,
    QwenTtsVoiceNotFoundError,
    language_type_for,
)
from .api.catalog import ENROLLMENT_LANGUAGES
from .api.enrollment import PREFERRED_NAME
from .const import (
    ATTR_CONFIG_ENTRY_ID,
    CONF_LANGUAGE_TYPE,
    CONF_MODEL,
    CONF_VOICE,
    DEFAULT_PROFILE,
    DOMAIN,
    LOGGER,
    SERVICE_CREATE_VOICE,
    SERVICE_DELETE_VOICE,
    SERVICE_DESIGN_VOICE,
    SERVICE_LIST_VOICES,
    SUBENTRY_TTS,
)
from .data import QwenTtsConfigEntry, async_refresh_voices, profile_title
from .exceptions import to_ha_error
from .preview import async_keep_preview, preview_folder
from .recording import async_prepare_recording

ATTR_RECORDING = "recording"
ATTR_PREFERRED_NAME = "preferred_name"
ATTR_TARGET_MODEL = "target_model"
ATTR_TEXT = "text"
ATTR_LANGUAGE = "language"
ATTR_CREATE_PROFILE = "create_profile"
ATTR_VOICE_ID = "voice_id"
ATTR_VOICE_PROMPT = "voice_prompt"
ATTR_PREVIEW_TEXT = "preview_text"
ATTR_PROFILE_SUBENTRY_ID = "profile_subentry_id"

CREATE_VOICE_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        # The media picker in the UI; a path, URL or media-source id in YAML.
        probatio.Required(ATTR_RECORDING): probatio.Any(
            MediaSelector({"accept": ["audio/*"]}), cv.string
        ),
        probatio.Required(ATTR_PREFERRED_NAME): cv.string,
        probatio.Optional(ATTR_TARGET_MODEL, default=CLONING_MODELS[0]): probatio.In(
            CLONING_MODELS
        ),
        probatio.Optional(ATTR_TEXT): cv.string,
        probatio.Optional(ATTR_LANGUAGE): probatio.In(ENROLLMENT_LANGUAGES),
        probatio.Optional(ATTR_CREATE_PROFILE, default=False): cv.boolean,
    }
)
# The lengths are checked by the client, which answers with a translated reason.
DESIGN_VOICE_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_VOICE_PROMPT): cv.string,
        probatio.Required(ATTR_PREVIEW_TEXT): cv.string,
        probatio.Required(ATTR_PREFERRED_NAME): cv.string,
        probatio.Optional(ATTR_TARGET_MODEL, default=DESIGN_MODELS[0]): probatio.In(DESIGN_MODELS),
        probatio.Optional(ATTR_LANGUAGE): probatio.In(ENROLLMENT_LANGUAGES),
        probatio.Optional(ATTR_CREATE_PROFILE, default=False): cv.boolean,
    }
)
LIST_VOICES_SCHEMA = probatio.Schema({probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})
DELETE_VOICE_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_VOICE_ID): cv.string,
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the custom voice actions.

    Creating and deleting voices changes the account and reads or writes files, so
    only administrators (and automations) may do it; listing is open to every user.
    """
    service.async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_CREATE_VOICE,
        _async_create_voice,
        CREATE_VOICE_SCHEMA,
        SupportsResponse.OPTIONAL,
    )
    service.async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_DESIGN_VOICE,
        _async_design_voice,
        DESIGN_VOICE_SCHEMA,
        SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_LIST_VOICES,
        _async_list_voices,
        schema=LIST_VOICES_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    service.async_register_admin_service(
        hass, DOMAIN, SERVICE_DELETE_VOICE, _async_delete_voice, DELETE_VOICE_SCHEMA
    )


async def _async_get_entry(call: ServiceCall) -> QwenTtsConfigEntry:
    """Return the loaded account the call is for (the only one when not given).

    An account that is reloading holds its setup lock until it is loaded again: adding
    or changing a voice profile (create_voice with create_profile too) reloads it, and
    an automation's next action must wait for that, not fail with "not loaded".
    """
    entry_id: str | None = call.data.get(ATTR_CONFIG_ENTRY_ID)
    for candidate in call.hass.config_entries.async_entries(DOMAIN):
        if entry_id in (None, candidate.entry_id) and candidate.setup_lock.locked():
            async with candidate.setup_lock:
                pass
    entry: QwenTtsConfigEntry = service.async_get_config_entry(call.hass, DOMAIN, entry_id)
    return entry


async def _async_refresh_voices(hass: HomeAssistant, entry: QwenTtsConfigEntry) -> None:
    """Update the voices the profiles and entities offer after a change.

    The change itself succeeded, so a failing refresh is only logged: failing the
    action would make people repeat a creation that already happened.
    """
    try:
        await async_refresh_voices(hass, entry)
    except QwenTtsError as err:
        LOGGER.warning(
            "The voice list of %s could not be refreshed (%s); it updates when the "
            "integration reloads",
            entry.title,
            err,
        )


async def _async_create_voice(call: ServiceCall) -> ServiceResponse:
    """Check and normalise the recording, clone the voice, and optionally add a profile."""
    hass = call.hass
    entry = await _async_get_entry(call)
    preferred_name: str = call.data[ATTR_PREFERRED_NAME]
    # Checked first: it is instant, while the recording may take a while to prepare.
    if not PREFERRED_NAME.fullmatch(preferred_name):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_preferred_name",
            translation_placeholders={"value": preferred_name},
        )
    recording = await async_prepare_recording(hass, call.data[ATTR_RECORDING])
    if recording.trimmed:
        LOGGER.info(
            "The recording for voice %s is %s s long; only its first %.0f s are uploaded",
            preferred_name,
            "?" if recording.original_duration is None else f"{recording.original_duration:.1f}",
            recording.duration,
        )
    language: str | None = call.data.get(ATTR_LANGUAGE)
    try:
        voice = await entry.runtime_data.client.create_voice(
            target_model=call.data[ATTR_TARGET_MODEL],
            preferred_name=preferred_name,
            audio=recording.data_uri,
            text=call.data.get(ATTR_TEXT),
            language=language,
        )
    except QwenTtsError as err:
        raise to_ha_error(hass, entry, err) from err
    LOGGER.info("Created cloned voice %s for %s", voice.voice_id, voice.target_model)
    await _async_refresh_voices(hass, entry)
    response: dict[str, Any] = {
        ATTR_VOICE_ID: voice.voice_id,
        ATTR_TARGET_MODEL: voice.target_model,
        ATTR_RECORDING: recording.as_dict(),
    }
    if call.data[ATTR_CREATE_PROFILE]:
        response[ATTR_PROFILE_SUBENTRY_ID] = _add_profile(hass, entry, voice, language)
    return response


async def _async_design_voice(call: ServiceCall) -> ServiceResponse:
    """Design a voice from its description, keep its preview in the media folder.

    The response names the preview's ``media-source://`` id, so it can be played
    at once; optionally a voice profile speaking with the new voice is added.
    """
    hass = call.hass
    entry = await _async_get_entry(call)
    # Known before anything is sent: a voice whose preview has nowhere to go is not made.
    folder = preview_folder(hass)
    language: str | None = call.data.get(ATTR_LANGUAGE)
    try:
        designed = await entry.runtime_data.client.design_voice(
            target_model=call.data[ATTR_TARGET_MODEL],
            voice_prompt=call.data[ATTR_VOICE_PROMPT],
            preview_text=call.data[ATTR_PREVIEW_TEXT],
            preferred_name=call.data[ATTR_PREFERRED_NAME],
            language=language,
        )
    except QwenTtsError as err:
        raise to_ha_error(hass, entry, err) from err
    voice = designed.voice
    LOGGER.info("Designed voice %s for %s", voice.voice_id, voice.target_model)
    response: dict[str, Any] = {
        ATTR_VOICE_ID: voice.voice_id,
        ATTR_TARGET_MODEL: voice.target_model,
        "preview": await async_keep_preview(hass, folder, designed),
    }
    await _async_refresh_voices(hass, entry)
    if call.data[ATTR_CREATE_PROFILE]:
        response[ATTR_PROFILE_SUBENTRY_ID] = _add_profile(hass, entry, voice, language)
    return response


def _add_profile(
    hass: HomeAssistant, entry: QwenTtsConfigEntry, voice: EnrolledVoice, language: str | None
) -> str:
    """Add a voice profile (and so a TTS entity) speaking with ``voice``; return its id."""
    data = {**DEFAULT_PROFILE, CONF_MODEL: voice.target_model, CONF_VOICE: voice.voice_id}
    if language:
        data[CONF_LANGUAGE_TYPE] = language_type_for(language)
    subentry = ConfigSubentry(
        data=MappingProxyType(data),
        subentry_type=SUBENTRY_TTS,
        title=profile_title(entry, voice.voice_id),
        unique_id=None,
    )
    hass.config_entries.async_add_subentry(entry, subentry)
    return subentry.subentry_id


async def _async_list_voices(call: ServiceCall) -> ServiceResponse:
    """Return the account's cloned and designed voices, newest first (and refresh the pickers)."""
    entry = await _async_get_entry(call)
    try:
        voices = await async_refresh_voices(call.hass, entry)
    except QwenTtsError as err:
        raise to_ha_error(call.hass, entry, err) from err
    return {
        "voices": [
            {
                ATTR_VOICE_ID: voice.voice_id,
                ATTR_TARGET_MODEL: voice.target_model,
                "created": voice.created,
                ATTR_LANGUAGE: voice.language,
                "kind": voice.kind.value,
            }
            for voice in voices
        ]
    }


async def _async_delete_voice(call: ServiceCall) -> None:
    """Delete a cloned or designed voice; profiles still using it get a repair issue."""
    entry = await _async_get_entry(call)
    voice_id: str = call.data[ATTR_VOICE_ID].strip()
    if not voice_id:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="voice_id_required")
    # A listed voice's kind is known; otherwise the client reads it off the id.
    kind = next(
        (voice.kind for voice in entry.runtime_data.custom_voices if voice.voice_id == voice_id),
        None,
    )
    try:
        await entry.runtime_data.client.delete_voice(voice_id, kind)
    except QwenTtsVoiceNotFoundError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="delete_unknown_voice",
            translation_placeholders={"voice_id": voice_id},
        ) from err
    except QwenTtsError as err:
        raise to_ha_error(call.hass, entry, err) from err
    LOGGER.info("Deleted voice %s", voice_id)
    await _async_refresh_voices(call.hass, entry)
