"""One port for gRPC and HTTP, as go-livepeer's orchestrator serves them (server/rpc.go
ServeHTTP routes HTTP/2 `application/grpc` requests to gRPC and everything else to the HTTP mux).

The split is made per connection: TLS (go's `ListenAndServeTLS`, node.net.tls) is terminated here
when a context is given, and a connection that negotiated ALPN `h2` or that opens with the HTTP/2
client preface ("PRI * HTTP/2.0") is piped to the gRPC server on its private loopback port. Any
other connection (HTTP/1.1: every paid request) is handed, transport and first bytes, to the HTTP
server's own protocol in this process, so it costs no second hop. Without a context the port is
plaintext (gRPC over h2c), the documented switch for an `http://` service address.
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Callable

H2_PREFACE = b"PRI * HTTP/2.0"
FIRST_BYTES_TIMEOUT = 10.0  # seconds for a new connection to say what it is
# seconds a closing TLS connection waits for the peer's close_notify: go's tls.Conn.Close sends
# its own and waits for none; asyncio's default (30 s) would hold a server's shutdown on every
# idle keep-alive client
TLS_SHUTDOWN_TIMEOUT = 1.0


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError, TimeoutError):  # a reset, or a TLS shutdown that timed out
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: int) -> None:
    """Pipe the connection to 127.0.0.1:target and back until either side closes."""
    try:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        writer.close()
        return
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


class _Demux(asyncio.Protocol):
    """A new connection until it says what it is (ALPN, else its first bytes), then HTTP's."""

    def __init__(self, http: Callable[[], asyncio.Protocol], grpc_port: int, tasks: set) -> None:
        self.http, self.grpc_port, self.tasks = http, grpc_port, tasks
        self.head = b""
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        tls = transport.get_extra_info("ssl_object")
        alpn = tls.selected_alpn_protocol() if tls is not None else None
        if alpn is not None:  # the handshake already said which protocol follows
            self._hand_over(alpn == "h2")
        else:  # a connection that never says what it is does not hold a socket for ever
            self.timer = asyncio.get_running_loop().call_later(FIRST_BYTES_TIMEOUT, transport.close)

    def data_received(self, data: bytes) -> None:
        self.head += data
        n = min(len(self.head), len(H2_PREFACE))
        if self.head[:n] != H2_PREFACE[:n]:
            self._hand_over(False)  # most often decided on the first byte: "P" of "POST" is the only doubt
        elif n == len(H2_PREFACE):
            self._hand_over(True)

    def connection_lost(self, exc) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _hand_over(self, grpc: bool) -> None:
        if self.timer is not None:
            self.timer.cancel()
        transport, head = self.transport, self.head
        loop = asyncio.get_running_loop()
        if grpc:
            reader = asyncio.StreamReader(limit=2**16)
            protocol = asyncio.StreamReaderProtocol(reader)
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        else:
            protocol = self.http()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if head:
            protocol.data_received(head)
        if grpc:
            task = loop.create_task(_forward(reader, writer, self.grpc_port))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


async def serve_demux(host: str, port: int, http: Callable[[], asyncio.Protocol], grpc_port: int,
                      ssl_context: ssl.SSLContext | None = None, sock=None) -> asyncio.base_events.Server:
    """Listen on host:port, or on the bound socket `sock` (node.net.serving.reserve_port), TLS when
    ssl_context is given; each HTTP/1.1 connection is served by a protocol from `http()`
    (node.net.serving.http_protocol: uvicorn's, in this process), each gRPC one piped to the gRPC
    server on 127.0.0.1:grpc_port."""
    tasks: set[asyncio.Task] = set()  # the gRPC pipes, referenced while they run
    tls = {} if ssl_context is None else {"ssl": ssl_context, "ssl_shutdown_timeout": TLS_SHUTDOWN_TIMEOUT}
    where = {"sock": sock} if sock is not None else {"host": host, "port": port}
    return await asyncio.get_running_loop().create_server(lambda: _Demux(http, grpc_port, tasks), **where, **tls)
