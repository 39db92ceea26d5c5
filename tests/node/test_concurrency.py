"""64 paid AI requests at once through a real gateway and orchestrator (their HTTP servers, the
demultiplexed port, the runner hop; the chain a node.core stub): every request is answered, every
ticket the gateway signs is credited exactly once, every request is debited exactly once, and
both sides end with the same exact balance: credited EV − debited fees."""
import asyncio
import random
from fractions import Fraction

import httpx
import pytest

from node.core.ai_sessions import selector_key
from node.core.capabilities import pipeline_capability
from node.core.params import TicketSenderParams
from node.core.payment import Payment
from node.core.pricing import orchestrator_ai_units
from tests.node.hostile import MODEL, G, O, paid_network, t2i

CONCURRENCY = 64


@pytest.mark.parametrize("on_loop", [False, True], ids=["payments-on-threads", "payments-on-the-loop"])
def test_64_concurrent_paid_requests_lose_no_debit_and_credit_no_ticket_twice(on_loop):
    async def scenario():
        async with paid_network() as net, httpx.AsyncClient(timeout=60,
                                                            limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
            node = net.orchestrator
            if on_loop:  # the stub chain holds every answer: the loop may take payments itself
                net.chain.answered = lambda *questions: True
                taken = []
                is_local = node.payment_is_local
                node.payment_is_local = lambda p, s: taken.append(is_local(p, s)) or taken[-1]
            payments, debits = [], []
            process_payment, debit = node.process_payment, node.debit

            def recording_payment(payment, session):  # the real one, its outcome kept
                got = process_payment(payment, session)
                payments.append((payment, got))
                return got

            def recording_debit(sender, session, units, job_caps=None):
                fee = debit(sender, session, units, job_caps)
                debits.append((sender, session, units, fee))
                return fee

            node.process_payment, node.debit = recording_payment, recording_debit
            bodies = [t2i(f"cat {i}", seed=i) for i in range(CONCURRENCY)]
            replies = await asyncio.gather(*(client.post(f"{net.gateway_uri}/text-to-image", json=b) for b in bodies))
            if on_loop:  # most payments were taken on the loop (a winning draw goes to a thread)
                assert sum(taken) > CONCURRENCY // 2, taken
            return net, node, payments, debits, replies

    net, node, payments, debits, replies = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert [r.status_code for r in replies] == [200] * CONCURRENCY, {r.text for r in replies if r.status_code != 200}
    assert net.runner_calls.count("/text-to-image") == CONCURRENCY
    session = selector_key(int(pipeline_capability("text-to-image")), MODEL)

    # every payment was good, and no ticket (sender, offer, nonce) was credited twice
    assert payments and all(got.error is None for _, got in payments)
    nonces = [(p.ticket_params.recipient_rand_hash, sp.sender_nonce) for p, _ in payments
              for sp in p.ticket_sender_params]
    tickets = sum(got.tickets for _, got in payments)
    # the burst shared the selector's first discovery (as go's session manager): one offer, so
    # every ticket is on it with its own nonce
    assert len({p.ticket_params.recipient_rand_hash for p, _ in payments if p.ticket_params}) == 1
    assert tickets == len(nonces) == len(set(nonces)) >= 1
    assert node.metrics.tickets_recv.labels(G)._value.get() == tickets
    assert net.gateway.metrics.tickets_sent.labels(O)._value.get() == tickets  # none signed and not delivered

    # every request debited once, at the session's pinned price, for its own units
    price = node.receiver.balances.fixed_price(G, session)
    assert price is not None and price > 0
    units = orchestrator_ai_units("text-to-image", t2i())  # the same size for every request
    assert len(debits) == CONCURRENCY and all(d == (G, session, units, price * units) for d in debits)

    credited = sum((got.ev for _, got in payments), Fraction(0))
    debited = sum((fee for *_, fee in debits), Fraction(0))
    assert credited == tickets * payments[0][0].ticket_params.ev
    assert node.receiver.balances.balance(G, session) == credited - debited
    # the gateway's mirror of that balance agrees to the wei
    assert net.gateway.balances.balance(O, session) == credited - debited



def test_a_debit_is_taken_on_the_loop_once_the_session_has_its_price():
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from tests.core.stubs import StubBroker, StubChain

    assert OrchestratorNode(OrchestratorConfig("http://o")).debit_is_local(G, "s")  # offchain: nothing to price
    node = OrchestratorNode(OrchestratorConfig("http://o", price_per_unit=Fraction(3)), address=O, chain=StubChain(),
                            broker=StubBroker())
    assert not node.debit_is_local(G, "s")  # no pinned price: pricing the session may read the chain
    node.receiver.balances.pin_price(G, "s", Fraction(3))
    assert node.debit_is_local(G, "s")


def test_a_payment_is_taken_on_the_loop_only_when_nothing_in_it_can_wait():
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from tests.core.stubs import StubBroker, StubChain

    offchain = OrchestratorNode(OrchestratorConfig("http://o"))
    assert offchain.payment_is_local(Payment(None), "s")
    chain = StubChain()
    chain.fund(G, deposit=10**18, reserve=10**18)
    node = OrchestratorNode(OrchestratorConfig("http://o", price_per_unit=Fraction(3)), address=O, chain=chain,
                            broker=StubBroker(), randbytes=random.Random(7).randbytes)
    params = node.recipient.ticket_params(G, Fraction(3))  # a rare draw (seeded): this ticket does not win
    paying = Payment(G, params, ticket_sender_params=(TicketSenderParams(1, b"\x01" * 65),))
    assert not node.payment_is_local(paying, "s")  # a chain view that cannot say what it holds
    chain.answered = lambda *questions: False
    assert not node.payment_is_local(paying, "s")  # one that lacks an answer
    chain.answered = lambda *questions: True
    assert node.payment_is_local(paying, "s")
    assert not node.payment_is_local(Payment(G), "s")  # no tickets, no pinned price: pricing reads the chain
    node.receiver.balances.pin_price(G, "s", Fraction(3))
    assert node.payment_is_local(Payment(G), "s")
