"""The redeemer's side of net/redeemer.proto (go's server/redeemer.go `Redeemer`): QueueTicket,
MaxFloat and MonitorMaxFloat over the core's redemption queue and sender monitor.

`RedemptionService` holds the state: the core Redeemer (its queue persisted in a TicketStore,
SQLite in the live node) and its SenderMonitor, behind one lock, since the gRPC handlers and the
block duty run on different threads. A ticket is acknowledged once it is on disk, so an
orchestrator that got the acknowledgement may forget it. Max float watchers: go's sender monitor
signals a change on pending-amount changes, ReserveFunded events and active-pool changes; here the
duty recomputes each watched sender's max float after every block it handles (which covers the
same causes, a block later at most) and sends it to the watchers when it changed.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import grpc

from node.core.redemption import Outcome, Redeemer, Redemption, SignedTicket
from node.core.sender_monitor import SenderMonitor
from node.net.proto import redeemer_pb2 as rpb
from node.net.proto import redeemer_pb2_grpc as rpb_grpc
from node.net.wire import address_from_bytes

from .wire import max_float_bytes, ticket_from_proto

log = logging.getLogger("lpnode.redeemer")


class WrongRecipient(PermissionError):
    """A ticket for another orchestrator than the one this redeemer redeems for."""


class RedemptionService:
    """The redeemer's queue and max floats for one recipient (`monitor.claimant`)."""

    def __init__(self, redeemer: Redeemer, monitor: SenderMonitor) -> None:
        self.redeemer = redeemer
        self.monitor = monitor
        self.recipient = monitor.claimant
        self.lock = threading.Lock()
        # sender -> {watcher: (loop, queue)}; the last max float each sender's watchers were sent
        self._watchers: dict[str, dict[object, tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = {}
        self._sent: dict[str, int] = {}

    def queue(self, signed: SignedTicket) -> bool:
        """Store and queue a winning ticket (go's QueueTicket); False when it was queued before."""
        recipient = signed.ticket.recipient
        if recipient.lower() != self.recipient.lower():
            raise WrongRecipient(f"invalid ticket recipient {recipient.lower()}, expected {self.recipient}")
        with self.lock:
            return self.redeemer.queue(signed)

    def max_float(self, sender: str) -> int:
        with self.lock:
            return self.monitor.max_float(sender)

    def on_block(self, block: int, now: float | None = None) -> list[Redemption]:
        """Redeem what is due at `block`, then tell watchers whose sender's max float changed."""
        with self.lock:
            results = self.redeemer.on_block(block)
            if now is not None:
                self.monitor.cleanup(now)
        for r in results:
            t = r.ticket.ticket
            level = logging.INFO if r.outcome in (Outcome.REDEEMED, Outcome.EXPIRED) else logging.WARNING
            log.log(level, "ticket %s sender=%s faceValue=%d hash=0x%s%s", r.outcome.value, t.sender, t.face_value,
                    t.hash().hex(), f" error={r.error!r}" if r.error else "")
        self.notify()
        return results

    # ------------------------------------------------------------------ max float watchers

    def watch(self, sender: str, key: object, loop: asyncio.AbstractEventLoop) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        with self.lock:
            watchers = self._watchers.setdefault(sender, {})
            watchers[key] = (loop, queue)
            self._sent.setdefault(sender, self.monitor.max_float(sender))
        return queue

    def unwatch(self, sender: str, key: object) -> None:
        with self.lock:
            watchers = self._watchers.get(sender, {})
            watchers.pop(key, None)
            if not watchers:
                self._watchers.pop(sender, None)
                self._sent.pop(sender, None)

    def notify(self) -> None:
        """Send each watched sender's max float to its watchers if it changed since last sent."""
        with self.lock:
            changed = []
            for sender, watchers in self._watchers.items():
                value = self.monitor.max_float(sender)
                if value != self._sent.get(sender):
                    self._sent[sender] = value
                    changed.extend((loop, queue, value) for loop, queue in watchers.values())
        for loop, queue, value in changed:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, value)
            except RuntimeError:  # that watcher's loop is closed: it is going away
                pass


class TicketRedeemerService(rpb_grpc.TicketRedeemerServicer):
    """net.TicketRedeemer with go's status codes: PermissionDenied for another recipient's ticket,
    Internal for a queue that cannot take it, InvalidArgument for a malformed one (go's handler
    would crash on a missing sub-message)."""

    def __init__(self, service: RedemptionService, stopping: asyncio.Event | None = None) -> None:
        self.service = service
        self.stopping = stopping or asyncio.Event()

    async def QueueTicket(self, request: rpb.Ticket, context) -> rpb.QueueTicketRes:
        try:
            signed = ticket_from_proto(request)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            fresh = await asyncio.to_thread(self.service.queue, signed)
        except WrongRecipient as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except Exception as exc:  # noqa: BLE001 - the store failed: not acknowledged, the sender keeps it
            log.error("cannot queue ticket sender=%s error=%s", signed.ticket.sender, exc)
            await context.abort(grpc.StatusCode.INTERNAL, str(exc))
        if fresh:
            log.info("Ticket queued sender=%s hash=0x%s", signed.ticket.sender, signed.ticket.hash().hex())
        return rpb.QueueTicketRes()

    async def MaxFloat(self, request: rpb.MaxFloatReq, context) -> rpb.MaxFloatUpdate:
        sender = address_from_bytes(request.sender)
        try:
            value = await asyncio.to_thread(self.service.max_float, sender)
        except Exception as exc:  # noqa: BLE001 - a chain read failed: go answers Internal with its text
            await context.abort(grpc.StatusCode.INTERNAL, str(exc))
        return rpb.MaxFloatUpdate(max_float=max_float_bytes(value))

    async def MonitorMaxFloat(self, request: rpb.MaxFloatReq, context):
        """Updates for one sender as its max float changes, until the client or the server goes."""
        sender = address_from_bytes(request.sender)
        key = object()
        updates = await asyncio.to_thread(self.service.watch, sender, key, asyncio.get_running_loop())
        stop = asyncio.ensure_future(self.stopping.wait())
        get = None
        try:
            while True:
                get = asyncio.ensure_future(updates.get())
                done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    return
                yield rpb.MaxFloatUpdate(max_float=max_float_bytes(get.result()))
        finally:  # the client went, or the server stops
            stop.cancel()
            if get is not None:
                get.cancel()
            self.service.unwatch(sender, key)


async def serve_redeemer(service: RedemptionService, host: str, port: int, ssl_files: tuple | None = None):
    """Serve net.TicketRedeemer on host:port (TLS with `ssl_files` = (cert, key) as go, else h2c);
    returns (server, bound port, stopping event)."""
    server = grpc.aio.server()
    stopping = asyncio.Event()
    rpb_grpc.add_TicketRedeemerServicer_to_server(TicketRedeemerService(service, stopping), server)
    address = f"{host}:{port}"
    if ssl_files is not None:
        cert, key = ssl_files
        creds = grpc.ssl_server_credentials([(Path(key).read_bytes(), Path(cert).read_bytes())])
        bound = server.add_secure_port(address, creds)
    else:
        bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot listen on {address}")
    await server.start()
    return server, bound, stopping
