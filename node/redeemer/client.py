"""The orchestrator's side of net/redeemer.proto (go's server/redeemer.go `RedeemerClient`), for an
orchestrator started with -redeemerAddr.

- `RedeemerClient`: the gRPC calls, with go's timeouts (connect 3 s at start-up, 8 s a call);
- `RemoteSenderMonitor`: stands in for the core's SenderMonitor in the orchestrator's Recipient:
  max float comes from the redeemer (one MaxFloat call per sender, then the MonitorMaxFloat
  stream keeps a local copy; a broken stream drops the copy, so the next offer asks again, as
  go), while validating a sender stays a local chain read (go's ValidateSender);
- `TicketForwarder`: stands in for the core's Redeemer in the PaymentReceiver. Where go's
  orchestrator sends QueueTicket once and only logs a failure (the ticket is lost if the redeemer
  is down), a winner here is written to the orchestrator's own ticket store first, inside the
  payment's processing, and removed only once the redeemer has acknowledged it (after storing it
  on its side): a redeemer or an orchestrator that is down or restarts loses no winning ticket.
  A ticket re-sent after a crash between the acknowledgement and the removal is queued once by the
  redeemer (keyed by ticket hash) or found used on chain.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

import grpc

from node.core.errors import PaymentError
from node.core.redemption import (
    MemoryTicketStore,
    Redemption,
    SignedTicket,
    TicketStore,
)
from node.core.sender_monitor import SenderMonitor
from node.net.proto import redeemer_pb2 as rpb
from node.net.proto import redeemer_pb2_grpc as rpb_grpc
from node.net.wire import address_bytes

from .wire import max_float_from_bytes, ticket_to_proto

log = logging.getLogger("lpnode.redeemer")

GRPC_CONNECT_TIMEOUT = 3.0  # seconds (server/rpc.go GRPCConnectTimeout)
GRPC_TIMEOUT = 8.0  # seconds (server/rpc.go GRPCTimeout)
CLEANUP_TIME = 5 * 60.0  # seconds a sender's max float is kept without use (go's cleanupLoopTime)
DEFAULT_PORT = 8935  # go's defaultAddr(-redeemerAddr, "127.0.0.1", OrchestratorRpcPort)


def redeemer_target(addr: str) -> tuple[str, bool]:
    """(host:port, tls) of a -redeemerAddr: go's defaults fill a missing host or port; https://
    is TLS as go's redeemer serves it, a bare or http:// address h2c (lpnode's plaintext switch,
    as for -serviceAddr)."""
    tls = addr.startswith("https://")
    hostport = addr.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep:
        host, port = hostport, ""
    if port and not port.isdigit():
        raise ValueError(f"invalid redeemer address {addr!r}: want host:port")
    return f"{host or '127.0.0.1'}:{port or DEFAULT_PORT}", tls


class RedeemerClient:
    """gRPC calls to a redeemer at `addr` (see `redeemer_target`)."""

    def __init__(self, addr: str, *, timeout: float = GRPC_TIMEOUT) -> None:
        self.target, self.tls = redeemer_target(addr)
        self.timeout = timeout
        self._pins = None
        self._lock = threading.Lock()
        self._channel = self._open()

    def _open(self):
        if not self.tls:
            return grpc.insecure_channel(self.target)
        from node.net.tls import PinnedChannels

        host, _, port = self.target.rpartition(":")
        self._pins = PinnedChannels()  # go skips verification; gRPC here pins the certificate seen first
        try:
            return self._pins.channel(host, int(port), aio=False)
        except OSError:  # not there yet: a channel whose calls fail UNAVAILABLE until `reconnect`
            return grpc.secure_channel(self.target, grpc.ssl_channel_credentials())

    @property
    def stub(self) -> rpb_grpc.TicketRedeemerStub:
        return rpb_grpc.TicketRedeemerStub(self._channel)

    def connect(self, timeout: float = GRPC_CONNECT_TIMEOUT) -> None:
        """go's blocking dial at start-up; ConnectionError with go's words if nobody answers."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise ConnectionError(f'Did not connect to redeemer={self.target} err="context deadline exceeded"') from None

    def reconnect(self) -> None:
        """After a failure over TLS: the redeemer makes a new self-signed certificate at every start
        (go's getCert), so pin again. Over h2c the channel reconnects by itself."""
        if not self.tls:
            return
        with self._lock:
            old, self._channel = self._channel, self._open()
        old.close()

    def queue_ticket(self, signed: SignedTicket) -> None:
        self.stub.QueueTicket(ticket_to_proto(signed), timeout=self.timeout)

    def max_float(self, sender: str) -> int:
        reply = self.stub.MaxFloat(rpb.MaxFloatReq(sender=address_bytes(sender)), timeout=self.timeout)
        return max_float_from_bytes(reply.max_float)

    def monitor_max_float(self, sender: str):
        """The MonitorMaxFloat stream: an iterator of max floats, cancelled with `.cancel()`."""
        return self.stub.MonitorMaxFloat(rpb.MaxFloatReq(sender=address_bytes(sender)))

    def close(self) -> None:
        self._channel.close()


def rpc_error_text(exc: grpc.RpcError) -> str:
    """go's rendering of a gRPC error: `rpc error: code = Unavailable desc = ...`."""
    code = exc.code() if hasattr(exc, "code") else None
    name = "".join(w.capitalize() for w in code.name.split("_")) if code is not None else "Unknown"
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return f"rpc error: code = {name} desc = {details}"


class _Watched:
    __slots__ = ("last_access", "max_float", "stream")

    def __init__(self, max_float: int, stream, last_access: float) -> None:
        self.max_float, self.stream, self.last_access = max_float, stream, last_access


