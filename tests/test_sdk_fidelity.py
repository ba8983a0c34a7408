"""Fidelity: the official ``dashscope`` SDK and Alibaba's own examples work against the emulator.

The realtime examples of ``realtime_tts_guide.zh.txt`` (server_commit and commit mode) and the
``requests`` examples of ``voice_cloning_api.zh.txt`` (create / list / delete, then synthesis
with the cloned voice) are replayed as written, with the URL pointed at the emulator. The SDK
is synchronous with its own websocket thread, so each example runs in a worker thread while
the emulator serves on the test's event loop; every SDK thread is joined before the test ends.
"""

import asyncio
import base64
import re
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import dashscope
import pytest
import requests
from dashscope.audio.qwen_tts_realtime import (
    AudioFormat,
    QwenTtsRealtime,
    QwenTtsRealtimeCallback,
)

from .dashscope_emulator import DashScopeEmulator, speech_like_wav, synth_audio_seconds

KEY = "sk-emulator"
# Safety net for the waits inside the worker thread: a broken emulator fails, never hangs.
GUARD = 10.0
SERVER_COMMIT_TEXT = [
    "对吧~我就特别喜欢这种超市,",
    "尤其是过年的时候",
    "去逛超市",
    "就会觉得",
    "超级超级开心!",
    "想买好多好多的东西呢!",
]
COMMIT_TEXT = ["这是第一句话。", "这是第二句话。", "这是第三句话。"]
SDK_EVENT_ID = r"event_[0-9a-f]{32}"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the conftest's autouse fixture: the emulator needs no Home Assistant."""


@pytest.fixture
async def emulator(
    socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DashScopeEmulator]:
    """Run the emulator and point the SDK's global API key at it."""
    monkeypatch.setattr(dashscope, "api_key", KEY)
    async with DashScopeEmulator() as server:
        yield server


class MyCallback(QwenTtsRealtimeCallback):
    """The examples' callback, keeping audio in memory instead of a file or a speaker."""

    def __init__(self) -> None:
        """Set up the events the examples wait on."""
        super().__init__()
        self.types: list[str] = []
        self.responses: list[bytearray] = []
        self.complete_event = threading.Event()
        self.response_done = threading.Event()
        self.close_code: int | None = None
        self.close_msg: str | None = None

    def on_open(self) -> None:
        """Connection opened (the examples print here)."""

    def on_close(self, close_status_code: int | None, close_msg: str | None) -> None:
        """Keep the close code and reason."""
        self.close_code = close_status_code
        self.close_msg = close_msg

    def on_event(self, message: Any) -> None:
        """Collect audio per response and signal response.done / session.finished."""
        event_type = message["type"]
        self.types.append(event_type)
        if event_type == "response.created":
            self.responses.append(bytearray())
        if event_type == "response.audio.delta":
            self.responses[-1] += base64.b64decode(message["delta"])
        if event_type == "response.done":
            self.response_done.set()
        if event_type == "session.finished":
            self.complete_event.set()

    def reset_event(self) -> None:
        """Commit example: arm the wait for the next response."""
        self.response_done = threading.Event()


def run_example(
    url: str, model: str, script: Callable[[QwenTtsRealtime, MyCallback], None]
) -> tuple[QwenTtsRealtime, MyCallback]:
    """Connect like the examples, run ``script``, wait for session.finished, join the thread."""
    callback = MyCallback()
    qwen_tts_realtime = QwenTtsRealtime(model=model, callback=callback, url=url)
    qwen_tts_realtime.connect()
    try:
        script(qwen_tts_realtime, callback)
        qwen_tts_realtime.finish()
        assert callback.complete_event.wait(GUARD), callback.types
    finally:
        if not callback.complete_event.is_set():
            qwen_tts_realtime.close()
        # The server closes after session.finished, which ends the SDK's websocket thread.
        qwen_tts_realtime.thread.join(GUARD)
    assert not qwen_tts_realtime.thread.is_alive()
    return qwen_tts_realtime, callback


def server_commit_script(voice: str) -> Callable[[QwenTtsRealtime, MyCallback], None]:
    """Return the body of the server_commit example for a voice."""

    def script(qwen_tts_realtime: QwenTtsRealtime, _: MyCallback) -> None:
        """Configure and stream the six text chunks."""
        qwen_tts_realtime.update_session(
            voice=voice,
            response_format=AudioFormat.PCM_24000HZ_MONO_16BIT,
            mode="server_commit",
        )
        for text_chunk in SERVER_COMMIT_TEXT:
            qwen_tts_realtime.append_text(text_chunk)

    return script


