"""Trickle header names and limits shared by the server and the client (trickle/README.md)."""
LATEST = "Lp-Trickle-Latest"  # the channel's next write index
SEQ = "Lp-Trickle-Seq"  # the sequence number a response is about
CLOSED = "Lp-Trickle-Closed"  # present (value "terminated") once the channel is closed
RESET = "Lp-Trickle-Reset"  # on a POST: close every segment older than the one posted
EXPECT_CONTENT = "Expect-Content"  # mime type given when a channel is created by POST /{ch}

SEQ_NEXT = -1  # the next segment to be written (the live edge)
SEQ_CURRENT = -2  # the segment being (or last) written
STATUS_SEQ_NONEXISTENT = 470  # "channel exists, segment does not"
