# ruff: noqa: INP001 - a script run by path (scripts/smoke_ha), not a package module
"""Smoke test: the integration in a real Home Assistant, driven over its REST and WebSocket APIs.

Not part of CI. ``scripts/smoke_ha [VENV]`` runs it with the venv's Python, so the same
steps run against whichever Home Assistant release that venv holds (the test plugin
only runs against the release it pins).

It starts the DashScope emulator and ``hass`` on free loopback ports with a throw-away
configuration folder, onboards a user, and then, as a user of the web UI would: adds the
integration through its config flow (custom endpoint = the emulator; the default entity
is named after its profile), speaks with ``/api/tts_get_url`` and decodes the audio with
ffmpeg (MP3, WAV, and Opus as one Ogg stream; the billed-characters sensor grows),
checks in the diagnostics that a request takes the default profile's warm session and
another one opens, reads the model labels the frontend loads in English and Chinese,
adds a voice profile with a pronunciation dictionary through the subentry flow (a bad
line is named; the audio's length shows the replacements), reconfigures the account and
that profile, calls the voice cloning actions (the cloned profile falls back to the
default one), designs a voice (its preview plays from the media folder), checks the
Repairs issue of a deleted cloned voice and that its profile still speaks through the
fallback engine, unloads and removes the entry.
Afterwards it reads Home Assistant's log for warnings and errors that mention the
integration. The first failed check stops the run with a message that says what was
expected and what came back.
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from tests.dashscope_emulator import (
    EmulatorOptions,
    billed_characters,
    speech_like_wav,
    synth_audio_seconds,
)

DOMAIN = "qwen_tts_realtime"
API_KEY = "sk-emulator"
ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"

# Messages without Markdown and with a known length: the emulator speaks 80 ms per
# non-space character, so the decoded audio has a known duration.
MESSAGE_MP3 = "The washing machine has finished. Please hang the laundry up to dry."
MESSAGE_WAV = "Dinner is ready, please come to the dining room."
MESSAGE_PROFILE = "晚饭做好了，请大家到餐厅来。"
# The second profile's pronunciation dictionary, and what the service is sent: the
# audio's length shows that the replacements were made.
PRONUNCIATION = "# smoke test\n晚饭 = 热腾腾的晚饭\n餐厅 → 楼下的餐厅"
PRONUNCIATION_BAD = "晚饭 = 热腾腾的晚饭\n餐厅"  # line 2 has no separator
SAID_PROFILE = "热腾腾的晚饭做好了，请大家到楼下的餐厅来。"
MESSAGE_CLONED = "Hello from a cloned voice, created by the smoke test."
MESSAGE_FALLBACK = "The cloned voice is gone, so the fallback engine reads this."
DESIGN_PROMPT = "A warm, slightly husky grandmother from Sichuan, speaking slowly."
DESIGN_PREVIEW = "乖孙，吃饭了没得？"
MESSAGE_DESIGNED = "这是设计出来的音色，冒烟测试用的。"
# Models whose labels the translations must give, in the UI's languages.
UI_LANGUAGES = ("en", "zh-Hans")
WAV_RATE = 16000
# Not a rate the service makes: the entity resamples 24 kHz PCM to it.
WYOMING_RATE = 22050
RECORDING_SECONDS = 12.0
RECORDING_NAME = "smoke_voice.wav"
PREFERRED_NAME = "smoke"
# MP3 frames and encoder padding make the decoded length differ slightly; PCM is exact
# up to the resampler's last sample.
MP3_TOLERANCE = 0.3
PCM_TOLERANCE = 0.02
# Ogg pages: capture pattern, fixed header length (ending with the segment count), and
# the header-type flag of a stream's first page.
OGG_CAPTURE = b"OggS"
OGG_HEADER = 27
OGG_BOS = 0x02

STARTUP_TIMEOUT = 180.0
STATE_TIMEOUT = 60.0
REQUEST_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
POLL_INTERVAL = 0.25
LOG_TAIL_LINES = 60
LOG_LINE_WIDTH = 200

# Expected, so not reported: printed for every custom integration at start-up, and the
# fallback warning the run causes on purpose (a profile whose cloned voice was deleted).
EXPECTED_LOG = (
    "We found a custom integration qwen_tts_realtime which has not been tested",
    "could not start a DashScope session (QwenTtsVoiceNotFoundError",
)
_LOG_RECORD = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[.,]\d+(?:[+-]\d{2}:?\d{2})? "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) "
)
_REPORTED_LEVELS = ("WARNING", "ERROR", "CRITICAL")
FAILING_LEVELS = ("ERROR", "CRITICAL")


class SmokeError(Exception):
    """A check failed; the message says what was expected and what came back."""


def say(text: str) -> None:
    """Write one line of progress to standard output at once."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def free_port() -> int:
    """Return a TCP port on the loopback address that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def expected_seconds(message: str) -> float:
    """Return how long the emulator's audio for ``message`` is."""
    return synth_audio_seconds(message, EmulatorOptions().ms_per_char)


@dataclass(frozen=True, slots=True)
class Audio:
    """What ffprobe and ffmpeg found in a downloaded speech file."""

    label: str
    content_type: str
    size: int
    codec: str
    sample_rate: int
    channels: int
    duration: float
    expected: float
    decoder_messages: int = 0
    ogg_streams: int | None = None  # logical streams of an Ogg file

    def summary(self) -> str:
        """Return a one-line description for the PASS summary."""
        return (
            f"{self.label}: {self.codec} {self.sample_rate} Hz x{self.channels}, "
            f"{self.duration:.3f} s decoded (emulator: {self.expected:.3f} s), "
            f"{self.size} bytes, {self.content_type}"
            + (f", {self.ogg_streams} Ogg stream(s)" if self.ogg_streams is not None else "")
            + (
                f" ({self.decoder_messages} ffmpeg decoder complaint(s), decoded anyway)"
                if self.decoder_messages
                else ""
            )
        )


