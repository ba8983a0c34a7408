# ruff: noqa: INP001 - a script run by path (scripts/browser_check), not a package module
"""Browser check: the integration in Home Assistant's real web UI, in Chromium, as a new user.

``scripts/browser_check`` runs it (and ``scripts/test`` runs that). It starts the DashScope
emulator and ``hass`` like ``scripts/smoke_ha`` does, onboards a user over the API, and then,
once with the web UI in English and once in Simplified Chinese, drives Debian's Chromium
through Playwright: adds the integration with a custom endpoint (a bad URL and a wrong key
first, checking the errors shown), adds a voice profile, plays a Chinese sentence from
Media > Text-to-speech in the browser until the audio element reaches ``ended``, and opens the
``create_voice`` form in Developer tools > Actions.

Every screen is saved as a PNG and read: raw translation keys, English words from our
``en.json`` in the Chinese UI, two profiles of the same name in the text-to-speech list, a
request Home Assistant answered with an error (or that failed), or audio that did not play to
its end make the check fail. Everything runs on the loopback address; the browser is not let
out to any other host.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from playwright.async_api import (
    BrowserContext,
    Locator,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    ViewportSize,
    async_playwright,
    expect,
)
from smoke_ha import (
    API_KEY,
    DOMAIN,
    FAILING_LEVELS,
    LOOPBACK,
    MESSAGE_PROFILE,
    MP3_TOLERANCE,
    REQUEST_TIMEOUT,
    ROOT,
    HomeAssistant,
    Processes,
    SmokeError,
    expected_seconds,
    integration_log_findings,
    say,
    start_home_assistant,
    tail,
)

TRANSLATIONS = ROOT / "custom_components" / DOMAIN / "translations"
MANIFEST = ROOT / "custom_components" / DOMAIN / "manifest.json"
DEFAULT_SHOTS = ROOT / ".browser_check"
CHROMIUM = "/usr/bin/chromium"
# Home Assistant's language codes and the browser locales that go with them.
LANGUAGES = {"en": "en-US", "zh-Hans": "zh-CN"}
VIEWPORT = ViewportSize(width=1280, height=900)
# A step of the UI (a dialog opening, a form answering) that takes longer is a failure.
STEP_TIMEOUT_MS = 30_000
# The emulator speaks 80 ms per character: the sentence plays in about a second.
PLAYBACK_TIMEOUT_MS = 60_000
BAD_URL = "not a url"
WRONG_KEY = "sk-wrong-key"
TTS_BROWSER_PATH = "/media-browser/browser/app%2Cmedia-source%3A%2F%2Ftts"
ACTION = f"{DOMAIN}.create_voice"

# Raw keys where words should be: a missing translation shows the key, an unresolved
# reference shows "[%key:...]".
RAW_KEY = re.compile(rf"component\.{DOMAIN}\.|\[%key:|\bui\.(?:panel|dialogs|components|common)\.")
# English phrases of at least three words are what the Chinese UI must not show.
_PHRASE_SPLIT = re.compile(r"\{[^}]*\}|https?://\S+|[*`_#<>\[\]()\n.:;!?,\"]+")
_ENGLISH_WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")
MIN_PHRASE_WORDS = 3

# Collects what the page's audio elements do: HA's browser player makes them with
# ``new Audio(url)`` and never adds them to the document, so the DOM cannot be asked.
AUDIO_PROBE = """
(() => {
  const records = [];
  window.__browserCheckAudio = records;
  const track = (element) => {
    if (element.__browserCheckRecord) return;
    const record = {
      src: element.src, state: "loading", duration: null, played: null, error: null,
    };
    element.__browserCheckRecord = record;
    records.push(record);
    element.addEventListener("loadstart", () => {
      record.src = element.currentSrc || element.src;
    });
    element.addEventListener("playing", () => { record.state = "playing"; });
    element.addEventListener("ended", () => {
      record.state = "ended";
      record.duration = element.duration;
      record.played = element.currentTime;
    });
    element.addEventListener("error", () => {
      record.state = "error";
      record.error = element.error ? `${element.error.code} ${element.error.message}` : "unknown";
    });
  };
  const NativeAudio = window.Audio;
  function TrackedAudio(...args) {
    const element = new NativeAudio(...args);
    track(element);
    return element;
  }
  TrackedAudio.prototype = NativeAudio.prototype;
  window.Audio = TrackedAudio;
  const nativePlay = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function play(...args) {
    track(this);
    return nativePlay.apply(this, args);
  };
})();
"""

# The text a person sees: text nodes of rendered elements, through every shadow root,
# leaving out light-DOM children that no slot shows.
VISIBLE_TEXT = """
() => {
  const texts = [];
  const walk = (node) => {
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) {
        const text = child.textContent.replace(/\\s+/g, " ").trim();
        const parent = child.parentElement ?? child.parentNode.host;
        if (!text || !parent) continue;
        if (child.parentElement && child.parentElement.shadowRoot && !child.assignedSlot) continue;
        if (parent.checkVisibility({ visibilityProperty: true, opacityProperty: true })) {
          texts.push(text);
        }
      } else if (child.nodeType === Node.ELEMENT_NODE) {
        if (["SCRIPT", "STYLE", "TEMPLATE"].includes(child.tagName)) continue;
        if (child.shadowRoot) walk(child.shadowRoot);
        walk(child);
      }
    }
  };
  walk(document);
  return texts;
}
"""


def _strings(tree: Any) -> Iterator[str]:
    """Yield every string of a translation tree."""
    for _, text in _pairs(tree, tree):
        yield text


def _pairs(tree: Any, other: Any) -> Iterator[tuple[Any, str]]:
    """Yield each string of ``tree`` with what ``other`` holds at the same keys (or None)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _pairs(value, other.get(key) if isinstance(other, dict) else None)
    elif isinstance(tree, str):
        yield other, tree


