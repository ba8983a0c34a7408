"""When Chromium starts playing streamed TTS audio: MP3, chained Ogg Opus, joined Ogg Opus.

The service's Opus comes as one Ogg stream per response; the integration joins
them into one stream with short pages (``api/ogg.py``). This benchmark serves
the same audio as Home Assistant serves TTS (chunked, no length), paced at a
multiple of real time, to Debian's Chromium through Playwright, and reads when
the ``<audio>`` element fires ``playing``, and how many bytes had been served
by then. Not part of CI::

    .venv/bin/python -m bench.browser_start --pace 4 --responses 8 32 --opus-kbps 32 128
"""

import argparse
import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web
from playwright.async_api import async_playwright

from custom_components.qwen_tts_realtime.api import OggOpusJoiner
from tests.dashscope_emulator import encode_audio, tone_pcm

RATE = 24000
RESPONSE_SECONDS = 2.0
MP3_KBPS = 64
CHROMIUM = "/usr/bin/chromium"
PAGE = """<html><body><audio id="a" src="/audio" autoplay></audio><script>
const audio = document.getElementById("a"); window.events = [];
for (const name of ["playing", "ended", "error"]) {
  audio.addEventListener(name, () => window.events.push([name, Date.now()]));
}</script></body></html>"""


@dataclass(frozen=True, slots=True)
class Result:
    """One stream's start in the browser."""

    stream: str
    size: int
    served_at_start: int
    playing_after: float


async def _streams(responses: int, opus_kbps: int) -> dict[str, tuple[bytes, str]]:
    """Return the same tone as MP3, chained Ogg Opus and joined Ogg Opus."""
    pcm = [tone_pcm(round(RATE * RESPONSE_SECONDS), RATE, index) for index in range(responses)]
    mp3 = b"".join([await encode_audio(part, RATE, "mp3", MP3_KBPS) for part in pcm])
    chained = b"".join([await encode_audio(part, RATE, "opus", opus_kbps) for part in pcm])
    joiner = OggOpusJoiner()
    joined = b"".join(joiner.convert(chained[i : i + 1000]) for i in range(0, len(chained), 1000))
    return {
        "MP3": (mp3, "audio/mpeg"),
        "Ogg Opus, chained (the service's)": (chained, "audio/ogg"),
        "Ogg Opus, joined (ours)": (joined + joiner.flush(), "audio/ogg"),
    }


class _Server:
    """Serves one stream at a time, paced, remembering how much went out when."""

    def __init__(self, pace: float, seconds: float) -> None:
        """Serve nothing yet."""
        self.body, self.content_type = b"", "audio/ogg"
        self.sent: list[tuple[float, int]] = []
        self._pace, self._seconds = pace, seconds

    async def page(self, _request: web.Request) -> web.Response:
        """Return the page with the audio element."""
        return web.Response(text=PAGE, content_type="text/html")

    async def audio(self, request: web.Request) -> web.StreamResponse:
        """Stream the body chunked, 100 ms of audio per step at ``pace`` times real time."""
        response = web.StreamResponse(headers={"Content-Type": self.content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        start, steps = time.time(), round(self._seconds * 10)
        for step in range(steps):
            end = len(self.body) * (step + 1) // steps
            self.sent.append((time.time(), end))  # the browser's clock is the same wall clock
            await response.write(self.body[len(self.body) * step // steps : end])
            await asyncio.sleep(max(0.0, start + (step + 1) / 10 / self._pace - time.time()))
        await response.write_eof()
        return response


async def measure(pace: float, responses: int, opus_kbps: int) -> list[Result]:
    """Play each stream in Chromium and return when it started."""
    seconds = responses * RESPONSE_SECONDS
    server = _Server(pace, seconds)
    app = web.Application()
    app.router.add_get("/", server.page)
    app.router.add_get("/audio", server.audio)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    results = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"]
            )
            for name, (body, content_type) in (await _streams(responses, opus_kbps)).items():
                server.body, server.content_type, server.sent = body, content_type, []
                page = await browser.new_page()
                await page.goto(f"http://127.0.0.1:{port}/")
                await page.wait_for_function(
                    "window.events.some(e => e[0] !== 'playing')", timeout=(seconds + 30) * 1000
                )
                playing = dict(await page.evaluate("window.events"))["playing"] / 1000
                first = server.sent[0][0]
                served = max((size for at, size in server.sent if at <= playing), default=0)
                results.append(Result(name, len(body), served, round(playing - first, 2)))
                await page.close()
            await browser.close()
    finally:
        await runner.cleanup()
    return results


def main(argv: Sequence[str] | None = None) -> None:
    """Print a Markdown table of the starts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pace", type=float, default=4.0, help="times real time")
    parser.add_argument("--responses", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--opus-kbps", type=int, nargs="+", default=[32, 128])
    args = parser.parse_args(argv)
    print("| audio | stream | size | playing after the first byte | served by then |")
    print("|---|---|---:|---:|---:|")
    for responses in args.responses:
        for kbps in args.opus_kbps:
            for result in asyncio.run(measure(args.pace, responses, kbps)):
                print(
                    f"| {responses * RESPONSE_SECONDS:.0f} s, Opus {kbps} kbit/s | {result.stream}"
                    f" | {result.size / 1000:.0f} kB | {result.playing_after:.2f} s"
                    f" | {result.served_at_start / 1000:.0f} kB |"
                )


if __name__ == "__main__":
    main()
