"""Config flow: the DashScope account, and voice profiles as ``tts`` subentries."""

import logging
from collections.abc import Mapping
from typing import Any, override

import probatio
from homeassistant.components import tts
from homeassistant.components.tts.const import DOMAIN as TTS_DOMAIN
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .api import (
    DEFAULT_MODEL,
    MODELS,
    EnrolledVoice,
    ModelInfo,
    QwenTtsAuthError,
    QwenTtsError,
    QwenTtsValidationError,
    Region,
    SessionConfig,
    VoiceKind,
    models_for_region,
    warm_by_default,
)
from .api.catalog import RATE_RANGE, VOLUME_RANGE
from .api.validation import validate_session_config
from .const import (
    AUDIO_OUTPUTS,
    CONF_AUDIO_OUTPUT,
    CONF_BASE_URL,
    CONF_FALLBACK_ENGINE,
    CONF_INSTRUCTIONS,
    CONF_LANGUAGE_TYPE,
    CONF_MODEL,
    CONF_PITCH_RATE,
    CONF_PRONUNCIATION,
    CONF_REGION,
    CONF_SPEECH_RATE,
    CONF_VOICE,
    CONF_VOLUME,
    CONF_WARM_SESSION,
    DEFAULT_LANGUAGE_TYPE,
    DEFAULT_PROFILE,
    DEFAULT_PROFILE_TITLE,
    DOMAIN,
    OUTPUT_MP3,
    SERVICE_CREATE_VOICE,
    SERVICE_DESIGN_VOICE,
    SUBENTRY_TTS,
)
from .data import (
    QwenTtsConfigEntry,
    account_unique_id,
    create_client,
    endpoint_from_data,
    profile_title,
)
from .pronunciation import PronunciationSyntaxError, parse_pronunciation

_LOGGER = logging.getLogger(__name__)

_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
ACCOUNT_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_REGION, default=Region.BEIJING.value): SelectSelector(
            SelectSelectorConfig(
                options=[region.value for region in Region],
                mode=SelectSelectorMode.LIST,
                translation_key=CONF_REGION,
            )
        ),
        probatio.Required(probatio.Secret(CONF_API_KEY)): _PASSWORD,
    }
)
CUSTOM_ENDPOINT_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_BASE_URL): TextSelector(
            TextSelectorConfig(type=TextSelectorType.URL)
        ),
        probatio.Required(probatio.Secret(CONF_API_KEY)): _PASSWORD,
    }
)
API_KEY_SCHEMA = probatio.Schema({probatio.Required(probatio.Secret(CONF_API_KEY)): _PASSWORD})

# A key rejected by one region may belong to the other: DashScope keys are bound to a region.
_OTHER_REGION = {Region.BEIJING: Region.SINGAPORE, Region.SINGAPORE: Region.BEIJING}


