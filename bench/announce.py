"""Why Wyoming satellite announcements start seconds late: HA's ffmpeg and the stream's shape.

For ``assist_satellite.announce`` Home Assistant's wyoming integration does not
stream the TTS audio itself (its Assist reply path does): it hands the
``/api/tts_proxy/...`` URL to ffmpeg and forwards ffmpeg's output. This
benchmark runs that exact ffmpeg command (``FFMPEG_ARGS``, from
``homeassistant/components/wyoming/assist_satellite.py``, ``async_announce``)
on a source paced in real time, served like Home Assistant serves TTS (chunked
``audio/x-wav``), and times the first byte ffmpeg writes after the first audio
byte was served, for several shapes of the same 8 s of audio.

How much audio the source had sent by then does not depend on the pace: the
faster the service, the less the wait, but the same bytes are held. Not part of
CI::

    .venv/bin/python -m bench.announce
"""

import argparse
import asyncio
import struct
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial

from aiohttp import web

from tests.dashscope_emulator import tone_pcm

RATE = 22050  # what the wyoming integration asks TTS for: 22050 Hz, mono, 16 bit
SECONDS = 8.0
CHUNK_SECONDS = 0.1
# Home Assistant 2026.10/2026.11 wyoming async_announce, word for word after the binary.
FFMPEG_ARGS = (
    "-protocol_whitelist",
    "http,https,file,tcp,tls",
    "-i",
    "{url}",
    "-f",
    "s16le",
    "-ac",
    "1",
    "-ar",
    "22050",
    "-nostats",
    "pipe:",
)
# What a fix on Home Assistant's side could add before "-i" (not what it runs today).
NO_PROBING = ("-probesize", "32", "-analyzeduration", "0")
# Home Assistant 2026.10's tts _async_convert_audio for a satellite's WAV: on 2026.10 every
# satellite answer (Assist reply and announcement) passes it; 2026.11 skips it when the
# entity made the requested shape.
CONVERT_ARGS = (
    *("-hide_banner", "-loglevel", "error", "-f", "wav", "-probesize", "32", "-i", "pipe:0"),
    *("-f", "wav", "-ar", "22050", "-ac", "1", "-sample_fmt", "s16", "-fflags", "+bitexact"),
    "pipe:1",
)
WAV_HEADER_BYTES = 44


@dataclass(frozen=True, slots=True)
class Shape:
    """One way to serve the audio: a header, the body, and how to cut it into paced chunks."""

    name: str
    header: bytes
    body: bytes
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """When ffmpeg wrote its first byte, and how much audio had been served by then."""

    first_output: float | None  # seconds after the first audio byte was served; None: no output
    audio_served: float  # seconds of audio served by then


def wav_header(size: int | None, *, format_tag: int = 1, bits: int = 16) -> bytes:
    """Return a 44-byte mono WAV header at ``RATE``; ``size=None`` is the streaming placeholder."""
    data = 0xFFFFFFFF if size is None else size
    riff = 0xFFFFFFFF if size is None else 36 + size
    align = bits // 8
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        *(b"RIFF", riff, b"WAVE", b"fmt ", 16, format_tag, 1, RATE, RATE * align, align, bits),
        *(b"data", data),
    )


async def _ffmpeg(args: Sequence[str], stdin: bytes | None = None) -> bytes:
    """Run ffmpeg and return its output."""
    process = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await process.communicate(stdin)
    assert process.returncode == 0, args
    return output


