"""Where the DashScope service lives: regions and the URLs derived from them."""

from dataclasses import dataclass
from enum import StrEnum

from yarl import URL

from .errors import QwenTtsValidationError

REALTIME_PATH = "/api-ws/v1/realtime"
CUSTOMIZATION_PATH = "/api/v1/services/audio/tts/customization"


class Region(StrEnum):
    """A DashScope region; API keys are bound to one."""

    BEIJING = "beijing"
    SINGAPORE = "singapore"
    CUSTOM = "custom"


REGION_BASE_URLS: dict[Region, str] = {
    Region.BEIJING: "https://dashscope.aliyuncs.com",
    Region.SINGAPORE: "https://dashscope-intl.aliyuncs.com",
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A DashScope host, from which the realtime and HTTP URLs derive."""

    base_url: URL

    @classmethod
    def for_region(cls, region: Region, base_url: str | None = None) -> Endpoint:
        """Return the endpoint of a region, or of ``base_url`` for a custom one."""
        if region is Region.CUSTOM:
            return cls.from_base_url(base_url or "")
        return cls(URL(REGION_BASE_URLS[region]))

    @classmethod
    def from_base_url(cls, base_url: str) -> Endpoint:
        """Validate a custom ``http(s)://host[:port]`` base URL (workspace, proxy, emulator)."""
        try:
            url = URL(base_url.strip())
        except ValueError as err:
            raise QwenTtsValidationError("invalid_base_url", str(err)) from err
        if url.scheme not in ("http", "https") or not url.host:
            raise QwenTtsValidationError(
                "invalid_base_url", "The base URL must be an http(s) address with a host name"
            )
        if url.query_string or url.fragment or url.user:
            raise QwenTtsValidationError(
                "invalid_base_url", "The base URL must not carry a query, fragment or user"
            )
        # Keep a path prefix (a reverse proxy may mount the API below one), minus its last slash.
        return cls(url.with_path(url.path.rstrip("/")))

    def realtime_url(self, model: str) -> URL:
        """Return the realtime WebSocket URL for ``model``."""
        scheme = "wss" if self.base_url.scheme == "https" else "ws"
        return (
            self.base_url.with_scheme(scheme)
            .joinpath(REALTIME_PATH.lstrip("/"))
            .with_query(model=model)
        )

    @property
    def customization_url(self) -> URL:
        """Return the voice-enrollment (customization) HTTP URL."""
        return self.base_url.joinpath(CUSTOMIZATION_PATH.lstrip("/"))
