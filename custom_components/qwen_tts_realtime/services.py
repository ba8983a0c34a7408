"""Service actions for voice enrollment (cloning)."""

from homeassistant.core import HomeAssistant, callback


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the voice enrollment actions."""
