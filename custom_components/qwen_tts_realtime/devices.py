"""The devices entities belong to: the account's service and one per voice profile."""

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo

from .const import CONF_MODEL, DOMAIN

MANUFACTURER = "Alibaba Cloud"


def account_device_info(entry: ConfigEntry) -> DeviceInfo:
    """Return the service device of an account (its usage sensors live there)."""
    return DeviceInfo(
        identifiers={(DOMAIN, entry.entry_id)},
        name=entry.title,
        manufacturer=MANUFACTURER,
        model="Model Studio (DashScope)",
        entry_type=DeviceEntryType.SERVICE,
    )


def profile_device_info(subentry: ConfigSubentry) -> DeviceInfo:
    """Return the device of a voice profile: its TTS entity and its diagnostic sensors."""
    return DeviceInfo(
        identifiers={(DOMAIN, subentry.subentry_id)},
        name=subentry.title,
        manufacturer=MANUFACTURER,
        model=subentry.data[CONF_MODEL],
        entry_type=DeviceEntryType.SERVICE,
    )
