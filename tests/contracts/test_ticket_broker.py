"""TicketBroker (spec contracts.md §7, §11.2 items 4, 5 and 9).

Setting: two orchestrators T1 and T2 each self-bond 1000 LPT and register (rewardCut 0,
feeShare 50 %), then the next round is initialised, so both are active and the pool size is 2.
A broadcaster B funds a deposit and/or a reserve; tickets from B to T1 win with probability 1
unless a test says otherwise. A sole self-delegated transcoder gets a ticket's whole face value as
pendingFees (commission + its delegator share, no rounding at these numbers).
"""
import re
from types import SimpleNamespace

import pytest

from contracts import source_path
from node.core.keccak import keccak
from node.core.ticket import MAX_WIN_PROB, SECP256K1_N, Ticket, recipient_rand_hash, sign_ticket
from node.eth import LPT, TransactionFailed

ETH = 10**18
FACE = ETH // 10
RAND = 1234567
ZERO = "0x" + "00" * 20
# Vyper's static bound on a ticket's auxData and signature lengths (Solidity has none): up to it
# the contract's own length checks refuse a wrong length; beyond it ABI decoding does.
MAX_BYTES = int(re.search(r"^MAX_BYTES: constant\(uint256\) = (\d+)$",
                          source_path("TicketBroker").read_text(), re.M).group(1))


# ---------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def _net(chain, _session_protocol):
    """The two-orchestrator setting, built once for the module inside its own snapshot (each
    test then runs on the `protocol` fixture's per-test snapshot on top of it)."""
    protocol, accounts = _session_protocol, chain.accounts
    t1, t2, b, other = accounts[1], accounts[2], accounts[3], accounts[4]
    with chain.reverting():
        for t in (t1, t2):
            protocol.approve_and_bond(t, 1000 * LPT, t.address)
            protocol.BondingManager.transcoder(0, 500_000, sender=t)
        protocol.next_round()
        yield SimpleNamespace(p=protocol, tb=protocol.TicketBroker, bm=protocol.BondingManager,
                              minter=protocol.Minter, t1=t1, t2=t2, b=b, other=other)


@pytest.fixture
def net(_net, protocol):
    assert _net.p is protocol  # same backend's protocol (no leakage across parametrised chains)
    return _net


def make_ticket(net, face_value=FACE, *, recipient=None, sender=None, signer=None, win_prob=MAX_WIN_PROB,
                nonce=1, rand=RAND, creation_round=None, block_hash=None):
    """A ticket from B (default) to T1 (default) created in the current round; returns
    (ticket, sig, rand). `signer` signs in place of the sender."""
    rnd = net.p.current_round() if creation_round is None else creation_round
    if block_hash is None:
        block_hash = net.p.RoundsManager.blockHashForRound(rnd)
    sender = sender or net.b
    ticket = Ticket((recipient or net.t1).address, sender.address, face_value, win_prob, nonce,
                    recipient_rand_hash(rand), rnd, block_hash)
    return ticket, sign_ticket(ticket, (signer or sender).key), rand


def redeem(net, ticket, sig, rand, caller=None):
    ticket = ticket.as_abi_tuple() if isinstance(ticket, Ticket) else ticket
    return net.tb.redeemWinningTicket(ticket, sig, rand, sender=caller or net.t1)


def tb_events(net, receipt):
    return [e.name for e in receipt.events if e.address == net.tb.address]


def sender_info(net, who):
    (deposit, withdraw_round), (funds, claimed) = net.tb.getSenderInfo(who.address)
    return dict(deposit=deposit, withdrawRound=withdraw_round, reserve=funds, claimedInCurrentRound=claimed)


def with_aux(ticket, aux):
    return ticket.as_abi_tuple()[:6] + (aux,)


# ---------------------------------------------------------------------------------- funding


def test_fund_deposit(net, chain):
    minter_before = chain.eth_balance(net.minter.address)
    r = net.tb.fundDeposit(sender=net.b, value=3 * ETH)
    assert r.event("DepositFunded").args == {"sender": net.b.address, "amount": 3 * ETH}
    assert tb_events(net, r) == ["DepositFunded"]
    net.tb.fundDeposit(sender=net.b, value=ETH)
    assert sender_info(net, net.b) == dict(deposit=4 * ETH, withdrawRound=0, reserve=0, claimedInCurrentRound=0)
    # the ETH is held by the Minter, not by the TicketBroker
    assert chain.eth_balance(net.minter.address) == minter_before + 4 * ETH
    assert chain.eth_balance(net.tb.address) == 0
    # a zero-value deposit is allowed
    assert net.tb.fundDeposit(sender=net.b).event("DepositFunded").args["amount"] == 0