def _dig(tree: Any, *keys: str) -> Any:
    """Return the subtree at ``keys``."""
    for key in keys:
        tree = tree[key]
    return tree


def _normal(text: str) -> str:
    """Collapse white space, as the browser renders it."""
    return " ".join(text.split())


def english_phrases(english: Any, chinese: Any) -> set[str]:
    """Return the English phrases of our strings, as the Chinese UI must not show them.

    Strings are cut at placeholders, URLs, Markdown and punctuation (the UI renders those
    apart). A phrase counts from three English words on: shorter ones are names (DashScope,
    API key, Home Assistant), and ids like qwen3-tts-flash-realtime are no words. A phrase
    that the translated string of the same key keeps is an example (HA = Home Assistant).
    """
    phrases = set()
    for translated, text in _pairs(english, chinese):
        kept = translated if isinstance(translated, str) and translated != text else ""
        for piece in _PHRASE_SPLIT.split(text):
            phrase = _normal(piece)
            words = [word for word in phrase.split() if _ENGLISH_WORD.fullmatch(word)]
            if len(words) >= MIN_PHRASE_WORDS and phrase not in _normal(kept):
                phrases.add(phrase)
    return phrases


@dataclass
class Words:
    """Our translations, read from the files (other work changes the wording)."""

    trees: dict[str, Any]
    english_only: set[str]
    name: str

    @classmethod
    def load(cls) -> Words:
        """Read en.json, zh-Hans.json and the integration's name."""
        trees = {
            language: json.loads((TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8"))
            for language in LANGUAGES
        }
        name = json.loads(MANIFEST.read_text(encoding="utf-8"))["name"]
        return cls(trees, english_phrases(trees["en"], trees["zh-Hans"]), name)

    def get(self, language: str, *keys: str) -> str:
        """Return one string in ``language``."""
        text: str = _dig(self.trees[language], *keys)
        return text

    def is_error(self, language: str, shown: str) -> bool:
        """Return whether ``shown`` is one of the config flow's errors in ``language``."""
        for text in _strings(_dig(self.trees[language], "config", "error")):
            # Placeholders ({endpoint}) are filled in by the flow.
            pattern = ".+?".join(re.escape(part) for part in re.split(r"\{\w+\}", _normal(text)))
            if re.fullmatch(pattern, shown):
                return True
        return False

    def ours(self, language: str) -> list[str]:
        """Return our strings in ``language`` without placeholders, to find them on screen."""
        pieces = (
            _normal(piece)
            for text in _strings(self.trees[language])
            for piece in re.split(r"\{[^}]*\}|\n", text)
        )
        return [piece for piece in pieces if len(piece) >= 4]  # noqa: PLR2004 - not "OK"


@dataclass
class Findings:
    """What the run saw: problems make it fail, notes are reported."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tolerated: Counter[str] = field(default_factory=Counter)
    screenshots: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def problem(self, text: str) -> None:
        """Record a failure and say it at once."""
        self.problems.append(text)
        say(f"  PROBLEM {text}")


@dataclass(frozen=True, slots=True)
class Run:
    """What every language's pass shares: Home Assistant, the emulator, words, findings."""

    ha: HomeAssistant
    emulator_url: str
    words: Words
    findings: Findings
    shots: Path


def is_loopback(url: str) -> bool:
    """Return whether a URL points at this machine (or is not fetched from a network)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return True
    return parts.hostname in (LOOPBACK, "localhost", "::1")


class Watch:
    """Watches one browser context's requests: failures are problems, other hosts are blocked."""

    def __init__(self, findings: Findings, language: str) -> None:
        """Report into ``findings``, naming ``language``."""
        self.findings = findings
        self.language = language
        self.brand_loaded = False

    async def attach(self, context: BrowserContext) -> None:
        """Start watching ``context``."""
        await context.route(lambda url: not is_loopback(url), self._block)
        context.on("response", self._response)
        context.on("requestfailed", self._failed)

    async def _block(self, route: Route) -> None:
        """Refuse a request to another host: this check runs offline by design."""
        self.findings.tolerated[f"blocked request to {urlsplit(route.request.url).hostname}"] += 1
        await route.abort("blockedbyclient")

    def _response(self, response: Response) -> None:
        """Count an error answer as a problem, except brand images of other integrations."""
        path = urlsplit(response.url).path
        if path.startswith(f"/api/brands/integration/{DOMAIN}/"):
            self.brand_loaded |= response.ok
        if response.status < 400:  # noqa: PLR2004 - HTTP error statuses
            return
        if path.startswith("/api/brands/"):
            # Home Assistant fetches the brand images of core integrations from the internet.
            self.findings.tolerated[f"HTTP {response.status} for brand images"] += 1
            if f"/{DOMAIN}/" not in path:
                return
        self.findings.problem(
            f"[{self.language}] {response.request.method} {path} answered HTTP {response.status}"
        )

    def _failed(self, request: Request) -> None:
        """Count a request that failed on the way as a problem, unless it was blocked here."""
        failure = request.failure or "?"
        if not is_loopback(request.url) and "BLOCKED_BY_CLIENT" in failure:
            return
        if "ERR_ABORTED" in failure:
            # The page dropped it (navigating on, a player replacing its source): no fault.
            self.findings.tolerated["requests aborted by the page"] += 1
            return
        self.findings.problem(
            f"[{self.language}] {request.method} {urlsplit(request.url).path} failed: {failure}"
        )


class UserInterface:
    """One browser context in one language, and the screens it goes through."""

    def __init__(self, page: Page, run: Run, language: str) -> None:
        """Drive ``page`` in ``language``; screenshots go to the language's own folder."""
        self.page = page
        self.ha = run.ha
        self.language = language
        self.words = run.words
        self.findings = run.findings
        self.shots = run.shots / language
        self._shot = 0

    @property
    def flow(self) -> Locator:
        """Return the config (or subentry) flow dialog."""
        return self.page.locator("dialog-data-entry-flow")

    async def open(self, path: str) -> None:
        """Open a page of the web UI and wait until it is shown in our language."""
        await self.page.goto(f"{self.ha.base_url}{path}")
        await self.page.locator(f"html[lang='{self.language}']").wait_for(state="attached")

    async def inspect(self, name: str, *, ours_expected: bool = True) -> list[str]:
        """Save the screen and check its words; return the visible texts."""
        self._shot += 1
        path = self.shots / f"{self._shot:02d}-{name}.png"
        await self.page.screenshot(path=path)
        self.findings.screenshots.append(path)
        texts: list[str] = await self.page.evaluate(VISIBLE_TEXT)
        where = f"[{self.language}] {path.name}"
        for text in texts:
            if RAW_KEY.search(text):
                self.findings.problem(f"{where}: raw translation key on screen: {text!r}")
        if self.language != "en":
            screen = "\n".join(texts)
            for phrase in sorted(self.words.english_only):
                if phrase in screen:
                    self.findings.problem(f"{where}: English from en.json on screen: {phrase!r}")
        if ours_expected:
            ours = self.words.ours(self.language)
            if not any(piece in text for text in texts for piece in ours):
                self.findings.problem(f"{where}: none of our {self.language} strings is shown")
        return texts

    async def submit(self) -> None:
        """Press the flow dialog's main button."""
        await self.flow.locator("ha-dialog-footer ha-button").last.click()

    async def expect_error(self, step: str) -> str:
        """Wait for the flow form's error; check it is one of our messages in this language."""
        alert = self.flow.locator("ha-alert")
        await alert.first.wait_for()
        text = _normal(await alert.first.inner_text())
        await self.inspect(step)
        if not self.words.is_error(self.language, text):
            self.findings.problem(
                f"[{self.language}] {step}: the error shown is not one of our "
                f"{self.language} config-flow errors: {text!r}"
            )
        return text

    async def add_integration(self, emulator_url: str) -> None:
        """Add the integration as a user does: search, custom endpoint, two mistakes, success."""
        await self.open("/config/integrations/dashboard")
        await self.page.locator("ha-button[slot=fab]").click()
        search = self.page.locator("dialog-add-integration input")
        await search.fill(self.words.name)
        await (
            self.page.locator("dialog-add-integration ha-integration-list-item")
            .filter(has_text=self.words.name)
            .first.click()
        )
        await self.flow.locator("ha-radio-option[value=custom]").wait_for()
        await self.inspect("account-form")
        await self.flow.locator("ha-radio-option[value=custom]").click()
        await self.flow.locator("input[name=api_key]").fill(API_KEY)
        await self.submit()

        base_url = self.flow.locator("input[name=base_url]")
        await base_url.fill(BAD_URL)
        await self.flow.locator("input[name=api_key]").fill(API_KEY)
        await self.submit()
        bad_url_error = await self.expect_error("bad-url")

        await base_url.fill(emulator_url)
        await self.flow.locator("input[name=api_key]").fill(WRONG_KEY)
        await self.submit()
        await expect(self.flow.locator("ha-alert").first).not_to_have_text(bad_url_error)
        wrong_key_error = await self.expect_error("wrong-key")
        say(f"  ok  [{self.language}] errors shown: {bad_url_error!r} / {wrong_key_error!r}")

        await self.flow.locator("input[name=api_key]").fill(API_KEY)
        await self.submit()
        finish = self.flow.locator("ha-button[slot=primaryAction]")
        await finish.wait_for()
        await self.inspect("added", ours_expected=False)
        await finish.click()
        await self.flow.locator("ha-dialog-footer").wait_for(state="hidden")

    async def add_profile(self) -> str:
        """Add a voice profile with the second voice of the list; return the voice's label."""
        await self.open(f"/config/integrations/integration/{DOMAIN}")
        label = self.words.get(self.language, "config_subentries", "tts", "initiate_flow", "user")
        await self.page.locator("ha-button").filter(has_text=label).first.click()
        await self.flow.locator("ha-selector").first.wait_for()
        await self.inspect("profile-model")
        await self.submit()
        voice_select = self.flow.locator("ha-select").first
        await voice_select.locator("ha-picker-field").click()
        voice = voice_select.locator("ha-dropdown-item").nth(1)
        voice_label = _normal(await voice.inner_text())
        await voice.click()
        await expect(voice_select.locator("ha-picker-field")).to_contain_text(voice_label)
        await self.inspect("profile-voice")
        await self.submit()
        finish = self.flow.locator("ha-button[slot=primaryAction]")
        await finish.wait_for()
        await self.inspect("profile-added", ours_expected=False)
        await finish.click()
        await self.flow.locator("ha-dialog-footer").wait_for(state="hidden")
        return voice_label

    async def play(self, profile: str, message: str) -> dict[str, Any]:
        """Speak ``message`` with ``profile`` from Media > Text-to-speech; wait for its end."""
        await self.open(TTS_BROWSER_PATH)
        titles = self.page.locator("ha-media-player-browse div.title")
        await titles.filter(has_text=profile).first.wait_for()
        names = [_normal(title) for title in await titles.all_inner_texts()]
        await self.inspect("tts-list", ours_expected=False)
        if duplicates := sorted(name for name, count in Counter(names).items() if count > 1):
            self.findings.problem(
                f"[{self.language}] Media > Text-to-speech lists profiles of the same name: "
                f"{duplicates} (all: {names})"
            )
        await titles.filter(has_text=re.compile(rf"^\s*{re.escape(profile)}\s*$")).last.click()
        tts = self.page.locator("ha-browse-media-tts")
        await tts.locator("textarea").fill(message)
        started = time.monotonic()
        await tts.locator("ha-button[variant=brand]").click()
        await self.page.wait_for_function(
            "() => (window.__browserCheckAudio || []).some("
            "(a) => a.state === 'ended' || a.state === 'error')",
            timeout=PLAYBACK_TIMEOUT_MS,
        )
        self.findings.timings[f"{self.language} say -> ended"] = time.monotonic() - started
        records: list[dict[str, Any]] = await self.page.evaluate("window.__browserCheckAudio")
        await self.inspect("tts-played", ours_expected=False)
        return records[-1]

    async def action_form(self) -> None:
        """Open the create_voice action in Developer tools > Actions and read its form."""
        await self.open("/developer-tools/action")
        picker = self.page.locator("ha-service-picker")
        await picker.click()
        # Typed into the picker's own field: keys pressed on the page are HA's shortcuts.
        await picker.locator("input").fill(ACTION)
        item = picker.locator("span.code").filter(has_text=ACTION)
        await item.first.click()
        await self.page.locator("ha-service-control ha-settings-row").first.wait_for()
        await self.inspect("create-voice-form")


async def set_language(ha: HomeAssistant, language: str) -> None:
    """Choose the user's language, as the profile page's language picker does."""
    await ha.ws(
        {
            "type": "frontend/set_user_data",
            "key": "language",
            "value": {
                "language": language,
                "number_format": "language",
                "time_format": "language",
                "date_format": "language",
                "first_weekday": "language",
                "time_zone": "local",
            },
        }
    )


def browser_tokens(ha: HomeAssistant) -> str:
    """Return a script that hands the onboarded user's tokens to the web UI, as login would."""
    lifetime = 1800
    tokens = {
        "access_token": ha.token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "refresh_token": ha.refresh_token,
        "hassUrl": ha.base_url,
        "clientId": ha.client_id,
        "expires": int(time.time() * 1000) + lifetime * 1000,
    }
    return f"window.localStorage.setItem('hassTokens', {json.dumps(json.dumps(tokens))});"


async def check_language(playwright: Playwright, run: Run, language: str) -> None:
    """Go through every screen in one language, with a browser of its own."""
    say(f"- web UI in {language}")
    started = time.monotonic()
    await set_language(run.ha, language)
    browser = await playwright.chromium.launch(
        executable_path=os.environ.get("CHROMIUM", CHROMIUM),
        args=[
            "--autoplay-policy=no-user-gesture-required",
            # Nothing outside this machine is looked up, whatever a page asks for.
            f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}",
        ],
    )
    try:
        context = await browser.new_context(locale=LANGUAGES[language], viewport=VIEWPORT)
        context.set_default_timeout(STEP_TIMEOUT_MS)
        watch = Watch(run.findings, language)
        await watch.attach(context)
        await context.add_init_script(browser_tokens(run.ha))
        await context.add_init_script(AUDIO_PROBE)
        ui = UserInterface(await context.new_page(), run, language)
        try:
            await ui_steps(ui, run)
        except Exception:
            # What the screen showed when a step gave up is the first thing to look at.
            await ui.page.screenshot(path=ui.shots / "failed.png")
            run.findings.screenshots.append(ui.shots / "failed.png")
            raise
        if not watch.brand_loaded:
            run.findings.problem(f"[{language}] the integration's icon never loaded")
    finally:
        await browser.close()
    run.findings.timings[f"{language} pass"] = time.monotonic() - started


async def ui_steps(ui: UserInterface, run: Run) -> None:
    """Add the integration and a profile, play speech, open the action form; then clean up."""
    language, ha = ui.language, run.ha
    await ui.add_integration(run.emulator_url)
    (entry,) = await ha.get(f"/api/config/config_entries/entry?domain={DOMAIN}")
    before = set((await ha.subentries(entry["entry_id"])).keys())
    voice_label = await ui.add_profile()
    subentries = await ha.subentries(entry["entry_id"])
    added = [subentries[key]["title"] for key in subentries.keys() - before]
    if len(added) != 1:
        raise SmokeError(f"[{language}] expected one new voice profile, got {added}")
    say(f"  ok  [{language}] integration added; profile {added[0]!r} ({voice_label}) added")
    audio = await ui.play(added[0], MESSAGE_PROFILE)
    check_audio(language, audio, run.findings)
    await ui.action_form()
    # The next language adds the integration from the start again.
    await ha.request("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")


def check_audio(language: str, audio: dict[str, Any], findings: Findings) -> None:
    """Check the sentence played to its end, from Home Assistant's TTS proxy, in full."""
    expected = expected_seconds(MESSAGE_PROFILE)
    if audio["state"] != "ended":
        findings.problem(f"[{language}] the audio did not reach 'ended': {audio}")
        return
    if "/api/tts_proxy/" not in (audio["src"] or ""):
        findings.problem(f"[{language}] the audio did not come from the TTS proxy: {audio}")
    if abs(audio["duration"] - expected) > MP3_TOLERANCE:
        findings.problem(
            f"[{language}] the audio lasted {audio['duration']:.3f} s, expected "
            f"{expected:.3f} ± {MP3_TOLERANCE:g} s: {audio}"
        )
    say(
        f"  ok  [{language}] {MESSAGE_PROFILE!r} played to its end in the browser: "
        f"{audio['duration']:.3f} s (emulator: {expected:.3f} s)"
    )


async def scenario(processes: Processes, shots: Path, findings: Findings) -> None:
    """Start everything, onboard, and check the web UI in every language."""
    words = Words.load()
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.monotonic()
        ha, emulator_url = await start_home_assistant(processes, session)
        await ha.onboard()
        config = await ha.get("/api/config")
        findings.timings["Home Assistant start"] = time.monotonic() - started
        say(f"  ok  Home Assistant {config['version']} answers; user onboarded")
        run = Run(ha, emulator_url, words, findings, shots)
        try:
            async with async_playwright() as playwright:
                for language in LANGUAGES:
                    await check_language(playwright, run, language)
        finally:
            await ha.close()


async def run(venv: Path, work: Path, shots: Path) -> int:
    """Run the scenario, stop everything, read the log, report; return the exit code."""
    findings = Findings()
    processes = Processes(work, venv)
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    body = asyncio.create_task(scenario(processes, shots, findings))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, body.cancel)
    try:
        await body
    except SmokeError as err:
        findings.problem(str(err))
    except asyncio.CancelledError:
        findings.problem("interrupted")
    except Exception:  # noqa: BLE001 - reported with its traceback, after the clean-up
        findings.problem(f"unexpected error:\n{traceback.format_exc()}")
    finally:
        await processes.stop_all()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log = tail(processes.log_file, lines=1_000_000)
    for level, record in integration_log_findings(log, tail(work / "hass.out", lines=1_000_000)):
        if level in FAILING_LEVELS:
            findings.problem(f"Home Assistant log: [{level}] {record}")
        else:
            findings.notes.append(f"Home Assistant log: [{level}] {record.splitlines()[0]}")
    return report(findings, shots, time.monotonic() - started)


