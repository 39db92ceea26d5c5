"""The main job at this stage: a few orchestrators and delegators on the embedded chain, run
round by round with the contracts doing all the economics, reported as a per-round table.

Each round: initialise it, then every active orchestrator calls `reward`. The figures are
read back from the contracts: inflation and mintable tokens from the Minter, the bonding rate
the Minter used (active stake / global supply), minted tokens, total supply, total bonded.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from node.eth import LPT, EmbeddedChain, Protocol, ProtocolParams, deploy_protocol


@dataclass(frozen=True)
class RoundRow:
    round: int
    inflation: int  # 1e9 units per round
    bonding_rate: int  # 1e9 units: active stake / global supply, as the Minter computed it
    mintable: int  # LPT wei
    minted: int  # LPT wei
    total_supply: int  # LPT wei
    total_bonded: int  # LPT wei: the round's active stake (BondingManager.getTotalBonded)
    rewards_called: int


def setup_network(protocol: Protocol, orchestrators: int, delegators: int, rng: random.Random) -> list:
    """Bond `orchestrators` self-delegated orchestrators and `delegators` delegators to them.

    Stakes are drawn from `rng`: orchestrators self-bond 10–60 % of their LPT, delegators
    bond 5–90 % of theirs to an orchestrator chosen in proportion to its self-bond.
    """
    accounts = protocol.chain.accounts[1:]
    if len(accounts) < orchestrators + delegators:
        raise ValueError(f"need {orchestrators + delegators} accounts besides the owner, chain has {len(accounts)}")
    orchs, dels = accounts[:orchestrators], accounts[orchestrators:orchestrators + delegators]
    balance = protocol.params.lpt_per_account
    self_bonds = []
    for o in orchs:
        amount = balance * rng.randint(10, 60) // 100
        protocol.approve_and_bond(o, amount, o.address)
        protocol.BondingManager.transcoder(rng.randint(0, 50) * 10_000, rng.randint(50, 100) * 10_000, sender=o)
        self_bonds.append(amount)
    for d in dels:
        to = rng.choices(orchs, weights=self_bonds)[0]
        protocol.approve_and_bond(d, balance * rng.randint(5, 90) // 100, to.address)
    return orchs


def run_round(protocol: Protocol, orchestrators: list) -> RoundRow:
    bm, minter = protocol.BondingManager, protocol.Minter
    rnd = protocol.next_round()
    called = 0
    for o in orchestrators:
        if bm.isActiveTranscoder(o.address) and bm.getTranscoder(o.address)[0] != rnd:
            bm.reward(sender=o)
            called += 1
    supply = minter.getGlobalTotalSupply()
    active = bm.getTotalBonded()
    return RoundRow(
        round=rnd,
        inflation=minter.inflation(),
        bonding_rate=0 if supply == 0 else active * 10**9 // supply,
        mintable=minter.currentMintableTokens(),
        minted=minter.currentMintedTokens(),
        total_supply=protocol.LivepeerToken.totalSupply(),
        total_bonded=active,
        rewards_called=called,
    )


def run(params: ProtocolParams, orchestrators: int, delegators: int, rounds: int, seed: int, on_row=None) -> list[RoundRow]:
    chain = EmbeddedChain(num_accounts=1 + orchestrators + delegators)
    protocol = deploy_protocol(chain, params)
    orchs = setup_network(protocol, orchestrators, delegators, random.Random(seed))
    rows = []
    for _ in range(rounds):
        row = run_round(protocol, orchs)
        rows.append(row)
        if on_row:
            on_row(row)
    return rows


HEADER = f"{'round':>5} {'inflation ppb':>13} {'bonding rate':>12} {'mintable LPT':>14} {'minted LPT':>14} {'total supply LPT':>18} {'total bonded LPT':>18} {'rewards':>7}"


def format_row(row: RoundRow) -> str:
    def lpt(wei: int) -> str:
        return f"{wei / LPT:,.2f}"

    return (f"{row.round:>5} {row.inflation:>13,} {row.bonding_rate / 1e7:>11.2f}% {lpt(row.mintable):>14} "
            f"{lpt(row.minted):>14} {lpt(row.total_supply):>18} {lpt(row.total_bonded):>18} {row.rewards_called:>7}")
