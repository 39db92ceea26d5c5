"""Trickle: segmented HTTP streaming channels (go-livepeer trickle/), server and client."""
from .client import SegmentReader, SegmentWriter, TricklePublisher, TrickleSubscriber, make_client
from .errors import EndOfStream, MaxPreconnects, SequenceNonexistent, StreamNotFound, TrickleError, TrickleHTTPError
from .server import TrickleServer

__all__ = ["EndOfStream", "MaxPreconnects", "SegmentReader", "SegmentWriter", "SequenceNonexistent", "StreamNotFound",
           "TrickleError", "TrickleHTTPError", "TricklePublisher", "TrickleServer", "TrickleSubscriber", "make_client"]
