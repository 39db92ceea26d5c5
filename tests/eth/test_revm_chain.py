"""What is particular to the revm backend (RevmChain): the BLOCKHASH checks FastChain runs, on revm;
its block-hash rule; and snapshot tokens over revm's journal checkpoints (nested, reused, stale).

The semantics shared by every backend are in test_fast_chain.py (tests taking `chain`)."""

import pytest
from eth_utils import keccak

from node.eth import LPT, ChainError, TransactionFailed
from node.eth.revm import RevmChain

from .test_fast_chain import test_a_mainnet_round_jump_keeps_tickets_and_block_hashes_working as _round_jump
from .test_fast_chain import test_blockhash_window_matches_block_hash_after_a_jump as _blockhash_window

ETH = 10**18


@pytest.fixture
def revm(chain, protocol):
    if not isinstance(chain, RevmChain):
        pytest.skip("revm backend only")
    return chain


def test_a_mainnet_round_jump_keeps_tickets_and_block_hashes_working_on_revm(revm, deploy, accounts):
    _round_jump(revm, deploy, accounts)


def test_blockhash_window_matches_block_hash_after_a_jump_on_revm(revm, protocol):
    _blockhash_window(revm, protocol)


def test_block_hashes_are_revms_rule(revm):
    revm.mine(3)
    assert [revm.block_hash(n) for n in (0, 1, 3)] == [keccak(str(n).encode()) for n in (0, 1, 3)]


def test_nested_reused_and_stale_snapshots(revm, protocol, accounts):
    bm, token, a = protocol.BondingManager, protocol.LivepeerToken, accounts[1]
    outer = revm.snapshot()
    start = (revm.block_number, revm.eth_balance(a.address), token.allowance(a.address, bm.address))
    token.approve(bm.address, 100 * LPT, sender=a)
    inner = revm.snapshot()
    bm.bond(10 * LPT, a.address, sender=a)
    revm.revert(outer)  # past `inner` too
    assert (revm.block_number, revm.eth_balance(a.address), token.allowance(a.address, bm.address)) == start
    with pytest.raises(ChainError):
        revm.revert(inner)  # taken after `outer`, gone with it
    token.approve(bm.address, 5 * LPT, sender=a)
    revm.revert(outer)  # a token stays usable
    assert (revm.block_number, revm.eth_balance(a.address), token.allowance(a.address, bm.address)) == start
    with pytest.raises(TransactionFailed):
        bm.bond(10**30, a.address, sender=a)
    assert (revm.block_number, revm.eth_balance(a.address)) == start[:2]
    r = token.approve(bm.address, 1, sender=a)
    assert revm.eth_balance(a.address) == start[1] - r.gas_cost


def test_memory_stays_bounded_over_many_transactions(monkeypatch):
    """Journal, checkpoints and accounts stay bounded over thousands of transactions (the chain
    compacts itself), and a compaction keeps state, nonces, balances and code exactly."""
    import node.eth.revm as revm_module
    from tests.conftest import TEST_PARAMS
    from node.eth import deploy_protocol

    monkeypatch.setattr(revm_module, "_COMPACT_FRAMES", 600)
    chain = RevmChain(num_accounts=6)
    protocol = deploy_protocol(chain, TEST_PARAMS)
    token, bm, accounts = protocol.LivepeerToken, protocol.BondingManager, chain.accounts

    def observed():
        evm = chain.evm
        infos = [evm.basic(a) for a in [x.address for x in accounts] + [token.address, bm.address]]
        return ([(i.balance, i.nonce, i.code_hash) for i in infos],  # the code hash: the code, exactly
                [token.balanceOf(a.address) for a in accounts], token.allowance(accounts[1].address, bm.address),
                token.totalSupply(), chain.block_number)

    start = observed()
    sizes = []
    for i in range(3000):
        sender = accounts[1 + i % 5]
        token.approve(bm.address, i, sender=sender)
        assert token.allowance(sender.address, bm.address) == i
        if i % 500 == 499:
            evm = chain.evm
            sizes.append((evm.journal_len, len(evm.journal_state), len(evm.db_accounts), len(evm.checkpoint_ids)))
    assert chain.compactions >= 4
    assert max(s[0] for s in sizes) < 2 * 600 + 200
    assert max(max(s[1:]) for s in sizes) < 600
    before = observed()
    assert (before[1], before[3], before[0][0]) == (start[1], start[3], start[0][0])  # LPT balances, supply; deployer ETH
    assert [i[1:] for i in before[0][6:]] == [i[1:] for i in start[0][6:]]  # the contracts' nonces and code
    chain._compact()
    assert observed() == before
    assert len(chain.evm.journal_state) + len(chain.evm.db_accounts) < 100  # no gas sinks left
    assert token.transfer(accounts[2].address, 5, sender=accounts[1])  # and it goes on working
    assert token.balanceOf(accounts[2].address) == before[1][2] + 5
