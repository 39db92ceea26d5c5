"""What the fast backend adds, and the chain semantics both backends must share: round jumps,
block hashes after jumps, snapshots (block number and timestamp), revert reasons, events, gas.

Tests taking `chain` run on both backends; `fast` ones only on FastChain."""

import pytest

from node.core.ticket import MAX_WIN_PROB, Ticket, recipient_rand_hash, sign_ticket
from node.eth import LPT, ChainError, FastChain, TransactionFailed, deploy_protocol

from ..conftest import TEST_PARAMS

ETH = 10**18
MAINNET_ROUND = 6377


@pytest.fixture
def fast(chain, protocol):
    if not isinstance(chain, FastChain):
        pytest.skip("fast backend only")
    return chain


def _ticket(p, recipient, sender, nonce=1, rand=99, creation_round=None):
    rnd = p.current_round() if creation_round is None else creation_round
    t = Ticket(recipient.address, sender.address, ETH // 100, MAX_WIN_PROB, nonce, recipient_rand_hash(rand), rnd,
               p.RoundsManager.blockHashForRound(rnd))
    return t.as_abi_tuple(), sign_ticket(t, sender.key), rand


def test_a_mainnet_round_jump_keeps_tickets_and_block_hashes_working(fast, deploy, accounts):
    p = deploy(round_length=MAINNET_ROUND)
    t1, b = accounts[1], accounts[3]
    p.approve_and_bond(t1, 1000 * LPT, t1.address)
    p.BondingManager.transcoder(0, 500_000, sender=t1)
    p.TicketBroker.fundDeposit(sender=b, value=ETH)
    before = fast.block_number
    fast.mine(MAINNET_ROUND)  # one step, not 6,377 blocks built (its cost is in the benchmark)
    assert fast.block_number == before + MAINNET_ROUND
    for _ in range(3):
        rnd = p.next_round()  # after the jump above this mines several thousand blocks more
        first = rnd * MAINNET_ROUND
        assert fast.block_number == first
        assert p.RoundsManager.blockHashForRound(rnd) == fast.block_hash(first - 1) != b"\x00" * 32
    ticket, sig, rand = _ticket(p, t1, b)
    r = p.TicketBroker.redeemWinningTicket(ticket, sig, rand, sender=t1)
    assert r.event("WinningTicketRedeemed").args["faceValue"] == ETH // 100
    # a ticket from an older round is checked against that round's stored hash
    old = _ticket(p, t1, b, nonce=2, creation_round=rnd - 1)
    p.TicketBroker.redeemWinningTicket(*old, sender=t1)
    with pytest.raises(TransactionFailed, match="ticket creationRound does not have a block hash"):
        p.TicketBroker.redeemWinningTicket(*_ticket(p, t1, b, nonce=3, creation_round=rnd + 1), sender=t1)
    p.next_round(initialize=False)  # a whole round later, not initialised
    with pytest.raises(TransactionFailed, match="current round is not initialized"):
        p.TicketBroker.redeemWinningTicket(*_ticket(p, t1, b, nonce=3, creation_round=rnd), sender=t1)
    p.RoundsManager.initializeRound(sender=p.owner)
    p.next_round()
    with pytest.raises(TransactionFailed, match="ticket is expired"):
        p.TicketBroker.redeemWinningTicket(*_ticket(p, t1, b, nonce=4, creation_round=rnd), sender=t1)


def test_blockhash_window_matches_block_hash_after_a_jump(fast, protocol):
    fast.mine(10_000)
    rm, head = protocol.RoundsManager, fast.block_number
    # a view runs at the latest block: BLOCKHASH covers the 256 blocks before it
    for n in (head - 1, head - 2, head - 100, head - 256):
        assert rm.blockHash(n) == fast.block_hash(n)
    with pytest.raises(TransactionFailed, match="last 256 blocks"):
        rm.blockHash(head - 257)
    with pytest.raises(TransactionFailed, match="past block hashes"):
        rm.blockHash(head)
    assert len({fast.block_hash(n) for n in range(head - 50, head + 1)}) == 51
    with pytest.raises(ChainError):
        fast.block_hash(head + 1)


def test_block_hashes_are_deterministic(fast):
    other = FastChain(num_accounts=1)
    other.mine(300)
    fast.mine(300 - fast.block_number)
    assert [other.block_hash(n) for n in (0, 1, 300)] == [fast.block_hash(n) for n in (0, 1, 300)]
    another = FastChain(num_accounts=1, seed=b"another")
    another.mine(1)
    assert another.block_hash(1) != fast.block_hash(1)


def test_same_accounts_and_contract_addresses_on_both_backends(chain, protocol):
    other = FastChain(num_accounts=20)
    assert [(a.address, a.key) for a in other.accounts] == [(a.address, a.key) for a in chain.accounts]
    assert all(other.eth_balance(a.address) == 1_000_000 * ETH for a in other.accounts)
    # the session protocol was the first thing deployed on `chain`: same nonces, same addresses
    assert deploy_protocol(other, TEST_PARAMS).addresses == protocol.addresses


