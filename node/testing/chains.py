"""Chains by backend name, and the protocol parameters the fixtures deploy by default."""
from __future__ import annotations

from node.eth import LPT, EmbeddedChain, FastChain, ProtocolParams, RevmChain
from node.eth.chain import Chain

BACKENDS = {"embedded": EmbeddedChain, "fast": FastChain, "revm": RevmChain}

# Mainnet's rules with short rounds and periods, so that a test can cross rounds, unbonding and
# ticket validity in a few hundred blocks (mainnet's 6,377-block rounds take seconds each to mine).
TEST_PARAMS = ProtocolParams(
    round_length=100,
    unbonding_period=2,
    num_active_transcoders=10,
    inflation=10_000_000,  # 1 % per round
    inflation_change=500,
    target_bonding_rate=500_000_000,
    unlock_period=2,
    ticket_validity_period=2,
    lpt_per_account=1_000_000 * LPT,
)


def make_chain(backend: str, num_accounts: int = 20) -> Chain:
    """A fresh in-process chain: "embedded" (web3.py over eth-tester/py-evm: full JSON-RPC
    semantics), "fast" (titanoboa on py-evm) or "revm" (pyrevm)."""
    try:
        cls = BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown lpsim backend {backend!r}; choose one of {', '.join(BACKENDS)}") from None
    return cls(num_accounts=num_accounts)
