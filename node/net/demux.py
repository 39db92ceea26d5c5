"""One port for gRPC and HTTP, as go-livepeer's orchestrator serves them (server/rpc.go
ServeHTTP routes HTTP/2 `application/grpc` requests to gRPC and everything else to the HTTP mux).

Here the split is made per connection on plaintext: a connection that opens with the HTTP/2
client preface ("PRI * HTTP/2.0", gRPC over h2c) is piped to the gRPC server, any other (HTTP/1.1)
to the HTTP server; both listen on private loopback ports. TLS is not terminated here (go's
default); run the node with an `http://` service address, as go-livepeer's `-httpAddr http://`.
"""
from __future__ import annotations

import asyncio
import contextlib

H2_PREFACE = b"PRI * HTTP/2.0"
FIRST_BYTES_TIMEOUT = 10.0  # seconds for a new connection to send its first 14 bytes


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve_demux(host: str, port: int, http_port: int, grpc_port: int) -> asyncio.base_events.Server:
    """Listen on host:port and hand each connection to the HTTP or the gRPC backend."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:  # a connection that never says what it is does not hold a socket for ever
            head = await asyncio.wait_for(reader.readexactly(len(H2_PREFACE)), FIRST_BYTES_TIMEOUT)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError):
            writer.close()
            return
        target = grpc_port if head == H2_PREFACE else http_port
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        up_writer.write(head)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return await asyncio.start_server(handle, host, port)