class RemoteSenderMonitor:
    """The orchestrator's sender monitor when a redeemer holds the funds view: max float from the
    redeemer, sender validation from the local chain view (`local`, the core's SenderMonitor)."""

    def __init__(self, client: RedeemerClient, local: SenderMonitor,
                 clock: Callable[[], float] = time.monotonic, ttl: float = CLEANUP_TIME) -> None:
        self.client = client
        self.local = local
        self.claimant = local.claimant
        self.clock = clock
        self.ttl = ttl
        self._lock = threading.Lock()
        self._senders: dict[str, _Watched] = {}

    def max_float(self, sender: str, now: float | None = None) -> int:
        with self._lock:
            watched = self._senders.get(sender)
            if watched is not None:
                watched.last_access = self.clock()
                return watched.max_float
        try:
            value = self.client.max_float(sender)
        except grpc.RpcError as exc:
            self.client.reconnect()
            raise PaymentError(rpc_error_text(exc)) from None
        try:
            stream = self.client.monitor_max_float(sender)
        except grpc.RpcError as exc:  # no updates: answer this once, subscribe again next time
            log.error("cannot monitor max float sender=%s error=%s", sender, rpc_error_text(exc))
            return value
        with self._lock:
            previous = self._senders.get(sender)
            self._senders[sender] = _Watched(value, stream, self.clock())
        if previous is not None:  # two first calls raced: keep one stream
            previous.stream.cancel()
        threading.Thread(target=self._follow, args=(sender, stream), daemon=True,
                         name=f"max-float-{sender[:10]}").start()
        return value

    def _follow(self, sender: str, stream) -> None:
        try:
            for update in stream:
                with self._lock:
                    watched = self._senders.get(sender)
                    if watched is None or watched.stream is not stream:
                        return
                    watched.max_float = max_float_from_bytes(update.max_float)
            error = "stream ended"
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return  # we cancelled it
            error = rpc_error_text(exc)
        log.warning("max float updates stopped sender=%s error=%s", sender, error)
        with self._lock:  # go: forget the sender; the next offer asks the redeemer again
            if (w := self._senders.get(sender)) is not None and w.stream is stream:
                del self._senders[sender]

    def validate_sender(self, sender: str) -> None:
        self.local.validate_sender(sender)

    def cleanup(self, now: float | None = None) -> list[str]:
        """go's cleanup loop: senders unused for `ttl` are dropped and their streams closed."""
        at = self.clock()
        with self._lock:
            stale = [s for s, w in self._senders.items() if at - w.last_access > self.ttl]
            gone = [self._senders.pop(s) for s in stale]
        for w in gone:
            w.stream.cancel()
        if now is not None:
            self.local.cleanup(now)
        return stale

    def close(self) -> None:
        with self._lock:
            gone, self._senders = list(self._senders.values()), {}
        for w in gone:
            w.stream.cancel()


class TicketForwarder:
    """Where an orchestrator with a remote redeemer puts its winning tickets (in place of the core's
    Redeemer): stored durably by `queue`, sent by `forward`, forgotten once acknowledged.

    `counts`: queued, restored (from the store at start), forwarded, and failed attempts."""

    def __init__(self, client: RedeemerClient, store: TicketStore | None = None, claimant: str = "") -> None:
        self.client = client
        self.store: TicketStore = store if store is not None else MemoryTicketStore()
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._pending: dict[bytes, SignedTicket] = {}
        self.wake = threading.Event()
        for signed in self.store.load():
            if claimant and signed.ticket.recipient.lower() != claimant.lower():
                continue
            self._pending.setdefault(signed.ticket.hash(), signed)
            self.counts["restored"] += 1
        if self._pending:
            self.wake.set()

    def queue(self, signed: SignedTicket) -> bool:
        """Store a winner (durable when this returns, as the core Redeemer's queue) for forwarding."""
        key = signed.ticket.hash()
        with self._lock:
            if key in self._pending:
                return False
            self.store.add(signed)
            self._pending[key] = signed
        self.counts["queued"] += 1
        self.wake.set()
        return True

    def queued(self, sender: str | None = None) -> list[SignedTicket]:
        with self._lock:
            return [s for s in self._pending.values() if sender is None or s.ticket.sender == sender]

    def on_block(self, block: int) -> list[Redemption]:
        """The orchestrator's block duty: nothing is redeemed here; try the forwarding again."""
        if self._pending:
            self.wake.set()
        return []

    def forward(self) -> int:
        """Send every stored winner, oldest first, until one fails; returns how many went."""
        sent = 0
        for signed in self.queued():
            try:
                self.client.queue_ticket(signed)
            except grpc.RpcError as exc:
                self.counts["failed"] += 1
                log.warning("cannot forward winning ticket to the redeemer, kept for later sender=%s hash=0x%s "
                            "error=%s", signed.ticket.sender, signed.ticket.hash().hex(), rpc_error_text(exc))
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    self.client.reconnect()
                break
            with self._lock:
                self.store.remove(signed)
                self._pending.pop(signed.ticket.hash(), None)
            self.counts["forwarded"] += 1
            sent += 1
            log.info("forwarded winning ticket to the redeemer sender=%s hash=0x%s", signed.ticket.sender,
                     signed.ticket.hash().hex())
        return sent

    def run(self, stop: threading.Event, retry: float = 1.0) -> None:
        """Forward whenever woken (a new winner, a block), and retry every `retry` seconds while any
        is left; until `stop` is set."""
        while not stop.is_set():
            self.wake.wait(retry)
            self.wake.clear()
            if self._pending:
                self.forward()
