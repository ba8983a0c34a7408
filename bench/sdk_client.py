"""Alibaba's server_commit example (realtime_tts_guide.zh.txt) as a timed benchmark client.

The example as written, pointed at ``url``: build ``QwenTtsRealtime``, ``connect()``,
``update_session`` (Cherry, 24 kHz PCM, server_commit), append the text chunks,
``finish()`` and wait for ``session.finished``. Two changes: no ``time.sleep(0.1)``
between the chunks (our clients get the same text at once, too), and the audio is
timed instead of written to a file. The SDK is synchronous with its own websocket
thread; call ``speak`` in a worker thread. It trusts the test CA through
``WEBSOCKET_CLIENT_CA_BUNDLE`` (websocket-client's own setting, see ``trust``).
"""

import os
import threading
import time
from pathlib import Path
from typing import Any

import dashscope
from dashscope.audio.qwen_tts_realtime import (
    AudioFormat,
    QwenTtsRealtime,
    QwenTtsRealtimeCallback,
)

# Safety net: a broken run fails instead of hanging the benchmark.
GUARD = 30.0
# The example's text_to_synthesize.
EXAMPLE_TEXT = (
    "对吧~我就特别喜欢这种超市,",
    "尤其是过年的时候",
    "去逛超市",
    "就会觉得",
    "超级超级开心!",
    "想买好多好多的东西呢!",
)


def trust(ca_file: Path, api_key: str) -> None:
    """Make the SDK trust ``ca_file`` for wss and use ``api_key``."""
    os.environ["WEBSOCKET_CLIENT_CA_BUNDLE"] = str(ca_file)
    dashscope.api_key = api_key


class _Callback(QwenTtsRealtimeCallback):
    """The example's callback, noting when the first audio arrived."""

    def __init__(self) -> None:
        """Nothing heard yet."""
        super().__init__()
        self.first_audio: float | None = None
        self.complete_event = threading.Event()

    def on_event(self, response: Any) -> None:
        """Time the first audio delta; signal session.finished."""
        kind = response["type"]
        if kind == "response.audio.delta" and self.first_audio is None:
            self.first_audio = time.monotonic()
        if kind == "session.finished":
            self.complete_event.set()


def speak(url: str, model: str, chunks: tuple[str, ...]) -> float:
    """Run the example once; return the seconds from the request to the first audio."""
    callback = _Callback()
    started = time.monotonic()
    tts = QwenTtsRealtime(model=model, callback=callback, url=url)
    tts.connect()
    try:
        tts.update_session(
            voice="Cherry", response_format=AudioFormat.PCM_24000HZ_MONO_16BIT, mode="server_commit"
        )
        for text_chunk in chunks:
            tts.append_text(text_chunk)
        tts.finish()
        if not callback.complete_event.wait(GUARD):
            raise TimeoutError("The SDK session did not finish")
    finally:
        if not callback.complete_event.is_set():
            tts.close()
        tts.thread.join(GUARD)
    assert callback.first_audio is not None, "no audio"
    return callback.first_audio - started
