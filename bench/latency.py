"""Time to first audio on a real-shaped network: TLS, round-trip times, side by side.

One run, same texts, same emulator (first-audio delay 0.2 s, served over TLS with
a throw-away certificate that every client trusts), reached through a latency
proxy (``bench/latency_proxy.py``: RTT/2 each way, plus the TCP handshake's round
trip) at RTT 0, 30 and 150 ms; both run in a process of their own (``bench/cloud.py``).
Clients, each from its request to its first audio byte:

* ``ours_cold``: the integration's client, a fresh TLS WebSocket per request;
* ``ours_warm``: the same client keeping a warm session (``api/warm.py``) that each
  request takes while a replacement opens;
* ``bare``: the floor of any client on this machine: the protocol in a dozen lines of
  aiohttp (no validation, retry, rate limit or stats), also on a fresh connection;
* ``sdk``: Alibaba's ``dashscope`` 2.0.2 SDK running the guide's server_commit example;
* ``ha_url``: Home Assistant in-process: ``POST /api/tts_get_url``, then ``GET`` the
  audio (streaming WAV), timed to the first body byte;
* ``ha_assist``: the same Home Assistant, Assist-style: ``tts.async_create_stream``
  with a streaming text source (``async_set_message_stream``). The profile keeps a warm
  session, as it does by default; ``warm_runs`` in the JSON counts the runs that had one.

Runs are interleaved (one of each client in turn) so that load from elsewhere on
the machine hits all clients alike; one run per client and RTT is a discarded
warm-up. Writes ``bench/results/latency.json`` and ``latency.png`` and prints the
Markdown table of BENCHMARKS.md. Not part of CI::

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python -m bench.latency [--runs 20]
"""

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from homeassistant.components import tts
from homeassistant.core import HomeAssistant
from homeassistant.util import ssl as ssl_util
from pytest_homeassistant_custom_component.common import async_test_home_assistant

from custom_components.qwen_tts_realtime.api import (
    DEFAULT_MODEL,
    Endpoint,
    QwenTtsClient,
    SessionConfig,
)
from custom_components.qwen_tts_realtime.const import DOMAIN
from tests.dashscope_emulator import REALTIME_PATH
from tests.tls_helpers import LocalTls, make_local_tls

from . import report, sdk_client
from .cloud import SERVER_DELAY, Cloud
from .ha import API_KEY, ENGINE, access_token, set_up_integration

RTTS_MS = (0, 30, 150)
RESULTS = Path(__file__).parent / "results"
# What the satellites ask for: WAV needs no encoder on either side, so the emulator's
# ffmpeg (MP3) does not add to its first-audio delay.
HA_OPTIONS = {tts.ATTR_PREFERRED_FORMAT: "wav"}

WARM_KEY = "bench"

type Speak = Callable[[tuple[str, ...]], Awaitable[float]]


@dataclass(frozen=True, slots=True)
class Client:
    """A way to speak, and for those that can use one, whether the last run was warm."""

    speak: Speak
    was_warm: Callable[[], bool] | None = None


def texts(run: str) -> tuple[str, ...]:
    """Return the example's text chunks, made unique per run (no cache hit anywhere)."""
    return (*sdk_client.EXAMPLE_TEXT, f"第{run}次。")


async def _aiter(chunks: Iterable[str]) -> AsyncGenerator[str]:
    """Yield the chunks as a streaming source."""
    for chunk in chunks:
        yield chunk


async def _first_of(audio: AsyncIterator[bytes], started: float) -> float:
    """Read ``audio`` to its end; return the seconds from ``started`` to its first byte."""
    first: float | None = None
    async for chunk in audio:
        if chunk and first is None:
            first = time.monotonic() - started
    assert first is not None, "no audio"
    return first


def ours_cold(http: aiohttp.ClientSession, base_url: str) -> Speak:
    """Return our client on a fresh connection per request (WebSockets are never pooled)."""
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(base_url))

    async def speak(chunks: tuple[str, ...]) -> float:
        """Synthesize once; the time to the first audio chunk."""
        started = time.monotonic()
        stream = client.synthesize(DEFAULT_MODEL, SessionConfig(voice="Cherry"), _aiter(chunks))
        async with aclosing(stream):
            return await _first_of(stream, started)

    return speak