def _stripped(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the spaces and line breaks that copying a key or URL from a console brings along."""
    return {key: value.strip() for key, value in user_input.items()}


async def _async_validate_account(hass: HomeAssistant, data: Mapping[str, Any]) -> dict[str, str]:
    """Try the key with the free voice-list call; return the form errors (empty when it works)."""
    try:
        await create_client(hass, data).validate_key()
    except QwenTtsValidationError:
        return {CONF_BASE_URL: "invalid_base_url"}
    except QwenTtsAuthError:
        return {"base": await _async_rejected_key_error(hass, data)}
    except QwenTtsError:
        return {"base": "cannot_connect"}
    except Exception:
        _LOGGER.exception("Unexpected error while checking the API key")
        return {"base": "unknown"}
    return {}


async def _async_rejected_key_error(hass: HomeAssistant, data: Mapping[str, Any]) -> str:
    """Name the region a rejected key belongs to, when the other region accepts it."""
    other = _OTHER_REGION.get(Region(data[CONF_REGION]))
    if other is None:  # a custom endpoint: there is no region to blame
        return "invalid_auth_endpoint"
    try:
        await create_client(hass, {**data, CONF_REGION: other}).validate_key()
    except QwenTtsError:
        return "invalid_auth"
    return f"key_for_{other}"


class QwenTtsConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a DashScope account: region or custom endpoint, and API key."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._account: dict[str, Any] = {}

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the region and the API key."""
        return await self._async_step_account("user", user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the region, endpoint or key of an existing account."""
        return await self._async_step_account("reconfigure", user_input)

    async def _async_step_account(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Show the region + key form; custom endpoints continue on the ``custom`` step."""
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = self._account = _stripped(user_input)
            if user_input[CONF_REGION] == Region.CUSTOM:
                return await self.async_step_custom()
            if not (errors := await _async_validate_account(self.hass, user_input)):
                return await self._async_save_account(user_input)
        # The stored key is never sent back to the browser: reconfigure asks for it again.
        suggested = user_input or (
            self._get_reconfigure_entry().data if step_id == "reconfigure" else None
        )
        if suggested is not None:
            suggested = {key: value for key, value in suggested.items() if key != CONF_API_KEY}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(ACCOUNT_SCHEMA, suggested),
            errors=errors,
        )

    async def async_step_custom(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the base URL of a custom endpoint (workspace domain, proxy, own server)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {CONF_REGION: Region.CUSTOM.value, **_stripped(user_input)}
            if not (errors := await _async_validate_account(self.hass, data)):
                return await self._async_save_account(data)
            self._account = data
        elif self.source != SOURCE_USER and not self._account.get(CONF_BASE_URL):
            self._account[CONF_BASE_URL] = self._get_reconfigure_entry().data.get(CONF_BASE_URL)
        return self.async_show_form(
            step_id="custom",
            data_schema=self.add_suggested_values_to_schema(CUSTOM_ENDPOINT_SCHEMA, self._account),
            errors=errors,
        )

    async def async_step_reauth(
        self,
        entry_data: Mapping[str, Any],  # noqa: ARG002 - the entry is read in the next step
    ) -> ConfigFlowResult:
        """Start re-authentication after DashScope rejected the key."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new key for the same endpoint."""
        errors: dict[str, str] = {}
        entry = self._get_reauth_entry()
        if user_input is not None:
            data = {**entry.data, **_stripped(user_input)}
            if not (errors := await _async_validate_account(self.hass, data)):
                return await self._async_save_account(data)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=API_KEY_SCHEMA,
            errors=errors,
            description_placeholders={"endpoint": str(endpoint_from_data(entry.data).base_url)},
        )

    async def _async_save_account(self, data: Mapping[str, Any]) -> ConfigFlowResult:
        """Create the entry, or update the one being re-authenticated or reconfigured.

        Whatever the source, the result must not duplicate another configured account.
        """
        data = {key: data[key] for key in (CONF_REGION, CONF_BASE_URL, CONF_API_KEY) if key in data}
        await self.async_set_unique_id(
            account_unique_id(data), raise_on_progress=self.source == SOURCE_USER
        )
        if self.source == SOURCE_USER:
            self._abort_if_unique_id_configured()
            return self.async_create_entry(
                title=f"Qwen TTS ({endpoint_from_data(data).base_url.host})",
                data=data,
                subentries=[
                    {
                        "subentry_type": SUBENTRY_TTS,
                        "data": DEFAULT_PROFILE,
                        "title": DEFAULT_PROFILE_TITLE,
                        "unique_id": None,
                    }
                ],
            )
        entry = (
            self._get_reauth_entry()
            if self.source == SOURCE_REAUTH
            else self._get_reconfigure_entry()
        )
        if self.unique_id != entry.unique_id:
            self._abort_if_unique_id_configured()
        # A loaded entry reloads through its update listener; a failed one must be reloaded here.
        if entry.update_listeners:
            return self.async_update_and_abort(entry, unique_id=self.unique_id, data=data)
        return self.async_update_reload_and_abort(entry, unique_id=self.unique_id, data=data)

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Offer voice profiles: each one is a TTS entity."""
        return {SUBENTRY_TTS: QwenTtsProfileFlowHandler}


def custom_voice_option(voice: EnrolledVoice) -> SelectOptionDict:
    """Offer a cloned or designed voice under the same label the TTS voice list uses."""
    return SelectOptionDict(value=voice.voice_id, label=voice.label)


def custom_voice_options(entry: QwenTtsConfigEntry, model_id: str) -> list[SelectOptionDict]:
    """Offer the account's cloned or designed voices made for ``model_id``."""
    return [
        custom_voice_option(voice)
        for voice in entry.runtime_data.custom_voices
        if voice.target_model == model_id
    ]


def no_voices_abort(model: ModelInfo) -> tuple[str, str]:
    """Return the abort reason for a custom-voice model without voices, and the fixing action."""
    if model.voice_kind is VoiceKind.DESIGNED:
        return "no_designed_voices", f"{DOMAIN}.{SERVICE_DESIGN_VOICE}"
    return "no_cloned_voices", f"{DOMAIN}.{SERVICE_CREATE_VOICE}"


def _choice(current: Any, allowed: list[str], fallback: str) -> str:
    """Keep the current value when it is still allowed, else use ``fallback``."""
    return current if current in allowed else fallback


class QwenTtsProfileFlowHandler(ConfigSubentryFlow):
    """Add or change a voice profile: model first, then the voice and its settings."""

    def __init__(self) -> None:
        """Start without a profile."""
        self._profile: dict[str, Any] = {}
        self._model: ModelInfo

    async def async_step_user(
        self,
        user_input: dict[str, Any] | None = None,  # noqa: ARG002 - the form is the next step
    ) -> SubentryFlowResult:
        """Add a profile, starting from the default one but with a voice not yet in use."""
        self._profile = {key: value for key, value in DEFAULT_PROFILE.items() if key != CONF_VOICE}
        return await self.async_step_model()

    async def async_step_reconfigure(
        self,
        user_input: dict[str, Any] | None = None,  # noqa: ARG002 - the form is the next step
    ) -> SubentryFlowResult:
        """Change a profile, starting from its current settings."""
        self._profile = dict(self._get_reconfigure_subentry().data)
        return await self.async_step_model()

    async def async_step_model(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Pick the model; the voices and settings offered next depend on it."""
        entry: QwenTtsConfigEntry = self._get_entry()
        # The cloned voices come from the loaded entry.
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="entry_not_loaded")
        if user_input is not None:
            # The selector only accepts catalogue models.
            self._model = MODELS[user_input[CONF_MODEL]]
            return await self.async_step_voice()
        models = [model.model_id for model in models_for_region(Region(entry.data[CONF_REGION]))]
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_MODEL,
                    default=_choice(self._profile.get(CONF_MODEL), models, DEFAULT_MODEL),
                ): SelectSelector(
                    SelectSelectorConfig(
                        options=models, mode=SelectSelectorMode.DROPDOWN, translation_key=CONF_MODEL
                    )
                )
            }
        )
        return self.async_show_form(step_id="model", data_schema=schema)

    async def async_step_voice(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Pick the voice and tune it; the settings are checked against the model."""
        model = self._model
        voices = self._voice_options(model)
        if not voices:
            reason, action = no_voices_abort(model)
            return self.async_abort(
                reason=reason,
                description_placeholders={"model": model.model_id, "action": action},
            )
        errors: dict[str, str] = {}
        placeholders = {"model": model.model_id}
        if user_input is not None:
            profile = self._profile_from_input(model, user_input)
            try:
                parse_pronunciation(profile.get(CONF_PRONUNCIATION, ""))
                validate_session_config(model.model_id, _session_config(profile))
            except PronunciationSyntaxError as err:
                errors[CONF_PRONUNCIATION] = "invalid_pronunciation"
                placeholders["line"] = str(err.line)
            except QwenTtsValidationError as err:
                errors["base"] = err.reason
                placeholders |= err.details
            if fallback_error := self._fallback_error(profile.get(CONF_FALLBACK_ENGINE)):
                errors[CONF_FALLBACK_ENGINE] = fallback_error
            if not errors:
                return self._async_save_profile(profile)
            self._profile |= user_input
        return self.async_show_form(
            step_id="voice",
            data_schema=self._voice_schema(model, voices),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _voice_options(self, model: ModelInfo) -> list[SelectOptionDict]:
        """Return the voices to pick from: the model's own, or the account's made for it."""
        if model.speaks_custom_voices:
            return custom_voice_options(self._get_entry(), model.model_id)
        return [
            SelectOptionDict(value=voice.voice_id, label=voice.display_name)
            for voice in model.voices
        ]

    def _voice_schema(self, model: ModelInfo, voices: list[SelectOptionDict]) -> probatio.Schema:
        """Build the voice form: only the settings the model supports."""
        profile = self._profile
        fields: dict[Any, Any] = {}
        voice_ids = [voice["value"] for voice in voices]
        fields[
            probatio.Required(
                CONF_VOICE,
                default=_choice(profile.get(CONF_VOICE), voice_ids, self._unused_voice(voice_ids)),
            )
        ] = SelectSelector(SelectSelectorConfig(options=voices, mode=SelectSelectorMode.DROPDOWN))
        # Translation keys must be lower case; the profile keeps the service's spelling.
        languages = [language.lower() for language in model.language_types]
        fields[
            probatio.Required(
                CONF_LANGUAGE_TYPE,
                default=_choice(
                    str(profile.get(CONF_LANGUAGE_TYPE)).lower(),
                    languages,
                    DEFAULT_LANGUAGE_TYPE.lower(),
                ),
            )
        ] = SelectSelector(
            SelectSelectorConfig(
                options=languages,
                mode=SelectSelectorMode.DROPDOWN,
                translation_key=CONF_LANGUAGE_TYPE,
            )
        )
        if model.tuning:
            for key, (low, high), step in (
                (CONF_SPEECH_RATE, RATE_RANGE, 0.05),
                (CONF_PITCH_RATE, RATE_RANGE, 0.05),
                (CONF_VOLUME, VOLUME_RANGE, 1),
            ):
                fields[probatio.Required(key, default=profile.get(key, DEFAULT_PROFILE[key]))] = (
                    NumberSelector(
                        NumberSelectorConfig(
                            min=low, max=high, step=step, mode=NumberSelectorMode.SLIDER
                        )
                    )
                )
        if model.instructions:
            fields[
                probatio.Optional(
                    CONF_INSTRUCTIONS,
                    description={"suggested_value": profile.get(CONF_INSTRUCTIONS)},
                )
            ] = TextSelector(TextSelectorConfig(multiline=True))
        fields[
            probatio.Optional(
                CONF_PRONUNCIATION,
                description={"suggested_value": profile.get(CONF_PRONUNCIATION)},
            )
        ] = TextSelector(TextSelectorConfig(multiline=True))
        outputs = [
            output for output in AUDIO_OUTPUTS if output != OUTPUT_MP3 or "mp3" in model.formats
        ]
        fields[
            probatio.Required(
                CONF_AUDIO_OUTPUT,
                default=_choice(profile.get(CONF_AUDIO_OUTPUT), outputs, outputs[0]),
            )
        ] = SelectSelector(
            SelectSelectorConfig(
                options=outputs, mode=SelectSelectorMode.LIST, translation_key=CONF_AUDIO_OUTPUT
            )
        )
        fields[
            probatio.Optional(
                CONF_FALLBACK_ENGINE,
                description={"suggested_value": profile.get(CONF_FALLBACK_ENGINE)},
            )
        ] = EntitySelector(
            EntitySelectorConfig(
                domain=TTS_DOMAIN,
                exclude_entities=[own] if (own := self._own_entity_id()) else [],
            )
        )
        fields[probatio.Required(CONF_WARM_SESSION, default=_warm_choice(profile, model))] = (
            BooleanSelector()
        )
        return probatio.Schema(fields)

    def _unused_voice(self, voice_ids: list[str]) -> str:
        """Return the first voice no other profile speaks with (a new profile's default).

        Accepting the defaults twice must not make two identical "Cherry" profiles.
        """
        current = None if self.source == SOURCE_USER else self._get_reconfigure_subentry()
        used = {
            sub.data.get(CONF_VOICE)
            for sub in self._get_entry().subentries.values()
            if sub is not current
        }
        return next((voice for voice in voice_ids if voice not in used), voice_ids[0])

    def _own_entity_id(self) -> str | None:
        """Return the TTS entity of the profile being reconfigured (a new one has none yet)."""
        if self.source == SOURCE_USER:
            return None
        subentry_id = self._get_reconfigure_subentry().subentry_id
        return er.async_get(self.hass).async_get_entity_id(TTS_DOMAIN, DOMAIN, subentry_id)

    def _fallback_error(self, engine: str | None) -> str | None:
        """Return the form error for a fallback engine that does not exist.

        The selector itself refuses other domains and the profile's own entity.
        """
        if engine is not None and tts.async_resolve_engine(self.hass, engine) is None:
            return "fallback_not_found"
        return None

    @staticmethod
    def _profile_from_input(model: ModelInfo, user_input: Mapping[str, Any]) -> dict[str, Any]:
        """Return the profile data: only what the model supports, blank texts dropped."""
        profile: dict[str, Any] = {
            CONF_MODEL: model.model_id,
            CONF_VOICE: user_input[CONF_VOICE].strip(),
            CONF_LANGUAGE_TYPE: next(
                language
                for language in model.language_types
                if language.lower() == user_input[CONF_LANGUAGE_TYPE]
            ),
            CONF_AUDIO_OUTPUT: user_input[CONF_AUDIO_OUTPUT],
            CONF_WARM_SESSION: bool(user_input[CONF_WARM_SESSION]),
        }
        if model.tuning:
            profile[CONF_SPEECH_RATE] = float(user_input[CONF_SPEECH_RATE])
            profile[CONF_PITCH_RATE] = float(user_input[CONF_PITCH_RATE])
            profile[CONF_VOLUME] = int(user_input[CONF_VOLUME])
        for key in (CONF_INSTRUCTIONS, CONF_PRONUNCIATION):
            if text := user_input.get(key, "").strip():
                profile[key] = text
        if fallback := user_input.get(CONF_FALLBACK_ENGINE):
            profile[CONF_FALLBACK_ENGINE] = fallback
        return profile

    def _async_save_profile(self, profile: dict[str, Any]) -> SubentryFlowResult:
        """Create the profile, or update the one being reconfigured (the entry reloads)."""
        entry = self._get_entry()
        if self.source == SOURCE_USER:
            return self.async_create_entry(
                title=profile_title(entry, profile[CONF_VOICE]), data=profile
            )
        subentry = self._get_reconfigure_subentry()
        title = profile_title(entry, profile[CONF_VOICE], subentry.subentry_id)
        return self.async_update_and_abort(entry, subentry, title=title, data=profile)


def _warm_choice(profile: Mapping[str, Any], model: ModelInfo) -> bool:
    """Offer the profile's own choice for its model; another model starts from its default."""
    if profile.get(CONF_MODEL) == model.model_id and CONF_WARM_SESSION in profile:
        return bool(profile[CONF_WARM_SESSION])
    return warm_by_default(model.model_id)


def _session_config(profile: Mapping[str, Any]) -> SessionConfig:
    """Return the session settings a profile stands for, to validate them."""
    return SessionConfig(
        voice=profile[CONF_VOICE],
        response_format="mp3" if profile[CONF_AUDIO_OUTPUT] == OUTPUT_MP3 else "pcm",
        speech_rate=profile.get(CONF_SPEECH_RATE),
        pitch_rate=profile.get(CONF_PITCH_RATE),
        volume=profile.get(CONF_VOLUME),
        language_type=profile[CONF_LANGUAGE_TYPE],
        instructions=profile.get(CONF_INSTRUCTIONS),
    )
