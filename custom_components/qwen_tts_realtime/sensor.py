"""Sensors: what speech costs per account, and how each voice profile's last request went."""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import override

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .api import get_model
from .const import CONF_MODEL, SUBENTRY_TTS
from .data import QwenTtsConfigEntry
from .devices import account_device_info, profile_device_info
from .reports import RequestReport, report_signal

# Sensors only change when a request reports; nothing is polled.
PARALLEL_UPDATES = 0

NO_ERROR = "none"


@dataclass(frozen=True, kw_only=True)
class UsageSensorDescription(SensorEntityDescription):
    """An account total: how much of one unit each request adds."""

    amount_fn: Callable[[RequestReport], int]


@dataclass(frozen=True, kw_only=True)
class ProfileSensorDescription(SensorEntityDescription):
    """A profile's last-request value."""

    value_fn: Callable[[RequestReport], StateType]


# Units are translated (characters / 字符), so there is no native unit.
BILLED_CHARACTERS = UsageSensorDescription(
    key="billed_characters",
    translation_key="billed_characters",
    state_class=SensorStateClass.TOTAL_INCREASING,
    amount_fn=lambda report: report.billed_characters,
)
# Only the first-generation model bills tokens: enabled when a profile uses it.
BILLED_TOKENS = UsageSensorDescription(
    key="billed_tokens",
    translation_key="billed_tokens",
    state_class=SensorStateClass.TOTAL_INCREASING,
    entity_registry_enabled_default=False,
    amount_fn=lambda report: report.billed_tokens,
)
PROFILE_SENSORS = (
    # A new value with every request: noisy in the history, so off until wanted.
    ProfileSensorDescription(
        key="first_audio_latency",
        translation_key="first_audio_latency",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda report: report.first_audio_ms,
    ),
    # Changes only when requests start or stop failing: on, so it can be watched.
    ProfileSensorDescription(
        key="last_error",
        translation_key="last_error",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda report: report.error or NO_ERROR,
    ),
)


def _bills_tokens(subentry: ConfigSubentry) -> bool:
    """Tell whether a voice profile's model bills tokens rather than characters."""
    model = get_model(subentry.data[CONF_MODEL])
    return model is not None and model.bills_tokens


async def async_setup_entry(
    hass: HomeAssistant,  # noqa: ARG001 - required by the platform
    entry: QwenTtsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the account's usage sensors and each profile's diagnostic sensors."""
    profiles = [sub for sub in entry.subentries.values() if sub.subentry_type == SUBENTRY_TTS]
    tokens = replace(
        BILLED_TOKENS, entity_registry_enabled_default=any(map(_bills_tokens, profiles))
    )
    async_add_entities([UsageSensor(entry, BILLED_CHARACTERS), UsageSensor(entry, tokens)])
    for subentry in profiles:
        async_add_entities(
            [ProfileSensor(entry, subentry, description) for description in PROFILE_SENSORS],
            config_subentry_id=subentry.subentry_id,
        )


class _ReportSensor(SensorEntity):
    """A sensor that follows the reports of its account's synthesis requests."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self,
        entry: QwenTtsConfigEntry,
        description: SensorEntityDescription,
        owner_id: str,
        device_info: DeviceInfo,
    ) -> None:
        """Describe the sensor; ``owner_id`` is the entry or subentry it belongs to."""
        self.entity_description = description
        self._entry_id = entry.entry_id
        self._attr_unique_id = f"{owner_id}_{description.key}"
        self._attr_device_info = device_info

    @override
    async def async_added_to_hass(self) -> None:
        """Follow the account's request reports until the entity is removed."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(self.hass, report_signal(self._entry_id), self._async_report)
        )

    @callback
    def _async_report(self, report: RequestReport) -> None:
        """Take a request's report; write the state when it changed this sensor."""
        if self._take(report):
            self.async_write_ha_state()

    def _take(self, report: RequestReport) -> bool:
        """Update from a report; return whether the sensor changed."""
        raise NotImplementedError


class UsageSensor(_ReportSensor, RestoreSensor):
    """What an account's requests were billed, all profiles together, kept across restarts."""

    entity_description: UsageSensorDescription

    def __init__(self, entry: QwenTtsConfigEntry, description: UsageSensorDescription) -> None:
        """Start from zero; a restored total replaces it once added."""
        super().__init__(entry, description, entry.entry_id, account_device_info(entry))
        self._attr_native_value = self._total = 0

    @override
    async def async_added_to_hass(self) -> None:
        """Continue from the total before the restart."""
        await super().async_added_to_hass()
        last = await self.async_get_last_sensor_data()
        value = last.native_value if last else None
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            self._attr_native_value = self._total = int(value)

    @override
    def _take(self, report: RequestReport) -> bool:
        """Add the request's billed amount."""
        if not (amount := self.entity_description.amount_fn(report)):
            return False
        self._attr_native_value = self._total = self._total + amount
        return True


class ProfileSensor(_ReportSensor):
    """How the last request of one voice profile went."""

    entity_description: ProfileSensorDescription

    def __init__(
        self,
        entry: QwenTtsConfigEntry,
        subentry: ConfigSubentry,
        description: ProfileSensorDescription,
    ) -> None:
        """Belong to the profile's device, next to its TTS entity."""
        super().__init__(entry, description, subentry.subentry_id, profile_device_info(subentry))
        self._subentry_id = subentry.subentry_id

    @override
    def _take(self, report: RequestReport) -> bool:
        """Show the value of this profile's request; other profiles' reports are not ours."""
        if report.subentry_id != self._subentry_id:
            return False
        self._attr_native_value = self.entity_description.value_fn(report)
        return True