def test_fund_reserve(net, chain):
    minter_before = chain.eth_balance(net.minter.address)
    r = net.tb.fundReserve(sender=net.b, value=2 * ETH)
    assert r.event("ReserveFunded").args == {"reserveHolder": net.b.address, "amount": 2 * ETH}
    assert net.tb.getReserveInfo(net.b.address) == (2 * ETH, 0)
    assert sender_info(net, net.b)["deposit"] == 0
    assert chain.eth_balance(net.minter.address) == minter_before + 2 * ETH


def test_fund_deposit_and_reserve(net, chain):
    minter_before = chain.eth_balance(net.minter.address)
    r = net.tb.fundDepositAndReserve(ETH, 2 * ETH, sender=net.b, value=3 * ETH)
    assert tb_events(net, r) == ["ReserveFunded", "DepositFunded"]
    assert r.event("ReserveFunded").args == {"reserveHolder": net.b.address, "amount": 2 * ETH}
    assert r.event("DepositFunded").args == {"sender": net.b.address, "amount": ETH}
    assert sender_info(net, net.b) == dict(deposit=ETH, withdrawRound=0, reserve=2 * ETH, claimedInCurrentRound=0)
    assert chain.eth_balance(net.minter.address) == minter_before + 3 * ETH


@pytest.mark.parametrize("value", [0, 3 * ETH - 1, 3 * ETH + 1])
def test_fund_deposit_and_reserve_requires_exact_value(net, value):
    msg = "msg.value does not equal sum of deposit amount and reserve amount"
    with pytest.raises(TransactionFailed, match=msg):
        net.tb.fundDepositAndReserve(ETH, 2 * ETH, sender=net.b, value=value)
    with pytest.raises(TransactionFailed, match=msg):
        net.tb.fundDepositAndReserveFor(net.b.address, ETH, 2 * ETH, sender=net.other, value=value)


def test_fund_deposit_and_reserve_for_credits_the_named_address(net):
    r = net.tb.fundDepositAndReserveFor(net.b.address, ETH, 2 * ETH, sender=net.other, value=3 * ETH)
    assert r.event("DepositFunded").args == {"sender": net.b.address, "amount": ETH}
    assert r.event("ReserveFunded").args == {"reserveHolder": net.b.address, "amount": 2 * ETH}
    assert sender_info(net, net.b)["deposit"] == ETH and sender_info(net, net.b)["reserve"] == 2 * ETH
    assert sender_info(net, net.other) == dict(deposit=0, withdrawRound=0, reserve=0, claimedInCurrentRound=0)


def test_third_party_funding_does_not_cancel_an_unlock(net):
    # fix d153b78: fundDepositAndReserveFor(victim, 0, 0) used to cancel the victim's unlock
    net.tb.fundDeposit(sender=net.b, value=ETH)
    net.tb.unlock(sender=net.b)
    r = net.tb.fundDepositAndReserveFor(net.b.address, 0, 0, sender=net.other)
    assert "UnlockCancelled" not in tb_events(net, r)
    r = net.tb.fundDepositAndReserveFor(net.b.address, ETH, ETH, sender=net.other, value=2 * ETH)
    assert "UnlockCancelled" not in tb_events(net, r)
    assert net.tb.isUnlockInProgress(net.b.address)
    assert sender_info(net, net.b)["deposit"] == 2 * ETH


def test_own_funding_cancels_an_unlock(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)

    net.tb.unlock(sender=net.b)
    r = net.tb.fundDeposit(sender=net.b, value=1)
    assert tb_events(net, r) == ["UnlockCancelled", "DepositFunded"]
    assert r.event("UnlockCancelled").args == {"sender": net.b.address}
    assert not net.tb.isUnlockInProgress(net.b.address)

    net.tb.unlock(sender=net.b)
    r = net.tb.fundReserve(sender=net.b, value=1)
    assert tb_events(net, r) == ["ReserveFunded", "UnlockCancelled"]
    assert not net.tb.isUnlockInProgress(net.b.address)

    net.tb.unlock(sender=net.b)
    r = net.tb.fundDepositAndReserveFor(net.b.address, 1, 1, sender=net.b, value=2)
    assert tb_events(net, r) == ["UnlockCancelled", "ReserveFunded", "DepositFunded"]
    assert sender_info(net, net.b)["withdrawRound"] == 0


# ---------------------------------------------------------------------------------- unlock / withdraw


