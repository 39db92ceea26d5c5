"""The payment core against the deployed protocol: a gateway-side Sender and an orchestrator-side
Recipient exchange a few thousand tickets at a high win probability; every winning ticket is
redeemed on TicketBroker and the orchestrator's fees equal the face values redeemed; replayed and
tampered tickets are refused by the core and by the contract. Runs on every backend."""
import random
from dataclasses import dataclass
from fractions import Fraction

import pytest

from node.core.balances import Balances, UpdateStatus, complete_update
from node.core.params import TicketParams
from node.core.payment import Payment, PaymentReceiver, new_payment
from node.core.recipient import Recipient
from node.core.redemption import Redeemer
from node.core.sender import Sender
from node.core.sender_monitor import SenderMonitor
from node.eth import LPT, TransactionFailed
from node.eth.payments import ProtocolBroker, ProtocolChainView

ETH = 10**18
PRICE = Fraction(1)
TICKETS_PER_PAYMENT = 50
PAYMENTS_PER_OFFER = 10  # 500 tickets per offer, under the 600-nonce cap
WIN_ONE_IN = 20


@dataclass
class Price:
    price_per_unit: int
    pixels_per_unit: int


@dataclass
class Net:
    protocol: object
    o: object
    g: object
    receiver: PaymentReceiver
    sender: Sender
    gw_balances: Balances
    broker: ProtocolBroker

    def initialize_round(self):
        """The orchestrator's round duty: TicketBroker pays nothing in an uninitialised round."""
        if not self.protocol.RoundsManager.currentRoundInitialized():
            self.protocol.RoundsManager.initializeRound(sender=self.o)

    def offer(self) -> tuple[TicketParams, str]:
        self.initialize_round()
        params = self.receiver.recipient.ticket_params(self.g.address, PRICE)
        return params, self.sender.start_session(params)

    def pay(self, pm: str, fee: int):
        payment, update = new_payment(self.sender, self.gw_balances, self.o.address, "s", pm, Fraction(fee),
                                      Price(1, 1))
        got = self.receiver.process_payment(payment, "s")
        update.status, update.debit = UpdateStatus.RECEIVED_CHANGE, Fraction(fee)
        complete_update(self.gw_balances, update)
        return payment, got

    def expire_and_redeem(self, params: TicketParams):
        chain = self.protocol.chain
        chain.mine(max(0, params.expiration_block - chain.block_number))
        results = []
        for _ in range(3):  # as a node does on each new block: a redemption that lands in a
            self.initialize_round()  # round nobody initialised yet is retried on the next one
            results += self.receiver.redeemer.on_block(chain.block_number)
            if not self.receiver.redeemer.queued():
                break
            chain.mine(1)
        return results


@pytest.fixture
def net(protocol, accounts):
    o, g = accounts[1], accounts[2]
    protocol.approve_and_bond(o, 1000 * LPT, o.address)
    protocol.BondingManager.transcoder(0, 1_000_000, sender=o)  # all fees to the orchestrator
    protocol.next_round()
    view = ProtocolChainView(protocol)
    ProtocolBroker(protocol, g).fund_deposit_and_reserve(10 * ETH, 10 * ETH)
    monitor = SenderMonitor(o.address, view)
    recipient = Recipient(o.address, bytes(range(32)), view, monitor, random.Random(4).randbytes)
    recipient.ev = recipient.face_value(g.address) // WIN_ONE_IN
    broker = ProtocolBroker(protocol, o)
    receiver = PaymentReceiver(recipient, Balances(lambda: 0.0), Redeemer(view, monitor, broker, recipient.redeem_gas))
    sender = Sender(g.address, g.key, view, max_ev=recipient.ev + 1, max_total_ev=TICKETS_PER_PAYMENT * (recipient.ev + 1))
    return Net(protocol, o, g, receiver, sender, Balances(lambda: 0.0), broker)