def commit_script(qwen_tts_realtime: QwenTtsRealtime, callback: MyCallback) -> None:
    """Body of the commit example: one commit per sentence, waiting for each response."""
    qwen_tts_realtime.update_session(
        voice="Cherry", response_format=AudioFormat.PCM_24000HZ_MONO_16BIT, mode="commit"
    )
    for sentence in COMMIT_TEXT:
        qwen_tts_realtime.append_text(sentence)
        qwen_tts_realtime.commit()
        assert callback.response_done.wait(GUARD)
        callback.reset_event()


def pcm_bytes(text: str) -> int:
    """Return the PCM byte count the emulator produces for ``text`` at 24 kHz."""
    return 2 * round(24000 * synth_audio_seconds(text, 80))


async def test_server_commit_example(emulator: DashScopeEmulator) -> None:
    """The server_commit example: six chunks in, two responses and session.finished out."""
    tts, callback = await asyncio.to_thread(
        run_example, emulator.ws_url, "qwen3-tts-flash-realtime", server_commit_script("Cherry")
    )
    await emulator.wait_sessions_closed()
    assert callback.types[:2] == ["session.created", "session.updated"]
    assert callback.types[-1] == "session.finished"
    assert callback.close_code == 1000
    # Segments end at the ASCII "!" of chunks 5 and 6.
    segments = ["".join(SERVER_COMMIT_TEXT[:5]), SERVER_COMMIT_TEXT[5]]
    assert [len(audio) for audio in callback.responses] == [pcm_bytes(s) for s in segments]
    assert sum(map(len, callback.responses)) == pcm_bytes("".join(SERVER_COMMIT_TEXT))

    record = emulator.sessions[0]
    # The SDK is untyped; these are the getters the examples print.
    assert tts.get_session_id() == record.session_id  # type: ignore[no-untyped-call]
    last_response_id = tts.get_last_response_id()  # type: ignore[no-untyped-call]
    assert re.fullmatch(r"resp_[0-9A-Za-z]{21}", last_response_id)
    assert tts.get_first_audio_delay() is not None  # type: ignore[no-untyped-call]
    assert record.finished
    assert not record.closed_by_client_early
    assert [event["type"] for event in record.received] == [
        "session.update",
        *["input_text_buffer.append"] * 6,
        "session.finish",
    ]
    assert all(re.fullmatch(SDK_EVENT_ID, event["event_id"]) for event in record.received)
    assert record.received[0]["session"] == {
        "voice": "Cherry",
        "mode": "server_commit",
        "response_format": "pcm",
        "sample_rate": 24000,
    }
    assert [event["text"] for event in record.received[1:7]] == SERVER_COMMIT_TEXT
    headers = {name.lower(): value for name, value in record.headers.items()}
    assert headers["authorization"] == "Bearer sk-***"
    assert headers["user-agent"].startswith("dashscope/2.0.2;")
    assert headers["x-dashscope-sdk-client"] == "python-sdk/2.0.2/audio"


async def test_commit_example(emulator: DashScopeEmulator) -> None:
    """The commit example: three commits, three responses, then finish."""
    _, callback = await asyncio.to_thread(
        run_example, emulator.ws_url, "qwen3-tts-flash-realtime", commit_script
    )
    await emulator.wait_sessions_closed()
    assert [len(audio) for audio in callback.responses] == [pcm_bytes(s) for s in COMMIT_TEXT]
    assert callback.types.count("input_text_buffer.committed") == 3
    assert callback.types[-1] == "session.finished"
    record = emulator.sessions[0]
    assert [event["type"] for event in record.received] == [
        "session.update",
        *["input_text_buffer.append", "input_text_buffer.commit"] * 3,
        "session.finish",
    ]
    assert record.received[0]["session"]["mode"] == "commit"
    assert record.finished