def report(findings: Findings, shots: Path, elapsed: float) -> int:
    """Print the verdict, timings and notes; return the exit code."""
    for what, seconds in findings.timings.items():
        say(f"  time: {what}: {seconds:.1f} s")
    for what, count in sorted(findings.tolerated.items()):
        say(f"  tolerated: {count} x {what}")
    for note in findings.notes:
        say(f"  note: {note}")
    say(f"  {len(findings.screenshots)} screenshots in {shots}")
    if findings.problems:
        say(f"\nFAIL: browser check, {len(findings.problems)} problem(s) in {elapsed:.0f} s:")
        for problem in findings.problems:
            say(f"  - {problem}")
        return 1
    say(f"\nPASS: browser check ({', '.join(LANGUAGES)}) in {elapsed:.0f} s")
    return 0


def main() -> int:
    """Parse the command line and run the browser check in a temporary folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=Path, default=DEFAULT_SHOTS, help="screenshot folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    chromium = os.environ.get("CHROMIUM", CHROMIUM)
    if shutil.which(chromium) is None:
        say(f"FAIL: {chromium} not found (Debian: apt-get install chromium; or set CHROMIUM)")
        return 1
    shots: Path = args.shots.resolve()
    shutil.rmtree(shots, ignore_errors=True)
    for language in LANGUAGES:
        (shots / language).mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="browser_check_"))
    try:
        return asyncio.run(run(Path(sys.prefix), work, shots))
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
