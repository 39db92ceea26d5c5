"""One port for gRPC and HTTP, as go-livepeer's orchestrator serves them (server/rpc.go
ServeHTTP routes HTTP/2 `application/grpc` requests to gRPC and everything else to the HTTP mux).

Here the split is made per connection: TLS (go's `ListenAndServeTLS`, node.net.tls) is terminated
here when a context is given, and a connection that negotiated ALPN `h2` or that opens with the
HTTP/2 client preface ("PRI * HTTP/2.0") is piped to the gRPC server, any other (HTTP/1.1) to the
HTTP server; both listen on private loopback ports in plaintext. Without a context the port is
plaintext (gRPC over h2c), the documented switch for an `http://` service address.
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl

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


async def serve_demux(host: str, port: int, http_port: int, grpc_port: int,
                      ssl_context: ssl.SSLContext | None = None) -> asyncio.base_events.Server:
    """Listen on host:port (TLS when ssl_context is given) and hand each connection to the HTTP or
    the gRPC backend."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls = writer.get_extra_info("ssl_object")
        alpn = tls.selected_alpn_protocol() if tls is not None else None
        if alpn is not None:  # the handshake already said which protocol follows
            await _forward(reader, writer, grpc_port if alpn == "h2" else http_port, b"")
            return
        try:  # a connection that never says what it is does not hold a socket for ever
            head = await asyncio.wait_for(reader.readexactly(len(H2_PREFACE)), FIRST_BYTES_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        await _forward(reader, writer, grpc_port if head == H2_PREFACE else http_port, head)

    return await asyncio.start_server(handle, host, port, ssl=ssl_context)


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: int, head: bytes) -> None:
    try:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        writer.close()
        return
    if head:
        up_writer.write(head)
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
