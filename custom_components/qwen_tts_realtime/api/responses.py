"""Which segments of a request have been spoken completely, told by each session's responses.

In ``commit`` mode every commit is answered by exactly one response, and the
responses of a session come one after another in commit order (protocol.md
A.6). So the n-th response of a session speaks the n-th segment it committed,
and a segment whose response ended ``completed`` has been heard in full. The
responses are keyed on their ids, not on the order of their events, and
``input_text_buffer.committed`` is not needed (it may or may not come).

Should the service ever answer with more responses than commits, the mapping
is no longer known: the session then claims no progress at all, so a resume
repeats its text instead of skipping any.
"""

import logging
from dataclasses import dataclass

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class Progress:
    """The segments of one request spoken so far, shared by its successive sessions."""

    spoken: int = 0
    """Segments ``0 .. spoken - 1`` were spoken completely; a resume starts at ``spoken``."""


class ResponseTracker:
    """Maps one session's responses to the segments it committed."""

    def __init__(self, progress: Progress) -> None:
        """Start at the first segment not yet spoken: this session's first commit."""
        self._progress = progress
        self._first = progress.spoken
        self._committed = progress.spoken
        self._next = progress.spoken
        self._by_id: dict[str, int] = {}
        self._current: int | None = None
        self._completed: set[int] = set()
        self._lost = False

    @property
    def unanswered(self) -> bool:
        """Return whether a segment was committed whose response has not started yet."""
        return self._next < self._committed

    def committed(self) -> None:
        """Count one more segment committed by this session."""
        self._committed += 1

    def created(self, response_id: str | None) -> None:
        """Give a new response the next committed segment."""
        if response_id is not None and response_id in self._by_id:
            return
        if self._next >= self._committed:
            self._lose_track()
            return
        self._current = self._next
        self._next += 1
        if response_id is not None:
            self._by_id[response_id] = self._current

    def done(self, response_id: str | None, *, completed: bool) -> None:
        """Record the end of a response; a completed one may advance the progress."""
        if response_id is None or response_id not in self._by_id:
            if self._current is None:  # its response.created never came
                self.created(response_id)
            segment = self._current
        else:
            segment = self._by_id[response_id]
        self._current = None
        if segment is None or not completed or self._lost:
            return
        self._completed.add(segment)
        while self._progress.spoken in self._completed:
            self._progress.spoken += 1

    def _lose_track(self) -> None:
        """More responses than commits: forget this session's progress rather than guess."""
        if not self._lost:
            _LOGGER.debug(
                "More responses than commits: segments from %d on will be repeated on a resume",
                self._first,
            )
        self._lost = True
        self._current = None
        self._progress.spoken = self._first
