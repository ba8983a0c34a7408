"""The config flow: account set-up, reauth, reconfigure and voice profile subentries."""

import io
import re
import wave
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

import pytest
from homeassistant.components import tts
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntryState,
    ConfigSubentry,
    SubentryFlowContext,
)
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType, InvalidData
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.translation import async_get_translations
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.qwen_tts_realtime.api import (
    EnrolledVoice,
    QwenTtsApiError,
    QwenTtsAuthError,
    QwenTtsConnectionError,
    QwenTtsTimeoutError,
    Region,
    models_for_region,
)
from custom_components.qwen_tts_realtime.const import (
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
    DEFAULT_PROFILE,
    DOMAIN,
    SUBENTRY_TTS,
)
from custom_components.qwen_tts_realtime.data import QwenTtsData, account_unique_id

from .conftest import API_KEY, PROFILE_SUBENTRY_ID
from .dashscope_emulator import (
    DashScopeEmulator,
    EmulatorOptions,
    VoiceRecord,
    synth_audio_seconds,
)

BEIJING_HOST = "dashscope.aliyuncs.com"
SINGAPORE_HOST = "dashscope-intl.aliyuncs.com"
VC_MODEL = "qwen3-tts-vc-realtime-2026-01-15"
CLONED_VOICE = "qwen-tts-vc-grandpa-voice-20260301101010123-a1b2"
DESIGNED_VOICE = "qwen-tts-vd-announcer-voice-20260102030405678-beef"


def _auth_error() -> QwenTtsAuthError:
    """Return what the client raises for a key the region does not know."""
    return QwenTtsAuthError("InvalidApiKey", "Invalid API-key provided.", status=401)


@pytest.fixture
def mock_setup_entry() -> Iterator[AsyncMock]:
    """Keep created entries from setting up, for tests of the flow alone."""
    with patch(
        "custom_components.qwen_tts_realtime.async_setup_entry", return_value=True
    ) as setup_entry:
        yield setup_entry


@pytest.fixture
def mock_client_class() -> Iterator[MagicMock]:
    """Replace the DashScope client where it is built, for the real regions (no internet here)."""
    with patch(
        "custom_components.qwen_tts_realtime.data.QwenTtsClient", autospec=True
    ) as client_class:
        yield client_class


@pytest.fixture
def tts_cache_dir(tmp_path: Path) -> Iterator[Path]:
    """Keep Home Assistant's TTS file cache in a temporary folder."""
    with (
        patch("homeassistant.components.tts._init_tts_cache_dir", return_value=str(tmp_path)),
        patch("homeassistant.components.tts._get_cache_files", return_value={}),
    ):
        yield tmp_path


def _hosts(client_class: MagicMock) -> list[str]:
    """Return the hosts the flow built clients for, in order."""
    return [call.args[2].base_url.host for call in client_class.call_args_list]


def _schema(result: FlowResult[Any, Any]) -> dict[Any, Any]:
    """Return the fields of a form: schema markers mapped to their selectors."""
    data_schema = result["data_schema"]
    assert data_schema is not None
    return dict(data_schema.schema)


def _fields(result: FlowResult[Any, Any]) -> list[str]:
    """Return the names of a form's fields, in order."""
    return [str(key) for key in _schema(result)]


def _marker(result: FlowResult[Any, Any], name: str) -> Any:
    """Return the schema marker (default, suggested value) of one form field."""
    return next(key for key in _schema(result) if key == name)


def _options(result: FlowResult[Any, Any], name: str) -> list[Any]:
    """Return the options of a select field."""
    return list(_schema(result)[_marker(result, name)].config["options"])


def _default(result: FlowResult[Any, Any], name: str) -> Any:
    """Return the value a form field starts with."""
    return _marker(result, name).default()


def _suggested(result: FlowResult[Any, Any], name: str) -> Any:
    """Return the suggested value of a form field (``None`` when there is none)."""
    return (_marker(result, name).description or {}).get("suggested_value")