def test_unlock(net):
    with pytest.raises(TransactionFailed, match="sender deposit and reserve are zero"):
        net.tb.unlock(sender=net.b)
    net.tb.fundReserve(sender=net.b, value=ETH)  # a reserve alone is enough
    assert net.tb.isLocked(net.b.address) and not net.tb.isUnlockInProgress(net.b.address)
    rnd = net.p.current_round()
    r = net.tb.unlock(sender=net.b)
    assert r.event("Unlock").args == {"sender": net.b.address, "startRound": rnd, "endRound": rnd + 2}
    assert sender_info(net, net.b)["withdrawRound"] == rnd + 2
    assert net.tb.isUnlockInProgress(net.b.address) and net.tb.isLocked(net.b.address)
    with pytest.raises(TransactionFailed, match="unlock already initiated"):
        net.tb.unlock(sender=net.b)
    net.p.next_round()
    assert net.tb.isLocked(net.b.address)
    net.p.next_round()
    assert not net.tb.isLocked(net.b.address) and net.tb.isUnlockInProgress(net.b.address)


def test_unlock_uses_unlock_period(net):
    net.tb.setUnlockPeriod(7, sender=net.p.owner)
    net.tb.fundDeposit(sender=net.b, value=ETH)
    assert net.tb.unlock(sender=net.b).event("Unlock").args["endRound"] == net.p.current_round() + 7


def test_cancel_unlock(net):
    with pytest.raises(TransactionFailed, match="no unlock request in progress"):
        net.tb.cancelUnlock(sender=net.b)
    net.tb.fundDeposit(sender=net.b, value=ETH)
    net.tb.unlock(sender=net.b)
    r = net.tb.cancelUnlock(sender=net.b)
    assert r.event("UnlockCancelled").args == {"sender": net.b.address}
    assert sender_info(net, net.b)["withdrawRound"] == 0
    assert not net.tb.isUnlockInProgress(net.b.address) and net.tb.isLocked(net.b.address)
    with pytest.raises(TransactionFailed, match="no unlock request in progress"):
        net.tb.cancelUnlock(sender=net.b)


def test_withdraw(net, chain):
    with pytest.raises(TransactionFailed, match="sender deposit and reserve are zero"):
        net.tb.withdraw(sender=net.b)
    net.tb.fundDepositAndReserve(ETH, 2 * ETH, sender=net.b, value=3 * ETH)
    with pytest.raises(TransactionFailed, match="no unlock request in progress"):
        net.tb.withdraw(sender=net.b)
    net.tb.unlock(sender=net.b)
    withdraw_round = sender_info(net, net.b)["withdrawRound"]
    with pytest.raises(TransactionFailed, match="account is locked"):
        net.tb.withdraw(sender=net.b)
    net.p.next_round()
    with pytest.raises(TransactionFailed, match="account is locked"):
        net.tb.withdraw(sender=net.b)
    net.p.next_round()

    minter_before, b_before = chain.eth_balance(net.minter.address), chain.eth_balance(net.b.address)
    r = net.tb.withdraw(sender=net.b)
    assert r.event("Withdrawal").args == {"sender": net.b.address, "deposit": ETH, "reserve": 2 * ETH}
    assert chain.eth_balance(net.b.address) == b_before + 3 * ETH - r.gas_cost
    assert chain.eth_balance(net.minter.address) == minter_before - 3 * ETH
    # withdrawRound is kept (see test_withdrawn_sender_cannot_be_paid_until_it_relocks)
    assert sender_info(net, net.b) == dict(deposit=0, withdrawRound=withdraw_round, reserve=0, claimedInCurrentRound=0)
    with pytest.raises(TransactionFailed, match="sender deposit and reserve are zero"):
        net.tb.withdraw(sender=net.b)


def test_withdrawn_sender_cannot_be_paid_until_it_relocks(net):
    # §11.2 item 9: withdraw() keeps withdrawRound, so a third-party top-up after a withdrawal
    # leaves the sender unlocked and its funds cannot be claimed with stale reserve counters.
    net.tb.fundDepositAndReserve(ETH, ETH, sender=net.b, value=2 * ETH)
    net.tb.unlock(sender=net.b)
    net.p.advance_rounds(2)
    net.tb.withdraw(sender=net.b)
    with pytest.raises(TransactionFailed, match="sender is unlocked"):  # checked before the zero funds
        redeem(net, *make_ticket(net))
    net.tb.fundDepositAndReserveFor(net.b.address, ETH, ETH, sender=net.other, value=2 * ETH)
    assert not net.tb.isLocked(net.b.address)
    with pytest.raises(TransactionFailed, match="sender is unlocked"):
        redeem(net, *make_ticket(net))
    net.tb.fundDeposit(sender=net.b)  # the sender's own funding relocks it
    assert net.tb.isLocked(net.b.address)
    assert redeem(net, *make_ticket(net)).event("WinningTicketTransfer").args["amount"] == FACE


# ---------------------------------------------------------------------------------- redemption: success


