"""Repairs: a voice profile whose cloned or designed voice is gone, and the fix for it."""

from http import HTTPStatus
from typing import Any

import pytest
from homeassistant.components import tts
from homeassistant.components.tts.const import DOMAIN as TTS_DOMAIN
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryDataWithId
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.qwen_tts_realtime.api import CLONING_MODELS, DESIGN_MODELS
from custom_components.qwen_tts_realtime.const import (
    CONF_MODEL,
    CONF_VOICE,
    CONF_WARM_SESSION,
    DEFAULT_PROFILE,
    DOMAIN,
    SUBENTRY_TTS,
)

from .dashscope_emulator import DashScopeEmulator, VoiceRecord
from .enrollment_helpers import offered_voices

VC_MODEL = CLONING_MODELS[0]
VD_MODEL = DESIGN_MODELS[0]
GRANDPA = "qwen-tts-vc-grandpa-voice-20260301101010123-a1b2"
GRANDMA = "qwen-tts-vc-grandma-voice-20260302101010123-b2c3"
TEACHER = "qwen-tts-vc-teacher-voice-20260201090909123-c3d4"
PROFILE_ID = "profile_grandpa"


def _voice(
    voice_id: str, target_model: str, created: str, designer: str = "qwen-voice-enrollment"
) -> VoiceRecord:
    """Return a cloned (or, with the design model as ``designer``, designed) voice."""
    name = voice_id.split("-")[3]
    return VoiceRecord(
        voice=voice_id,
        target_model=target_model,
        preferred_name=name,
        gmt_create=created,
        designer=designer,
    )


def _with_profile(entry: MockConfigEntry, model: str, voice: str) -> MockConfigEntry:
    """Return the account with a second profile, PROFILE_ID, speaking with ``voice``.

    Its warm session is off: these tests count the sessions a request opens.
    """
    return MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        data=dict(entry.data),
        unique_id=entry.unique_id,
        subentries_data=[
            *(subentry.as_dict() for subentry in entry.subentries.values()),
            ConfigSubentryDataWithId(
                data=DEFAULT_PROFILE
                | {CONF_MODEL: model, CONF_VOICE: voice, CONF_WARM_SESSION: False},
                subentry_id=PROFILE_ID,
                subentry_type=SUBENTRY_TTS,
                title=voice.split("-")[3],
                unique_id=None,
            ),
        ],
    )


@pytest.fixture
def vc_entry(mock_config_entry: MockConfigEntry) -> MockConfigEntry:
    """Return the account with a second profile speaking with the cloned voice "grandpa"."""
    return _with_profile(mock_config_entry, VC_MODEL, GRANDPA)


@pytest.fixture
async def setup_repairs(hass: HomeAssistant) -> None:
    """Set up the Repairs dashboard's back end."""
    assert await async_setup_component(hass, "repairs", {})


async def _set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add the account and set it up against the emulator."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def _issues(hass: HomeAssistant) -> list[ir.IssueEntry]:
    """Return the integration's open issues."""
    return [
        issue
        for (domain, _), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue.active
    ]


async def _start_fix(client: Any, issue: ir.IssueEntry) -> dict[str, Any]:
    """Open the issue's fix flow, as the Repairs dashboard does."""
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue.issue_id}
    )
    assert response.status == HTTPStatus.OK
    result: dict[str, Any] = await response.json()
    return result


async def _submit(client: Any, flow_id: str, user_input: dict[str, Any]) -> dict[str, Any]:
    """Submit the fix flow's form."""
    response = await client.post(f"/api/repairs/issues/fix/{flow_id}", json=user_input)
    assert response.status == HTTPStatus.OK
    result: dict[str, Any] = await response.json()
    return result


def _profile_entity(hass: HomeAssistant) -> str:
    """Return the TTS entity of the profile PROFILE_ID."""
    entity_id = er.async_get(hass).async_get_entity_id(TTS_DOMAIN, DOMAIN, PROFILE_ID)
    assert entity_id is not None
    return entity_id


async def _refused_announcement(hass: HomeAssistant, text: str) -> ir.IssueEntry:
    """Speak with the profile whose voice is gone; return the issue the refusal opened."""
    stream = tts.async_create_stream(
        hass, _profile_entity(hass), None, {tts.ATTR_PREFERRED_FORMAT: "wav"}
    )
    stream.async_set_message(text)
    with pytest.raises(HomeAssistantError) as err:
        _ = [chunk async for chunk in stream.async_stream_result()]
    assert err.value.translation_key == "voice_not_found"
    [issue] = _issues(hass)
    return issue


