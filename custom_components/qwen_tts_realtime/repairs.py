"""Repairs: voice profiles whose cloned or designed voice was deleted, and the fixing flow."""

from typing import Any

import probatio
from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.selector import (
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from .api import custom_voice_name, get_model
from .config_flow import custom_voice_options, no_voices_abort
from .const import CONF_MODEL, CONF_VOICE, DOMAIN, voices_updated_signal
from .data import QwenTtsConfigEntry, profile_title

ISSUE_VOICE_MISSING = "voice_missing"


def _issue_id(entry_id: str, subentry_id: str) -> str:
    """Return the issue id of one profile."""
    return f"{ISSUE_VOICE_MISSING}_{entry_id}_{subentry_id}"


@callback
def async_watch_custom_voices(hass: HomeAssistant, entry: QwenTtsConfigEntry) -> None:
    """Keep a repair issue open for every profile whose cloned or designed voice is gone.

    Checked now and whenever the entry's custom voices are refreshed; the issues go
    away with the entry (a reload checks again).
    """

    @callback
    def check_profiles() -> None:
        """Open or close the issue of each profile."""
        _async_check_profiles(hass, entry)

    check_profiles()
    entry.async_on_unload(
        async_dispatcher_connect(hass, voices_updated_signal(entry.entry_id), check_profiles)
    )
    entry.async_on_unload(lambda: _async_delete_issues(hass, entry.entry_id))


@callback
def _async_check_profiles(hass: HomeAssistant, entry: QwenTtsConfigEntry) -> None:
    """Open an issue for each custom-voice profile whose voice the account no longer has.

    The issue's text names the kind: ``cloned_voice_missing`` or ``designed_voice_missing``.
    """
    available = {voice.voice_id for voice in entry.runtime_data.custom_voices}
    # Voices of a kind the account could not list are not known to be gone.
    unknown = entry.runtime_data.client.unlisted_kinds
    for subentry in entry.subentries.values():
        model = get_model(subentry.data.get(CONF_MODEL, ""))
        voice = subentry.data.get(CONF_VOICE, "")
        issue_id = _issue_id(entry.entry_id, subentry.subentry_id)
        if (
            model is None
            or not model.speaks_custom_voices
            or model.voice_kind in unknown
            or voice in available
        ):
            ir.async_delete_issue(hass, DOMAIN, issue_id)
            continue
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=True,
            severity=ir.IssueSeverity.ERROR,
            translation_key=f"{model.voice_kind}_voice_missing",
            translation_placeholders={
                "profile": subentry.title,
                "voice": voice,
                "model": model.model_id,
            },
            data={"entry_id": entry.entry_id, "subentry_id": subentry.subentry_id},
        )


@callback
def _async_delete_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Delete the issues of an entry that is unloading."""
    prefix = _issue_id(entry_id, "")
    registry = ir.async_get(hass)
    for domain, issue_id in list(registry.issues):
        if domain == DOMAIN and issue_id.startswith(prefix):
            ir.async_delete_issue(hass, DOMAIN, issue_id)


class CustomVoiceRepairFlow(RepairsFlow):
    """Give a profile another cloned or designed voice of the same model."""

    def __init__(self, entry_id: str, subentry_id: str) -> None:
        """Remember which profile to fix."""
        self._entry_id = entry_id
        self._subentry_id = subentry_id

    async def async_step_init(
        self,
        user_input: dict[str, Any] | None = None,  # noqa: ARG002 - only the issue id
    ) -> RepairsFlowResult:
        """Start with the voice form (the first step's input is the issue, not a choice)."""
        return await self.async_step_voice()

    async def async_step_voice(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Offer the account's other voices for the profile's model, then save the choice."""
        entry: QwenTtsConfigEntry | None = self.hass.config_entries.async_get_entry(self._entry_id)
        if (
            entry is None
            or entry.state is not ConfigEntryState.LOADED
            or (subentry := entry.subentries.get(self._subentry_id)) is None
            or (model := get_model(subentry.data[CONF_MODEL])) is None
        ):
            return self.async_abort(reason="profile_unavailable")
        old_voice = subentry.data[CONF_VOICE]
        no_voices, action = no_voices_abort(model)
        placeholders = {
            "profile": subentry.title,
            "voice": old_voice,
            "model": model.model_id,
            "action": action,
        }
        voices = custom_voice_options(entry, model.model_id)
        if not voices:
            return self.async_abort(reason=no_voices, description_placeholders=placeholders)
        if user_input is not None:
            new_voice = user_input[CONF_VOICE]
            # A profile named after its voice (the default) takes the new voice's name.
            title = subentry.title
            if title == custom_voice_name(old_voice):
                title = profile_title(entry, new_voice, subentry.subentry_id)
            # The entry reloads with the new voice and checks its profiles again.
            self.hass.config_entries.async_update_subentry(
                entry, subentry, data={**subentry.data, CONF_VOICE: new_voice}, title=title
            )
            return self.async_create_entry(data={})
        schema = probatio.Schema(
            {
                probatio.Required(CONF_VOICE): SelectSelector(
                    SelectSelectorConfig(options=voices, mode=SelectSelectorMode.DROPDOWN)
                )
            }
        )
        return self.async_show_form(
            step_id="voice", data_schema=schema, description_placeholders=placeholders
        )


async def async_create_fix_flow(
    hass: HomeAssistant,  # noqa: ARG001 - the signature Home Assistant calls
    issue_id: str,  # noqa: ARG001
    data: dict[str, str | int | float | None] | None,
) -> RepairsFlow:
    """Return the flow that fixes a profile with a deleted cloned or designed voice."""
    issue_data = data or {}
    return CustomVoiceRepairFlow(
        str(issue_data.get("entry_id")), str(issue_data.get("subentry_id"))
    )
