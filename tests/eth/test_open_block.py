"""PythonHeadChain.open_block: many transactions in one block (fast and revm backends)."""
import pytest

from node.eth import ChainError, FastChain, RevmChain


@pytest.fixture(params=[FastChain, RevmChain], ids=["fast", "revm"])
def chain(request):
    return request.param(num_accounts=3)


def test_transactions_share_the_open_block_until_the_next_mine(chain):
    a, b = chain.accounts[1], chain.accounts[2]
    start, ts = chain.block_number, chain.timestamp
    chain.open_block(start + 10, ts + 120)
    assert chain.block_number == start  # nothing landed yet
    r1 = chain.send_eth(a, b.address, 1)
    r2 = chain.send_eth(a, b.address, 1)
    assert r1.block_number == r2.block_number == chain.block_number == start + 10
    assert chain.timestamp == ts + 120
    chain.mine(1)
    assert chain.send_eth(a, b.address, 1).block_number == start + 12


def test_snapshot_restores_the_open_block(chain):
    a, b = chain.accounts[1], chain.accounts[2]
    chain.open_block(chain.block_number + 5, chain.timestamp + 60)
    token = chain.snapshot()
    chain.mine(3)
    chain.revert(token)
    assert chain.send_eth(a, b.address, 1).block_number == token[1] + 5


@pytest.mark.parametrize("dn, dt", [(-1, 0), (0, 1), (1, 0)])
def test_open_block_refuses_the_past(chain, dn, dt):
    chain.mine(2)
    with pytest.raises(ChainError, match="cannot open block"):
        chain.open_block(chain.block_number + dn, chain.timestamp + dt)
