"""Trickle: segmented HTTP streaming channels (go-livepeer trickle/), server and client."""
from .client import SegmentReader, SegmentWriter, TricklePublisher, TrickleSubscriber, make_client
from .errors import (EndOfStream, MaxPreconnects, SequenceNonexistent, StreamNotFound, TrickleError,
                     TrickleHTTPError)
from .server import TrickleServer

__all__ = ["TrickleServer", "TricklePublisher", "TrickleSubscriber", "SegmentReader", "SegmentWriter", "make_client",
           "TrickleError", "StreamNotFound", "EndOfStream", "SequenceNonexistent", "TrickleHTTPError",
           "MaxPreconnects"]
