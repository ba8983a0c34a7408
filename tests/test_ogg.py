"""Chained Ogg Opus (one stream per response) becomes one continuous stream, page by page."""

import asyncio
import io
from typing import Any

import pytest
from mutagen.oggopus import OggOpus

from custom_components.qwen_tts_realtime.api import OggOpusJoiner, QwenTtsProtocolError
from custom_components.qwen_tts_realtime.api.ogg import PAGE_SAMPLES, packet_samples

from .dashscope_emulator import encode_audio, tone_pcm
from .tts_helpers import OPUS_SEAM_SLACK, Pages, decode_audio

RATE = 24000
# Seconds of each response in a chained stream.
RESPONSES = (1.0, 2.04, 0.5)


async def _chained(*seconds: float) -> bytes:
    """Return what the service sends for several responses: one Ogg Opus stream each."""
    links = [
        await encode_audio(tone_pcm(round(RATE * length), RATE, index), RATE, "opus", 32)
        for index, length in enumerate(seconds)
    ]
    return b"".join(links)


def _join(data: bytes, chunk: int) -> bytes:
    """Feed ``data`` to a joiner in chunks of ``chunk`` bytes, as deltas arrive."""
    joiner = OggOpusJoiner()
    out = [joiner.convert(data[start : start + chunk]) for start in range(0, len(data), chunk)]
    return b"".join(out) + joiner.flush()


@pytest.fixture(scope="module")
def chained() -> bytes:
    """Return a chained stream of three responses (made once: ffmpeg is slow)."""
    return asyncio.run(_chained(*RESPONSES))


def _first_link(chained: bytes) -> bytes:
    """Return the bytes of the first response's stream."""
    second = next(page for page in Pages.parse(chained).pages if page.first and page.offset)
    return chained[: second.offset]


def test_chained_opus_becomes_one_logical_stream(chained: bytes) -> None:
    """One serial, pages numbered on, one OpusHead and OpusTags, first and last flags once."""
    assert len({page.serial for page in Pages.parse(chained).pages}) == len(RESPONSES)

    pages = Pages.parse(_join(chained, 4096)).pages

    assert len({page.serial for page in pages}) == 1
    assert [page.sequence for page in pages] == list(range(len(pages)))
    assert [page.first for page in pages] == [True] + [False] * (len(pages) - 1)
    assert [page.last for page in pages] == [False] * (len(pages) - 1) + [True]
    packets = [packet for page in pages for packet in page.packets]
    assert [packet[:8] for packet in packets].count(b"OpusHead") == 1
    assert [packet[:8] for packet in packets].count(b"OpusTags") == 1
    # The headers have their own pages, as RFC 7845 asks and browsers expect.
    assert [page.packets[0][:8] for page in pages[:2]] == [b"OpusHead", b"OpusTags"]
    assert [(len(page.packets), page.position) for page in pages[:2]] == [(1, 0), (1, 0)]


def test_granules_count_the_packets_across_the_seams(chained: bytes) -> None:
    """Each page's granule is the samples decoded through it; only the last page trims."""
    pages = Pages.parse(_join(chained, 4096)).pages[2:]

    decoded = 0
    for page in pages[:-1]:
        samples = sum(packet_samples(packet) for packet in page.packets)
        assert 0 < samples <= PAGE_SAMPLES  # short pages: a browser can start early
        decoded += samples
        assert page.position == decoded
    last = pages[-1]
    assert decoded < last.position <= decoded + sum(map(packet_samples, last.packets))


async def test_the_joined_stream_decodes_completely(chained: bytes) -> None:
    """Both ffmpeg and mutagen find every response's audio, not just the first."""
    joined = _join(chained, 4096)

    audio = await decode_audio(joined)
    assert audio.codec == "opus"
    total = sum(RESPONSES)
    assert total <= audio.seconds <= total + OPUS_SEAM_SLACK * (len(RESPONSES) - 1)
    # mutagen is untyped (its FileType.info is declared as None).
    info: Any = OggOpus(io.BytesIO(joined)).info  # type: ignore[no-untyped-call]
    assert info.length == pytest.approx(audio.seconds, abs=0.001)


@pytest.mark.parametrize("chunk", [1, 27, 700, 1 << 20])
def test_any_chunking_gives_the_same_audio(chained: bytes, chunk: int) -> None:
    """Pages split across deltas anywhere: the same packets and the same end."""
    reference = Pages.parse(_join(chained, 4096))

    pages = Pages.parse(_join(chained, chunk))

    assert pages.packets() == reference.packets()
    assert pages.pages[-1].position == reference.pages[-1].position