async def _start_user_flow(hass: HomeAssistant) -> FlowResult[Any, Any]:
    """Open the add-integration dialog."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result


# -- account: user step ------------------------------------------------------------------------


async def test_user_flow_creates_account_with_first_profile(
    hass: HomeAssistant, mock_client_class: MagicMock, mock_setup_entry: AsyncMock
) -> None:
    """A working key creates the account together with a Cherry profile to try right away."""
    result = await _start_user_flow(hass)
    assert _fields(result) == [CONF_REGION, CONF_API_KEY]
    assert _options(result, CONF_REGION) == ["beijing", "singapore", "custom"]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REGION: "singapore", CONF_API_KEY: "sk-intl"}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Qwen TTS ({SINGAPORE_HOST})"
    data = {CONF_REGION: "singapore", CONF_API_KEY: "sk-intl"}
    assert result["data"] == data
    entry = result["result"]
    assert entry.unique_id == account_unique_id(data)
    assert "sk-intl" not in entry.unique_id
    [profile] = entry.subentries.values()
    assert (profile.subentry_type, profile.title) == (SUBENTRY_TTS, "Cherry")
    assert dict(profile.data) == DEFAULT_PROFILE
    # One free voice-list call against the chosen region; nothing is synthesized.
    assert _hosts(mock_client_class) == [SINGAPORE_HOST]
    mock_client_class.return_value.validate_key.assert_awaited_once()
    mock_client_class.return_value.synthesize.assert_not_called()
    mock_setup_entry.assert_called_once()


@pytest.mark.parametrize(
    ("error", "error_base"),
    [
        (QwenTtsConnectionError("Cannot connect"), "cannot_connect"),
        (QwenTtsTimeoutError("No answer in time"), "cannot_connect"),
        (QwenTtsApiError("InternalError", "Something broke", status=400), "cannot_connect"),
        (_auth_error(), "invalid_auth"),
        (RuntimeError("A bug"), "unknown"),
    ],
)
async def test_user_flow_errors_then_recovers(
    hass: HomeAssistant,
    mock_client_class: MagicMock,
    mock_setup_entry: AsyncMock,
    error: Exception,
    error_base: str,
) -> None:
    """Every failure shows its error on the form, and the user can then finish the set-up."""
    client = mock_client_class.return_value
    client.validate_key.side_effect = error
    result = await _start_user_flow(hass)
    user_input = {CONF_REGION: "beijing", CONF_API_KEY: "sk-cn"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": error_base}
    # The form keeps the region, but never sends a key back to the browser.
    assert _suggested(result, CONF_REGION) == "beijing"
    assert _suggested(result, CONF_API_KEY) is None
    mock_setup_entry.assert_not_called()

    client.validate_key.side_effect = None
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == user_input
    mock_setup_entry.assert_called_once()


@pytest.mark.parametrize(
    ("chosen", "other", "error_base"),
    [
        ("beijing", "singapore", "key_for_singapore"),
        ("singapore", "beijing", "key_for_beijing"),
    ],
)
async def test_user_flow_names_the_region_of_the_key(
    hass: HomeAssistant,
    mock_client_class: MagicMock,
    mock_setup_entry: AsyncMock,
    *,
    chosen: str,
    other: str,
    error_base: str,
) -> None:
    """A key rejected by the chosen region but accepted by the other one: say which region."""
    client = mock_client_class.return_value
    client.validate_key.side_effect = [_auth_error(), None]
    result = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REGION: chosen, CONF_API_KEY: "sk-key"}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error_base}
    hosts = {"beijing": BEIJING_HOST, "singapore": SINGAPORE_HOST}
    assert _hosts(mock_client_class) == [hosts[chosen], hosts[other]]

    client.validate_key.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REGION: other, CONF_API_KEY: "sk-key"}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_REGION: other, CONF_API_KEY: "sk-key"}


@pytest.mark.parametrize(
    ("language", "error_base", "region_name"),
    [
        ("en", "key_for_singapore", "Singapore"),
        ("en", "key_for_beijing", "Beijing"),
        ("zh-Hans", "key_for_singapore", "新加坡"),
        ("zh-Hans", "key_for_beijing", "北京"),
    ],
)
async def test_region_errors_name_the_region_in_each_language(
    hass: HomeAssistant, language: str, error_base: str, region_name: str
) -> None:
    """The region-mismatch messages tell English and Chinese users which region the key is for."""
    translations = await async_get_translations(hass, language, "config", [DOMAIN])

    message = translations[f"component.{DOMAIN}.config.error.{error_base}"]

    # The first clause says where the key belongs (the rest suggests what to do).
    belongs_to = re.split("[,，]", message, maxsplit=1)[0]
    assert region_name in belongs_to


async def test_user_flow_rejects_account_already_configured(
    hass: HomeAssistant, mock_client_class: MagicMock, mock_setup_entry: AsyncMock
) -> None:
    """The same key on the same endpoint cannot be added twice."""
    data = {CONF_REGION: "beijing", CONF_API_KEY: "sk-cn"}
    MockConfigEntry(domain=DOMAIN, data=data, unique_id=account_unique_id(data)).add_to_hass(hass)
    result = await _start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], data)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    mock_setup_entry.assert_not_called()


# -- account: custom endpoint against the emulator -------------------------------------------


async def test_full_ui_flow_on_custom_endpoint(
    hass: HomeAssistant,
    emulator: DashScopeEmulator,
    entity_registry: er.EntityRegistry,
    tts_cache_dir: Path,
) -> None:
    """Nothing mocked: set up an account on a custom endpoint, then hear its first profile."""
    result = await _start_user_flow(hass)
    # Keys and URLs copied from a console often bring spaces or a line break along.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REGION: "custom", CONF_API_KEY: f" {API_KEY}\n"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "custom"
    assert _fields(result) == [CONF_BASE_URL, CONF_API_KEY]
    # The key just typed is carried over, so the user does not type it twice.
    assert _suggested(result, CONF_API_KEY) == API_KEY

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_BASE_URL: f"{emulator.base_url}/ ", CONF_API_KEY: f"{API_KEY}\n"},
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Qwen TTS (127.0.0.1)"
    assert result["data"] == {
        CONF_REGION: "custom",
        CONF_BASE_URL: f"{emulator.base_url}/",
        CONF_API_KEY: API_KEY,
    }
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    [profile] = entry.subentries.values()
    assert dict(profile.data) == DEFAULT_PROFILE
    # The flow's key check made one free call, the set-up listed cloned and designed voices;
    # nothing was synthesized, but the profile keeps a session ready (the default of a
    # 180-a-minute model).
    assert [
        (request["model"], request["input"]["action"]) for request in emulator.http_requests
    ] == [
        ("qwen-voice-enrollment", "list"),
        ("qwen-voice-enrollment", "list"),
        ("qwen-voice-design", "list"),
    ]
    assert await entry.runtime_data.client.warm.wait_ready(profile.subentry_id)
    [warm] = emulator.sessions
    assert warm.received == []

    # The profile is a TTS entity that speaks right away.
    [entity] = [
        registered
        for registered in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if registered.config_subentry_id == profile.subentry_id and registered.domain == "tts"
    ]
    text = "你好，欢迎使用千问语音。"
    stream = tts.async_create_stream(
        hass, entity.entity_id, options={tts.ATTR_PREFERRED_FORMAT: "wav"}
    )
    stream.async_set_message(text)
    audio = b"".join([chunk async for chunk in stream.async_stream_result()])

    with wave.open(io.BytesIO(audio)) as wav:
        rate = wav.getframerate()
        frames = len(wav.readframes(wav.getnframes())) // (wav.getsampwidth() * wav.getnchannels())
    assert rate == 24000
    assert frames / rate == pytest.approx(synth_audio_seconds(text, emulator.options.ms_per_char))
    # It spoke on the session kept ready.
    assert warm.model == DEFAULT_PROFILE[CONF_MODEL]
    assert warm.config["voice"] == "Cherry"
    assert entry.runtime_data.client.recent_sessions[-1].warm


async def test_custom_endpoint_errors_then_recovers(
    hass: HomeAssistant, emulator: DashScopeEmulator, mock_setup_entry: AsyncMock
) -> None:
    """A bad URL, an unreachable host and a rejected key each show an error; then it works."""
    result = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REGION: "custom", CONF_API_KEY: API_KEY}
    )

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_URL: "ftp://files.example", CONF_API_KEY: API_KEY}
    )
    assert result["errors"] == {CONF_BASE_URL: "invalid_base_url"}
    assert _suggested(result, CONF_BASE_URL) == "ftp://files.example"

    async with DashScopeEmulator() as gone:
        closed_url = gone.base_url
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_URL: closed_url, CONF_API_KEY: API_KEY}
    )
    assert result["errors"] == {"base": "cannot_connect"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_URL: emulator.base_url, CONF_API_KEY: "sk-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth_endpoint"}
    # A custom endpoint has no "other region" to try the key on, and no region to blame.
    assert len(emulator.http_requests) == 1
    mock_setup_entry.assert_not_called()

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_URL: emulator.base_url, CONF_API_KEY: API_KEY}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_API_KEY] == API_KEY
    mock_setup_entry.assert_called_once()


# -- reauth ----------------------------------------------------------------------------------


async def test_reauth_recovers_a_failed_entry(
    hass: HomeAssistant, emulator: DashScopeEmulator, mock_config_entry: MockConfigEntry
) -> None:
    """After DashScope rejects the key, entering a valid one brings the entry back."""
    emulator.options.api_keys = frozenset({"sk-new"})
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["step_id"] == "reauth_confirm"

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_API_KEY: "sk-still-wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth_endpoint"}
    # The form names the endpoint whose key is being replaced.
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["endpoint"] == emulator.base_url

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_API_KEY: "sk-new "}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data[CONF_API_KEY] == "sk-new"
    assert mock_config_entry.unique_id == account_unique_id(mock_config_entry.data)
    assert mock_config_entry.state is ConfigEntryState.LOADED


async def test_reauth_of_a_loaded_entry_reloads_it(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """A key replaced while the entry runs takes effect at once (the entry reloads)."""
    runtime = init_integration.runtime_data
    emulator.options.api_keys = frozenset({API_KEY, "sk-rotated"})
    result = await init_integration.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: "sk-rotated"}
    )
    await hass.async_block_till_done()

    assert result["reason"] == "reauth_successful"
    assert init_integration.data[CONF_API_KEY] == "sk-rotated"
    assert init_integration.state is ConfigEntryState.LOADED
    assert init_integration.runtime_data is not runtime


async def test_reauth_with_another_accounts_key_aborts(
    hass: HomeAssistant, emulator: DashScopeEmulator, mock_config_entry: MockConfigEntry
) -> None:
    """Re-authenticating with the key of another configured account is refused."""
    emulator.options.api_keys = frozenset({API_KEY, "sk-second"})
    other_data = {**mock_config_entry.data, CONF_API_KEY: "sk-second"}
    MockConfigEntry(
        domain=DOMAIN, data=other_data, unique_id=account_unique_id(other_data)
    ).add_to_hass(hass)
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reauth_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: "sk-second"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert mock_config_entry.data[CONF_API_KEY] == API_KEY


# -- reconfigure -----------------------------------------------------------------------------


async def test_reconfigure_moves_to_another_endpoint(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """Point a running account at another endpoint and key; a rejected key is caught first."""
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    assert _suggested(result, CONF_REGION) == "custom"
    assert _suggested(result, CONF_API_KEY) is None

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REGION: "custom", CONF_API_KEY: "sk-moved"}
    )
    assert result["step_id"] == "custom"
    assert _suggested(result, CONF_BASE_URL) == emulator.base_url
    assert _suggested(result, CONF_API_KEY) == "sk-moved"

    async with DashScopeEmulator(EmulatorOptions(api_keys=frozenset({"sk-moved"}))) as moved:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_BASE_URL: moved.base_url, CONF_API_KEY: API_KEY}
        )
        assert result["errors"] == {"base": "invalid_auth_endpoint"}

        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_BASE_URL: moved.base_url, CONF_API_KEY: "sk-moved"}
        )
        await hass.async_block_till_done()

        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        assert dict(init_integration.data) == {
            CONF_REGION: "custom",
            CONF_BASE_URL: moved.base_url,
            CONF_API_KEY: "sk-moved",
        }
        assert init_integration.unique_id == account_unique_id(init_integration.data)
        assert init_integration.state is ConfigEntryState.LOADED
        # The rejected check, the accepted one, then the set-up's two lists (cloned and
        # designed voices): the entry uses the new endpoint.
        assert [request["input"]["action"] for request in moved.http_requests] == ["list"] * 4
        assert await hass.config_entries.async_unload(init_integration.entry_id)


async def test_reconfigure_keeping_the_account(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """Saving the same endpoint and key again is not mistaken for a duplicate account."""
    unique_id = init_integration.unique_id
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REGION: "custom", CONF_API_KEY: API_KEY}
    )

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_URL: f"{emulator.base_url}/", CONF_API_KEY: API_KEY}
    )
    await hass.async_block_till_done()

    assert result["reason"] == "reconfigure_successful"
    assert init_integration.unique_id == unique_id
    assert init_integration.data[CONF_BASE_URL] == f"{emulator.base_url}/"
    assert init_integration.state is ConfigEntryState.LOADED


async def test_reconfigure_to_a_region(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_client_class: MagicMock,
    mock_setup_entry: AsyncMock,
) -> None:
    """Switching from a custom endpoint to a region drops the base URL; errors can be retried."""
    mock_config_entry.add_to_hass(hass)
    client = mock_client_class.return_value
    client.validate_key.side_effect = QwenTtsConnectionError("Cannot connect")
    result = await mock_config_entry.start_reconfigure_flow(hass)
    user_input = {CONF_REGION: "beijing", CONF_API_KEY: "sk-cn"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": "cannot_connect"}

    client.validate_key.side_effect = None
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert dict(mock_config_entry.data) == user_input
    assert _hosts(mock_client_class) == [BEIJING_HOST, BEIJING_HOST]
    # The entry was not loaded, so the flow reloads it itself.
    mock_setup_entry.assert_called_once()


async def test_reconfigure_into_another_account_aborts(
    hass: HomeAssistant, emulator: DashScopeEmulator, init_integration: MockConfigEntry
) -> None:
    """A change that would make this entry a duplicate of another account is refused."""
    emulator.options.api_keys = frozenset({API_KEY, "sk-second"})
    other_data = {**init_integration.data, CONF_API_KEY: "sk-second"}
    MockConfigEntry(
        domain=DOMAIN, data=other_data, unique_id=account_unique_id(other_data)
    ).add_to_hass(hass)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REGION: "custom", CONF_API_KEY: "sk-second"}
    )

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_URL: emulator.base_url, CONF_API_KEY: "sk-second"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert init_integration.data[CONF_API_KEY] == API_KEY


# -- voice profiles (subentries) -------------------------------------------------------------


async def _start_profile_flow(
    hass: HomeAssistant, entry: MockConfigEntry, subentry_id: str | None = None
) -> FlowResult[Any, Any]:
    """Open the add (or, with ``subentry_id``, the reconfigure) voice profile dialog."""
    context: SubentryFlowContext = {"source": SOURCE_USER}
    if subentry_id is not None:
        context = {"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id}
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_TTS), context=context
    )


async def _pick_model(
    hass: HomeAssistant, entry: MockConfigEntry, model: str
) -> FlowResult[Any, Any]:
    """Open the add-profile dialog and choose ``model``."""
    result = await _start_profile_flow(hass, entry)
    assert result["step_id"] == "model"
    return await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_MODEL: model}
    )


async def test_add_system_voice_profile(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Pick a model, then one of its system voices and settings; the entry gains a profile."""
    result = await _start_profile_flow(hass, init_integration)
    assert result["type"] is FlowResultType.FORM
    assert _options(result, CONF_MODEL) == [
        model.model_id for model in models_for_region(Region.CUSTOM)
    ]
    assert _default(result, CONF_MODEL) == "qwen3-tts-flash-realtime"

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_MODEL: "qwen3-tts-flash-realtime"}
    )
    assert result["step_id"] == "voice"
    assert result["description_placeholders"] == {"model": "qwen3-tts-flash-realtime"}
    assert _fields(result) == [
        CONF_VOICE,
        CONF_LANGUAGE_TYPE,
        CONF_SPEECH_RATE,
        CONF_PITCH_RATE,
        CONF_VOLUME,
        CONF_PRONUNCIATION,
        CONF_AUDIO_OUTPUT,
        CONF_FALLBACK_ENGINE,
        CONF_WARM_SESSION,
    ]
    voices = _options(result, CONF_VOICE)
    assert voices[0] == {"value": "Cherry", "label": "Cherry (芊悦)"}
    assert {"value": "Dylan", "label": "Dylan (北京话 · Beijing dialect)"} in voices
    assert _options(result, CONF_LANGUAGE_TYPE)[:3] == ["auto", "chinese", "english"]
    assert _options(result, CONF_AUDIO_OUTPUT) == ["auto", "wav", "mp3"]
    # Cherry already has a profile: accepting the defaults must not make a second one.
    assert _default(result, CONF_VOICE) == "Ethan"
    assert _default(result, CONF_VOLUME) == 50
    assert _default(result, CONF_WARM_SESSION) is True  # 180 sessions a minute: warm

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_VOICE: "Dylan",
            CONF_LANGUAGE_TYPE: "chinese",
            CONF_SPEECH_RATE: 1.25,
            CONF_PITCH_RATE: 0.9,
            CONF_VOLUME: 70,
            CONF_AUDIO_OUTPUT: "mp3",
            CONF_WARM_SESSION: False,
        },
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Dylan"
    assert result["data"] == {
        CONF_MODEL: "qwen3-tts-flash-realtime",
        CONF_VOICE: "Dylan",
        CONF_LANGUAGE_TYPE: "Chinese",
        CONF_SPEECH_RATE: 1.25,
        CONF_PITCH_RATE: 0.9,
        CONF_VOLUME: 70,
        CONF_AUDIO_OUTPUT: "mp3",
        CONF_WARM_SESSION: False,
    }
    assert sorted(sub.title for sub in init_integration.subentries.values()) == ["Cherry", "Dylan"]
    assert init_integration.state is ConfigEntryState.LOADED


