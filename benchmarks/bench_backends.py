"""Chain backends side by side: EmbeddedChain (web3.py over eth-tester / py-evm), FastChain
(py-evm driven directly through titanoboa's VM wrapper) and RevmChain (revm through pyrevm), same
compiled contracts.

Prints, per backend and as ratios to the embedded backend:
- transactions per second for bond, reward, redeemWinningTicket and initializeRound (only the
  transactions are timed; the mining before each initializeRound is not);
- the wall time of the economics scenario: 100 rounds, 100 active orchestrators each calling
  reward every round, 1,000 delegators. Run in full on RevmChain. On FastChain and the embedded
  backend a reduced version (100 orchestrators, --fast-rounds / --embedded-rounds rounds, 100
  delegators) is timed and extrapolated to 100 rounds, labelled as such: delegators only add
  setup transactions, the per-round cost is the 100 rewards and initializeRound.

    python benchmarks/bench_backends.py [--n 100] [--n-embedded 40] [--fast-rounds 5] [--embedded-rounds 2] [--skip-embedded]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contracts import PROTOCOL_CONTRACTS  # noqa: E402
from node.core.ticket import MAX_WIN_PROB, Ticket, recipient_rand_hash, sign_ticket  # noqa: E402
from node.eth import LPT, EmbeddedChain, FastChain, ProtocolParams, RevmChain, compile_contract, deploy_protocol  # noqa: E402

ETH = 10**18
ROUND_LENGTH = 1000  # blocks per round while rounds are being run
SETUP_ROUND_LENGTH = 100_000  # long enough that setup never crosses a round boundary
ORCHS = 100


def timed(fn, items) -> float:
    """Transactions per second of fn over items."""
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def tx_rates(backend, n: int) -> dict[str, float]:
    params = ProtocolParams(round_length=SETUP_ROUND_LENGTH, num_active_transcoders=max(ORCHS, n), lpt_per_account=1_000_000 * LPT)
    chain = backend(num_accounts=2 * n + 2)
    proto = deploy_protocol(chain, params)
    accts = chain.accounts
    orchs, dels, gateway = accts[1:n + 1], accts[n + 1:2 * n + 1], accts[-1]
    bm, tb, token, rm = proto.BondingManager, proto.TicketBroker, proto.LivepeerToken, proto.RoundsManager
    for a in orchs + dels:
        token.approve(bm.address, 10_000 * LPT, sender=a)
    out = {}
    bond_self = timed(lambda a: bm.bond(1000 * LPT, a.address, sender=a), orchs)
    bond_del = timed(lambda pair: bm.bond(1000 * LPT, pair[1].address, sender=pair[0]), list(zip(dels, orchs)))
    out["bond"] = 2 / (1 / bond_self + 1 / bond_del)  # both kinds, n each
    proto.next_round()
    out["reward"] = timed(lambda a: bm.reward(sender=a), orchs)
    tb.fundDeposit(sender=gateway, value=1000 * ETH)
    rnd = proto.current_round()
    block_hash = rm.blockHashForRound(rnd)
    tickets = []
    for nonce in range(1, n + 1):
        t = Ticket(orchs[0].address, gateway.address, ETH // 1000, MAX_WIN_PROB, nonce, recipient_rand_hash(nonce), rnd, block_hash)
        tickets.append((t.as_abi_tuple(), sign_ticket(t, gateway.key), nonce))
    out["redeemWinningTicket"] = timed(lambda t: tb.redeemWinningTicket(*t, sender=orchs[0]), tickets)
    rm.setRoundLength(ROUND_LENGTH, sender=proto.owner)
    rounds = max(5, n // 4)
    spent = 0.0
    for _ in range(rounds):
        chain.mine(proto.next_round_start_block() - 1 - chain.block_number)
        start = time.perf_counter()
        rm.initializeRound(sender=proto.owner)
        spent += time.perf_counter() - start
    out["initializeRound"] = rounds / spent
    return out


def scenario(backend, rounds: int, delegators: int) -> dict[str, float]:
    """100 orchestrators, `delegators` delegators spread over them, `rounds` rounds of
    initializeRound + 100 rewards. Returns setup and run times."""
    t0 = time.perf_counter()
    chain = backend(num_accounts=1 + ORCHS + delegators)
    t_accounts = time.perf_counter() - t0
    params = ProtocolParams(round_length=SETUP_ROUND_LENGTH, num_active_transcoders=ORCHS, lpt_per_account=10_000 * LPT)
    t0 = time.perf_counter()
    proto = deploy_protocol(chain, params)
    bm, token = proto.BondingManager, proto.LivepeerToken
    orchs = chain.accounts[1:1 + ORCHS]
    dels = chain.accounts[1 + ORCHS:]
    for i, o in enumerate(orchs):
        proto.approve_and_bond(o, (1000 + i) * LPT, o.address)
        bm.transcoder(50_000, 500_000, sender=o)
    for i, d in enumerate(dels):
        proto.approve_and_bond(d, 100 * LPT, orchs[i % ORCHS].address)
    proto.RoundsManager.setRoundLength(ROUND_LENGTH, sender=proto.owner)
    proto.next_round()
    t_setup = time.perf_counter() - t0
    txs = 0
    t0 = time.perf_counter()
    for _ in range(rounds):
        proto.next_round()
        for o in orchs:
            bm.reward(sender=o)
        txs += 1 + ORCHS
    t_run = time.perf_counter() - t0
    assert bm.getTotalBonded() > sum((1000 + i) * LPT for i in range(ORCHS)) + len(dels) * 100 * LPT
    return {"accounts_s": t_accounts, "setup_s": t_setup, "run_s": t_run, "tx": txs, "rounds": rounds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="transactions per measurement on the in-process backends")
    ap.add_argument("--n-embedded", type=int, default=40, help="transactions per measurement on the embedded backend")
    ap.add_argument("--fast-rounds", type=int, default=5, help="rounds of the reduced FastChain scenario")
    ap.add_argument("--embedded-rounds", type=int, default=2, help="rounds of the reduced embedded scenario")
    ap.add_argument("--skip-embedded", action="store_true")
    args = ap.parse_args()
    for name in PROTOCOL_CONTRACTS:
        compile_contract(name)  # compile outside every timing

    rates = {"revm": tx_rates(RevmChain, args.n), "fast": tx_rates(FastChain, args.n)}
    if not args.skip_embedded:
        rates["embedded"] = tx_rates(EmbeddedChain, args.n_embedded)
    names = list(rates)
    print("contract transactions per second" + ("" if args.skip_embedded else " (and ratio to embedded)"))
    print(f"  {'':<22}" + "".join(f"{n:>10}" for n in names))
    for k in rates["revm"]:
        row = "".join(f"{rates[n][k]:10.1f}" for n in names)
        if "embedded" in rates:
            row += "   " + "  ".join(f"{n} x{rates[n][k] / rates['embedded'][k]:.1f}" for n in names[:-1])
        print(f"  {k:<22}{row}")

    full = scenario(RevmChain, 100, 1000)
    print(f"\nscenario: {full['rounds']} rounds x (initializeRound + {ORCHS} rewards), {ORCHS} orchestrators, 1000 delegators")
    print(f"  revm (full run):       run {full['run_s']:.2f} s ({full['tx'] / full['run_s']:.0f} tx/s); "
          f"setup {full['setup_s']:.2f} s, {1 + ORCHS + 1000} accounts derived in {full['accounts_s']:.2f} s")
    reduced = [("fast", FastChain, args.fast_rounds)]
    if not args.skip_embedded:
        reduced.append(("embedded", EmbeddedChain, args.embedded_rounds))
    for label, backend, rounds in reduced:
        red = scenario(backend, rounds, 100)
        per_round = red["run_s"] / red["rounds"]
        print(f"  {label} (REDUCED: {red['rounds']} rounds, 100 delegators): run {red['run_s']:.2f} s "
              f"({red['tx'] / red['run_s']:.1f} tx/s); EXTRAPOLATED to 100 rounds: {100 * per_round:.0f} s, "
              f"revm x{100 * per_round / full['run_s']:.1f} faster")


if __name__ == "__main__":
    main()