def ours_warm(stack: AsyncExitStack, http: aiohttp.ClientSession, base_url: str) -> Client:
    """Return our client keeping a warm session, which every request takes.

    A request waits (off the clock) while the replacement is still opening, as one
    that comes a few seconds after the last would not; ``was_warm`` tells the runs
    that found none ready.
    """
    client = QwenTtsClient(http, API_KEY, Endpoint.from_base_url(base_url))
    client.warm.keep(WARM_KEY, DEFAULT_MODEL)
    stack.push_async_callback(client.aclose)

    async def speak(chunks: tuple[str, ...]) -> float:
        """Synthesize once, on the warm session if one is ready."""
        await client.warm.wait_ready(WARM_KEY)
        started = time.monotonic()
        config = SessionConfig(voice="Cherry")
        stream = client.synthesize(DEFAULT_MODEL, config, _aiter(chunks), warm=WARM_KEY)
        async with aclosing(stream):
            return await _first_of(stream, started)

    return Client(speak, lambda: client.recent_sessions[-1].warm)


def bare(http: aiohttp.ClientSession, base_url: str) -> Speak:
    """Return the least a client can do: connect, configure, send, read."""
    url = f"{base_url.replace('https', 'wss', 1)}{REALTIME_PATH}?model={DEFAULT_MODEL}"
    update = {"voice": "Cherry", "mode": "server_commit", "response_format": "pcm"}

    def event(kind: str, **fields: Any) -> str:
        """Return a client event."""
        return json.dumps({"event_id": f"event_{uuid.uuid4().hex}", "type": kind, **fields})

    async def speak(chunks: tuple[str, ...]) -> float:
        """Run one session to session.finished; time its first audio delta."""
        started = time.monotonic()
        first: float | None = None
        async with http.ws_connect(url, headers={"Authorization": f"Bearer {API_KEY}"}) as ws:
            await ws.receive()  # session.created
            await ws.send_str(event("session.update", session=update))
            for chunk in chunks:
                await ws.send_str(event("input_text_buffer.append", text=chunk))
            await ws.send_str(event("session.finish"))
            async for message in ws:
                kind = json.loads(message.data)["type"]
                if kind == "response.audio.delta" and first is None:
                    first = time.monotonic() - started
                if kind == "session.finished":
                    break
        assert first is not None, "no audio"
        return first

    return speak


def sdk(ws_url: str) -> Speak:
    """Return the SDK example, run in a worker thread."""

    async def speak(chunks: tuple[str, ...]) -> float:
        """Run the example once."""
        return await asyncio.to_thread(sdk_client.speak, ws_url, DEFAULT_MODEL, chunks)

    return speak