async def test_profiles_with_the_same_voice_get_distinct_names(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A second Cherry profile is "Cherry 2" (entity tts.cherry_2): pickers show only names."""
    result = await _pick_model(hass, init_integration, "qwen3-tts-flash-realtime")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_VOICE: "Cherry",
            CONF_LANGUAGE_TYPE: "auto",
            CONF_SPEECH_RATE: 1.3,
            CONF_PITCH_RATE: 1.0,
            CONF_VOLUME: 50,
            CONF_AUDIO_OUTPUT: "auto",
        },
    )
    await hass.async_block_till_done()

    assert result["title"] == "Cherry 2"
    names = sorted(state.name for state in hass.states.async_all("tts"))
    assert names == ["Cherry", "Cherry 2"]
    assert hass.states.get("tts.cherry_2") is not None

    # Reconfiguring a profile keeps its own name: it does not collide with itself.
    result = await _start_profile_flow(hass, init_integration, PROFILE_SUBENTRY_ID)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_MODEL: "qwen3-tts-flash-realtime"}
    )
    assert _default(result, CONF_VOICE) == "Cherry"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_VOICE: "Cherry",
            CONF_LANGUAGE_TYPE: "auto",
            CONF_SPEECH_RATE: 0.9,
            CONF_PITCH_RATE: 1.0,
            CONF_VOLUME: 50,
            CONF_AUDIO_OUTPUT: "auto",
        },
    )
    await hass.async_block_till_done()
    assert init_integration.subentries[PROFILE_SUBENTRY_ID].title == "Cherry"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("  用温柔的语气，语速稍慢。 ", "用温柔的语气，语速稍慢。"), ("   ", None)],
)
async def test_instruct_profile_keeps_instructions(
    hass: HomeAssistant, init_integration: MockConfigEntry, typed: str, stored: str | None
) -> None:
    """Instruct models take instructions (trimmed); blank ones are not stored."""
    result = await _pick_model(hass, init_integration, "qwen3-tts-instruct-flash-realtime")
    assert CONF_INSTRUCTIONS in _fields(result)

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_VOICE: "Serena",
            CONF_LANGUAGE_TYPE: "auto",
            CONF_SPEECH_RATE: 1.0,
            CONF_PITCH_RATE: 1.0,
            CONF_VOLUME: 50,
            CONF_INSTRUCTIONS: typed,
            CONF_AUDIO_OUTPUT: "auto",
        },
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"].get(CONF_INSTRUCTIONS) == stored
    assert result["data"][CONF_LANGUAGE_TYPE] == "Auto"


_FLASH_SETTINGS = {
    CONF_VOICE: "Cherry",
    CONF_LANGUAGE_TYPE: "auto",
    CONF_SPEECH_RATE: 1.0,
    CONF_PITCH_RATE: 1.0,
    CONF_VOLUME: 50,
    CONF_AUDIO_OUTPUT: "auto",
}


async def test_pronunciation_dictionary_is_checked_and_kept(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A bad line is refused by its number, the typed text kept; a good dictionary is stored."""
    result = await _start_profile_flow(hass, init_integration, PROFILE_SUBENTRY_ID)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_MODEL: "qwen3-tts-flash-realtime"}
    )
    bad = "# 地名\n重庆 = 崇庆\n\nXiaomi 小米\n"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**_FLASH_SETTINGS, CONF_PRONUNCIATION: bad}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PRONUNCIATION: "invalid_pronunciation"}
    assert (result["description_placeholders"] or {}).get("line") == "4"
    assert _suggested(result, CONF_PRONUNCIATION) == bad

    good = "# 地名\n重庆 = 崇庆\n\nXiaomi → 小米\nHA -> Home Assistant"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**_FLASH_SETTINGS, CONF_PRONUNCIATION: f"\n{good}\n "}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.subentries[PROFILE_SUBENTRY_ID].data[CONF_PRONUNCIATION] == good

    # Reopened, the dictionary shows as written, comments included.
    result = await _start_profile_flow(hass, init_integration, PROFILE_SUBENTRY_ID)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_MODEL: "qwen3-tts-flash-realtime"}
    )
    assert _suggested(result, CONF_PRONUNCIATION) == good

    # Emptied, it is dropped.
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**_FLASH_SETTINGS, CONF_PRONUNCIATION: "  "}
    )
    await hass.async_block_till_done()
    assert CONF_PRONUNCIATION not in init_integration.subentries[PROFILE_SUBENTRY_ID].data


