"""First audio: commit mode with the client's own segments vs the service's server_commit.

Resume needs ``commit`` mode (the client cuts the text into sentences and knows
which text each response speaks). This measures what that costs a listener
when the text comes from an LLM: chunks of a few characters every 50 ms, as
an Assist pipeline streams them, into the integration's client. The emulator
is paced like the real service: a handshake, a delay from each commit to its
first audio, audio in real time; in server_commit mode it cuts the text at
sentence ends (or 40 characters), which is how the reference emulator reads
the service's undocumented rule.

Each run is timed from the LLM's first token to the first and last audio byte;
modes alternate run by run. Not part of CI (it sleeps for real)::

    .venv/bin/python -m bench.segments [--runs 10] [--interval 0.05] [--chars 3]
"""

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass

import aiohttp

from custom_components.qwen_tts_realtime.api import (
    Endpoint,
    QwenTtsClient,
    SessionConfig,
)
from custom_components.qwen_tts_realtime.api.session_config import Mode
from tests.dashscope_emulator import DashScopeEmulator, EmulatorOptions

API_KEY = "sk-emulator"
MODEL = "qwen3-tts-flash-realtime"
TEXTS = {
    "Chinese": (
        "好的，我来帮你看看明天的安排。明天上午九点你有一个团队周会，地点在三楼会议室，"
        "大约一个小时。下午两点到四点没有安排，可以用来处理邮件。"
    ),
    "English": (
        "Sure, let me check tomorrow for you. At nine you have the team meeting in the "
        "third floor room, about an hour. Then at noon you are having lunch with Alex."
    ),
    "Long clause": (
        "明天上午九点你有一个在三楼大会议室举行的跟产品和设计两个团队一起的季度回顾会议，"
        "会议大约持续两个小时。"
    ),
}
MODES: tuple[Mode, ...] = ("server_commit", "commit")


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds from the LLM's first token to the first and to the last audio byte."""

    first_byte: float
    last_byte: float


async def _llm(text: str, chars: int, interval: float) -> AsyncGenerator[str]:
    """Yield ``text`` in pieces of ``chars`` characters every ``interval`` seconds."""
    for start in range(0, len(text), chars):
        if start:
            await asyncio.sleep(interval)
        yield text[start : start + chars]


async def _speak(client: QwenTtsClient, mode: Mode, text: str, args: argparse.Namespace) -> Timing:
    """Synthesize one LLM-paced text and time it."""
    started = time.monotonic()
    first = None
    stream = client.synthesize(
        MODEL, SessionConfig(voice="Cherry", mode=mode), _llm(text, args.chars, args.interval)
    )
    async with aclosing(stream):
        async for _ in stream:
            first = first or time.monotonic() - started
    assert first is not None, "no audio"
    return Timing(first, time.monotonic() - started)


async def main(args: argparse.Namespace) -> None:
    """Measure both modes on every text and print the medians and their ratio."""
    options = EmulatorOptions(
        handshake_delay=0.1,  # TLS + WebSocket upgrade
        first_audio_delay=0.2,  # from a commit to its first audio (as in bench.latency)
        chunk_ms=100,
        chunk_interval=0.1,  # audio arrives in real time
        segment_chars=40,
    )
    results: dict[tuple[str, Mode], list[Timing]] = {}
    async with DashScopeEmulator(options) as emulator, aiohttp.ClientSession() as http:
        client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(emulator.base_url))
        for name, text in TEXTS.items():
            for run in range(args.runs):
                for mode in MODES if run % 2 == 0 else MODES[::-1]:
                    timing = await _speak(client, mode, f"{text}（{run}）", args)
                    results.setdefault((name, mode), []).append(timing)
    print(
        f"LLM: {args.chars} characters every {args.interval * 1000:.0f} ms; {args.runs} runs each;"
        " seconds from the first token (median)"
    )
    print(f"{'text':14}{'mode':15}{'first byte':>12}{'last byte':>12}")
    for name in TEXTS:
        for mode in MODES:
            timings = results[name, mode]
            first = statistics.median(t.first_byte for t in timings)
            last = statistics.median(t.last_byte for t in timings)
            print(f"{name:14}{mode:15}{first:12.3f}{last:12.3f}")
        ratio = statistics.median(
            t.first_byte for t in results[name, "commit"]
        ) / statistics.median(t.first_byte for t in results[name, "server_commit"])
        print(f"{name:14}{'commit/server':15}{ratio:12.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.05, metavar="SECONDS")
    parser.add_argument("--chars", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