def replay_enrollment_examples(base_url: str, wav: bytes) -> dict[str, Any]:
    """Replay the create / list / delete ``requests`` examples; return what they printed."""
    url = base_url + "/api/v1/services/audio/tts/customization"
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    base64_str = base64.b64encode(wav).decode()
    data_uri = f"data:audio/wav;base64,{base64_str}"
    payload: dict[str, Any] = {
        "model": "qwen-voice-enrollment",
        "input": {
            "action": "create",
            "target_model": "qwen-tts-vc-realtime-2025-08-20",
            "preferred_name": "guanyu",
            "audio": {"data": data_uri},
        },
    }
    resp = requests.post(url, json=payload, headers=headers, timeout=GUARD)
    assert resp.status_code == 200, resp.text
    voice = resp.json()["output"]["voice"]

    payload = {
        "model": "qwen-voice-enrollment",
        "input": {"action": "list", "page_size": 10, "page_index": 0},
    }
    response = requests.post(url, json=payload, headers=headers, timeout=GUARD)
    assert response.status_code == 200, response.text
    voice_list = response.json()["output"]["voice_list"]
    listed = [(item["voice"], item["gmt_create"], item["target_model"]) for item in voice_list]

    payload = {"model": "qwen-voice-enrollment", "input": {"action": "delete", "voice": voice}}
    response = requests.post(url, json=payload, headers=headers, timeout=GUARD)
    assert response.status_code == 200, response.text
    return {"voice": voice, "listed": listed, "delete_request_id": response.json()["request_id"]}


async def test_enrollment_requests_examples(emulator: DashScopeEmulator) -> None:
    """Replay create, list and delete exactly as the HTTP examples do it."""
    printed = await asyncio.to_thread(
        replay_enrollment_examples, emulator.base_url, speech_like_wav(12)
    )
    voice = printed["voice"]
    assert re.fullmatch(r"qwen-tts-vc-guanyu-voice-\d{17}-[0-9a-f]{4}", voice)
    assert printed["listed"] == [
        (voice, printed["listed"][0][1], "qwen-tts-vc-realtime-2025-08-20")
    ]
    assert printed["delete_request_id"]
    assert emulator.voices == {}
    assert [request["input"]["action"] for request in emulator.http_requests] == [
        "create",
        "list",
        "delete",
    ]


def clone_and_speak(base_url: str, ws_url: str, mp3: bytes) -> tuple[str, MyCallback]:
    """The cloning quick start: connect, create_voice(voice.mp3), then server_commit synthesis."""
    target_model = "qwen-tts-vc-realtime-2025-08-20"

    def create_voice() -> str:
        """Enroll like the example's create_voice, with an audio/mpeg data URI."""
        data_uri = f"data:audio/mpeg;base64,{base64.b64encode(mp3).decode()}"
        payload: dict[str, Any] = {
            "model": "qwen-voice-enrollment",
            "input": {
                "action": "create",
                "target_model": target_model,
                "preferred_name": "guanyu",
                "audio": {"data": data_uri},
            },
        }
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        resp = requests.post(
            base_url + "/api/v1/services/audio/tts/customization",
            json=payload,
            headers=headers,
            timeout=GUARD,
        )
        assert resp.status_code == 200, resp.text
        voice: str = resp.json()["output"]["voice"]
        return voice

    voice = ""

    def script(qwen_tts_realtime: QwenTtsRealtime, callback: MyCallback) -> None:
        """Enroll while connected (as the example does), then synthesize with the clone."""
        nonlocal voice
        voice = create_voice()
        server_commit_script(voice)(qwen_tts_realtime, callback)

    _, callback = run_example(ws_url, target_model, script)
    return voice, callback


async def test_cloning_quick_start(emulator: DashScopeEmulator) -> None:
    """Clone from an MP3 and synthesize with the cloned voice on its target model."""
    process = await asyncio.create_subprocess_exec(
        *["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-f", "mp3", "pipe:1"],
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    mp3, _ = await process.communicate(speech_like_wav(12))
    voice, callback = await asyncio.to_thread(
        clone_and_speak, emulator.base_url, emulator.ws_url, mp3
    )
    await emulator.wait_sessions_closed()
    assert callback.types[-1] == "session.finished"
    assert "error" not in callback.types
    assert sum(map(len, callback.responses)) == pcm_bytes("".join(SERVER_COMMIT_TEXT))
    record = emulator.sessions[0]
    assert record.model == "qwen-tts-vc-realtime-2025-08-20"
    assert record.config["voice"] == voice