async def test_legacy_model_offers_only_what_it_supports(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The old model has no tuning, three languages and PCM only: the form shows just that."""
    result = await _pick_model(hass, init_integration, "qwen-tts-realtime")

    assert _fields(result) == [
        CONF_VOICE,
        CONF_LANGUAGE_TYPE,
        CONF_PRONUNCIATION,
        CONF_AUDIO_OUTPUT,
        CONF_FALLBACK_ENGINE,
        CONF_WARM_SESSION,
    ]
    assert _options(result, CONF_LANGUAGE_TYPE) == ["auto", "chinese", "english"]
    assert _options(result, CONF_AUDIO_OUTPUT) == ["auto", "wav"]
    # 10 sessions a minute: a session kept ready would be a real share of them.
    assert _default(result, CONF_WARM_SESSION) is False
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_VOICE: "Ethan", CONF_LANGUAGE_TYPE: "english", CONF_AUDIO_OUTPUT: "wav"},
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_MODEL: "qwen-tts-realtime",
        CONF_VOICE: "Ethan",
        CONF_LANGUAGE_TYPE: "English",
        CONF_AUDIO_OUTPUT: "wav",
        CONF_WARM_SESSION: False,
    }


async def test_cloned_voice_profile_lists_the_models_voices(
    hass: HomeAssistant, emulator: DashScopeEmulator, mock_config_entry: MockConfigEntry
) -> None:
    """A cloning model offers the account's cloned voices made for exactly that model."""
    emulator.voices[CLONED_VOICE] = VoiceRecord(
        voice=CLONED_VOICE,
        target_model=VC_MODEL,
        preferred_name="grandpa",
        gmt_create="2026-03-01 10:10:10",
    )
    older = "qwen-tts-vc-aunt-voice-20251201101010123-c3d4"
    emulator.voices[older] = VoiceRecord(
        voice=older, target_model="qwen3-tts-vc-realtime-2025-11-27", preferred_name="aunt"
    )
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    # A voice just made with the create action: its answer carries no creation time.
    just_made = "qwen-tts-vc-baby-voice-20260302101010123-e5f6"
    mock_config_entry.runtime_data.custom_voices.append(
        EnrolledVoice(voice_id=just_made, target_model=VC_MODEL)
    )

    result = await _pick_model(hass, mock_config_entry, VC_MODEL)

    assert _options(result, CONF_VOICE) == [
        {"value": CLONED_VOICE, "label": "grandpa (2026-03-01 10:10)"},
        {"value": just_made, "label": "baby"},
    ]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_VOICE: CLONED_VOICE,
            CONF_LANGUAGE_TYPE: "chinese",
            CONF_SPEECH_RATE: 1.0,
            CONF_PITCH_RATE: 1.0,
            CONF_VOLUME: 50,
            CONF_AUDIO_OUTPUT: "auto",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "grandpa"
    assert result["data"][CONF_VOICE] == CLONED_VOICE


@pytest.mark.parametrize(
    ("model", "reason", "action"),
    [
        (VC_MODEL, "no_cloned_voices", "create_voice"),
        ("qwen3-tts-vd-realtime-2026-01-15", "no_designed_voices", "design_voice"),
    ],
)
async def test_custom_voice_model_without_voices_aborts(
    hass: HomeAssistant, init_integration: MockConfigEntry, model: str, reason: str, action: str
) -> None:
    """With no cloned or designed voice for the model, the user is told which action makes one."""
    result = await _pick_model(hass, init_integration, model)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason
    assert result["description_placeholders"] == {
        "model": model,
        "action": f"qwen_tts_realtime.{action}",
    }


async def test_designed_voice_profile_offers_the_models_designed_voices(
    hass: HomeAssistant, emulator: DashScopeEmulator, mock_config_entry: MockConfigEntry
) -> None:
    """A voice-design model offers the designed voices made for it, not clones or others."""
    vd_model = "qwen3-tts-vd-realtime-2026-01-15"
    for voice, target, designer in (
        (DESIGNED_VOICE, vd_model, "qwen-voice-design"),
        (
            "qwen-tts-vd-old-voice-20251220000000000-0001",
            "qwen3-tts-vd-realtime-2025-12-16",
            "qwen-voice-design",
        ),
        (CLONED_VOICE, VC_MODEL, "qwen-voice-enrollment"),
    ):
        emulator.voices[voice] = VoiceRecord(
            voice=voice,
            target_model=target,
            preferred_name="v",
            gmt_create="2026-01-02 03:04:05",
            designer=designer,
        )
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    result = await _pick_model(hass, mock_config_entry, vd_model)

    assert _options(result, CONF_VOICE) == [
        {"value": DESIGNED_VOICE, "label": "announcer (2026-01-02 03:04)"}
    ]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_VOICE: DESIGNED_VOICE,
            CONF_LANGUAGE_TYPE: "auto",
            CONF_SPEECH_RATE: 1.0,
            CONF_PITCH_RATE: 1.0,
            CONF_VOLUME: 50,
            CONF_AUDIO_OUTPUT: "auto",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "announcer"
    assert result["data"][CONF_VOICE] == DESIGNED_VOICE


async def test_reconfigure_profile(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Changing a profile starts from its current settings and reloads the entry."""
    runtime = init_integration.runtime_data
    result = await _start_profile_flow(hass, init_integration, PROFILE_SUBENTRY_ID)
    assert _default(result, CONF_MODEL) == DEFAULT_PROFILE[CONF_MODEL]

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_MODEL: "qwen3-tts-instruct-flash-realtime"}
    )
    # The current voice exists on the new model, so it stays selected.
    assert _default(result, CONF_VOICE) == "Cherry"
    assert _default(result, CONF_SPEECH_RATE) == DEFAULT_PROFILE[CONF_SPEECH_RATE]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_VOICE: "Eldric Sage",
            CONF_LANGUAGE_TYPE: "english",
            CONF_SPEECH_RATE: 0.8,
            CONF_PITCH_RATE: 1.0,
            CONF_VOLUME: 50,
            CONF_INSTRUCTIONS: "Calm and slow.",
            CONF_AUDIO_OUTPUT: "wav",
        },
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    profile = init_integration.subentries[PROFILE_SUBENTRY_ID]
    assert profile.title == "Eldric Sage"
    assert profile.data[CONF_INSTRUCTIONS] == "Calm and slow."
    assert profile.data[CONF_MODEL] == "qwen3-tts-instruct-flash-realtime"
    assert init_integration.state is ConfigEntryState.LOADED
    assert init_integration.runtime_data is not runtime

    # Opening it again shows what was saved.
    result = await _start_profile_flow(hass, init_integration, PROFILE_SUBENTRY_ID)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_MODEL: "qwen3-tts-instruct-flash-realtime"}
    )
    assert _default(result, CONF_VOICE) == "Eldric Sage"
    assert _default(result, CONF_LANGUAGE_TYPE) == "english"
    assert _suggested(result, CONF_INSTRUCTIONS) == "Calm and slow."
    assert _default(result, CONF_AUDIO_OUTPUT) == "wav"


async def test_profile_fallback_engine_is_chosen_checked_and_cleared(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Another TTS entity can speak for the profile; not one that is gone, never itself."""
    hass.config_entries.async_add_subentry(
        init_integration,
        ConfigSubentry(
            data=MappingProxyType({**DEFAULT_PROFILE, CONF_VOICE: "Serena"}),
            subentry_type=SUBENTRY_TTS,
            title="Serena",
            unique_id=None,
        ),
    )
    await hass.async_block_till_done()
    voice_input = {
        CONF_VOICE: "Cherry",
        CONF_LANGUAGE_TYPE: "auto",
        CONF_SPEECH_RATE: 1.0,
        CONF_PITCH_RATE: 1.0,
        CONF_VOLUME: 50,
        CONF_AUDIO_OUTPUT: "auto",
    }

    async def open_voice_step() -> FlowResult[Any, Any]:
        """Open Cherry's settings at the voice step."""
        result = await _start_profile_flow(hass, init_integration, PROFILE_SUBENTRY_ID)
        return await hass.config_entries.subentries.async_configure(
            result["flow_id"], {CONF_MODEL: DEFAULT_PROFILE[CONF_MODEL]}
        )

    result = await open_voice_step()
    selector = _schema(result)[_marker(result, CONF_FALLBACK_ENGINE)]
    assert selector.config["domain"] == ["tts"]
    assert selector.config["exclude_entities"] == ["tts.cherry"]
    assert _suggested(result, CONF_FALLBACK_ENGINE) is None
    with pytest.raises(InvalidData):
        await hass.config_entries.subentries.async_configure(
            result["flow_id"], voice_input | {CONF_FALLBACK_ENGINE: "tts.cherry"}
        )

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], voice_input | {CONF_FALLBACK_ENGINE: "tts.removed_engine"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_FALLBACK_ENGINE: "fallback_not_found"}

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], voice_input | {CONF_FALLBACK_ENGINE: "tts.serena"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.subentries[PROFILE_SUBENTRY_ID].data[CONF_FALLBACK_ENGINE] == (
        "tts.serena"
    )

    result = await open_voice_step()
    assert _suggested(result, CONF_FALLBACK_ENGINE) == "tts.serena"
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], voice_input)
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert CONF_FALLBACK_ENGINE not in init_integration.subentries[PROFILE_SUBENTRY_ID].data


