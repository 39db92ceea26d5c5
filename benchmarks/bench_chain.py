"""Chain-layer speed on the embedded backend (web3.py over eth-tester / py-evm).

Prints: deployment time (cold: compiling the Vyper sources; warm: from the compile cache), and
transactions per second for bond, reward and redeemWinningTicket, each next to the rate of a
plain ETH transfer measured in the same run (the per-transaction floor of the backend).

    python benchmarks/bench_chain.py [--n 40]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.core.ticket import MAX_WIN_PROB, Ticket, recipient_rand_hash, sign_ticket  # noqa: E402
from node.eth import LPT, EmbeddedChain, ProtocolParams, compile_contract, deploy_protocol  # noqa: E402
from node.eth import compiler  # noqa: E402

ETH = 10**18


def rate(fn, items) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="transactions per measurement (default 40)")
    args = ap.parse_args()
    n = args.n
    params = ProtocolParams(round_length=10_000, num_active_transcoders=max(100, n), lpt_per_account=1_000_000 * LPT)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LPSIM_CACHE_DIR"] = tmp
        compiler._memory.clear()
        start = time.perf_counter()
        chain = EmbeddedChain(num_accounts=2 * n + 2)
        deploy_protocol(chain, params)
        cold = time.perf_counter() - start
    compiler._memory.clear()
    os.environ.pop("LPSIM_CACHE_DIR")
    from contracts import PROTOCOL_CONTRACTS
    for name in PROTOCOL_CONTRACTS:
        compile_contract(name)  # fill the normal cache
    warm = []
    for _ in range(3):
        start = time.perf_counter()
        chain = EmbeddedChain(num_accounts=2 * n + 2)
        proto = deploy_protocol(chain, params)
        warm.append(time.perf_counter() - start)
    print(f"deployment: cold (compile + deploy) {cold:.2f} s; warm (cached) median {statistics.median(warm):.2f} s "
          f"({len(PROTOCOL_CONTRACTS)} contracts, wiring and funding {len(chain.accounts)} accounts)")

    accts = chain.accounts
    orchs, dels = accts[1:n + 1], accts[n + 1:2 * n + 1]
    gateway = accts[-1]
    bm, tb, token = proto.BondingManager, proto.TicketBroker, proto.LivepeerToken

    transfer = rate(lambda a: chain.send_eth(a, gateway.address, 1), orchs)

    for a in orchs + dels:
        token.approve(bm.address, 10_000 * LPT, sender=a)
    bond_self = rate(lambda a: bm.bond(1000 * LPT, a.address, sender=a), orchs)
    bond = rate(lambda pair: bm.bond(1000 * LPT, pair[1].address, sender=pair[0]), list(zip(dels, orchs)))

    proto.next_round()
    reward = rate(lambda a: bm.reward(sender=a), orchs)

    tb.fundDeposit(sender=gateway, value=1000 * ETH)
    rnd = proto.current_round()
    block_hash = proto.RoundsManager.blockHashForRound(rnd)
    recipient = orchs[0]
    tickets = []
    for nonce in range(1, n + 1):
        t = Ticket(recipient.address, gateway.address, ETH // 1000, MAX_WIN_PROB, nonce, recipient_rand_hash(nonce), rnd, block_hash)
        tickets.append((t.as_abi_tuple(), sign_ticket(t, gateway.key), nonce))
    redeem = rate(lambda t: tb.redeemWinningTicket(*t, sender=recipient), tickets)

    print(f"transactions per second (n={n} each), ratio to a plain ETH transfer ({transfer:.1f} tx/s) in this run:")
    for name, value in (("bond (self)", bond_self), ("bond (delegate)", bond), ("reward", reward),
                        ("redeemWinningTicket", redeem)):
        print(f"  {name:<22} {value:7.1f} tx/s   x{value / transfer:.2f}")


if __name__ == "__main__":
    main()
