"""An Assist pipeline speaks a streaming LLM answer while the LLM is still writing it."""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from http import HTTPStatus
from typing import Any, Literal, override

import pytest
from homeassistant.components import conversation
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.const import MATCH_ALL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    mock_config_flow,
    mock_integration,
    mock_platform,
    setup_test_component_platform,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.qwen_tts_realtime.api import RetryPolicy
from custom_components.qwen_tts_realtime.const import CONF_FALLBACK_ENGINE

from .conftest import PROFILE_SUBENTRY_ID
from .dashscope_emulator import DashScopeEmulator, synth_audio_seconds
from .local_tts import LOCAL, async_set_up_local_engine, local_seconds
from .tts_helpers import decode_audio

pytestmark = pytest.mark.usefixtures("mock_tts_cache_dir")

# The agent's answer as an LLM streams it: Markdown, split anywhere, over 60 characters
# before the pause (the pipeline starts streaming TTS after 60 characters).
ANSWER_PARTS = [
    "好的！明天**北京**多云，",
    "气温十八到二十五度，",
    "适合出门散步。Remember the ",
    "[umbrella](https://example.com/u) and sun",
    "screen, just in case.\n\n",
    "## 建议\n- 早点",
    "出发，避开晚高峰。",
]
# Parts sent before the agent pauses until the service has received text.
PARTS_BEFORE_PAUSE = 4
SPOKEN = (
    "好的！明天北京多云，气温十八到二十五度，适合出门散步。Remember the umbrella and sunscreen,"
    " just in case.\n建议\n早点出发，避开晚高峰。"
)
# Extra encoder frames per response when the service sends MP3 (encoder delay and padding).
MP3_SLACK_PER_RESPONSE = 0.08


class StreamingAgent(conversation.ConversationEntity):
    """An LLM-like agent that streams its answer into the chat log, pausing mid-answer."""

    _attr_name = "Streaming agent"
    _attr_unique_id = "streaming_agent"
    _attr_supports_streaming = True

    def __init__(self) -> None:
        """Start paused; the test resumes the answer."""
        self.resume = asyncio.Event()
        self.done = asyncio.Event()

    @property
    @override
    def supported_languages(self) -> Literal["*"]:
        """Speak every language, like an LLM."""
        return MATCH_ALL

    @override
    async def _async_handle_message(
        self, user_input: conversation.ConversationInput, chat_log: conversation.ChatLog
    ) -> conversation.ConversationResult:
        """Stream the answer in deltas, waiting after the first parts."""

        async def deltas() -> AsyncGenerator[conversation.AssistantContentDeltaDict]:
            yield {"role": "assistant"}
            for index, part in enumerate(ANSWER_PARTS):
                if index == PARTS_BEFORE_PAUSE:
                    await self.resume.wait()
                yield {"content": part}

        async for _ in chat_log.async_add_delta_content_stream(self.entity_id, deltas()):
            pass
        self.done.set()
        return conversation.async_get_result_from_chat_log(user_input, chat_log)


class AgentConfigFlow(ConfigFlow):
    """The (never shown) config flow of the integration that provides the agent."""


@pytest.fixture
async def agent(hass: HomeAssistant) -> AsyncIterator[StreamingAgent]:
    """Set up Assist with the streaming agent as a conversation entity."""

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [Platform.CONVERSATION])
        return True

    agent = StreamingAgent()
    mock_integration(hass, MockModule("test", async_setup_entry=setup_entry))
    mock_platform(hass, "test.config_flow")
    setup_test_component_platform(hass, Platform.CONVERSATION, [agent], from_config_entry=True)
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "assist_pipeline", {})
    with mock_config_flow("test", AgentConfigFlow):
        entry = MockConfigEntry(domain="test")
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        yield agent


async def _next_event(client: Any) -> dict[str, Any]:
    """Return the next pipeline event of a run."""
    message = await client.receive_json()
    assert message["type"] == "event", message
    return dict(message["event"])