def test_redeem_pays_from_deposit(net, chain):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    minter_before = chain.eth_balance(net.minter.address)
    fees_before = net.bm.pendingFees(net.t1.address, 0)
    ticket, sig, rand = make_ticket(net, nonce=9)

    r = redeem(net, ticket, sig, rand, caller=net.other)  # anyone may redeem
    assert tb_events(net, r) == ["WinningTicketTransfer", "WinningTicketRedeemed"]
    assert r.event("WinningTicketTransfer").args == {"sender": net.b.address, "recipient": net.t1.address, "amount": FACE}
    assert r.event("WinningTicketRedeemed").args == {
        "sender": net.b.address, "recipient": net.t1.address, "faceValue": FACE, "winProb": MAX_WIN_PROB,
        "senderNonce": 9, "recipientRand": rand, "auxData": ticket.aux_data,
    }
    assert net.tb.usedTickets(ticket.hash())
    assert sender_info(net, net.b)["deposit"] == ETH - FACE
    # fee flow: booked as T1's fees in the BondingManager, the ETH stays in the Minter
    assert net.bm.pendingFees(net.t1.address, 0) == fees_before + FACE
    assert chain.eth_balance(net.minter.address) == minter_before
    assert chain.eth_balance(net.tb.address) == 0 and chain.eth_balance(net.bm.address) == 0


def test_fees_can_be_withdrawn_from_the_minter(net, chain):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    redeem(net, *make_ticket(net))
    minter_before, payee_before = chain.eth_balance(net.minter.address), chain.eth_balance(net.other.address)
    net.bm.withdrawFees(net.other.address, FACE, sender=net.t1)
    assert chain.eth_balance(net.other.address) == payee_before + FACE
    assert chain.eth_balance(net.minter.address) == minter_before - FACE


