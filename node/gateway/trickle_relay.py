"""Relaying a client's input to an orchestrator's trickle channel, shared by the live gateway
(node.gateway.live) and the BYOC stream gateway (node.gateway.byoc_stream): one copy of go's
retry rules for an input segment."""
from __future__ import annotations

import asyncio
import logging

from node.core.live_payment import LIVE_INPUT_RETRY
from node.net.trickle.errors import StreamNotFound, TrickleError

log = logging.getLogger("lpnode.gateway.trickle_relay")


async def copy_segment(seg, writer, superseded) -> None:
    """Copy one input segment to the orchestrator as its bytes arrive. go's rules: a segment
    none of whose bytes got through is sent again every 250 ms until the next one begins
    (`superseded()` is true); a partial one is dropped; 404 (the orchestrator closed the channel)
    is raised: it ends this orchestrator."""
    try:
        while True:
            try:
                pos = 0
                while True:
                    chunks, closed = await seg.read(pos)
                    pos += len(chunks)
                    for chunk in chunks:
                        await writer.write(chunk)
                    if closed:
                        break
                await writer.close()
                return
            except StreamNotFound:
                raise
            except TrickleError as exc:
                if writer.written or superseded():
                    log.info("input segment %d dropped: %s", writer.seq, exc)
                    await writer.abort()
                    return
            await asyncio.sleep(LIVE_INPUT_RETRY)
            await writer.reconnect()
    except BaseException:
        await asyncio.shield(writer.abort())
        raise


async def write_segment(channel, reader) -> None:
    """One segment of an orchestrator's output into the next slot of a local trickle channel (the
    client's {stream}-out), its bytes passed on as they arrive."""
    seq = channel.next_write
    out = channel.for_write(seq)
    channel.next_write, channel.write_time = seq + 1, asyncio.get_running_loop().time()
    try:
        async for chunk in reader:
            out.write(chunk)
    finally:
        out.close()