def ha_url(http: aiohttp.ClientSession, port: int, token: str) -> Speak:
    """Return a media player's way in: ``tts_get_url``, then fetch the audio."""
    base = f"http://127.0.0.1:{port}"

    async def speak(chunks: tuple[str, ...]) -> float:
        """Ask for a URL and read it; time to the first body byte."""
        started = time.monotonic()
        body = {"engine_id": ENGINE, "message": "".join(chunks), "options": HA_OPTIONS}
        async with http.post(
            f"{base}/api/tts_get_url", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as answer:
            answer.raise_for_status()
            path = (await answer.json())["path"]
        async with http.get(base + path) as audio:
            audio.raise_for_status()
            return await _first_of(audio.content.iter_any(), started)

    return speak


def ha_assist(hass: HomeAssistant) -> Speak:
    """Return the Assist pipeline's way in: a result stream fed by a streaming text source."""

    async def speak(chunks: tuple[str, ...]) -> float:
        """Create the stream and read it; time to the first byte."""
        started = time.monotonic()
        stream = tts.async_create_stream(hass, ENGINE, None, dict(HA_OPTIONS))
        stream.async_set_message_stream(_aiter(chunks))
        return await _first_of(stream.async_stream_result(), started)

    return speak


async def _home_assistant(
    stack: AsyncExitStack, tls: LocalTls, base_url: str, http: aiohttp.ClientSession
) -> dict[str, Client]:
    """Start Home Assistant with the integration on ``base_url``; return its two ways in.

    The profile keeps its warm session as it does by default for this model.
    """
    # Home Assistant's shared client session verifies with this (cached) context.
    ssl_util.client_context(
        ssl_util.SSLCipherList.PYTHON_DEFAULT, ssl_util.SSL_ALPN_HTTP11
    ).load_verify_locations(cafile=tls.ca_file)
    config_dir = stack.enter_context(tempfile.TemporaryDirectory())
    hass = await stack.enter_async_context(async_test_home_assistant(config_dir=config_dir))
    stack.push_async_callback(hass.async_stop, force=True)
    port = await set_up_integration(hass, base_url)
    client: QwenTtsClient = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.client

    def was_warm() -> bool:
        """Tell whether Home Assistant's last session was a warm one."""
        return client.recent_sessions[-1].warm

    token = await access_token(hass)
    return {
        "ha_url": Client(ha_url(http, port, token), was_warm),
        "ha_assist": Client(ha_assist(hass), was_warm),
    }


async def measure(runs: int, rtts_ms: tuple[int, ...]) -> dict[str, Any]:
    """Run every client ``runs`` times at each RTT and return the summarized record."""
    tls = make_local_tls()
    sdk_client.trust(tls.ca_file, API_KEY)
    samples: dict[str, dict[int, list[float]]] = {}
    warm_runs: dict[str, int] = {}
    load_before = os.getloadavg()
    started = time.monotonic()
    async with AsyncExitStack() as stack:
        cloud = await stack.enter_async_context(Cloud(tls))
        base_url = cloud.base_url
        ours = await stack.enter_async_context(
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls.client_context))
        )
        plain = await stack.enter_async_context(aiohttp.ClientSession())
        ha = await _home_assistant(stack, tls, base_url, plain)
        # Home Assistant's two requests apart, so its warm replacement has time to open.
        clients: dict[str, Client] = {
            "ha_url": ha["ha_url"],
            "ours_cold": Client(ours_cold(ours, base_url)),
            "ours_warm": ours_warm(stack, ours, base_url),
            "ha_assist": ha["ha_assist"],
            "bare": Client(bare(ours, base_url)),
            "sdk": Client(sdk(base_url.replace("https", "wss", 1) + REALTIME_PATH)),
        }
        for rtt_ms in rtts_ms:
            await cloud.set_rtt(rtt_ms)
            for name, client in clients.items():
                await client.speak(texts(f"{rtt_ms}-0"))  # warm-up: not counted
                samples.setdefault(name, {})[rtt_ms] = []
            for run in range(runs):
                for name, client in clients.items():
                    samples[name][rtt_ms].append(await client.speak(texts(f"{rtt_ms}-{run + 1}")))
                    if client.was_warm is not None:
                        warm_runs[name] = warm_runs.get(name, 0) + client.was_warm()
            print(f"RTT {rtt_ms} ms done after {time.monotonic() - started:.0f} s")
    return {
        "server_delay": SERVER_DELAY,
        "runs": runs,
        "rtts_ms": list(rtts_ms),
        "seconds": round(time.monotonic() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        },
        "clients": report.summarize(samples),
        "warm_runs": warm_runs,  # measured runs served by a warm session, of runs x RTTs
    }


def main() -> None:
    """Measure, write the JSON and the plot, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="runs per client and RTT")
    parser.add_argument("--rtt", type=int, nargs="+", default=list(RTTS_MS), help="RTTs in ms")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    args = parser.parse_args()
    results = asyncio.run(measure(args.runs, tuple(args.rtt)))
    report.write_json(results, args.out / "latency.json")
    report.plot(results, args.out / "latency.png")
    print(f"{results['seconds']} s, load {results['machine']}")
    print(report.table(results))


if __name__ == "__main__":
    main()