def test_redeem_pays_from_deposit_then_reserve(net):
    # deposit 0.1 ETH, reserve 1 ETH, pool size 2: each active recipient may take 0.5 ETH per round
    net.tb.fundDepositAndReserve(FACE, ETH, sender=net.b, value=FACE + ETH)
    assert net.bm.getTranscoderPoolSize() == 2
    assert net.tb.claimableReserve(net.b.address, net.t1.address) == ETH // 2
    fees_before = net.bm.pendingFees(net.t1.address, 0)

    r = redeem(net, *make_ticket(net, 3 * FACE, nonce=1))
    assert tb_events(net, r) == ["ReserveClaimed", "WinningTicketTransfer", "WinningTicketRedeemed"]
    assert r.event("ReserveClaimed").args == {"reserveHolder": net.b.address, "claimant": net.t1.address, "amount": 2 * FACE}
    assert r.event("WinningTicketTransfer").args["amount"] == 3 * FACE
    assert sender_info(net, net.b) == dict(deposit=0, withdrawRound=0, reserve=ETH - 2 * FACE,
                                           claimedInCurrentRound=2 * FACE)
    assert net.tb.claimedReserve(net.b.address, net.t1.address) == 2 * FACE
    # floor((funds + claimedForRound) / poolSize) - claimedByAddress
    assert net.tb.claimableReserve(net.b.address, net.t1.address) == (ETH - 2 * FACE + 2 * FACE) // 2 - 2 * FACE
    assert net.tb.claimableReserve(net.b.address, net.t2.address) == ETH // 2

    # the next ticket is capped at T1's remaining allocation
    r = redeem(net, *make_ticket(net, ETH, nonce=2))
    assert r.event("ReserveClaimed").args["amount"] == 3 * FACE
    assert r.event("WinningTicketTransfer").args["amount"] == 3 * FACE
    assert net.tb.claimableReserve(net.b.address, net.t1.address) == 0

    # an exhausted allocation still consumes the ticket, without a transfer
    ticket, sig, rand = make_ticket(net, ETH, nonce=3)
    r = redeem(net, ticket, sig, rand)
    assert tb_events(net, r) == ["WinningTicketRedeemed"]
    assert net.tb.usedTickets(ticket.hash())
    assert net.bm.pendingFees(net.t1.address, 0) == fees_before + 6 * FACE

    # T2's share is untouched; T2 takes all of it
    r = redeem(net, *make_ticket(net, ETH, recipient=net.t2, nonce=4), caller=net.t2)
    assert r.event("ReserveClaimed").args == {"reserveHolder": net.b.address, "claimant": net.t2.address, "amount": ETH // 2}
    assert net.tb.getReserveInfo(net.b.address) == (0, ETH)

    # a new round resets the per-round counters
    net.p.next_round()
    assert net.tb.getReserveInfo(net.b.address) == (0, 0)
    assert net.tb.claimedReserve(net.b.address, net.t1.address) == 0


def test_reserve_allocation_resets_each_round(net):
    net.tb.fundReserve(sender=net.b, value=ETH)
    redeem(net, *make_ticket(net, ETH, nonce=1))  # takes 0.5 ETH
    net.p.next_round()
    assert net.tb.getReserveInfo(net.b.address) == (ETH // 2, 0)
    assert net.tb.claimableReserve(net.b.address, net.t1.address) == ETH // 4
    r = redeem(net, *make_ticket(net, ETH, nonce=2))
    assert r.event("WinningTicketTransfer").args["amount"] == ETH // 4


def test_claimable_reserve_is_zero_for_inactive_claimants(net):
    net.tb.fundReserve(sender=net.b, value=ETH)
    assert net.tb.claimableReserve(net.b.address, net.other.address) == 0
    assert net.tb.claimedReserve(net.b.address, net.other.address) == 0


def test_reserve_share_uses_the_live_pool_size(net, accounts):
    # Reference behaviour (§7.6): the pool growing mid-round after a claim makes the subtraction
    # underflow, so the view (and a redemption that needs the reserve) reverts.
    net.tb.fundReserve(sender=net.b, value=ETH)
    redeem(net, *make_ticket(net, ETH))
    t3 = accounts[5]
    net.p.approve_and_bond(t3, 1000 * LPT, t3.address)
    net.bm.transcoder(0, 500_000, sender=t3)
    assert net.bm.getTranscoderPoolSize() == 3
    with pytest.raises(TransactionFailed):
        net.tb.claimableReserve(net.b.address, net.t1.address)
    assert net.tb.claimableReserve(net.b.address, net.t2.address) == ETH // 3


def test_zero_face_value_ticket_is_consumed_without_transfer(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    ticket, sig, rand = make_ticket(net, 0)
    r = redeem(net, ticket, sig, rand)
    assert tb_events(net, r) == ["WinningTicketRedeemed"]
    assert net.tb.usedTickets(ticket.hash())
    assert sender_info(net, net.b)["deposit"] == ETH


def test_ticket_is_valid_for_ticket_validity_period_rounds(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    ticket, sig, rand = make_ticket(net)  # created in round r
    fresh = make_ticket(net, nonce=2)
    net.p.next_round()  # r + 1: r + 2 > r + 1
    redeem(net, ticket, sig, rand)
    net.p.next_round()  # r + 2: expired
    with pytest.raises(TransactionFailed, match="ticket is expired"):
        redeem(net, *fresh)


def test_sender_in_unlock_period_can_still_pay(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    net.tb.unlock(sender=net.b)
    net.p.next_round()
    assert redeem(net, *make_ticket(net)).event("WinningTicketTransfer").args["amount"] == FACE
    net.p.next_round()
    with pytest.raises(TransactionFailed, match="sender is unlocked"):
        redeem(net, *make_ticket(net, nonce=2))


def test_get_ticket_hash_matches_python(net):
    for ticket, _, _ in (make_ticket(net), make_ticket(net, 7, win_prob=3, nonce=2**200, rand=0)):
        assert net.tb.getTicketHash(ticket.as_abi_tuple()) == ticket.hash()
    empty_aux = Ticket(net.t1.address, net.b.address, 1, 2, 3, b"\x01" * 32, 0, b"\x00" * 32)
    assert empty_aux.aux_data == b""
    assert net.tb.getTicketHash(empty_aux.as_abi_tuple()) == empty_aux.hash()
    # any auxData length, as in the reference (abi.encodePacked of the fields)
    long_aux = b"\x02" * MAX_BYTES
    tup = empty_aux.as_abi_tuple()[:6] + (long_aux,)
    packed = (bytes.fromhex(net.t1.address[2:]) + bytes.fromhex(net.b.address[2:])
              + b"".join(x.to_bytes(32, "big") for x in (1, 2, 3)) + b"\x01" * 32 + long_aux)
    assert net.tb.getTicketHash(tup) == keccak(packed)


# ---------------------------------------------------------------------------------- redemption: failures


def test_null_addresses(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    ticket, sig, rand = make_ticket(net)
    with pytest.raises(TransactionFailed, match="ticket recipient is null address"):
        redeem(net, (ZERO,) + ticket.as_abi_tuple()[1:], sig, rand)
    with pytest.raises(TransactionFailed, match="ticket sender is null address"):
        redeem(net, ticket.as_abi_tuple()[:1] + (ZERO,) + ticket.as_abi_tuple()[2:], sig, rand)


@pytest.mark.parametrize("length", [0, 32, 63, 65, 128, 256, 257, MAX_BYTES])
def test_aux_data_must_be_64_bytes(net, length):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    ticket, sig, rand = make_ticket(net)
    with pytest.raises(TransactionFailed, match="invalid length for ticket auxData: must be 64 bytes"):
        redeem(net, with_aux(ticket, ticket.aux_data.ljust(length, b"\x00")[:length]), sig, rand)


def test_creation_round_must_have_its_block_hash(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    rnd = net.p.current_round()
    with pytest.raises(TransactionFailed, match="ticket creationRound does not have a block hash"):
        redeem(net, *make_ticket(net, creation_round=rnd + 1, block_hash=b"\x01" * 32))
    with pytest.raises(TransactionFailed, match="ticket creationRoundBlockHash invalid for creationRound"):
        redeem(net, *make_ticket(net, block_hash=b"\x01" * 32))
    with pytest.raises(TransactionFailed, match="ticket creationRoundBlockHash invalid for creationRound"):
        redeem(net, *make_ticket(net, block_hash=net.p.RoundsManager.blockHashForRound(rnd - 1),
                                 creation_round=rnd))


def test_recipient_rand_must_match(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    ticket, sig, rand = make_ticket(net)
    with pytest.raises(TransactionFailed, match="recipientRand does not match recipientRandHash"):
        redeem(net, ticket, sig, rand + 1)


def test_replay(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    ticket, sig, rand = make_ticket(net)
    redeem(net, ticket, sig, rand)
    with pytest.raises(TransactionFailed, match="ticket is used"):
        redeem(net, ticket, sig, rand)
    # another valid signature over the same ticket does not help: replay is keyed on the ticket hash
    with pytest.raises(TransactionFailed, match="ticket is used"):
        redeem(net, ticket, sign_ticket(ticket, net.b.key), rand, caller=net.other)
    assert sender_info(net, net.b)["deposit"] == ETH - FACE


def test_signature_by_another_key(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    with pytest.raises(TransactionFailed, match="invalid signature over ticket hash"):
        redeem(net, *make_ticket(net, signer=net.other))
    ticket, sig, rand = make_ticket(net)
    flipped_v = sig[:64] + bytes([55 - sig[64]])
    with pytest.raises(TransactionFailed, match="invalid signature over ticket hash"):
        redeem(net, ticket, flipped_v, rand)


def test_only_65_byte_signatures(net):
    # EIP-2098 compact form of the very same valid signature (fix 85bc43a), and padded forms
    net.tb.fundDeposit(sender=net.b, value=ETH)
    ticket, sig, rand = make_ticket(net)
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    compact = r + (s | ((v - 27) << 255)).to_bytes(32, "big")
    for bad in (compact, sig + b"\x00", sig[:64], b"", sig * 3):
        with pytest.raises(TransactionFailed, match="INVALID_SIGNATURE_LENGTH"):
            redeem(net, ticket, bad, rand)
    redeem(net, ticket, sig, rand)


@pytest.mark.parametrize("length", [257, MAX_BYTES])
def test_long_signatures_get_the_length_message(net, length):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    ticket, sig, rand = make_ticket(net)
    with pytest.raises(TransactionFailed, match="INVALID_SIGNATURE_LENGTH"):
        redeem(net, ticket, sig.ljust(length, b"\x00"), rand)


def test_aux_data_or_signature_beyond_the_vyper_bound(net):
    """The deviation that remains: past MAX_BYTES, ABI decoding refuses with a bare revert."""
    net.tb.fundDeposit(sender=net.b, value=ETH)
    ticket, sig, rand = make_ticket(net)
    for tup, s in ((with_aux(ticket, ticket.aux_data.ljust(MAX_BYTES + 1, b"\x00")), sig),
                   (ticket.as_abi_tuple(), sig.ljust(MAX_BYTES + 1, b"\x00"))):
        with pytest.raises(TransactionFailed) as failed:
            redeem(net, tup, s, rand)
        assert failed.value.reason == ""
    redeem(net, ticket, sig, rand)


def test_high_s_and_unrecoverable_signatures(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    ticket, sig, rand = make_ticket(net)
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    malleable = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # same signer, high s
    with pytest.raises(TransactionFailed, match="ECDSA: invalid signature 's' value"):
        redeem(net, ticket, malleable, rand)
    with pytest.raises(TransactionFailed, match="ECDSA: invalid signature$"):
        redeem(net, ticket, sig[:64] + b"\x00", rand)  # v = 0: ecrecover finds no address
    with pytest.raises(TransactionFailed, match="ECDSA: invalid signature$"):
        redeem(net, ticket, b"\x00" * 65, rand)


def test_losing_ticket(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    with pytest.raises(TransactionFailed, match="ticket did not win"):
        redeem(net, *make_ticket(net, win_prob=0))


def test_unfunded_sender(net):
    with pytest.raises(TransactionFailed, match="sender deposit and reserve are zero"):
        redeem(net, *make_ticket(net))


def test_recipient_must_be_a_registered_transcoder(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    with pytest.raises(TransactionFailed, match="transcoder must be registered"):
        redeem(net, *make_ticket(net, recipient=net.other), caller=net.other)


def test_validation_order(net):
    """Tickets with two faults report the one that comes first in the spec's order (§7.5)."""
    net.tb.fundDeposit(sender=net.b, value=ETH)
    used, used_sig, rand = make_ticket(net, nonce=1)
    redeem(net, used, used_sig, rand)
    ticket, sig, _ = make_ticket(net, nonce=2)
    tup = ticket.as_abi_tuple()
    other_sig = make_ticket(net, nonce=2, signer=net.other)[1]
    losing = make_ticket(net, nonce=3, win_prob=0)
    losing_other_signer = make_ticket(net, nonce=3, win_prob=0, signer=net.other)
    unfunded_losing = make_ticket(net, sender=net.other, win_prob=0)

    def fails(expected, tup, sig, rand):
        with pytest.raises(TransactionFailed, match=expected):
            redeem(net, tup, sig, rand)

    fails("ticket recipient is null address", (ZERO, ZERO) + tup[2:], sig, rand)
    fails("ticket sender is null address", (tup[0], ZERO) + tup[2:6] + (b"",), sig, rand)
    fails("invalid length for ticket auxData", tup[:6] + (b"",), sig, rand + 1)
    fails("ticket creationRoundBlockHash invalid", tup[:6] + (tup[6][:32] + b"\x01" * 32,), sig, rand + 1)
    fails("recipientRand does not match recipientRandHash", used.as_abi_tuple(), used_sig, rand + 1)
    fails("ticket is used", used.as_abi_tuple(), other_sig, rand)
    fails("INVALID_SIGNATURE_LENGTH", losing[0], losing[1][:64], rand)
    fails("invalid signature over ticket hash", *losing_other_signer)
    fails("ticket did not win", *unfunded_losing)
    net.p.advance_rounds(2)
    fails("ticket is expired", tup, sig, rand + 1)


# ---------------------------------------------------------------------------------- batch


def test_batch_redeem_skips_bad_tickets(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    good1, good2 = make_ticket(net, nonce=1), make_ticket(net, 2 * FACE, nonce=2)
    bad = make_ticket(net, nonce=3, signer=net.other)
    losing = make_ticket(net, nonce=4, win_prob=0)
    batch = [good1, bad, good2, good1, losing]  # good1 twice: the copy fails as used
    fees_before = net.bm.pendingFees(net.t1.address, 0)

    r = net.tb.batchRedeemWinningTickets([t.as_abi_tuple() for t, _, _ in batch], [s for _, s, _ in batch],
                                         [x for _, _, x in batch], sender=net.t1)
    redeemed = r.events_named("WinningTicketRedeemed")
    assert [e.args["senderNonce"] for e in redeemed] == [1, 2]
    assert [e.args["amount"] for e in r.events_named("WinningTicketTransfer")] == [FACE, 2 * FACE]
    assert sender_info(net, net.b)["deposit"] == ETH - 3 * FACE
    assert net.bm.pendingFees(net.t1.address, 0) == fees_before + 3 * FACE
    assert net.tb.usedTickets(good1[0].hash()) and net.tb.usedTickets(good2[0].hash())
    assert not net.tb.usedTickets(bad[0].hash()) and not net.tb.usedTickets(losing[0].hash())


def test_batch_redeem_skips_tickets_with_long_aux_data_or_signatures(net):
    """As in the reference, a ticket whose auxData or signature has a wrong length, however long
    (up to MAX_BYTES here), fails its own redemption inside the batch and the rest are redeemed
    (a length past the bound used to revert the whole batch in ABI decoding)."""
    net.tb.fundDeposit(sender=net.b, value=ETH)
    good1, good2 = make_ticket(net, nonce=1), make_ticket(net, 2 * FACE, nonce=2)
    long_aux, long_aux_sig, long_aux_rand = make_ticket(net, nonce=3)
    long_sig, long_sig_sig, long_sig_rand = make_ticket(net, nonce=4)
    tickets = [good1[0].as_abi_tuple(), with_aux(long_aux, long_aux.aux_data.ljust(MAX_BYTES, b"\x01")),
               good2[0].as_abi_tuple(), long_sig.as_abi_tuple()]
    sigs = [good1[1], long_aux_sig, good2[1], long_sig_sig.ljust(257, b"\x00")]  # 257: past the old bound
    rands = [good1[2], long_aux_rand, good2[2], long_sig_rand]

    r = net.tb.batchRedeemWinningTickets(tickets, sigs, rands, sender=net.t1)
    assert [e.args["senderNonce"] for e in r.events_named("WinningTicketRedeemed")] == [1, 2]
    assert sender_info(net, net.b)["deposit"] == ETH - 3 * FACE
    assert not net.tb.usedTickets(long_aux.hash()) and not net.tb.usedTickets(long_sig.hash())
    # the same tickets alone get the reference's messages
    with pytest.raises(TransactionFailed, match="invalid length for ticket auxData: must be 64 bytes"):
        redeem(net, tickets[1], sigs[1], rands[1])
    with pytest.raises(TransactionFailed, match="INVALID_SIGNATURE_LENGTH"):
        redeem(net, tickets[3], sigs[3], rands[3])
    # and with well-formed fields they are redeemable
    redeem(net, long_aux, long_aux_sig, long_aux_rand)
    redeem(net, long_sig, long_sig_sig, long_sig_rand)


def test_batch_redeem_with_only_failures_or_nothing(net):
    r = net.tb.batchRedeemWinningTickets([], [], [], sender=net.t1)
    assert tb_events(net, r) == []
    ticket, sig, rand = make_ticket(net)  # sender unfunded
    r = net.tb.batchRedeemWinningTickets([ticket.as_abi_tuple()], [sig], [rand], sender=net.t1)
    assert tb_events(net, r) == []
    assert not net.tb.usedTickets(ticket.hash())


def test_batch_redeem_with_short_arrays_reverts(net):
    ticket, sig, rand = make_ticket(net)
    with pytest.raises(TransactionFailed):
        net.tb.batchRedeemWinningTickets([ticket.as_abi_tuple()], [], [rand], sender=net.t1)


# ---------------------------------------------------------------------------------- guards and setters


def test_pause(net):
    net.tb.fundDepositAndReserve(ETH, ETH, sender=net.b, value=2 * ETH)
    ticket, sig, rand = make_ticket(net)
    net.p.Controller.pause(sender=net.p.owner)
    calls = [
        lambda: net.tb.fundDeposit(sender=net.b, value=1),
        lambda: net.tb.fundReserve(sender=net.b, value=1),
        lambda: net.tb.fundDepositAndReserve(1, 1, sender=net.b, value=2),
        lambda: net.tb.fundDepositAndReserveFor(net.b.address, 1, 1, sender=net.other, value=2),
        lambda: net.tb.unlock(sender=net.b),
        lambda: net.tb.cancelUnlock(sender=net.b),
        lambda: net.tb.withdraw(sender=net.b),
        lambda: redeem(net, ticket, sig, rand),
        lambda: net.tb.batchRedeemWinningTickets([ticket.as_abi_tuple()], [sig], [rand], sender=net.t1),
    ]
    for call in calls:
        with pytest.raises(TransactionFailed, match="system is paused"):
            call()
    net.p.Controller.unpause(sender=net.p.owner)
    redeem(net, ticket, sig, rand)


def test_current_round_must_be_initialized(net):
    net.tb.fundDeposit(sender=net.b, value=ETH)
    ticket, sig, rand = make_ticket(net)
    net.p.next_round(initialize=False)
    with pytest.raises(TransactionFailed, match="current round is not initialized"):
        redeem(net, ticket, sig, rand)
    with pytest.raises(TransactionFailed, match="current round is not initialized"):
        net.tb.batchRedeemWinningTickets([ticket.as_abi_tuple()], [sig], [rand], sender=net.t1)
    # funding and unlocking do not need an initialised round
    net.tb.fundDeposit(sender=net.b, value=1)
    net.tb.unlock(sender=net.b)
    net.p.RoundsManager.initializeRound(sender=net.p.owner)
    assert redeem(net, ticket, sig, rand).event("WinningTicketTransfer").args["amount"] == FACE


def test_setters(net):
    owner = net.p.owner
    assert net.tb.unlockPeriod() == 2 and net.tb.ticketValidityPeriod() == 2
    with pytest.raises(TransactionFailed, match="caller must be Controller owner"):
        net.tb.setUnlockPeriod(5, sender=net.b)
    with pytest.raises(TransactionFailed, match="caller must be Controller owner"):
        net.tb.setTicketValidityPeriod(5, sender=net.b)
    with pytest.raises(TransactionFailed, match="ticketValidityPeriod must be greater than 0"):
        net.tb.setTicketValidityPeriod(0, sender=owner)
    assert net.tb.setUnlockPeriod(5, sender=owner).event("ParameterUpdate").args == {"param": "unlockPeriod"}
    assert net.tb.setTicketValidityPeriod(3, sender=owner).event("ParameterUpdate").args == {"param": "ticketValidityPeriod"}
    assert net.tb.unlockPeriod() == 5 and net.tb.ticketValidityPeriod() == 3
    # a longer validity period keeps older tickets redeemable
    net.tb.fundDeposit(sender=net.b, value=ETH)
    ticket = make_ticket(net)
    net.p.advance_rounds(2)
    redeem(net, *ticket)


def test_controller(net):
    assert net.tb.controller() == net.p.Controller.address
    with pytest.raises(TransactionFailed, match="caller must be Controller"):
        net.tb.setController(net.b.address, sender=net.p.owner)
