"""What HACS, hassfest and the loader check, checked offline: manifest, translations, assets."""

import ast
import json
import re
from pathlib import Path
from typing import Any

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
from homeassistant.util.yaml import load_yaml_dict
from PIL import Image

from custom_components.qwen_tts_realtime.api import MODELS
from custom_components.qwen_tts_realtime.const import DOMAIN

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / DOMAIN
# The keys HACS accepts in hacs.json (its schema refuses any other key).
HACS_KEYS = {
    "name",
    "homeassistant",
    "hacs",
    "content_in_root",
    "zip_release",
    "filename",
    "hide_default_branch",
    "country",
    "persistent_directory",
    "render_readme",
}


def _load(name: str) -> Any:
    """Return a JSON file of the integration."""
    return json.loads((INTEGRATION / name).read_text(encoding="utf-8"))


def _key_paths(tree: Any, prefix: str = "") -> set[str]:
    """Return every path of keys down to the strings of a translation tree."""
    if not isinstance(tree, dict):
        return {prefix}
    paths: set[str] = set()
    for key, value in tree.items():
        paths |= _key_paths(value, f"{prefix}/{key}")
    return paths


def _strings(tree: Any) -> list[str]:
    """Return every string of a translation tree."""
    if isinstance(tree, dict):
        return [text for value in tree.values() for text in _strings(value)]
    return [tree]


def _translation_keys_in_code() -> set[str]:
    """Return the exception keys the code raises: translation_keys and validation reasons."""
    keys: set[str] = set()
    for path in INTEGRATION.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name.endswith("Description"):  # an entity's name, under "entity", not an error
                continue
            for keyword in node.keywords:
                if keyword.arg == "translation_key" and isinstance(keyword.value, ast.Constant):
                    keys.add(str(keyword.value.value))
            # QwenTtsValidationError(reason, ...): the reason becomes the translation key.
            if name == "QwenTtsValidationError" and isinstance(node.args[0], ast.Constant):
                keys.add(str(node.args[0].value))
    return keys


def test_manifest_is_what_hacs_and_the_loader_need() -> None:
    """Required keys are present, sorted as hassfest wants, the version parses."""
    manifest = _load("manifest.json")
    assert manifest["domain"] == DOMAIN == INTEGRATION.name
    for key in ("name", "version", "documentation", "issue_tracker", "codeowners", "iot_class"):
        assert manifest[key]
    assert manifest["config_flow"] is True
    assert manifest["integration_type"] == "service"
    assert manifest["requirements"] == []
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    version = AwesomeVersion(
        manifest["version"],
        ensure_strategy=[AwesomeVersionStrategy.SEMVER, AwesomeVersionStrategy.CALVER],
    )
    assert version.valid


async def test_loader_accepts_the_integration(hass: HomeAssistant) -> None:
    """Home Assistant's own loader reads the manifest, version and brand folder."""
    integration = await async_get_integration(hass, DOMAIN)
    assert integration.version == _load("manifest.json")["version"]
    assert integration.config_flow


def test_hacs_json() -> None:
    """hacs.json holds only keys HACS knows and names a supported Home Assistant."""
    hacs = json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))
    assert set(hacs) <= HACS_KEYS
    assert hacs["name"]
    assert AwesomeVersion(hacs["homeassistant"]) <= AwesomeVersion("2026.10.4")
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith(" " * 33 + "Apache License")


def test_brand_icons() -> None:
    """The brand folder has the icon HACS requires, at the sizes the brands convention uses."""
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        with Image.open(INTEGRATION / "brand" / name) as image:
            assert image.format == "PNG"
            assert image.size == (size, size)


def test_translations_match_and_are_literal() -> None:
    """zh-Hans translates exactly what en has, with the same placeholders; no references."""
    english = _load("translations/en.json")
    chinese = _load("translations/zh-Hans.json")
    assert _key_paths(english) == _key_paths(chinese)
    for path in _key_paths(english):
        en_text = _dig(english, path)
        zh_text = _dig(chinese, path)
        assert set(re.findall(r"\{(\w+)\}", en_text)) == set(re.findall(r"\{(\w+)\}", zh_text)), (
            path
        )
    for text in _strings(english) + _strings(chinese):
        assert "[%key:" not in text


def test_every_model_has_a_translated_label() -> None:
    """The model dropdown shows a readable name for every catalogue id, in both languages."""
    for language in ("en", "zh-Hans"):
        labels = _load(f"translations/{language}.json")["selector"]["model"]["options"]
        assert set(labels) == set(MODELS), language


# A URL the frontend's Markdown would turn into a link: a scheme followed by a host.
_BARE_URL = re.compile(r"https?://[\w\[<{]")


def test_no_example_url_becomes_a_link() -> None:
    """Example addresses are in code spans: bare ones become links to hosts that do not exist.

    In Chinese the link also swallows the text that follows it.
    """
    for language in ("en", "zh-Hans"):
        for text in _strings(_load(f"translations/{language}.json")):
            outside_code = re.sub(r"`[^`]*`", "", text)
            assert not _BARE_URL.search(outside_code), text


def _placeholders(text: str) -> set[str]:
    """Return the ``{name}`` placeholders of a message."""
    return set(re.findall(r"\{(\w+)\}", text))


def _dig(tree: Any, path: str) -> str:
    """Return the string at a key path."""
    for key in path.strip("/").split("/"):
        tree = tree[key]
    assert isinstance(tree, str)
    return tree


def test_every_raised_error_is_translated() -> None:
    """Every translation key the code raises (or the client's validation reasons) has a message."""
    exceptions = _load("translations/en.json")["exceptions"]
    used = _translation_keys_in_code()
    assert used
    assert used <= set(exceptions), used - set(exceptions)


def test_quality_scale_file() -> None:
    """Every rule is done or exempt with a reason (hassfest's schema for the file)."""
    rules = load_yaml_dict(str(INTEGRATION / "quality_scale.yaml"))["rules"]
    assert len(rules) == 54
    for rule, status in rules.items():
        if isinstance(status, dict):
            assert status["status"] in ("done", "exempt", "todo"), rule
            assert status["status"] != "exempt" or status["comment"], rule
        else:
            assert status in ("done", "todo"), rule


def _pins() -> dict[str, str]:
    """Return requirements_test.txt's pins by normalised package name."""
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements_test.txt").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


async def test_requirements_pin_what_home_assistant_loads_at_start(hass: HomeAssistant) -> None:
    """scripts/develop and the browser check get the web UI and base platforms HA asks for.

    hass runs with --skip-pip there: a requirement missing from requirements_test.txt, or
    pinned at another version than the Home Assistant release wants, shows up as an import
    traceback at start (or a web UI of another release).
    """
    pins = _pins()
    for domain in ("frontend", "infrared", "radio_frequency", "camera"):
        integration = await async_get_integration(hass, domain)
        assert integration.requirements, domain
        for requirement in integration.requirements:
            name, version = requirement.split("==")
            assert pins.get(re.sub(r"[-_.]+", "-", name).lower()) == version, requirement
