"""Reading a channel of this process's TrickleServer without HTTP (go's TrickleLocalSubscriber):
the orchestrator watches a live session's input this way to drive its payment accounting."""
from __future__ import annotations

from .errors import EndOfStream, SequenceNonexistent, StreamNotFound
from .headers import SEQ_NEXT
from .server import Segment, TrickleServer


class LocalSubscriber:
    def __init__(self, server: TrickleServer, name: str) -> None:
        self.server = server
        self.name = name

    def segment(self, seq: int = SEQ_NEXT) -> Segment:
        """The segment `seq` (-1: the next one written, precreated so it can be waited on)."""
        ch = self.server.channels.get(self.name)
        if ch is None:
            raise StreamNotFound(self.name)
        if ch.closed:
            raise EndOfStream(self.name)
        seq, seg = ch.for_read(seq)
        if seg is None:
            raise SequenceNonexistent(seq, ch.next_write)
        return seg

    async def next_data(self, seq: int = SEQ_NEXT) -> Segment | None:
        """Wait for segment `seq` to start (its first bytes); None when it closed empty (cancelled,
        or its channel closed)."""
        seg = self.segment(seq)
        chunks, _ = await seg.read(0)
        return seg if chunks else None