async def _start_run(client: Any, agent: StreamingAgent) -> None:
    """Create a pipeline that answers with the agent and speaks with Cherry, and run it."""
    await client.send_json_auto_id(
        {
            "type": "assist_pipeline/pipeline/create",
            "name": "Qwen",
            "language": "zh-CN",
            "conversation_engine": agent.entity_id,
            "conversation_language": MATCH_ALL,
            "stt_engine": None,
            "stt_language": None,
            "tts_engine": "tts.cherry",
            "tts_language": "zh-CN",
            "tts_voice": "Cherry",
            "wake_word_entity": None,
            "wake_word_id": None,
        }
    )
    created = await client.receive_json()
    assert created["success"], created

    await client.send_json_auto_id(
        {
            "type": "assist_pipeline/run",
            "start_stage": "intent",
            "end_stage": "tts",
            "input": {"text": "明天天气怎么样？"},
            "pipeline": created["result"]["id"],
        }
    )
    assert (await client.receive_json())["success"]


async def test_pipeline_speaks_before_the_agent_is_done(
    hass: HomeAssistant,
    *,
    hass_ws_client: WebSocketGenerator,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    agent: StreamingAgent,
) -> None:
    """The answer's first sentences reach the service while the agent is still writing."""
    client = await hass_ws_client(hass)
    await _start_run(client, agent)

    # The service gets text while the agent waits in the middle of its answer.
    first_append = await emulator.wait_for_client_event("input_text_buffer.append")
    assert not agent.done.is_set()
    assert first_append["text"] == "好的！"  # the first sentence, committed on its own
    agent.resume.set()

    events = [await _next_event(client)]
    while events[-1]["type"] != "run-end":
        events.append(await _next_event(client))
    assert agent.done.is_set()

    types = [event["type"] for event in events]
    streaming_started = next(
        index
        for index, event in enumerate(events)
        if event["type"] == "intent-progress" and event["data"].get("tts_start_streaming")
    )
    assert streaming_started < types.index("intent-end") < types.index("tts-end")
    # The run ends with the agent; the last text may still be on its way to the service.
    await emulator.wait_for_client_event("session.finish")
    session = emulator.sessions[0]
    assert "".join(event["text"] for event in session.received if "text" in event) == SPOKEN
    assert session.received[-1]["type"] == "session.finish"
    assert session.config["voice"] == "Cherry"

    run_start = events[types.index("run-start")]
    http = await hass_client()
    response = await http.get(run_start["data"]["tts_output"]["url"])
    assert response.status == HTTPStatus.OK
    audio = await decode_audio(await response.read())
    expected = synth_audio_seconds(SPOKEN, emulator.options.ms_per_char)
    responses = sum(event["type"] == "response.created" for event in session.sent)
    assert audio.codec == "mp3"
    assert expected <= audio.seconds <= expected + MP3_SLACK_PER_RESPONSE * responses


async def test_pipeline_falls_back_while_the_agent_is_writing(
    hass: HomeAssistant,
    *,
    hass_ws_client: WebSocketGenerator,
    hass_client: ClientSessionGenerator,
    emulator: DashScopeEmulator,
    init_integration: MockConfigEntry,
    agent: StreamingAgent,
) -> None:
    """DashScope is down: the local engine gets the answer's beginning, then the rest."""
    local_engine = await async_set_up_local_engine(hass)
    profile = init_integration.subentries[PROFILE_SUBENTRY_ID]
    hass.config_entries.async_update_subentry(
        init_integration, profile, data={**profile.data, CONF_FALLBACK_ENGINE: LOCAL}
    )
    await hass.async_block_till_done()
    init_integration.runtime_data.client.retry = RetryPolicy(base_delay=0)
    await emulator.close()
    client = await hass_ws_client(hass)
    await _start_run(client, agent)

    # The fallback speaks the text read so far while the agent is still writing.
    await local_engine.wait_for_text("好的！明天北京多云，")
    assert not agent.done.is_set()
    agent.resume.set()
    events = [await _next_event(client)]
    while events[-1]["type"] != "run-end":
        events.append(await _next_event(client))

    assert "error" not in [event["type"] for event in events]
    run_start = next(event for event in events if event["type"] == "run-start")
    response = await (await hass_client()).get(run_start["data"]["tts_output"]["url"])
    assert response.status == HTTPStatus.OK
    audio = await decode_audio(await response.read())
    assert "".join(local_engine.chunks) == SPOKEN
    assert audio.codec == "mp3"
    expected = local_seconds(SPOKEN)
    assert expected - 0.002 <= audio.seconds <= expected + MP3_SLACK_PER_RESPONSE