@pytest.mark.parametrize("subentry_id", [None, PROFILE_SUBENTRY_ID])
async def test_profiles_need_a_loaded_entry(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, subentry_id: str | None
) -> None:
    """Profiles cannot be added or changed while the account is not loaded."""
    mock_config_entry.add_to_hass(hass)

    result = await _start_profile_flow(hass, mock_config_entry, subentry_id)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"


async def test_models_follow_the_region(hass: HomeAssistant) -> None:
    """A Singapore account is not offered the Beijing-only model."""
    data = {CONF_REGION: "singapore", CONF_API_KEY: "sk-intl"}
    entry = MockConfigEntry(domain=DOMAIN, data=data, state=ConfigEntryState.LOADED)
    entry.runtime_data = QwenTtsData(client=MagicMock(), custom_voices=[])
    entry.add_to_hass(hass)

    result = await _start_profile_flow(hass, entry)

    models = _options(result, CONF_MODEL)
    assert models == [model.model_id for model in models_for_region(Region.SINGAPORE)]
    assert "qwen3-tts-flash-realtime" in models
    assert "qwen-tts-realtime" not in models


async def test_translations_cover_both_languages(hass: HomeAssistant) -> None:
    """Every flow string exists in English and Simplified Chinese."""
    for category in ("config", "config_subentries", "selector"):
        english = await async_get_translations(hass, "en", category, [DOMAIN])
        chinese = await async_get_translations(hass, "zh-Hans", category, [DOMAIN])
        assert english
        assert english.keys() == chinese.keys()
