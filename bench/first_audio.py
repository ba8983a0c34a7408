"""Time to first audio: streaming an LLM's answer into TTS vs waiting for the whole answer.

Runs a Home Assistant in-process with this integration set up against the local
DashScope emulator, paced like the real service (handshake, first-packet delay,
audio in real time). A text generator writes the answer like an LLM does. Two
ways to speak it, each measured from the LLM's first token to the first audio
byte Home Assistant serves:

* streaming: what the Assist pipeline does - once more than 60 characters are
  written, ``tts.async_create_stream`` + ``async_set_message_stream`` feeds the
  rest as it comes;
* baseline: wait for the whole answer, then ``async_set_message``.

Not part of CI (it sleeps for real)::

    .venv/bin/python -m bench.first_audio [--runs 5] [--format wav]
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components import tts
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_test_home_assistant

from tests.dashscope_emulator import DashScopeEmulator, EmulatorOptions

from .ha import ENGINE, set_up_integration

# The Assist pipeline switches to streaming TTS after this many characters.
STREAM_RESPONSE_CHARS = 60
ANSWER = (
    "好的，我来帮你看看明天的安排。明天上午九点你有一个团队周会，地点在三楼会议室，"
    "大约一个小时。Then at noon you are having lunch with Alex at the Italian place "
    "downtown. 下午两点到四点没有安排，可以用来处理邮件。晚上七点记得去健身房，"
    "另外天气预报说傍晚可能有小雨，出门记得带伞。"
)


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast the simulated LLM writes: ``chars`` characters every ``interval`` seconds."""

    chars: int
    interval: float


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds from the LLM's first token to the first and to the last audio byte."""

    first_byte: float
    last_byte: float


async def _llm(text: str, pace: Pace) -> AsyncGenerator[str]:
    """Yield ``text`` like a streaming LLM."""
    for start in range(0, len(text), pace.chars):
        if start:
            await asyncio.sleep(pace.interval)
        yield text[start : start + pace.chars]


async def _drain(stream: tts.ResultStream, started: float) -> Timing:
    """Read a result stream to the end and time its first and last bytes."""
    first = None
    async for _ in stream.async_stream_result():
        first = first or time.monotonic() - started
    assert first is not None, "no audio"
    return Timing(first, time.monotonic() - started)


async def _streaming(hass: HomeAssistant, text: str, pace: Pace, fmt: str) -> Timing:
    """Speak like the pipeline: start streaming TTS once 60 characters are written."""
    started = time.monotonic()
    llm = _llm(text, pace)
    written = ""
    async for chunk in llm:
        written += chunk
        if len(written) > STREAM_RESPONSE_CHARS:
            break

    async def rest() -> AsyncGenerator[str]:
        yield written
        async for chunk in llm:
            yield chunk

    stream = tts.async_create_stream(hass, ENGINE, "zh-CN", {tts.ATTR_PREFERRED_FORMAT: fmt})
    stream.async_set_message_stream(rest())
    return await _drain(stream, started)


async def _baseline(hass: HomeAssistant, text: str, pace: Pace, fmt: str) -> Timing:
    """Wait for the whole answer, then synthesize it."""
    started = time.monotonic()
    written = "".join([chunk async for chunk in _llm(text, pace)])
    stream = tts.async_create_stream(hass, ENGINE, "zh-CN", {tts.ATTR_PREFERRED_FORMAT: fmt})
    stream.async_set_message(written)
    return await _drain(stream, started)


async def _measure(
    runs: int,
    speak: Callable[[HomeAssistant, str, Pace, str], Awaitable[Timing]],
    hass: HomeAssistant,
    pace: Pace,
    fmt: str,
) -> list[Timing]:
    """Run one way of speaking ``runs`` times (a new text each time: no cache hits)."""
    return [await speak(hass, f"{ANSWER}（第{run + 1}次）", pace, fmt) for run in range(runs)]


async def main(runs: int, fmt: str, pace: Pace) -> None:
    """Measure both ways in one run and print the medians and their ratio."""
    options = EmulatorOptions(
        handshake_delay=0.1,  # TLS + WebSocket upgrade
        first_audio_delay=0.5,  # "first packet about 500 ms" (Alibaba FAQ)
        chunk_ms=100,
        chunk_interval=0.1,  # audio arrives in real time
        segment_chars=40,
    )
    with tempfile.TemporaryDirectory() as config_dir:
        async with (
            DashScopeEmulator(options) as emulator,
            async_test_home_assistant(config_dir=config_dir) as hass,
        ):
            await set_up_integration(hass, emulator.base_url)
            streaming = await _measure(runs, _streaming, hass, pace, fmt)
            baseline = await _measure(runs, _baseline, hass, pace, fmt)
            await hass.async_stop(force=True)
    llm_seconds = (len(ANSWER) / pace.chars - 1) * pace.interval
    first_streaming = statistics.median(t.first_byte for t in streaming)
    first_baseline = statistics.median(t.first_byte for t in baseline)
    print(f"Answer: {len(ANSWER)} characters, written by the LLM in {llm_seconds:.2f} s")
    print(f"Audio format: {fmt}; {runs} runs each; seconds from the LLM's first token (median)")
    print(f"{'':26}{'first byte':>12}{'last byte':>12}")
    for name, timings in (("streaming (pipeline)", streaming), ("wait for text", baseline)):
        first = statistics.median(t.first_byte for t in timings)
        last = statistics.median(t.last_byte for t in timings)
        print(f"{name:26}{first:12.3f}{last:12.3f}")
    print(f"First audio {first_baseline / first_streaming:.1f}x sooner when streaming")
    last_ratio = statistics.median(t.last_byte for t in baseline) / statistics.median(
        t.last_byte for t in streaming
    )
    print(f"Whole answer {last_ratio:.2f}x sooner when streaming")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.first_audio", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--format", choices=("wav", "mp3"), default="wav")
    parser.add_argument("--chars", type=int, default=8, help="characters per LLM chunk")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between chunks")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.format, Pace(args.chars, args.interval)))