def test_audio_goes_out_as_it_arrives(chained: bytes) -> None:
    """The first response's pages are written before the rest has come; one packet waits."""
    first_link = _first_link(chained)
    joiner = OggOpusJoiner()

    early = Pages.parse(joiner.convert(first_link))

    assert early.packets() == Pages.parse(first_link).packets()[:-1]
    assert not early.pages[-1].last
    assert early.pages[-1].position == sum(map(packet_samples, early.packets()[2:]))


def test_one_response_keeps_its_packets_and_its_end(chained: bytes) -> None:
    """A single stream keeps its packets, serial and end trim; only the pages get shorter."""
    first_link = Pages.parse(_first_link(chained))

    joined = Pages.parse(_join(_first_link(chained), 4096))

    assert joined.packets() == first_link.packets()
    assert joined.pages[0].serial == first_link.pages[0].serial
    assert joined.pages[-1].position == first_link.pages[-1].position
    assert len(joined.pages) > len(first_link.pages)


def test_audio_that_is_not_ogg_passes_through() -> None:
    """Raw Opus or anything else (the container is undocumented) is not touched."""
    joiner = OggOpusJoiner()
    assert joiner.convert(b"\x01\x02") + joiner.convert(b"\x03\x04\x05") + joiner.flush() == (
        b"\x01\x02\x03\x04\x05"
    )


def test_a_stream_without_headers_is_a_protocol_error(chained: bytes) -> None:
    """Audio pages with no OpusHead before them cannot be decoded: a clear error."""
    audio_only = chained[chained.index(b"OggS", chained.index(b"OpusTags")) :]
    with pytest.raises(QwenTtsProtocolError):
        OggOpusJoiner().convert(audio_only)
    damaged_head = chained[:30] + b"X" + chained[31:]  # the first page's CRC fails
    with pytest.raises(QwenTtsProtocolError):
        OggOpusJoiner().convert(damaged_head)


@pytest.mark.parametrize("cut", [5, 30, 200, 1500])
def test_a_session_cut_inside_a_page_is_skipped_to_the_next(chained: bytes, cut: int) -> None:
    """A dropped session's last, broken page is skipped; the resumed session's audio follows.

    Ogg demuxers resynchronise the same way: at the next capture pattern whose
    page's CRC holds. The whole pages of the dropped session are kept.
    """
    first_link = _first_link(chained)
    rest = chained[len(first_link) :]
    cut_page = Pages.parse(first_link).pages[-2]  # cut inside a page that is not the last
    start = int(cut_page.offset or 0)  # mutagen records where it read each page
    cut_at = start + min(cut, cut_page.size - 1)
    whole = Pages.parse(first_link[:start])

    joined = Pages.parse(_join(first_link[:cut_at] + rest, 700))

    assert len({page.serial for page in joined.pages}) == 1
    assert [page.sequence for page in joined.pages] == list(range(len(joined.pages)))
    rest_packets = [packet for page in Pages.parse(rest).pages for packet in page.packets]
    rest_audio = [packet for packet in rest_packets if not packet.startswith(b"Opus")]
    assert joined.packets() == whole.packets() + rest_audio


def test_audio_cut_at_the_very_end_keeps_its_whole_pages(chained: bytes) -> None:
    """A stream that ends inside a page: the whole pages before it still make a valid file."""
    joined = Pages.parse(_join(chained[:-10], 700))

    assert joined.pages[-1].last
    last_page = Pages.parse(chained).pages[-1]
    assert joined.packets() == Pages.parse(_join(chained[: last_page.offset], 700)).packets()


@pytest.mark.parametrize(
    ("packet", "samples"),
    [
        (b"", 0),
        (bytes([0b11111_000]), 960),  # CELT 20 ms, one frame
        (bytes([0b10000_001]), 240),  # CELT 2.5 ms, two frames
        (bytes([0b00011_011, 0b0000_0011]), 3 * 2880),  # SILK 60 ms, three frames
        (bytes([0b01101_010]), 2 * 960),  # hybrid 20 ms, two frames
        (bytes([0b11111_011]), 0),  # frame count missing
    ],
)
def test_packet_samples(packet: bytes, samples: int) -> None:
    """Samples per packet from the TOC byte (RFC 6716 3.1)."""
    assert packet_samples(packet) == samples