async def _encode(pcm: bytes, *output_args: str) -> bytes:
    """Encode 16-bit mono PCM at ``RATE`` with ffmpeg."""
    raw_in = ("-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "pipe:")
    return await _ffmpeg([*raw_in, *output_args, "pipe:"], pcm)


async def shapes() -> list[Shape]:
    """Return the shapes compared: ours, other WAV headers, other containers, and a fix."""
    pcm = tone_pcm(int(RATE * SECONDS), RATE, 0)
    float_pcm = await _encode(pcm, "-f", "f32le")
    return [
        Shape("WAV, streaming header (ours, HA's)", wav_header(None), pcm),
        Shape("WAV, sizes 0", wav_header(0), pcm),
        Shape("WAV, exact sizes (a file)", wav_header(len(pcm)), pcm),
        Shape("WAV, 32-bit float", wav_header(None, format_tag=3, bits=32), float_pcm),
        Shape("MP3 128 kbit/s", b"", await _encode(pcm, "-f", "mp3", "-b:a", "128k")),
        Shape("FLAC", b"", await _encode(pcm, "-f", "flac")),
        Shape("Ogg Opus", b"", await _encode(pcm, "-f", "ogg", "-c:a", "libopus")),
        Shape("WAV, streaming, if HA added -probesize 32", wav_header(None), pcm, NO_PROBING),
    ]


class _Source:
    """Paces a shape's bytes in real time (times ``speed``) and counts what went out."""

    def __init__(self, shape: Shape, speed: float) -> None:
        """Cut the body into chunks of ``CHUNK_SECONDS`` of audio."""
        self._shape = shape
        self._interval = CHUNK_SECONDS / speed
        self._count = max(1, round(SECONDS / CHUNK_SECONDS))
        self._step = -(-len(shape.body) // self._count)
        self.sent = 0
        self.started = 0.0

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the header with the first chunk, then one chunk per interval."""
        self.started = time.monotonic()
        for index in range(self._count):
            piece = self._shape.body[index * self._step : (index + 1) * self._step]
            yield self._shape.header + piece if index == 0 else piece
            self.sent = index + 1
            await asyncio.sleep(self._interval)

    async def first_output(self, process: asyncio.subprocess.Process, skip: int = 0) -> Outcome:
        """Time ffmpeg's first output byte past ``skip`` header bytes, then drain it."""
        assert process.stdout is not None
        received = 0
        while received <= skip and (data := await process.stdout.read(65536)):
            received += len(data)
        outcome = Outcome(
            time.monotonic() - self.started if received > skip else None,
            self.sent * CHUNK_SECONDS,
        )
        while await process.stdout.read(65536):
            pass
        await process.wait()
        return outcome


async def measure(shape: Shape, speed: float) -> Outcome:
    """Serve ``shape`` at ``speed`` times real time to HA's announce command; time its output."""
    source = _Source(shape, speed)

    async def serve(request: web.Request) -> web.StreamResponse:
        """Stream the shape like Home Assistant's TTS view: chunked, paced."""
        response = web.StreamResponse()
        response.content_type = "audio/x-wav"
        await response.prepare(request)
        async for chunk in source.chunks():
            await response.write(chunk)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/api/tts_proxy/bench", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/tts_proxy/bench"
    try:
        process = await asyncio.create_subprocess_exec(
            "ffmpeg",
            *shape.extra_args,
            *(arg.format(url=url) for arg in FFMPEG_ARGS),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await source.first_output(process)
    finally:
        await runner.cleanup()


async def measure_conversion(shape: Shape, speed: float) -> Outcome:
    """Feed ``shape`` to Home Assistant 2026.10's TTS conversion; time its first audio byte."""
    source = _Source(shape, speed)
    process = await asyncio.create_subprocess_exec(
        "ffmpeg",
        *CONVERT_ARGS,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdin is not None
    stdin = process.stdin

    async def feed() -> None:
        """Write the paced chunks, then end the input."""
        async for chunk in source.chunks():
            stdin.write(chunk)
            await stdin.drain()
        stdin.close()

    writer = asyncio.create_task(feed())
    try:
        return await source.first_output(process, skip=WAV_HEADER_BYTES)
    finally:
        await writer


async def main(speed: float) -> None:
    """Measure every shape once and print a Markdown table."""
    print(f"{SECONDS:.0f} s of audio served at {speed:g}x real time, {RATE} Hz mono")
    print("| stream | first ffmpeg output after first audio byte | audio served by then |")
    print("|---|---:|---:|")
    every = await shapes()
    rows = [(shape.name, partial(measure, shape, speed)) for shape in every]
    ours = every[0]
    rows.append(
        (f"{ours.name} in HA 2026.10's TTS conversion", partial(measure_conversion, ours, speed))
    )
    for name, run in rows:
        outcome = await run()
        first = "none" if outcome.first_output is None else f"{outcome.first_output:.2f} s"
        print(f"| {name} | {first} | {outcome.audio_served:.1f} s |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.announce", description=__doc__)
    parser.add_argument("--speed", type=float, default=1.0, help="pace, times real time")
    asyncio.run(main(parser.parse_args().speed))