def test_snapshot_and_revert_restore_block_number_and_timestamp(chain, protocol, accounts):
    block, ts = chain.block_number, chain.timestamp
    token = chain.snapshot()
    chain.set_next_block_timestamp(ts + 1000)
    protocol.LivepeerToken.transfer(accounts[2].address, 5, sender=accounts[1])
    chain.mine(500)
    assert chain.block_number == block + 501 and chain.timestamp == ts + 1000 + 500
    chain.revert(token)
    assert (chain.block_number, chain.timestamp) == (block, ts)
    assert protocol.LivepeerToken.balanceOf(accounts[2].address) == TEST_PARAMS.lpt_per_account
    r = protocol.LivepeerToken.transfer(accounts[2].address, 5, sender=accounts[1])
    assert r.block_number == block + 1 == chain.block_number and chain.timestamp > ts


def test_transactions_and_views_see_the_right_block(chain, protocol, accounts):
    protocol.next_round()
    rm = protocol.RoundsManager
    assert rm.blockNum() == chain.block_number  # a view runs at the latest block
    chain.mine(protocol.next_round_start_block() - 1 - chain.block_number)
    assert rm.currentRound() == protocol.current_round()  # the view still sees the old round
    r = rm.initializeRound(sender=accounts[1])  # the transaction lands in the new round's first block
    assert r.block_number == chain.block_number == protocol.next_round_start_block() - 100
    assert r.event("NewRound").args["round"] == protocol.current_round()


def test_reverts_carry_reasons_and_change_nothing(chain, protocol, accounts):
    block, ts = chain.block_number, chain.timestamp
    balance = chain.eth_balance(accounts[1].address)
    with pytest.raises(TransactionFailed, match="caller must be Controller owner") as info:
        protocol.BondingManager.setUnbondingPeriod(3, sender=accounts[1])
    assert info.value.reason == "caller must be Controller owner" and info.value.function == "setUnbondingPeriod"
    with pytest.raises(TransactionFailed) as bare:
        protocol.Controller.pause(sender=accounts[1])
    assert bare.value.reason == ""
    with pytest.raises(TransactionFailed, match="caller must be bonded"):  # reverts after writing state
        protocol.BondingManager.unbond(1, sender=accounts[1])
    with pytest.raises(TransactionFailed):  # a transfer beyond the balance, after nothing else
        protocol.LivepeerToken.transfer(accounts[2].address, 10**30, sender=accounts[1])
    assert (chain.block_number, chain.timestamp) == (block, ts)
    assert chain.eth_balance(accounts[1].address) == balance
    assert protocol.BondingManager.unbondingPeriod() == TEST_PARAMS.unbonding_period
    assert protocol.LivepeerToken.balanceOf(accounts[2].address) == TEST_PARAMS.lpt_per_account
    with pytest.raises(TransactionFailed, match="caller must be Controller owner"):  # a view-side dry run too
        protocol.BondingManager.setUnbondingPeriod.call(3, sender=accounts[1])


def test_events_gas_and_value(chain, protocol, accounts):
    r = protocol.approve_and_bond(accounts[1], 1000, accounts[1].address)
    assert [e.name for e in r.events] == ["TranscoderActivated", "Approval", "Transfer", "Bond"]
    assert [e.log_index for e in r.events] == [0, 1, 2, 3]
    assert r.event("Bond").address == protocol.BondingManager.address
    assert r.event("Transfer").address == protocol.LivepeerToken.address
    assert r.gas_used > 21_000 and r.gas_cost > 0
    before = chain.eth_balance(accounts[3].address)
    r = protocol.TicketBroker.fundDeposit(sender=accounts[3], value=ETH)
    assert chain.eth_balance(accounts[3].address) == before - ETH - r.gas_cost
    assert protocol.TicketBroker.getSenderInfo(accounts[3].address)[0][0] == ETH


def test_a_stale_snapshot_is_refused_and_the_chain_goes_on(chain, protocol, accounts):
    if not hasattr(chain, "_checkpoints"):
        pytest.skip("in-process backends only (eth-tester's snapshots are block hashes)")
    token, a = protocol.LivepeerToken, accounts[1]
    s1 = chain.snapshot()
    token.approve(protocol.BondingManager.address, 7, sender=a)
    s2 = chain.snapshot()
    chain.revert(s1)
    block = chain.block_number
    with pytest.raises(ChainError, match="already reverted past it"):
        chain.revert(s2)
    assert chain.block_number == block  # the refused revert moved nothing
    token.approve(protocol.BondingManager.address, 9, sender=a)
    assert token.allowance(a.address, protocol.BondingManager.address) == 9
