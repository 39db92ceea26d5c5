"""Trickle errors, typed so that callers can tell the protocol's cases apart (trickle_subscriber.go,
trickle_publisher.go): a missing channel, the end of a closed channel, a sequence number outside
the live window, an HTTP error, and too many failed preconnects."""
from __future__ import annotations


class TrickleError(Exception):
    """Base of every trickle client error."""


class StreamNotFound(TrickleError):
    """The channel does not exist on the server (HTTP 404)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"stream not found: {url}")
        self.url = url


class EndOfStream(TrickleError):
    """The channel was closed (Lp-Trickle-Closed): no more segments will come."""

    def __init__(self, url: str = "") -> None:
        super().__init__("End of stream")
        self.url = url


class SequenceNonexistent(TrickleError):
    """HTTP 470: the channel exists but the segment does not (fell out of the ring or is ahead);
    `latest` is the server's next write index, where a caller usually resumes (set_seq)."""

    def __init__(self, seq: int, latest: int) -> None:
        super().__init__(f"sequence does not exist: seq={seq} latest={latest}")
        self.seq = seq
        self.latest = latest


class TrickleHTTPError(TrickleError):
    """Any other status >= 400, with the server's body."""

    def __init__(self, status: int, body: str, url: str = "") -> None:
        super().__init__(f"HTTP {status} from {url}: {body.strip()}")
        self.status = status
        self.body = body
        self.url = url


class MaxPreconnects(TrickleError):
    """More than MAX_PRECONNECT_ERRORS consecutive failed GETs ("Hit max preconnects")."""
