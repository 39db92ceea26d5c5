"""node.redeemer over real gRPC on loopback, with the core's stub chain and broker: the redeemer's
TicketRedeemer service (QueueTicket, MaxFloat, MonitorMaxFloat with go's status codes), and the
orchestrator's side (the remote sender monitor and the ticket forwarder) against it, up and down."""
from __future__ import annotations

import asyncio
import threading
import time
from contextlib import contextmanager

import grpc
import pytest

from node.core.errors import InsufficientSenderReserve, PaymentError
from node.core.recipient import Recipient
from node.core.redemption import MemoryTicketStore, Outcome, Redeemer, SignedTicket
from node.core.sender_monitor import SenderMonitor
from node.core.ticket import MAX_WIN_PROB, Ticket, recipient_rand_hash
from node.net.proto import redeemer_pb2 as rpb
from node.redeemer.client import (
    RedeemerClient,
    RemoteSenderMonitor,
    TicketForwarder,
    redeemer_target,
)
from node.redeemer.service import RedemptionService, serve_redeemer
from node.redeemer.wire import max_float_bytes, ticket_from_proto, ticket_to_proto

from ..core.stubs import StubBroker, StubChain
from tests.ports import free_port

O = "0x" + "11" * 20
G = "0x" + "22" * 20
OTHER = "0x" + "44" * 20
GAS = 100_000


def winner(nonce=1, recipient=O, face_value=10**15, expiration_block=1040) -> SignedTicket:
    ticket = Ticket(recipient, G, face_value, MAX_WIN_PROB, nonce, recipient_rand_hash(5), 10, b"\x0a" * 32)
    return SignedTicket(ticket, b"\x01" * 65, 5, expiration_block)


@pytest.fixture
def chain():
    chain = StubChain(block=1000, round=10, pool_size=1, price=10**9)
    chain.active.add(O)
    chain.fund(G, deposit=10**17, reserve=10**17)
    return chain


