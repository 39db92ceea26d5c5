"""One pass through the whole protocol, with the numbers worked out from the spec's formulas:
bond, round initialisation and inflation, a winning ticket booked as fees, reward, claims,
unbonding and withdrawal. It runs on the embedded chain here and, re-collected by
tests/eth/test_devchain.py, against the `lpnode devchain` server over JSON-RPC."""
from node.core.ticket import MAX_WIN_PROB, Ticket, recipient_rand_hash, sign_ticket
import pytest

from node.eth import LPT, TransactionFailed

ONE = 10**27  # PreciseMathUtils' 1.0
ETH = 10**18


def pp_of(a, num, den):
    """PreciseMathUtils.percOf(a, num, den): two floors, ratio first (spec §0.1)."""
    return a * (num * ONE // den) // ONE


def smoke_network(protocol, accounts):
    """T (rewardCut 50 %, feeShare 25 %) self-bonds 1000 LPT, D delegates 3000 LPT to T, and
    the next round is initialised, so T is active with 4000 LPT."""
    t, d = accounts[1], accounts[2]
    protocol.approve_and_bond(t, 1000 * LPT, t.address)
    protocol.BondingManager.transcoder(500_000, 250_000, sender=t)
    protocol.approve_and_bond(d, 3000 * LPT, t.address)
    protocol.next_round()
    return t, d


def winning_ticket(protocol, recipient, sender, face_value, nonce=1, rand=42):
    rnd = protocol.current_round()
    ticket = Ticket(recipient.address, sender.address, face_value, MAX_WIN_PROB, nonce,
                    recipient_rand_hash(rand), rnd, protocol.RoundsManager.blockHashForRound(rnd))
    return ticket, sign_ticket(ticket, sender.key), rand


def test_round_initialisation_moves_inflation_and_sets_mintable(protocol, accounts):
    supply = protocol.LivepeerToken.totalSupply()
    t, d = smoke_network(protocol, accounts)
    bm, minter = protocol.BondingManager, protocol.Minter
    assert bm.getTotalBonded() == 4000 * LPT
    assert bm.isActiveTranscoder(t.address)
    # bonding rate 4000 / 20M is below the 50 % target: inflation steps up by inflationChange
    assert minter.inflation() == 10_000_000 + 500
    assert minter.currentMintableTokens() == supply * 10_000_500 // 10**9


def test_fees_then_reward_then_claims(protocol, accounts, chain):
    t, d = smoke_network(protocol, accounts)
    gateway = accounts[3]
    bm, tb, minter = protocol.BondingManager, protocol.TicketBroker, protocol.Minter
    tb.fundDepositAndReserve(1 * ETH, 1 * ETH, sender=gateway, value=2 * ETH)
    assert chain.eth_balance(minter.address) == 2 * ETH

    fee = ETH // 10
    ticket, sig, rand = winning_ticket(protocol, t, gateway, fee)
    r = tb.redeemWinningTicket(ticket.as_abi_tuple(), sig, rand, sender=t)
    assert r.event("WinningTicketTransfer").args == {"sender": gateway.address, "recipient": t.address, "amount": fee}
    assert tb.getSenderInfo(gateway.address)[0][0] == 1 * ETH - fee
    assert tb.usedTickets(ticket.hash())

    delegators_fees = fee * 250_000 // 10**6
    cff = pp_of(ONE, delegators_fees, 4000 * LPT)
    assert bm.pendingFees(d.address, 0) == 3000 * LPT * (cff * ONE // ONE) // ONE
    assert bm.pendingFees(t.address, 0) == pp_of(1000 * LPT, cff, ONE) + (fee - delegators_fees)

    mintable = minter.currentMintableTokens()
    assert bm.reward(sender=t).event("Reward").args["amount"] == mintable
    commission = mintable * 500_000 // 10**6
    crf = ONE + pp_of(ONE, mintable - commission, 4000 * LPT)
    assert bm.pendingStake(d.address, 0) == pp_of(3000 * LPT, crf, ONE)
    assert bm.pendingStake(t.address, 0) == pp_of(1000 * LPT, crf, ONE) + commission
    assert bm.transcoderTotalStake(t.address) == 4000 * LPT + mintable
    assert protocol.LivepeerToken.balanceOf(minter.address) == 4000 * LPT + mintable


def test_unbond_wait_withdraw_stake_and_fees(protocol, accounts, chain):
    t, d = smoke_network(protocol, accounts)
    bm, token = protocol.BondingManager, protocol.LivepeerToken
    gateway = accounts[3]
    protocol.TicketBroker.fundDeposit(sender=gateway, value=ETH)
    ticket, sig, rand = winning_ticket(protocol, t, gateway, ETH // 100)
    protocol.TicketBroker.redeemWinningTicket(ticket.as_abi_tuple(), sig, rand, sender=t)
    bm.reward(sender=t)
    protocol.next_round()

    stake, fees = bm.pendingStake(d.address, 0), bm.pendingFees(d.address, 0)
    assert stake > 3000 * LPT and fees > 0
    unbond = bm.unbond(stake, sender=d).event("Unbond").args
    assert unbond["unbondingLockId"] == 0 and unbond["amount"] == stake
    assert unbond["withdrawRound"] == protocol.current_round() + 2
    assert bm.delegatorStatus(d.address) == 2  # Unbonded

    payee = accounts[4]
    before = chain.eth_balance(payee.address)
    bm.withdrawFees(payee.address, fees, sender=d)
    assert chain.eth_balance(payee.address) == before + fees

    protocol.next_round()
    with pytest.raises(TransactionFailed, match="withdraw round must be before or equal to the current round"):
        bm.withdrawStake(0, sender=d)
    protocol.next_round()
    lpt_before = token.balanceOf(d.address)
    bm.withdrawStake(0, sender=d)
    assert token.balanceOf(d.address) == lpt_before + stake
    assert bm.getDelegatorUnbondingLock(d.address, 0) == (0, 0)
