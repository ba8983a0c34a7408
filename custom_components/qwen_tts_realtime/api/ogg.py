"""One continuous Ogg Opus stream out of the service's one-stream-per-response audio.

The service (protocol.md A.7) encodes each response as its own Ogg Opus stream,
so a session with several responses is a *chained* Ogg file: a new serial
number, OpusHead and OpusTags every response, granules restarting at zero.
Many players stop at the first link (VLC played 1.5 s of 29.8 s). The joiner
rewrites it, page by page as the audio arrives, into one logical stream: the
first serial and headers, page numbers counting on, and each page's granule
position counted from the Opus packets themselves (RFC 7845), so it stays
right across the seams. Pages are written by ``mutagen``.

It also makes the stream start early: the headers on their own pages, then
short pages (at most ``PAGE_SAMPLES``) each carrying its granule, instead of
the encoder's one-second pages. One packet is always held back, so that the
last page can carry the end-of-stream flag and the end trim of the last response.

A session that dropped inside a page and was resumed leaves a broken page
before the new session's stream: it is skipped up to the next intact page, as
Ogg demuxers do. Audio that is not Ogg (the container is undocumented) passes
through untouched.
"""

import io
import logging
from dataclasses import dataclass, field

from mutagen.ogg import OggPage
from mutagen.ogg import error as OggError  # noqa: N812 - mutagen's name for it

from .errors import QwenTtsProtocolError

_LOGGER = logging.getLogger(__name__)

_CAPTURE = b"OggS"
_HEADER_SIZE = 27
_MAX_SEGMENTS = 255
_SEGMENT = 255
# Opus granules count 48 kHz samples, whatever the input rate (RFC 7845 4).
OPUS_RATE = 48000
# At most 100 ms of audio per page: a browser can start on the first ones.
PAGE_SAMPLES = OPUS_RATE // 10
_OPUS_HEAD = b"OpusHead"
_OPUS_TAGS = b"OpusTags"
# Samples per frame by TOC configuration (RFC 6716 3.1): SILK 10/20/40/60 ms,
# hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
_SILK = (480, 960, 1920, 2880)
_HYBRID = (480, 960)
_CELT = (120, 240, 480, 960)
_HYBRID_FIRST = 12
_CELT_FIRST = 16
_FRAME_COUNT_MASK = 0x3F
_ARBITRARY_FRAMES = 3


def packet_samples(packet: bytes) -> int:
    """Return how many 48 kHz samples an Opus packet decodes to (RFC 6716 3.1)."""
    if not packet:
        return 0
    config, code = packet[0] >> 3, packet[0] & 3
    if config < _HYBRID_FIRST:
        frame = _SILK[config % 4]
    elif config < _CELT_FIRST:
        frame = _HYBRID[config % 2]
    else:
        frame = _CELT[config % 4]
    if code == 0:
        frames = 1
    elif code < _ARBITRARY_FRAMES:
        frames = 2
    else:
        frames = packet[1] & _FRAME_COUNT_MASK if len(packet) > 1 else 0
    return frame * frames


def _read_page(data: bytes) -> OggPage:
    """Parse one whole page with mutagen."""
    return OggPage(io.BytesIO(data))  # type: ignore[no-untyped-call] # mutagen has no type hints


def _write_page(page: OggPage) -> bytes:
    """Serialise a page with mutagen, which computes its CRC."""
    return bytes(page.write())  # type: ignore[no-untyped-call] # mutagen has no type hints


def _segments(packet: bytes) -> int:
    """Return how many lacing values a packet takes on a page."""
    return len(packet) // _SEGMENT + 1


@dataclass(slots=True)
class _Link:
    """What is known of the input stream being read (one response)."""

    serial: int
    first: bool  # the first response's headers become the output's
    headers_left: int = 2  # OpusHead, then OpusTags
    start: int = 0  # output sample at which this link's audio starts
    end_granule: int | None = None  # the link's own end (end trim), once its last page came
    partial: bytes = b""  # a packet that continues on the next page