@dataclass
class Results:
    """What the run measured, for the summary."""

    ha_version: str = "?"
    python_version: str = sys.version.split()[0]
    elapsed: float = 0.0
    audio: list[Audio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


class Processes:
    """The emulator and Home Assistant, started and stopped by this run only."""

    def __init__(self, work: Path, venv: Path) -> None:
        """Remember where to write logs and which venv to run."""
        self.work = work
        self.venv = venv
        self.config = work / "config"
        self.emulator: asyncio.subprocess.Process | None = None
        self.hass: asyncio.subprocess.Process | None = None
        self.hass_exit: int | None = None

    @property
    def log_file(self) -> Path:
        """Return Home Assistant's log file."""
        return self.config / "home-assistant.log"

    async def start_emulator(self) -> str:
        """Start the DashScope emulator on a free port; return its base URL."""
        log = (self.work / "emulator.log").open("wb")
        self.emulator = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "tests.dashscope_emulator", "--host", LOOPBACK, "--port", "0"),
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        log.close()
        assert self.emulator.stdout is not None  # noqa: S101 - PIPE was asked for
        try:
            async with asyncio.timeout(30):
                line = (await self.emulator.stdout.readline()).decode().strip()
        except TimeoutError:
            line = ""
        if not line.startswith("http://"):
            raise SmokeError(
                f"the emulator did not print its base URL (got {line!r}); see emulator.log:\n"
                + tail(self.work / "emulator.log")
            )
        return line

    async def start_hass(self, port: int) -> None:
        """Start ``hass`` on the configuration folder, with the repository on PYTHONPATH."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        out = (self.work / "hass.out").open("wb")
        # --skip-pip: the venv holds the requirements (see scripts/develop).
        self.hass = await asyncio.create_subprocess_exec(
            str(self.venv / "bin" / "hass"),
            *("--config", str(self.config), "--skip-pip"),
            cwd=self.work,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
        out.close()
        say(f"  hass pid {self.hass.pid} on http://{LOOPBACK}:{port}")

    def check_hass_running(self) -> None:
        """Raise if Home Assistant has exited."""
        if self.hass is not None and self.hass.returncode is not None:
            raise SmokeError(
                f"hass exited with code {self.hass.returncode}; last output:\n"
                + tail(self.work / "hass.out")
            )

    async def stop_hass(self) -> None:
        """Stop Home Assistant the way a service manager does (SIGTERM), then wait."""
        process, self.hass = self.hass, None
        if process is None:
            return
        self.hass_exit = await _stop(process, signal.SIGTERM)

    async def stop_emulator(self) -> None:
        """Stop the emulator (SIGINT, as Ctrl-C would)."""
        process, self.emulator = self.emulator, None
        if process is not None:
            await _stop(process, signal.SIGINT)

    async def stop_all(self) -> None:
        """Stop whatever is still running."""
        try:
            await self.stop_hass()
        finally:
            await self.stop_emulator()


async def _stop(process: asyncio.subprocess.Process, sig: signal.Signals) -> int:
    """Send ``sig`` to one process started here, wait, kill it if it does not end."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await process.wait()
        except TimeoutError:
            say(f"  pid {process.pid} did not stop within {STOP_TIMEOUT:g} s; killing it")
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return process.returncode if process.returncode is not None else -1


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of a text file (empty if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def write_configuration(config: Path, port: int, media: Path) -> None:
    """Write the smallest configuration.yaml the REST API, flows, TTS and media need.

    Nothing else is configured: the frontend, api, config, onboarding and repairs come
    with Home Assistant's default integrations; tts, ffmpeg and media_source with the
    integration's dependencies. The media folder is where the recording is placed (the
    media source only serves files from it, and it is an allowed path).
    """
    config.mkdir(parents=True)
    media.mkdir(parents=True)
    write_start_state(config, port)
    (config / "configuration.yaml").write_text(
        f"""\
homeassistant:
  name: Qwen TTS smoke test
  unit_system: metric
  time_zone: UTC
  country: CN
  language: en
  internal_url: http://{LOOPBACK}:{port}
  media_dirs:
    local: {media}
  allowlist_external_dirs:
    - {media}

logger:
  default: warning
  logs:
    custom_components.{DOMAIN}: debug
""",
        encoding="utf-8",
    )


def write_start_state(config: Path, port: int) -> None:
    """Store the HTTP server settings and the finished onboarding steps, in their oldest format.

    Since 2026.10 an ``http:`` block in configuration.yaml is only a trial: unless it is
    confirmed in the UI, Home Assistant goes back to port 8123 on every address and restarts
    after five minutes. Settings in the store are the confirmed ones. The onboarding steps
    after the user are marked done so the web UI opens (the ``core_config`` step would set up
    integrations that reach the internet). Home Assistant migrates both files from version 1
    on load, so this does not depend on the current storage format.
    """
    storage = config / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    stores = {
        "http": {"server_host": [LOOPBACK], "server_port": port},
        # Version 1 knew only the user step: the migration adds the later ones as done.
        "onboarding": {"done": []},
    }
    for key, data in stores.items():
        (storage / key).write_text(
            json.dumps({"version": 1, "key": key, "data": data}), encoding="utf-8"
        )


# ---------------------------------------------------------------------------------------------
# Home Assistant client
# ---------------------------------------------------------------------------------------------


class HomeAssistant:
    """A REST and WebSocket client of one Home Assistant, as the web UI is."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        """Connect to ``base_url`` (no token yet: onboarding makes the user)."""
        self.session = session
        self.base_url = base_url
        self.client_id = f"{base_url}/"
        self.token = ""
        self.refresh_token = ""
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_id = 0

    def _headers(self) -> dict[str, str]:
        """Return the authorization header, once there is a token."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        expect: tuple[int, ...] = (200,),
    ) -> Any:
        """Send a JSON request; return the JSON answer, or raise if the status is unexpected."""
        async with self.session.request(
            method, f"{self.base_url}{path}", json=payload, headers=self._headers()
        ) as response:
            text = await response.text()
            if response.status not in expect:
                raise SmokeError(
                    f"{method} {path} answered HTTP {response.status} (expected "
                    f"{'/'.join(map(str, expect))}): {text[:2000]}"
                )
            if not text:
                return None
            try:
                return json.loads(text)
            except ValueError:
                return text

    async def get(self, path: str, *, expect: tuple[int, ...] = (200,)) -> Any:
        """GET ``path``."""
        return await self.request("GET", path, expect=expect)

    async def post(
        self, path: str, payload: Any = None, *, expect: tuple[int, ...] = (200,)
    ) -> Any:
        """POST ``payload`` to ``path``."""
        return await self.request("POST", path, payload, expect=expect)

    async def download(self, path: str) -> tuple[bytes, str]:
        """GET a file; return its bytes and content type."""
        async with self.session.get(f"{self.base_url}{path}", headers=self._headers()) as response:
            data = await response.read()
            if response.status != 200:  # noqa: PLR2004 - HTTP OK
                raise SmokeError(f"GET {path} answered HTTP {response.status}: {data[:500]!r}")
            return data, response.content_type

    async def onboard(self) -> None:
        """Create the owner through onboarding and exchange the auth code for a token."""
        answer = await self.post(
            "/api/onboarding/users",
            {
                "name": "Smoke Test",
                "username": "smoke",
                "password": "smoke-test-password",
                "client_id": self.client_id,
                "language": "en",
            },
        )
        async with self.session.post(
            f"{self.base_url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": answer["auth_code"],
                "client_id": self.client_id,
            },
        ) as response:
            tokens = await response.json()
            if response.status != 200 or "access_token" not in tokens:  # noqa: PLR2004
                raise SmokeError(f"/auth/token answered HTTP {response.status}: {tokens}")
        self.token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]

    async def ws(self, command: dict[str, Any]) -> Any:
        """Send one WebSocket command and return its result (raise on an error result)."""
        message = await self.ws_message(command)
        if not message.get("success"):
            raise SmokeError(f"websocket {command['type']} failed: {message.get('error')}")
        return message.get("result")

    async def ws_message(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send one WebSocket command and return the whole result message, failed or not."""
        if self._ws is None:
            self._ws = await self.session.ws_connect(f"{self.base_url}/api/websocket")
            hello = await self._ws.receive_json()
            if hello.get("type") != "auth_required":
                raise SmokeError(f"websocket: expected auth_required, got {hello}")
            await self._ws.send_json({"type": "auth", "access_token": self.token})
            answer = await self._ws.receive_json()
            if answer.get("type") != "auth_ok":
                raise SmokeError(f"websocket: authentication failed: {answer}")
        self._ws_id += 1
        await self._ws.send_json({"id": self._ws_id, **command})
        async with asyncio.timeout(REQUEST_TIMEOUT):
            while True:
                message: dict[str, Any] = await self._ws.receive_json()
                if message.get("id") == self._ws_id and message.get("type") == "result":
                    return message

    async def close(self) -> None:
        """Close the WebSocket, if one is open."""
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    # -- shortcuts ---------------------------------------------------------------------------

    async def entries(self) -> list[dict[str, Any]]:
        """Return the integration's config entries."""
        entries: list[dict[str, Any]] = await self.get(
            f"/api/config/config_entries/entry?domain={DOMAIN}"
        )
        return entries

    async def entry(self, entry_id: str) -> dict[str, Any] | None:
        """Return one config entry, or ``None`` if there is none with that id."""
        return next((e for e in await self.entries() if e["entry_id"] == entry_id), None)

    async def subentries(self, entry_id: str) -> dict[str, dict[str, Any]]:
        """Return the entry's subentries by id."""
        subentries = await self.ws({"type": "config_entries/subentries/list", "entry_id": entry_id})
        return {subentry["subentry_id"]: subentry for subentry in subentries}

    async def tts_entities(self, entry_id: str) -> dict[str | None, dict[str, Any]]:
        """Return the entry's TTS entities in the entity registry, by subentry id."""
        entities = await self.ws({"type": "config/entity_registry/list"})
        return {
            entity["config_subentry_id"]: entity
            for entity in entities
            if entity["platform"] == DOMAIN
            and entity["config_entry_id"] == entry_id
            and entity["entity_id"].startswith("tts.")
        }

    async def entity_id(self, unique_id: str) -> str | None:
        """Return the id of the integration's entity with ``unique_id`` in the registry."""
        entities = await self.ws({"type": "config/entity_registry/list"})
        return next(
            (
                entity["entity_id"]
                for entity in entities
                if entity["platform"] == DOMAIN and entity["unique_id"] == unique_id
            ),
            None,
        )

    async def translations(self, language: str, category: str) -> dict[str, str]:
        """Return the integration's translations of one category, as the frontend loads them."""
        answer = await self.ws(
            {
                "type": "frontend/get_translations",
                "language": language,
                "category": category,
                "integration": [DOMAIN],
            }
        )
        resources: dict[str, str] = answer["resources"]
        return resources

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        """Return an entity's state, or ``None`` when it has none."""
        state: dict[str, Any] | None = await self.get(f"/api/states/{entity_id}", expect=(200, 404))
        return state if isinstance(state, dict) and "state" in state else None

    async def action(self, service: str, data: dict[str, Any], *, response: bool = False) -> Any:
        """Call one of the integration's actions; return its response when asked for."""
        path = f"/api/services/{DOMAIN}/{service}" + ("?return_response" if response else "")
        answer = await self.post(path, data)
        return answer["service_response"] if response else answer

    async def issues(self) -> dict[str, dict[str, Any]]:
        """Return the integration's active Repairs issues by id."""
        answer = await self.ws({"type": "repairs/list_issues"})
        return {issue["issue_id"]: issue for issue in answer["issues"] if issue["domain"] == DOMAIN}


async def wait_for[T](
    what: str,
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    timeout: float = STATE_TIMEOUT,  # noqa: ASYNC109 - a polling deadline, not a cancel scope
) -> T:
    """Poll ``probe`` until ``done`` says yes; raise with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise SmokeError(f"timed out after {timeout:g} s waiting for {what}; last: {value}")
        await asyncio.sleep(POLL_INTERVAL)


def expect_step(result: dict[str, Any], kind: str, step_id: str | None = None) -> None:
    """Raise unless a flow result is of ``kind`` (and at ``step_id``), without errors."""
    if result.get("type") != kind or (step_id and result.get("step_id") != step_id):
        raise SmokeError(f"flow: expected {kind} {step_id or ''}, got {result}")
    if result.get("errors"):
        raise SmokeError(f"flow step {result.get('step_id')} shows errors: {result['errors']}")


def schema_defaults(result: dict[str, Any]) -> dict[str, Any]:
    """Return what the UI prefills in a flow form: defaults and suggested values."""
    prefilled = {}
    for item in result.get("data_schema", []):
        suggested = (item.get("description") or {}).get("suggested_value")
        if "default" in item:
            prefilled[item["name"]] = item["default"]
        elif suggested is not None:
            prefilled[item["name"]] = suggested
    return prefilled


def schema_options(result: dict[str, Any], name: str) -> list[str]:
    """Return the values a select field of a flow form offers."""
    for item in result.get("data_schema", []):
        if item["name"] == name:
            options = item.get("selector", {}).get("select", {}).get("options", [])
            return [option["value"] if isinstance(option, dict) else option for option in options]
    return []


# ---------------------------------------------------------------------------------------------
# Audio
# ---------------------------------------------------------------------------------------------


async def _run(*command: str) -> tuple[int, bytes, str]:
    """Run a tool; return its exit code, standard output and standard error."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out, err.decode(errors="replace")


async def decode_audio(
    path: Path, size: int, label: str, content_type: str, expected: float
) -> Audio:
    """Probe a speech file and decode it completely; raise if either fails."""
    code, out, err = await _run(
        "ffprobe",
        *("-v", "error", "-of", "json", "-show_entries", "stream=codec_name,sample_rate,channels"),
        str(path),
    )
    streams = json.loads(out or b"{}").get("streams", []) if code == 0 else []
    if not streams:
        raise SmokeError(f"{label}: ffprobe found no audio stream (exit {code}): {err.strip()}")
    stream = streams[0]
    rate = int(stream["sample_rate"])
    channels = int(stream["channels"])
    # Decoding to raw PCM counts the samples; a streaming WAV's header has no length.
    code, pcm, err = await _run(
        "ffmpeg",
        *("-v", "error", "-nostdin", "-i", str(path)),
        *("-f", "s16le", "-c:a", "pcm_s16le", "-ac", "1", "-ar", str(rate), "pipe:1"),
    )
    if code != 0 or not pcm:
        raise SmokeError(f"{label}: ffmpeg could not decode it (exit {code}): {err}")
    return Audio(
        label=label,
        content_type=content_type,
        size=size,
        codec=stream["codec_name"],
        sample_rate=rate,
        channels=channels,
        duration=len(pcm) / 2 / rate,
        expected=expected,
        decoder_messages=len([line for line in err.splitlines() if "@" in line]),
    )


def check_audio(audio: Audio, *, codec: str, rate: int | None, tolerance: float) -> None:
    """Raise unless the decoded audio has the codec, rate and (emulator's) duration expected."""
    problems = []
    if audio.ogg_streams not in (None, 1):
        problems.append(f"{audio.ogg_streams} chained Ogg streams, expected one")
    if audio.codec != codec:
        problems.append(f"codec {audio.codec}, expected {codec}")
    if rate is not None and audio.sample_rate != rate:
        problems.append(f"sample rate {audio.sample_rate}, expected {rate}")
    if abs(audio.duration - audio.expected) > tolerance:
        problems.append(
            f"duration {audio.duration:.3f} s, expected {audio.expected:.3f} ± {tolerance:g} s"
        )
    if problems:
        raise SmokeError(f"{audio.label}: " + "; ".join(problems))


async def speak(  # noqa: PLR0913 - one request's knobs and checks
    ha: HomeAssistant,
    work: Path,
    engine: str,
    message: str,
    *,
    label: str,
    options: dict[str, Any] | None = None,
    codec: str,
    rate: int | None = None,
    tolerance: float,
    said: str | None = None,
) -> Audio:
    """Ask for speech over /api/tts_get_url, download it and check the decoded audio.

    ``said`` is the text the service is sent when the profile's pronunciation
    dictionary changes the message; the emulator's audio is as long as that text.
    """
    answer = await ha.post(
        "/api/tts_get_url",
        {"engine_id": engine, "message": message, "cache": False, "options": options or {}},
    )
    if not isinstance(answer, dict) or not str(answer.get("path", "")).startswith("/api/"):
        raise SmokeError(f"/api/tts_get_url for {engine}: unexpected answer {answer}")
    audio = await download_audio(
        ha, work, answer["path"], f"{label} ({engine})", expected_seconds(said or message)
    )
    check_audio(audio, codec=codec, rate=rate, tolerance=tolerance)
    say(f"  ok  {audio.summary()}")
    return audio


async def download_audio(
    ha: HomeAssistant, work: Path, url_path: str, label: str, expected: float
) -> Audio:
    """Download an audio file from Home Assistant, keep it in ``work`` and decode it."""
    data, content_type = await ha.download(url_path)
    path = work / f"{re.sub(r'[^\w.-]+', '_', label)}.audio"
    path.write_bytes(data)
    audio = await decode_audio(path, len(data), label, content_type, expected)
    return replace(audio, ogg_streams=ogg_streams(data))


def ogg_streams(data: bytes) -> int | None:
    """Count the logical streams (beginning-of-stream pages) of an Ogg file; ``None`` if not Ogg.

    The service sends one Ogg Opus stream per response; the entity joins them into one,
    because players such as VLC stop at the end of the first stream of a chain.
    """
    if not data.startswith(OGG_CAPTURE):
        return None
    streams = offset = 0
    while data[offset : offset + 4] == OGG_CAPTURE and offset + OGG_HEADER <= len(data):
        segments = data[offset + OGG_HEADER - 1]
        table = data[offset + OGG_HEADER : offset + OGG_HEADER + segments]
        if data[offset + 5] & OGG_BOS:
            streams += 1
        offset += OGG_HEADER + segments + sum(table)
    return streams


# ---------------------------------------------------------------------------------------------
# The scenario
# ---------------------------------------------------------------------------------------------


async def add_account(ha: HomeAssistant, emulator_url: str) -> str:
    """Add the integration through the real config flow; return the entry id."""
    result = await ha.post(
        "/api/config/config_entries/flow", {"handler": DOMAIN, "show_advanced_options": False}
    )
    expect_step(result, "form", "user")
    flow = f"/api/config/config_entries/flow/{result['flow_id']}"
    result = await ha.post(flow, {"region": "custom", "api_key": API_KEY})
    expect_step(result, "form", "custom")
    result = await ha.post(flow, {"base_url": emulator_url, "api_key": f" {API_KEY}\n"})
    expect_step(result, "create_entry")
    entry_id: str = result["result"]["entry_id"]
    say(f"  ok  config flow created entry {entry_id} ({result['title']})")
    return entry_id


async def wait_loaded(ha: HomeAssistant, entry_id: str) -> dict[str, Any]:
    """Wait until the entry is loaded (it reloads after profile changes)."""
    entry = await wait_for(
        f"entry {entry_id} to be loaded",
        lambda: ha.entry(entry_id),
        lambda entry: entry is not None and entry["state"] == "loaded",
    )
    assert entry is not None  # noqa: S101 - wait_for checked it
    return entry


async def wait_entity(ha: HomeAssistant, entry_id: str, subentry_id: str) -> str:
    """Wait until the profile's TTS entity is registered and has a state; return its id."""
    entities = await wait_for(
        f"the TTS entity of profile {subentry_id}",
        lambda: ha.tts_entities(entry_id),
        lambda entities: subentry_id in entities,
    )
    entity_id: str = entities[subentry_id]["entity_id"]
    state = await wait_for(
        f"a state of {entity_id}",
        lambda: ha.state(entity_id),
        lambda state: state is not None and state["state"] != "unavailable",
    )
    assert state is not None  # noqa: S101 - wait_for checked it
    return entity_id


async def start_profile_flow(
    ha: HomeAssistant, entry_id: str, subentry_id: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Open the voice profile flow (a new profile, or reconfigure one); return it and its form."""
    payload: dict[str, Any] = {"handler": [entry_id, "tts"], "show_advanced_options": False}
    if subentry_id is not None:
        payload["subentry_id"] = subentry_id
    result = await ha.post("/api/config/config_entries/subentries/flow", payload)
    expect_step(result, "form", "model")
    return f"/api/config/config_entries/subentries/flow/{result['flow_id']}", result


async def add_profile(ha: HomeAssistant, entry_id: str) -> tuple[str, str]:
    """Add a second voice profile through the subentry flow; return its id and voice.

    Its pronunciation dictionary is first given with a bad line, which the form must
    name, as a user who forgot the ``=`` would see it.
    """
    before = await ha.subentries(entry_id)
    flow, _ = await start_profile_flow(ha, entry_id)
    result = await ha.post(flow, {"model": "qwen3-tts-flash-realtime"})
    expect_step(result, "form", "voice")
    voices = schema_options(result, "voice")
    voice = "Rocky" if "Rocky" in voices else next(v for v in voices if v != "Cherry")
    answer = {**schema_defaults(result), "voice": voice, "speech_rate": 1.2}
    if answer.get("warm_session") is not True:
        raise SmokeError(f"the profile form does not keep a session ready by default: {answer}")
    result = await ha.post(flow, {**answer, "pronunciation": PRONUNCIATION_BAD})
    errors = result.get("errors") or {}
    placeholders = result.get("description_placeholders") or {}
    if errors.get("pronunciation") != "invalid_pronunciation" or placeholders.get("line") != "2":
        raise SmokeError(f"a dictionary with a bad line 2: expected its error, got {result}")
    say("  ok  a pronunciation dictionary with a bad line: the form names line 2")
    result = await ha.post(flow, {**answer, "pronunciation": PRONUNCIATION})
    expect_step(result, "create_entry")
    added = await wait_for(
        "the new voice profile",
        lambda: ha.subentries(entry_id),
        lambda subentries: len(subentries) == len(before) + 1,
    )
    (subentry_id,) = added.keys() - before.keys()
    say(
        f"  ok  subentry flow added profile {added[subentry_id]['title']!r} "
        f"({voice}, 1.2x, pronunciation dictionary)"
    )
    return subentry_id, voice


async def reconfigure_profile(
    ha: HomeAssistant, account: Account, subentry_id: str, model: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change a profile through its reconfigure flow, from what the form prefills.

    Returns the prefilled values; the entry reloads and the profile's entity is back.
    """
    flow, _ = await start_profile_flow(ha, account.entry_id, subentry_id)
    result = await ha.post(flow, {"model": model})
    expect_step(result, "form", "voice")
    prefilled = schema_defaults(result)
    result = await ha.post(flow, {**prefilled, **changes})
    if result.get("type") != "abort" or result.get("reason") != "reconfigure_successful":
        raise SmokeError(f"profile reconfigure: expected reconfigure_successful, got {result}")
    await wait_loaded(ha, account.entry_id)
    await wait_entity(ha, account.entry_id, subentry_id)
    return prefilled


@dataclass(slots=True)
class Account:
    """The entry under test, its default profile and (once added) the second one."""

    entry_id: str
    default_id: str
    default_entity: str
    usage_entity: str
    profile_id: str = ""
    profile_voice: str = ""


async def check_onboarding(ha: HomeAssistant, results: Results) -> None:
    """Create the owner, get a token, and wait until Home Assistant runs (not in recovery)."""
    say("- onboarding")
    await ha.onboard()
    config = await wait_for(
        "Home Assistant to be running",
        lambda: ha.get("/api/config"),
        lambda config: config.get("state") == "RUNNING",
        timeout=STARTUP_TIMEOUT,
    )
    results.ha_version = config["version"]
    if config.get("recovery_mode") or config.get("safe_mode"):
        raise SmokeError(f"Home Assistant {config['version']} runs in recovery/safe mode")
    say(f"  ok  owner created, token issued; Home Assistant {config['version']} is running")
    # The http: settings of configuration.yaml are only a trial until confirmed, as the
    # UI asks the owner to: unconfirmed, Home Assistant goes back to port 8123 and
    # restarts after 5 minutes, which a slow run would not survive.
    answer = await ha.ws_message({"type": "http/config/promote"})
    if not answer.get("success") and "No pending" not in str(answer.get("error")):
        raise SmokeError(f"confirming the http settings (http/config/promote): {answer}")
    say("  ok  http settings confirmed (http/config/promote)")


async def check_setup(ha: HomeAssistant, emulator_url: str) -> Account:
    """Add the integration; it loads with the default profile's entity, named after it."""
    say("- add the integration (config flow, custom endpoint = emulator)")
    entry_id = await add_account(ha, emulator_url)
    entry = await wait_loaded(ha, entry_id)
    subentries = await ha.subentries(entry_id)
    if [subentry["title"] for subentry in subentries.values()] != ["Cherry"]:
        raise SmokeError(f"expected one default profile 'Cherry', got {subentries}")
    (default_id,) = subentries
    default_entity = await wait_entity(ha, entry_id, default_id)
    state = await ha.state(default_entity)
    name = state["attributes"].get("friendly_name") if state else None
    if default_entity != "tts.cherry" or name != "Cherry":
        raise SmokeError(f"the default profile's entity is {default_entity} named {name!r}")
    usage_entity = await ha.entity_id(f"{entry_id}_billed_characters")
    if usage_entity is None:
        raise SmokeError("the account has no billed-characters sensor")
    say(
        f"  ok  entry {entry['title']!r} loaded; default profile entity {default_entity} "
        f"({name!r}); usage sensor {usage_entity}"
    )
    return Account(entry_id, default_id, default_entity, usage_entity)


async def billed_total(ha: HomeAssistant, account: Account) -> int:
    """Return the account's billed-characters total (0 before the first request)."""
    state = await ha.state(account.usage_entity)
    value = state["state"] if state else None
    try:
        return int(float(value)) if value not in (None, "unknown") else 0
    except ValueError as err:
        raise SmokeError(f"{account.usage_entity} has state {value!r}") from err


async def check_speech(ha: HomeAssistant, work: Path, account: Account, results: Results) -> None:
    """Speak with the default profile (MP3 by default, 16 kHz WAV, Opus); it is billed."""
    say("- speech from the default profile (/api/tts_get_url)")
    before = await billed_total(ha, account)
    results.audio.append(
        await speak(
            ha,
            work,
            account.default_entity,
            MESSAGE_MP3,
            label="default mp3",
            codec="mp3",
            tolerance=MP3_TOLERANCE,
        )
    )
    results.audio.append(
        await speak(
            ha,
            work,
            account.default_entity,
            MESSAGE_WAV,
            label="default wav 16k",
            options={"preferred_format": "wav", "preferred_sample_rate": WAV_RATE},
            codec="pcm_s16le",
            rate=WAV_RATE,
            tolerance=PCM_TOLERANCE,
        )
    )
    # Two sentences, so two responses: the Ogg streams must be joined into one.
    results.audio.append(
        await speak(
            ha,
            work,
            account.default_entity,
            MESSAGE_MP3,
            label="default opus",
            options={"preferred_format": "opus"},
            codec="opus",
            tolerance=MP3_TOLERANCE,
        )
    )
    # The emulator bills each segment it hears (CJK 2, others 1); spaces between
    # segments may or may not be sent, hence a range.
    text = MESSAGE_MP3 + MESSAGE_WAV + MESSAGE_MP3
    low, high = billed_characters("".join(text.split())), billed_characters(text)
    total = await wait_for(
        f"{account.usage_entity} to grow by at least {low}",
        lambda: billed_total(ha, account),
        lambda total: total - before >= low,
    )
    if total - before > high:
        raise SmokeError(f"{account.usage_entity} grew by {total - before}, at most {high}")
    say(f"  ok  {account.usage_entity}: {before} -> {total} characters billed")
    results.notes.append(f"billed characters after three requests: {total}")


async def warm_session(ha: HomeAssistant, entry_id: str, title: str) -> dict[str, Any]:
    """Return what the entry's diagnostics say about one profile's warm session."""
    diagnostics = await ha.get(f"/api/diagnostics/config_entry/{entry_id}")
    for profile in diagnostics["data"]["profiles"]:
        if profile["title"] == title:
            warm: dict[str, Any] = profile["warm_session"]
            return warm
    raise SmokeError(f"the diagnostics have no profile {title!r}: {diagnostics['data']}")


async def check_warm(ha: HomeAssistant, work: Path, account: Account, results: Results) -> None:
    """Check that the default profile keeps a session ready, and a request takes it."""
    say("- warm session of the default profile (diagnostics)")
    title = "Cherry"

    async def warm() -> dict[str, Any]:
        """Return the default profile's warm session."""
        return await warm_session(ha, account.entry_id, title)

    before = await wait_for(
        f"a ready warm session of {title}", warm, lambda warm: warm.get("state") == "ready"
    )
    results.audio.append(
        await speak(
            ha,
            work,
            account.default_entity,
            MESSAGE_WAV,
            label="default wav, warm session",
            options={"preferred_format": "wav"},
            codec="pcm_s16le",
            tolerance=PCM_TOLERANCE,
        )
    )
    after = await wait_for(
        "the warm session to be taken and another one ready",
        warm,
        lambda warm: (
            warm.get("taken", 0) > before.get("taken", 0)
            and warm.get("state") == "ready"
            and warm.get("session_id") != before.get("session_id")
        ),
    )
    say(
        f"  ok  the request took {before['session_id']}; {after['session_id']} is ready "
        f"(opened {after.get('opened')}, taken {after.get('taken')})"
    )


async def check_model_labels(ha: HomeAssistant, account: Account) -> None:
    """Check that the profile flow's models have readable labels in English and Chinese."""
    say("- model labels (frontend/get_translations, en and zh-Hans)")
    flow, result = await start_profile_flow(ha, account.entry_id)
    await ha.request("DELETE", flow)
    (field,) = result["data_schema"]
    if field["selector"]["select"].get("translation_key") != "model":
        raise SmokeError(f"the model picker has no translated labels: {field}")
    models = schema_options(result, "model")
    labels = {}
    for language in UI_LANGUAGES:
        resources = await ha.translations(language, "selector")
        prefix = f"component.{DOMAIN}.selector.model.options."
        labels[language] = {model: resources.get(prefix + model, "") for model in models}
        if missing := [model for model, label in labels[language].items() if not label]:
            raise SmokeError(f"{language}: no label for the models {missing}")
    if labels["en"] == labels["zh-Hans"]:
        raise SmokeError("the zh-Hans model labels are the English ones")
    first = models[0]
    say(
        f"  ok  {len(models)} models labelled, e.g. {first}: {labels['en'][first]!r} / "
        f"{labels['zh-Hans'][first]!r}"
    )


async def check_profile(ha: HomeAssistant, work: Path, account: Account, results: Results) -> None:
    """Add a second voice profile; its entity appears and speaks through its dictionary."""
    say("- second voice profile (subentry flow)")
    profile_id, voice = await add_profile(ha, account.entry_id)
    account.profile_id, account.profile_voice = profile_id, voice
    await wait_loaded(ha, account.entry_id)
    profile_entity = await wait_entity(ha, account.entry_id, profile_id)
    if (await ha.tts_entities(account.entry_id)).keys() != {account.default_id, profile_id}:
        raise SmokeError("expected exactly the two profiles' TTS entities")
    say(f"  ok  entry reloaded; the profile's entity is {profile_entity}")
    results.audio.append(
        await speak(
            ha,
            work,
            profile_entity,
            MESSAGE_PROFILE,
            label=f"profile {voice} wav, dictionary applied",
            options={"preferred_format": "wav"},
            codec="pcm_s16le",
            tolerance=PCM_TOLERANCE,
            said=SAID_PROFILE,
        )
    )


async def check_reconfigure(
    ha: HomeAssistant, work: Path, emulator_url: str, account: Account, results: Results
) -> None:
    """Reconfigure the account and a profile; the entry takes the change and stays loaded."""
    say("- reconfigure the account and the second profile")
    result = await ha.post(
        "/api/config/config_entries/flow", {"handler": DOMAIN, "entry_id": account.entry_id}
    )
    expect_step(result, "form", "reconfigure")
    flow = f"/api/config/config_entries/flow/{result['flow_id']}"
    result = await ha.post(flow, {"region": "custom", "api_key": API_KEY})
    expect_step(result, "form", "custom")
    result = await ha.post(flow, {"base_url": emulator_url, "api_key": API_KEY})
    if result.get("type") != "abort" or result.get("reason") != "reconfigure_successful":
        raise SmokeError(f"account reconfigure: expected reconfigure_successful, got {result}")
    await wait_loaded(ha, account.entry_id)
    say("  ok  account reconfigure flow: reconfigure_successful, entry loaded")

    prefilled = await reconfigure_profile(
        ha,
        account,
        account.profile_id,
        "qwen3-tts-flash-realtime",
        {"speech_rate": 0.8, "volume": 60},
    )
    expected = {"voice": account.profile_voice, "speech_rate": 1.2, "pronunciation": PRONUNCIATION}
    if any(prefilled.get(key) != value for key, value in expected.items()):
        raise SmokeError(f"profile reconfigure does not start from the profile: {prefilled}")
    profile_entity = await wait_entity(ha, account.entry_id, account.profile_id)
    say("  ok  profile reconfigure flow (0.8x, volume 60): reconfigure_successful, entry reloaded")
    results.audio.append(
        await speak(
            ha,
            work,
            profile_entity,
            MESSAGE_WAV,
            label="reconfigured profile wav 22.05k",
            options={"preferred_format": "wav", "preferred_sample_rate": WYOMING_RATE},
            codec="pcm_s16le",
            rate=WYOMING_RATE,
            tolerance=PCM_TOLERANCE,
        )
    )


async def listed_voice_ids(ha: HomeAssistant) -> list[str]:
    """Call list_voices and return the voice ids it lists."""
    listed = await ha.action("list_voices", {}, response=True)
    if not isinstance(listed, dict) or not isinstance(listed.get("voices"), list):
        raise SmokeError(f"list_voices: expected {{'voices': [...]}}, got {listed}")
    return [str(voice["voice_id"]) for voice in listed["voices"]]


async def check_cloning(
    ha: HomeAssistant, work: Path, account: Account, results: Results
) -> tuple[str, str]:
    """Clone a voice from a recording in the media folder with a profile; return both ids.

    The new profile gets the default profile as its fallback engine (the Repairs
    check speaks with it once the voice is deleted).
    """
    say("- voice cloning actions")
    say(f"  ok  list_voices returned {len(await listed_voice_ids(ha))} voice(s)")
    (work / "media" / RECORDING_NAME).write_bytes(speech_like_wav(RECORDING_SECONDS))
    created = await ha.action(
        "create_voice",
        {
            "recording": {
                "media_content_id": f"media-source://media_source/local/{RECORDING_NAME}",
                "media_content_type": "audio/wav",
            },
            "preferred_name": PREFERRED_NAME,
            "text": "This is a smoke test recording.",
            "language": "en",
            "create_profile": True,
        },
        response=True,
    )
    voice_id = str(created.get("voice_id", ""))
    cloned_id = str(created.get("profile_subentry_id", ""))
    uploaded = created.get("recording", {})
    if not voice_id or not cloned_id or uploaded.get("trimmed") is not False:
        raise SmokeError(f"create_voice: unexpected response {created}")
    if abs(float(uploaded.get("duration", 0)) - RECORDING_SECONDS) > PCM_TOLERANCE:
        raise SmokeError(f"create_voice: uploaded {uploaded}, expected {RECORDING_SECONDS} s")
    say(
        f"  ok  create_voice: {voice_id} for {created.get('target_model')}, "
        f"{uploaded['duration']} s at {uploaded.get('sample_rate')} Hz uploaded"
    )
    results.notes.append(
        f"cloned voice {voice_id} from a {uploaded['duration']} s recording "
        f"({uploaded.get('sample_rate')} Hz)"
    )
    # Right after the action: the entry reloads for the new profile, the action waits.
    if voice_id not in await listed_voice_ids(ha):
        raise SmokeError(f"list_voices does not list the new voice {voice_id}")
    await wait_loaded(ha, account.entry_id)
    cloned_entity = await wait_entity(ha, account.entry_id, cloned_id)
    say(f"  ok  list_voices lists it; its profile's entity is {cloned_entity}")
    results.audio.append(
        await speak(
            ha,
            work,
            cloned_entity,
            MESSAGE_CLONED,
            label="cloned voice mp3",
            codec="mp3",
            tolerance=MP3_TOLERANCE,
        )
    )
    await reconfigure_profile(
        ha, account, cloned_id, created["target_model"], {"fallback_engine": account.default_entity}
    )
    say(f"  ok  {cloned_entity} falls back to {account.default_entity} (profile reconfigured)")
    refused = await ha.post(
        f"/api/services/{DOMAIN}/create_voice",
        {"recording": "/etc/hostname", "preferred_name": "refused"},
        expect=(400,),
    )
    say(f"  ok  a recording outside the allowed folders is refused: {refused.get('message')!r}")
    return voice_id, cloned_id


async def check_design(ha: HomeAssistant, work: Path, account: Account, results: Results) -> None:
    """Design a voice with a profile: its preview plays from the media folder, its entity speaks."""
    say("- voice design action")
    designed = await ha.action(
        "design_voice",
        {
            "voice_prompt": DESIGN_PROMPT,
            "preview_text": DESIGN_PREVIEW,
            "preferred_name": "nainai",
            "language": "zh",
            "create_profile": True,
        },
        response=True,
    )
    preview = designed.get("preview") or {}
    media_id = str(preview.get("media_content_id", ""))
    # Where the media folder keeps it; the download below shows it is there.
    in_media = Path(preview.get("path", "")).parent == work / "media" / DOMAIN
    if not designed.get("voice_id") or not media_id or not in_media:
        raise SmokeError(f"design_voice: unexpected response {designed}")
    resolved = await ha.ws({"type": "media_source/resolve_media", "media_content_id": media_id})
    audio = await download_audio(
        ha, work, resolved["url"], "designed voice preview", expected_seconds(DESIGN_PREVIEW)
    )
    check_audio(audio, codec="pcm_s16le", rate=int(preview["sample_rate"]), tolerance=PCM_TOLERANCE)
    results.audio.append(audio)
    say(f"  ok  design_voice: {designed['voice_id']}; preview {media_id} plays: {audio.summary()}")
    await wait_loaded(ha, account.entry_id)
    entity = await wait_entity(ha, account.entry_id, designed["profile_subentry_id"])
    results.audio.append(
        await speak(
            ha,
            work,
            entity,
            MESSAGE_DESIGNED,
            label="designed voice mp3",
            codec="mp3",
            tolerance=MP3_TOLERANCE,
        )
    )


async def check_repairs(
    ha: HomeAssistant, work: Path, account: Account, voice_id: str, cloned_id: str
) -> Audio:
    """Delete the cloned voice: its profile gets a fixable Repairs issue, its fallback speaks."""
    await ha.action("delete_voice", {"voice_id": voice_id})
    if voice_id in await listed_voice_ids(ha):
        raise SmokeError(f"delete_voice: {voice_id} is still listed")
    say("  ok  delete_voice: the voice is gone from list_voices")

    say("- Repairs issue for the profile whose voice was deleted")
    issue_id = f"voice_missing_{account.entry_id}_{cloned_id}"
    issues = await wait_for(
        f"Repairs issue {issue_id}", ha.issues, lambda issues: issue_id in issues
    )
    issue = issues[issue_id]
    if issue["translation_placeholders"].get("voice") != voice_id or not issue["is_fixable"]:
        raise SmokeError(f"unexpected Repairs issue: {issue}")
    fix = await ha.post("/api/repairs/issues/fix", {"handler": DOMAIN, "issue_id": issue_id})
    if fix.get("type") != "abort" or fix.get("reason") != "no_cloned_voices":
        raise SmokeError(f"repair flow: expected abort no_cloned_voices, got {fix}")
    say(f"  ok  issue {issue_id} ({issue['severity']}); its fix flow says no_cloned_voices")
    entity = (await ha.tts_entities(account.entry_id))[cloned_id]["entity_id"]
    return await speak(
        ha,
        work,
        entity,
        MESSAGE_FALLBACK,
        label=f"fallback to {account.default_entity} mp3",
        codec="mp3",
        tolerance=MP3_TOLERANCE,
    )


async def check_unload(ha: HomeAssistant, account: Account) -> None:
    """Unload the entry (disable it, as the UI does), then remove it."""
    say("- unload and remove the entry")
    entry_id = account.entry_id
    answer = await ha.ws(
        {"type": "config_entries/disable", "entry_id": entry_id, "disabled_by": "user"}
    )
    if answer.get("require_restart"):
        raise SmokeError(f"unloading (disabling) the entry asks for a restart: {answer}")
    await wait_for(
        "the entry to be unloaded",
        lambda: ha.entry(entry_id),
        lambda entry: entry is not None and entry["state"] == "not_loaded",
    )
    if remaining := await ha.issues():
        raise SmokeError(f"Repairs issues left after unloading: {list(remaining)}")
    state = await ha.state(account.default_entity)
    if state is not None and state["state"] != "unavailable":
        raise SmokeError(f"{account.default_entity} has state {state['state']} after unloading")
    say("  ok  entry not_loaded, its entities have no state, its Repairs issue is closed")
    answer = await ha.request("DELETE", f"/api/config/config_entries/entry/{entry_id}")
    if answer.get("require_restart") or await ha.entries():
        raise SmokeError(f"removing the entry: {answer}, entries left: {await ha.entries()}")
    if await ha.tts_entities(entry_id):
        raise SmokeError("entity registry entries left after removing the entry")
    say("  ok  entry removed, its entities left the entity registry")


async def scenario(ha: HomeAssistant, work: Path, emulator_url: str, results: Results) -> None:
    """Run every check, in the order a user would do these things."""
    await check_onboarding(ha, results)
    account = await check_setup(ha, emulator_url)
    await check_speech(ha, work, account, results)
    await check_warm(ha, work, account, results)
    await check_model_labels(ha, account)
    await check_profile(ha, work, account, results)
    await check_reconfigure(ha, work, emulator_url, account, results)
    voice_id, cloned_id = await check_cloning(ha, work, account, results)
    await check_design(ha, work, account, results)
    results.audio.append(await check_repairs(ha, work, account, voice_id, cloned_id))
    await check_unload(ha, account)


# ---------------------------------------------------------------------------------------------
# Log
# ---------------------------------------------------------------------------------------------


def log_records(text: str) -> list[tuple[str, str]]:
    """Split a Home Assistant log into (level, record text) with continuation lines."""
    records: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if match := _LOG_RECORD.match(line):
            records.append((match["level"], [line]))
        elif records:
            records[-1][1].append(line)
    return [(level, "\n".join(lines)) for level, lines in records]


def other_log_errors(log_text: str) -> list[str]:
    """Return the first line of each error record that does not mention the integration.

    They are Home Assistant's own (often packages a venv made for another release lacks,
    since hass runs with --skip-pip); shown for context, they do not fail the run.
    """
    return [
        record.splitlines()[0]
        for level, record in log_records(log_text)
        if level in FAILING_LEVELS and DOMAIN not in record
    ]


def integration_log_findings(log_text: str, console_text: str) -> list[tuple[str, str]]:
    """Return the warnings and errors that mention the integration (expected ones left out).

    Python warnings printed to the console (not the log) are included as WARNING.
    """
    findings = [
        (level, record)
        for level, record in log_records(log_text)
        if level in _REPORTED_LEVELS
        and DOMAIN in record
        and not any(expected in record for expected in EXPECTED_LOG)
    ]
    findings += [
        ("WARNING", line)
        for line in console_text.splitlines()
        if DOMAIN in line and "Warning" in line and line not in log_text
    ]
    return findings


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


async def start_home_assistant(
    processes: Processes, session: aiohttp.ClientSession
) -> tuple[HomeAssistant, str]:
    """Start the emulator and Home Assistant; return a client once its HTTP server answers.

    Also returns the emulator's base URL.
    """
    say("- start the DashScope emulator and Home Assistant")
    emulator_url = await processes.start_emulator()
    say(f"  emulator at {emulator_url} (key {API_KEY})")
    port = free_port()
    write_configuration(processes.config, port, processes.work / "media")
    await processes.start_hass(port)
    ha = HomeAssistant(session, f"http://{LOOPBACK}:{port}")

    async def onboarding() -> Any:
        """Return the onboarding steps once the HTTP server answers."""
        processes.check_hass_running()
        with contextlib.suppress(aiohttp.ClientError):
            return await ha.get("/api/onboarding")
        return None

    await wait_for(
        "Home Assistant's HTTP server",
        onboarding,
        lambda steps: isinstance(steps, list),
        timeout=STARTUP_TIMEOUT,
    )
    return ha, emulator_url


async def start_and_check(processes: Processes, results: Results) -> None:
    """Start the emulator and Home Assistant, wait for its HTTP server, run the scenario."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        ha, emulator_url = await start_home_assistant(processes, session)
        try:
            await scenario(ha, processes.work, emulator_url, results)
        finally:
            await ha.close()


async def run(venv: Path, work: Path, *, strict_log: bool) -> int:
    """Start everything, run the scenario, stop everything, report; return the exit code.

    SIGINT and SIGTERM stop the checks, never the clean-up: the processes this run
    started are always stopped.
    """
    results = Results()
    processes = Processes(work, venv)
    failure: str | None = None
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    body = asyncio.create_task(start_and_check(processes, results))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, body.cancel)
    try:
        await body
    except SmokeError as err:
        failure = str(err)
    except asyncio.CancelledError:
        failure = "interrupted"
    except Exception:  # noqa: BLE001 - reported with its traceback, after the clean-up
        failure = f"unexpected error:\n{traceback.format_exc()}"
    finally:
        await processes.stop_all()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    results.elapsed = time.monotonic() - started
    return report(processes, results, failure, strict_log=strict_log)


def report(processes: Processes, results: Results, failure: str | None, *, strict_log: bool) -> int:
    """Read the log, print the findings and the verdict; return the exit code."""
    log_text = tail(processes.log_file, lines=1_000_000)
    findings = integration_log_findings(
        log_text, tail(processes.work / "hass.out", lines=1_000_000)
    )
    if findings:
        say(f"\nHome Assistant log: {len(findings)} warning(s)/error(s) mentioning {DOMAIN}:")
        for level, record in findings:
            say(f"  [{level}] {record}")
    if failure is not None:
        say(f"\nFAIL (Home Assistant {results.ha_version}): {failure}")
        say("\nLast lines of the Home Assistant log:\n" + tail(processes.log_file))
        say("\nLast lines of the emulator log:\n" + tail(processes.work / "emulator.log", 20))
        return 1
    errors = [finding for finding in findings if finding[0] in FAILING_LEVELS]
    if errors or (strict_log and findings):
        say(f"\nFAIL (Home Assistant {results.ha_version}): the log has the findings above")
        return 1
    say(
        f"\nPASS: Home Assistant {results.ha_version} (Python {results.python_version}, "
        f"{processes.venv}) in {results.elapsed:.0f} s; hass exited with code "
        f"{processes.hass_exit}"
    )
    for audio in results.audio:
        say(f"  {audio.summary()}")
    for note in results.notes:
        say(f"  {note}")
    say(
        f"  log: {len(findings)} warning(s) mentioning {DOMAIN}"
        + (" (listed above)" if findings else "")
    )
    if others := other_log_errors(log_text):
        say(f"  log: {len(others)} error(s) of Home Assistant itself, not about {DOMAIN}:")
        for line in others:
            say(f"    {line[:LOG_LINE_WIDTH]}")
    return 0


def main() -> int:
    """Parse the command line and run the smoke test in a temporary folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv", help="venv with hass")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--strict-log", action="store_true", help="fail on log warnings about the integration too"
    )
    args = parser.parse_args()
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            say(f"FAIL: {tool} is not on the PATH")
            return 1
    work = Path(tempfile.mkdtemp(prefix="smoke_ha_"))
    try:
        return asyncio.run(run(args.venv.resolve(), work, strict_log=args.strict_log))
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