def _offered(result: dict[str, Any]) -> list[str]:
    """Return the voices the fix form offers (each labelled with its name)."""
    [field] = result["data_schema"]
    assert field["name"] == CONF_VOICE
    options = field["selector"]["select"]["options"]
    assert all(option["label"].startswith("grandma (2026-03-02") for option in options)
    return [option["value"] for option in options]


@pytest.mark.usefixtures("setup_repairs")
async def test_deleting_a_profiles_voice_raises_an_issue_that_the_fix_resolves(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    vc_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Delete "grandpa": the profile gets an issue; picking "grandma" in the fix closes it."""
    emulator.voices[GRANDPA] = _voice(GRANDPA, VC_MODEL, "2026-03-01 10:10:10")
    emulator.voices[GRANDMA] = _voice(GRANDMA, VC_MODEL, "2026-03-02 10:10:10")
    # Made for another model: no use to this profile.
    emulator.voices[TEACHER] = _voice(TEACHER, CLONING_MODELS[1], "2026-02-01 09:09:09")
    await _set_up(hass, vc_entry)
    assert _issues(hass) == []

    await hass.services.async_call(DOMAIN, "delete_voice", {"voice_id": GRANDPA}, blocking=True)

    [issue] = _issues(hass)
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == "cloned_voice_missing"
    assert issue.translation_placeholders == {
        "profile": "grandpa",
        "voice": GRANDPA,
        "model": VC_MODEL,
    }

    client = await hass_client()
    result = await _start_fix(client, issue)
    assert result["type"] == "form"
    assert result["description_placeholders"] == {
        "profile": "grandpa",
        "voice": GRANDPA,
        "model": VC_MODEL,
        "action": f"{DOMAIN}.create_voice",
    }
    assert _offered(result) == [GRANDMA]

    result = await _submit(client, result["flow_id"], {CONF_VOICE: GRANDMA})
    await hass.async_block_till_done()

    assert result["type"] == "create_entry"
    profile = vc_entry.subentries[PROFILE_ID]
    assert profile.data[CONF_VOICE] == GRANDMA
    # The profile was named after its voice, so it follows the new one.
    assert profile.title == "grandma"
    assert vc_entry.state is ConfigEntryState.LOADED
    assert _issues(hass) == []
    entity_id = entity_registry.async_get_entity_id(TTS_DOMAIN, DOMAIN, PROFILE_ID)
    assert entity_id is not None
    assert offered_voices(hass, entity_id)[0] == GRANDMA


@pytest.mark.usefixtures("setup_repairs")
async def test_a_voice_deleted_elsewhere_is_found_at_start_up(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    vc_entry: MockConfigEntry,
) -> None:
    """Deleted in the Model Studio console: the issue is there when the account loads.

    With no other voice for the model the fix explains what to do and the issue stays;
    once a voice is cloned (here: in the console, then listed) the fix offers it.
    """
    await _set_up(hass, vc_entry)
    [issue] = _issues(hass)
    client = await hass_client()

    result = await _start_fix(client, issue)

    assert result["type"] == "abort"
    assert result["reason"] == "no_cloned_voices"
    assert result["description_placeholders"]["action"] == f"{DOMAIN}.create_voice"
    assert [issue.issue_id for issue in _issues(hass)] == [issue.issue_id]

    emulator.voices[GRANDMA] = _voice(GRANDMA, VC_MODEL, "2026-03-02 10:10:10")
    await hass.services.async_call(DOMAIN, "list_voices", {}, blocking=True, return_response=True)
    # Another voice does not bring the profile's own voice back.
    assert [issue.issue_id for issue in _issues(hass)] == [issue.issue_id]

    result = await _start_fix(client, issue)
    assert _offered(result) == [GRANDMA]

    # A profile the user named keeps its name.
    hass.config_entries.async_update_subentry(
        vc_entry, vc_entry.subentries[PROFILE_ID], title="Bedtime stories"
    )
    await hass.async_block_till_done()
    [issue] = _issues(hass)
    result = await _submit(
        client, (await _start_fix(client, issue))["flow_id"], {CONF_VOICE: GRANDMA}
    )
    await hass.async_block_till_done()
    assert result["type"] == "create_entry"
    profile = vc_entry.subentries[PROFILE_ID]
    assert (profile.title, profile.data[CONF_VOICE]) == ("Bedtime stories", GRANDMA)
    assert _issues(hass) == []


@pytest.mark.usefixtures("setup_repairs")
@pytest.mark.parametrize("error_details", [True, False], ids=["nov-2025", "2026"])
async def test_a_voice_the_service_no_longer_has_raises_the_issue_at_once(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    vc_entry: MockConfigEntry,
    error_details: bool,
) -> None:
    """Deleted in the console after start-up: the refused announcement opens the issue now.

    Both shapes of the service's ``error`` event (with and without ``param``) count.
    """
    emulator.voices[GRANDPA] = _voice(GRANDPA, VC_MODEL, "2026-03-01 10:10:10")
    emulator.voices[GRANDMA] = _voice(GRANDMA, VC_MODEL, "2026-03-02 10:10:10")
    emulator.options.error_details = error_details
    await _set_up(hass, vc_entry)
    assert _issues(hass) == []
    del emulator.voices[GRANDPA]

    issue = await _refused_announcement(hass, "晚安，做个好梦。")

    assert issue.translation_key == "cloned_voice_missing"
    assert issue.translation_placeholders == {
        "profile": "grandpa",
        "voice": GRANDPA,
        "model": VC_MODEL,
    }
    # The fix offers what is left, not the voice that was refused.
    assert _offered(await _start_fix(await hass_client(), issue)) == [GRANDMA]
    await emulator.wait_sessions_closed()


@pytest.mark.usefixtures("setup_repairs", "mock_tts_cache_dir")
async def test_a_designed_voice_that_disappears_raises_its_issue(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Designed voices get the same issue, in their own words, and a fix with designed voices.

    "nainai" is deleted in the console: the refused announcement opens the issue and the fix
    offers "announcer"; once that is deleted too, the fix points to the design_voice action.
    """
    nainai = "qwen-tts-vd-nainai-voice-20260301101010123-a1b2"
    announcer = "qwen-tts-vd-announcer-voice-20260302101010123-b2c3"
    for voice_id, created in ((nainai, "2026-03-01 10:10:10"), (announcer, "2026-03-02 10:10:10")):
        emulator.voices[voice_id] = _voice(voice_id, VD_MODEL, created, "qwen-voice-design")
    entry = _with_profile(mock_config_entry, VD_MODEL, nainai)
    await _set_up(hass, entry)
    assert _issues(hass) == []
    assert offered_voices(hass, _profile_entity(hass)) == [nainai, announcer]
    del emulator.voices[nainai]

    issue = await _refused_announcement(hass, "乖孙，吃饭了。")

    assert issue.translation_key == "designed_voice_missing"
    assert issue.translation_placeholders == {
        "profile": "nainai",
        "voice": nainai,
        "model": VD_MODEL,
    }
    client = await hass_client()
    result = await _start_fix(client, issue)
    assert result["description_placeholders"]["action"] == f"{DOMAIN}.design_voice"
    [field] = result["data_schema"]
    assert [option["value"] for option in field["selector"]["select"]["options"]] == [announcer]

    await hass.services.async_call(DOMAIN, "delete_voice", {"voice_id": announcer}, blocking=True)
    result = await _start_fix(client, issue)
    assert (result["type"], result["reason"]) == ("abort", "no_designed_voices")
    await emulator.wait_sessions_closed()


async def test_designed_voices_the_endpoint_cannot_list_are_not_called_deleted(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An endpoint without voice design loads, and its designed-voice profile gets no issue."""
    emulator.options.voice_design = False
    entry = _with_profile(mock_config_entry, VD_MODEL, "qwen-tts-vd-nainai-voice-1-a1b2")

    await _set_up(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    assert _issues(hass) == []
    assert "The designed voices cannot be listed" in caplog.text


@pytest.mark.usefixtures("emulator")
async def test_removing_the_profile_or_the_account_closes_the_issue(
    hass: HomeAssistant, vc_entry: MockConfigEntry
) -> None:
    """An issue lives only as long as its profile and its loaded account."""
    await _set_up(hass, vc_entry)
    assert len(_issues(hass)) == 1

    assert await hass.config_entries.async_unload(vc_entry.entry_id)
    assert _issues(hass) == []

    assert await hass.config_entries.async_setup(vc_entry.entry_id)
    assert len(_issues(hass)) == 1
    hass.config_entries.async_remove_subentry(vc_entry, PROFILE_ID)
    await hass.async_block_till_done()
    assert vc_entry.state is ConfigEntryState.LOADED
    assert _issues(hass) == []


@pytest.mark.usefixtures("setup_repairs", "init_integration")
async def test_a_fix_for_a_vanished_profile_says_so(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """An issue whose profile is gone (a race with its removal) cannot change anything."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        "voice_missing_gone",
        is_fixable=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key="cloned_voice_missing",
        data={"entry_id": "gone", "subentry_id": "gone"},
    )
    [issue] = _issues(hass)

    result = await _start_fix(await hass_client(), issue)

    assert result["type"] == "abort"
    assert result["reason"] == "profile_unavailable"