def test_thousands_of_tickets_every_winner_redeemed_and_fees_match(net, chain):
    offers = 4 if type(chain).__name__ != "EmbeddedChain" else 2  # web3 + eth-tester is ~50× slower
    fee_per_payment = TICKETS_PER_PAYMENT * net.receiver.recipient.ev
    tickets, winners, outcomes = 0, 0, []
    for _ in range(offers):
        params, pm = net.offer()
        for _ in range(PAYMENTS_PER_OFFER):
            _, got = net.pay(pm, fee_per_payment)
            assert got.error is None
            tickets += got.tickets
            winners += got.winning
        outcomes += net.expire_and_redeem(params)
    assert tickets == offers * PAYMENTS_PER_OFFER * TICKETS_PER_PAYMENT
    redeemer = net.receiver.redeemer
    assert 0 < winners and abs(winners - tickets / WIN_ONE_IN) < 5 * (tickets / WIN_ONE_IN) ** 0.5
    assert (redeemer.counts["queued"], redeemer.counts["redeemed"]) == (winners, winners)
    assert redeemer.counts["dropped"] == redeemer.counts["expired"] == 0
    assert {r.error for r in outcomes if r.outcome.value == "retry"} <= {"execution reverted: current round is not initialized"}
    assert redeemer.queued() == []
    # On chain: one WinningTicketTransfer per winner, summing to the fees the orchestrator holds.
    transfers = [e for r in net.broker.receipts for e in r.events_named("WinningTicketTransfer")]
    assert len(transfers) == winners
    assert sum(e.args["amount"] for e in transfers) == redeemer.value_redeemed == winners * net.receiver.recipient.face_value(net.g.address)
    bm = net.protocol.BondingManager
    assert bm.pendingFees(net.o.address, net.protocol.current_round()) == redeemer.value_redeemed
    # The orchestrator credited each ticket's EV to the session (nothing was debited here).
    params_ev = net.receiver.recipient.ticket_params(net.g.address, PRICE).ev
    assert net.receiver.balances.balance(net.g.address, "s") == tickets * params_ev


def test_replayed_and_tampered_tickets_are_refused_by_core_and_contract(net):
    recipient = net.receiver.recipient
    recipient.ev = recipient.face_value(net.g.address) - 1  # nearly every ticket wins
    net.sender.max_ev = net.sender.max_total_ev = 10 * recipient.ev
    params, pm = net.offer()
    payment, got = net.pay(pm, 3 * recipient.ev)
    assert got.error is None and got.winning == 3
    credit = net.receiver.balances.balance(net.g.address, "s")

    # Replay: the core refuses the nonces (no credit, the winners are not queued twice) ...
    again = net.receiver.process_payment(payment, "s")
    assert "invalid ticket senderNonce: already seen" in str(again.error) and again.tickets == 0
    assert net.receiver.balances.balance(net.g.address, "s") == credit
    assert net.receiver.redeemer.counts["queued"] == 3
    # Tampering: a higher face value no longer matches the committed recipientRand.
    forged = Payment(payment.sender, TicketParams(params.recipient, params.face_value * 2, params.win_prob,
                     params.recipient_rand_hash, params.seed, params.expiration_block),
                     payment.expiration_params, payment.ticket_sender_params, payment.expected_price)
    assert net.receiver.process_payment(forged, "s").error.fatal

    results = net.expire_and_redeem(params)
    assert [r.outcome.value for r in results] == ["redeemed"] * 3
    signed = results[0].ticket
    tb = net.protocol.TicketBroker
    # ... and the contract refuses the same ticket twice, and any altered ticket.
    with pytest.raises(TransactionFailed, match="ticket is used"):
        tb.redeemWinningTicket(signed.ticket.as_abi_tuple(), signed.sig, signed.recipient_rand, sender=net.o)
    altered = signed.ticket.as_abi_tuple()[:2] + (signed.ticket.face_value * 2,) + signed.ticket.as_abi_tuple()[3:]
    with pytest.raises(TransactionFailed, match="invalid signature over ticket hash"):
        tb.redeemWinningTicket(altered, signed.sig, signed.recipient_rand, sender=net.o)
    with pytest.raises(TransactionFailed, match="recipientRand does not match recipientRandHash"):
        tb.redeemWinningTicket(signed.ticket.as_abi_tuple(), signed.sig, signed.recipient_rand + 1, sender=net.o)
    # A replayed winner that reaches the queue anyway is dropped, not paid twice.
    net.receiver.redeemer._known.clear()
    net.receiver.redeemer.queue(signed)
    [dropped] = net.receiver.redeemer.on_block(net.protocol.chain.block_number)
    assert (dropped.outcome.value, dropped.error) == ("dropped", "ticket already used")