@pytest.fixture(scope="module")
def loop():
    """One event loop thread for every redeemer served here (grpc.aio binds to the first loop it
    runs on)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def served(loop):
    """served(chain, port, store=None): a redeemer (RedemptionService over the core Redeemer)
    serving on 127.0.0.1:port; yields (service, broker)."""
    @contextmanager
    def serve(chain, port: int, store=None, ssl_files=None):
        broker = StubBroker()
        monitor = SenderMonitor(O, chain)
        service = RedemptionService(Redeemer(chain, monitor, broker, GAS, store=store), monitor)
        server, _, stopping = asyncio.run_coroutine_threadsafe(
            serve_redeemer(service, "127.0.0.1", port, ssl_files), loop).result(10)
        try:
            yield service, broker
        finally:
            async def stop():
                stopping.set()
                await server.stop(0)

            asyncio.run_coroutine_threadsafe(stop(), loop).result(10)

    return serve


def wait_until(condition, seconds=5.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


# ------------------------------------------------------------------ the wire


def test_ticket_round_trips_through_the_wire_with_its_hash():
    signed = winner(nonce=7, face_value=3 * 10**16)
    back = ticket_from_proto(rpb.Ticket.FromString(ticket_to_proto(signed).SerializeToString()))
    assert back == signed and back.ticket.hash() == signed.ticket.hash()


@pytest.mark.parametrize("damage,message", [
    (lambda m: m.ClearField("ticket_params"), "ticket has no ticket_params"),
    (lambda m: m.ClearField("sender_params"), "ticket has no sender_params"),
    (lambda m: m.ClearField("sender"), "ticket has no sender"),
    (lambda m: setattr(m.sender_params, "sig", b"\x01" * 10), "invalid ticket signature length 10, expected 65"),
])
def test_a_malformed_ticket_is_refused_naming_the_field(damage, message):
    msg = ticket_to_proto(winner())
    damage(msg)
    with pytest.raises(ValueError, match=message):
        ticket_from_proto(msg)


def test_max_float_goes_out_as_go_bytes_and_never_negative():
    assert max_float_bytes(0) == b"" and max_float_bytes(256) == b"\x01\x00"
    assert max_float_bytes(-5) == b""  # go's Bytes() would send 5


def test_redeemer_addresses_take_go_defaults():
    assert redeemer_target("") == ("127.0.0.1:8935", False)
    assert redeemer_target("10.0.0.2") == ("10.0.0.2:8935", False)
    assert redeemer_target(":9000") == ("127.0.0.1:9000", False)
    assert redeemer_target("https://r:9000/") == ("r:9000", True)
    with pytest.raises(ValueError, match="want host:port"):
        redeemer_target("r:port")


# ------------------------------------------------------------------ the redeemer's service


def test_queued_ticket_is_stored_then_redeemed_once_after_its_params_expire(chain, served):
    store, port = MemoryTicketStore(), free_port()
    with served(chain, port, store) as (service, broker):
        client = RedeemerClient(f"127.0.0.1:{port}")
        client.connect()
        signed = winner()
        client.queue_ticket(signed)
        client.queue_ticket(signed)  # sent again (an orchestrator crashed before forgetting it): queued once
        assert store.load() == [signed] and service.redeemer.counts["queued"] == 1
        assert service.on_block(1039) == []
        [result] = service.on_block(1040)
        assert result.outcome is Outcome.REDEEMED and broker.redeemed == [signed.ticket]
        assert store.load() == [] and service.on_block(1041) == []
        client.close()


def test_go_status_codes_for_bad_tickets(chain, served):
    port = free_port()
    with served(chain, port) as (service, _):
        client = RedeemerClient(f"127.0.0.1:{port}")
        with pytest.raises(grpc.RpcError) as exc:
            client.queue_ticket(winner(recipient=OTHER))
        assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert exc.value.details() == f"invalid ticket recipient {OTHER}, expected {O}"
        bad = ticket_to_proto(winner())
        bad.ClearField("expiration_params")
        with pytest.raises(grpc.RpcError) as exc:
            client.stub.QueueTicket(bad, timeout=5)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert exc.value.details() == "ticket has no expiration_params"
        assert service.redeemer.queued() == []
        client.close()


def test_max_float_and_its_updates_come_from_the_redeemer(chain, served):
    port = free_port()
    with served(chain, port) as (service, _):
        client = RedeemerClient(f"127.0.0.1:{port}")
        assert client.max_float(G) == 10**17  # reserve 1e17 over a pool of 1, nothing pending
        remote = RemoteSenderMonitor(client, SenderMonitor(O, chain))
        assert remote.max_float(G) == 10**17
        assert wait_until(lambda: G in service._watchers)
        chain.fund(G, deposit=10**17, reserve=2 * 10**16)  # the gateway's reserve shrinks on chain
        service.on_block(1001)
        assert wait_until(lambda: remote.max_float(G) == 2 * 10**16)
        # the recipient's offers are capped by it (100 × tx cost would be 3.5e16), and refused
        # below one ticket's EV, as go's
        recipient = Recipient(O, b"\x07" * 32, chain, remote, lambda n: b"\x01" * n, ev=10**15)
        assert recipient.face_value(G) == 2 * 10**16
        chain.fund(G, deposit=10**17, reserve=10**14)
        service.on_block(1002)
        assert wait_until(lambda: remote.max_float(G) == 10**14)
        with pytest.raises(InsufficientSenderReserve):
            recipient.face_value(G)
        remote.close()
        client.close()


def test_the_monitor_forgets_a_sender_when_the_redeemer_goes_and_then_answers_the_rpc_error(chain, served):
    port = free_port()
    client = RedeemerClient(f"127.0.0.1:{port}")
    remote = RemoteSenderMonitor(client, SenderMonitor(O, chain))
    with served(chain, port):
        assert remote.max_float(G) == 10**17
    assert wait_until(lambda: not remote._senders)  # the stream broke: go drops the cached value
    with pytest.raises(PaymentError, match=r"^rpc error: code = Unavailable desc = "):
        remote.max_float(G)
    client.close()


def test_the_orchestrator_does_not_start_without_its_redeemer():
    client = RedeemerClient(f"127.0.0.1:{free_port()}")
    with pytest.raises(ConnectionError, match=r'^Did not connect to redeemer=127\.0\.0\.1:\d+ err="context deadline '
                                              r'exceeded"'):
        client.connect(timeout=0.3)
    client.close()


# ------------------------------------------------------------------ the orchestrator's forwarder


def test_winners_are_kept_while_the_redeemer_is_down_and_forwarded_when_it_returns(chain, served):
    port = free_port()
    orch_store, redeemer_store = MemoryTicketStore(), MemoryTicketStore()
    client = RedeemerClient(f"127.0.0.1:{port}")
    forwarder = TicketForwarder(client, orch_store, claimant=O)
    tickets = [winner(nonce=n) for n in range(3)]
    for t in tickets:
        assert forwarder.queue(t)
    assert not forwarder.queue(tickets[0])
    assert forwarder.forward() == 0 and forwarder.counts["failed"] == 1  # nobody there: all kept
    assert orch_store.load() == tickets
    # an orchestrator restarted here finds them in its store
    forwarder = TicketForwarder(client, orch_store, claimant=O)
    assert forwarder.counts["restored"] == 3 and forwarder.wake.is_set()
    with served(chain, port, redeemer_store) as (service, broker):
        stop = threading.Event()
        thread = threading.Thread(target=forwarder.run, args=(stop, 0.05), daemon=True)
        thread.start()
        assert wait_until(lambda: not orch_store.load())
        stop.set()
        thread.join(5)
        assert redeemer_store.load() == tickets and forwarder.counts["forwarded"] == 3
        assert [r.outcome for r in service.on_block(1040)] == [Outcome.REDEEMED] * 3
        assert broker.redeemed == [t.ticket for t in tickets]
    client.close()


def test_a_forwarder_restores_only_its_own_recipients_tickets():
    store = MemoryTicketStore()
    store.add(winner(nonce=1))
    store.add(winner(nonce=2, recipient=OTHER))
    forwarder = TicketForwarder(RedeemerClient("127.0.0.1:1"), store, claimant=O)
    assert [s.ticket.sender_nonce for s in forwarder.queued()] == [1]


def test_over_tls_a_restarted_redeemers_new_certificate_is_pinned_again(chain, served, tmp_path):
    """go's redeemer serves TLS with a self-signed certificate made afresh at every start: the
    orchestrator pins the first one it sees and pins again after a failure."""
    from node.net.tls import new_cert

    port, redeemer_store = free_port(), MemoryTicketStore()
    with served(chain, port, redeemer_store, new_cert(tmp_path / "first", "127.0.0.1")):
        client = RedeemerClient(f"https://127.0.0.1:{port}")
        client.connect()
        assert client.max_float(G) == 10**17
    forwarder = TicketForwarder(client, MemoryTicketStore(), claimant=O)
    forwarder.queue(winner(nonce=1))
    with served(chain, port, redeemer_store, new_cert(tmp_path / "second", "127.0.0.1")):
        assert forwarder.forward() == 0  # the old pin fails the handshake: kept, and pinned again
        assert forwarder.forward() == 1
    assert redeemer_store.load() == [winner(nonce=1)]
    client.close()


def test_go_mode_flag_and_flags():
    from node.cli import build_parser
    from node.launch import COMMANDS

    args = build_parser().parse_args(["-redeemer", "-httpAddr", "127.0.0.1:0", "-ethOrchAddr", O])
    assert (args.command, args.httpAddr, args.ethOrchAddr, args.func) == ("redeemer", "127.0.0.1:0", O,
                                                                          COMMANDS["redeemer"][1])
    assert build_parser().parse_args(["-orchestrator", "-redeemer"]).command == "redeemer"  # go: redeemer first
    args = build_parser().parse_args(["orchestrator", "-redeemerAddr", "127.0.0.1:9000"])
    assert (args.command, args.redeemerAddr) == ("orchestrator", "127.0.0.1:9000")
    assert build_parser().parse_args(["redeemer"]).httpAddr == "127.0.0.1:8935"  # go's default