@dataclass(slots=True)
class OggOpusJoiner:
    """Rewrite chained Ogg Opus into one logical stream, chunk by chunk.

    ``convert`` takes the audio as it arrives and returns the bytes ready to go
    out; ``flush`` returns the rest when the audio has ended.
    """

    _buffer: bytes = b""
    _passthrough: bool | None = None
    _serial: int = 0
    _sequence: int = 0
    _granule: int = 0  # output samples of every packet written
    _link: _Link | None = None
    _pending: list[bytes] = field(default_factory=list)
    _pending_samples: int = 0

    def convert(self, data: bytes) -> bytes:
        """Take the next audio bytes; return the pages now complete."""
        if self._passthrough is None and len(self._buffer) + len(data) >= len(_CAPTURE):
            self._passthrough = not (self._buffer + data).startswith(_CAPTURE)
            if self._passthrough:
                _LOGGER.debug("Opus audio is not Ogg: passed through as it is")
                data, self._buffer = self._buffer + data, b""
        if self._passthrough:
            return data
        self._buffer += data
        out = [self._page(page) for page in self._complete_pages()]
        out.append(self._write_pending(keep=1))
        return b"".join(out)

    def flush(self) -> bytes:
        """Return the last page, marked as the end of the stream."""
        if self._passthrough is not False:
            data, self._buffer = self._buffer, b""
            return data
        tail = [self._page(page) for page in self._complete_pages(final=True)]
        link = self._link
        final = self._granule + self._pending_samples
        if link is not None and link.end_granule is not None:
            # End trim of the last response (its encoder's padding), in output samples;
            # it can only shorten the held-back last packet, never an earlier page.
            final = max(self._granule, min(final, link.start + link.end_granule))
        return b"".join(tail) + self._write_pending(keep=0, final=final)

    def _complete_pages(self, *, final: bool = False) -> list[OggPage]:
        """Cut the whole, intact pages off the buffer (a page may arrive in pieces).

        A broken page is skipped up to the next capture pattern, as Ogg demuxers
        do: a session that dropped mid-page leaves one before the resumed session's
        pages. A page is intact when mutagen writes it back byte for byte (CRC).
        """
        pages = []
        while (start := self._buffer.find(_CAPTURE)) >= 0:
            self._skip(start)
            size = self._size_at(0)
            if size is not None and size <= len(self._buffer):
                if (page := self._intact_at(0, size)) is not None:
                    pages.append(page)
                    self._buffer = self._buffer[size:]
                    continue
            elif not final and not self._intact_page_later():
                break  # the rest of this page is still to come
            self._skip(1)
        else:
            # Keep what may be the start of the next capture pattern.
            self._skip(len(self._buffer) if final else max(0, len(self._buffer) - 3))
        return pages

    def _size_at(self, offset: int) -> int | None:
        """Return the size of the page at ``offset``, or ``None`` before its header is here."""
        table = offset + _HEADER_SIZE
        if len(self._buffer) < table:
            return None
        table_end = table + self._buffer[table - 1]
        if len(self._buffer) < table_end:
            return None
        return table_end - offset + sum(self._buffer[table:table_end])

    def _intact_at(self, offset: int, size: int) -> OggPage | None:
        """Return the page at ``offset`` if it is a real one (its CRC holds), else ``None``."""
        data = self._buffer[offset : offset + size]
        try:
            page = _read_page(data)
        except OggError, EOFError:
            return None
        return page if _write_page(page) == data else None

    def _intact_page_later(self) -> bool:
        """Tell whether a later capture pattern starts a whole, intact page."""
        offset = self._buffer.find(_CAPTURE, 1)
        while offset > 0:
            size = self._size_at(offset)
            if (
                size is not None
                and offset + size <= len(self._buffer)
                and self._intact_at(offset, size) is not None
            ):
                return True
            offset = self._buffer.find(_CAPTURE, offset + 1)
        return False

    def _skip(self, count: int) -> None:
        """Drop ``count`` bytes that are not part of an intact page."""
        if count:
            _LOGGER.debug("Skipped %d bytes of a broken Ogg page", count)
            self._buffer = self._buffer[count:]

    def _page(self, page: OggPage) -> bytes:
        """Take one input page: start a new link on its first page, queue its audio."""
        link = self._link
        if link is None or page.first or page.serial != link.serial:
            link = self._start_link(page.serial)
        out = b""
        packets = list(page.packets)
        if page.continued and packets:
            # Without its start (lost with a broken page) the packet is dropped.
            packets = [link.partial + packets[0], *packets[1:]] if link.partial else packets[1:]
        link.partial = b""
        if not page.complete and packets:
            link.partial = packets.pop()
        for packet in packets:
            out += self._packet(link, packet)
        if page.last:
            link.end_granule = page.position
        return out

    def _start_link(self, serial: int) -> _Link:
        """Begin the next response's stream; the first one gives the output its serial."""
        first = self._link is None
        if first:
            self._serial = serial
        else:
            _LOGGER.debug("Joining the Ogg stream of a further response at %d", self._granule)
        self._link = _Link(serial, first, start=self._granule + self._pending_samples)
        return self._link

    def _packet(self, link: _Link, packet: bytes) -> bytes:
        """Write the first link's headers on their own pages; queue audio packets."""
        if link.headers_left:
            link.headers_left -= 1
            is_header = packet.startswith(_OPUS_HEAD if link.headers_left else _OPUS_TAGS)
            if not is_header:
                raise QwenTtsProtocolError("The Opus stream does not start with its headers")
            if not link.first:  # a further response's headers: the output has them
                return b""
            return self._write_page([packet], position=0, first=not self._sequence)
        self._pending.append(packet)
        self._pending_samples += packet_samples(packet)
        return b""

    def _write_pending(self, *, keep: int, final: int | None = None) -> bytes:
        """Write queued packets in short pages, keeping the last ``keep`` for later."""
        out = []
        while len(self._pending) > keep:
            count, samples, segments = 0, 0, 0
            while len(self._pending) - count > keep:
                packet = self._pending[count]
                if count and (
                    samples + packet_samples(packet) > PAGE_SAMPLES
                    or segments + _segments(packet) > _MAX_SEGMENTS
                ):
                    break
                samples += packet_samples(packet)
                segments += _segments(packet)
                count += 1
            packets, self._pending = self._pending[:count], self._pending[count:]
            self._pending_samples -= samples
            self._granule += samples
            last = final is not None and not self._pending
            position = final if last and final is not None else self._granule
            out.append(self._write_page(packets, position=position, last=last))
        return b"".join(out)

    def _write_page(
        self, packets: list[bytes], *, position: int, first: bool = False, last: bool = False
    ) -> bytes:
        """Return one output page (mutagen computes the CRC)."""
        page = OggPage()  # type: ignore[no-untyped-call] # mutagen has no type hints
        page.serial = self._serial
        page.sequence = self._sequence
        page.position = position
        page.packets = packets
        page.first = first
        page.last = last
        self._sequence += 1
        return _write_page(page)
