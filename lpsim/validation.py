"""Validation against the real network (spec network.md §7.1 and §7.8): the recorded daily chain
data in `lpsim.data` replayed through the protocol contracts, and the recorded fee flow compared
with a simulation's.

Inflation replay (§7.1)
-----------------------
`replay_inflation()` deploys the protocol on `RevmChain` with the Minter at the first recorded
inflation (220,500 ppb on 2022-02-18), inflationChange 500 and targetBondingRate 50 % (the
arbitrumMainnet values), and initialises the same rounds mainnet initialised, at the same L1
blocks (5760-block rounds, then `setRoundLength(6377)` in round 2725 as LIP-83 did; a jump of a
whole round is one `mine` call). Before each initialisation it puts on chain the bonded stake and
the supply the Minter read on mainnet, and after it reads `Minter.inflation()`.

How the recorded bonding rate is fed. `Minter.setCurrentRewardTokens` reads exactly two numbers:
`BondingManager.getTotalBonded()` (the active stake snapshotted at the round's initialisation)
and `getGlobalTotalSupply()` (L2 `LivepeerToken.totalSupply()` + `L2LPTDataCache
.l1CirculatingSupply()`), and steps ±500 by `bonded · 1e9 // supply` against the target. So the
replay sets both to the recorded integers with ordinary protocol transactions and lets the
contract do its own arithmetic:

- stake: one orchestrator, self-bonded and registered, whose bond is raised (`bond`, minting the
  LPT it lacks) or lowered (`unbond` + `withdrawStake`; the unbonding period is 0 so the LPT
  comes straight back) to the target before the initialisation; the snapshot
  (`nextRoundTotalActiveStake` -> `currentRoundTotalActiveStake`) is then that exact integer;
- supply: `L2LPTDataCache.setL1CirculatingSupply(target - LPT.totalSupply())`, the knob mainnet
  has for the L1 part of the supply. The L2 supply here only ever holds the running maximum of the
  bonded stake, which never exceeds the recorded supply, so the L1 term is never negative.

Which numbers. A daily sample falls inside a round; `getTotalBonded()` is constant through a
round, so the sample's `bonded` is exactly what that round's initialisation read. The supply
grows through the round (reward calls mint), so the sample's supply over-states the supply at
initialisation; the replay uses the supply of the latest sample *before* the initialisation (a
lower bound, short by the reward calls made after that sample). With the sample's own supply
instead, 12 matched rounds mismatch instead of 1 (2022-04-19/20/21, 2023-01-06/07,
2025-04-19/22/23, 2025-08-09, 2025-09-03/06, and 2023-02-03 below): the recorded rate there sits
within one round's mint (0.02-0.07 %) of 50 %. A day with two
initialisations (≈ 1 day in 8.6: rounds are ~21.3 h) leaves one round with no sample; it is fed the
midpoint of its neighbours' bonded stake (the stake snapshots one round before and one after) and
the previous sample's supply.

Which rounds. `lpsim.data` places every sample in its round (how: lpsim/data/README.md). Rounds
nobody initialised (one, between 2022-06-23 and 06-24) are mined through without initialising,
as on mainnet. A *matched round* is a round with a sample: 1,501 of them after the first.

Results (`lpsim.data` as shipped; full replay: 1,678 initialisations, rounds 2469..4147, 3-4 s here):

- per-round check (`resync=True`, the default: after a mismatch the Minter is replaced by one
  seeded with the recorded value, with `migrateToNewMinter` as mainnet would, so every matched
  round tests one step of the rule): 1,500 of 1,501 matched rounds equal the recorded inflation
  exactly (99.93 %). The one mismatch, 2023-02-03 (recorded 202,000 -> 202,000 across two
  rounds), is the unsampled round: the bonded stake fell from 50.29 % to 43.84 % of supply in that
  day, the interpolated midpoint (47 %) says +500 but mainnet's first initialisation still saw
  more than 50 % (-500) and the second less (+500). The data cannot tell which.
- free-running (`resync=False`, the literal replay: seeded once, never corrected): every matched
  round equals the recorded inflation up to 2023-02-02 (349 of 1,501), and from 2023-02-03 to the
  end (1,152 rounds) the replay runs exactly +1,000 ppb above the recorded series: the one
  undetermined round shifts everything after it, and no other step differs. The recorded path
  (bottom 197,000 in Dec 2022, peak 702,000 in Oct 2025, 613,500 on 2026-03-30) is reproduced
  with that offset.
- every initialisation steps by exactly ±500 (the rate is never exactly 50 %).

Other things that could cause a mismatch, and why they do not here: the deployment config's
218,500 (the 221,500 -> 218,500 projection in the migrations config) is irrelevant because the
replay starts from the first recorded value, 220,500; a rate of exactly 50 % (no step) does not
occur (closest: 2022-07-31, 0.500017, a day of two rounds that cancelled); the inflation floor (0)
is never approached.

Fee flow (§7.8)
---------------
`fee_flow_per_day(results_dir)` turns a run's metrics (orchestrators' cumulative `tickets_won`,
`tickets_redeemed`, `fees_realised_wei`, `fees_expected_wei`) into winning tickets per day and ETH
per day, scaled by the simulated time covered; `fee_flow_runs(folder)` does it for every run of a
sweep folder. `recorded_fee_range("2026Q1")` is the recorded daily range from `lpsim.data`
(`fees.csv`: 88 days, 0.725-2.022 ETH/day, 314-787 winning tickets/day; 5th-95th percentiles
0.825-1.421 ETH and 349-691 tickets). Mainnet's daily counts are `WinningTicketTransfer` events,
i.e. redeemed winning tickets, and their summed face values; the matching simulated figures are
`tickets_redeemed` and `fees_realised_wei` (the won-ticket count is reported too).
`scenarios/fee-flow.yaml` is calibrated to that quarter (face value 100 × 1.2 M gas × 0.019 gwei =
0.00228 ETH, the quarter's median ETH per winning ticket; ~20 live video-to-video streams at
25,000 wei a unit: ~1.2 ETH and ~530 winning tickets a day in steady state). Over `lpsim run
--seed 1..10` (150 simulated minutes each, ~12 s of simulation each), measured after a 30-minute
warm-up (`since_s=1800`): 348-708 winning tickets/day (mean 538) and 0.79-1.61 ETH/day (mean 1.23);
over the whole run (the streams ramp up from none): 374-576 and 0.85-1.31 (means 478 and 1.09).
All within the recorded range.

Plots: `plot_inflation_replay(replay)` and `plot_fee_flow(sim_values, recorded)` return
matplotlib `Figure`s (object API, no pyplot state).
"""
from __future__ import annotations

import glob
import statistics
import time as _time
from dataclasses import asdict, dataclass, field
from datetime import date as _date
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from lpsim import data as _data
from lpsim import metric_names as M
from lpsim.results import load_results

__all__ = [
    "INFLATION_CHANGE",
    "TARGET_BONDING_RATE",
    "FeeFlow",
    "InflationReplay",
    "ReplayRow",
    "RoundFeed",
    "feed_schedule",
    "fee_flow_check",
    "fee_flow_per_day",
    "fee_flow_runs",
    "plot_fee_flow",
    "plot_inflation_replay",
    "recorded_fee_range",
    "recorded_fee_series",
    "replay_inflation",
]

PERC_DIVISOR = 10**9
INFLATION_CHANGE = 500  # ppb per round (arbitrumMainnet)
TARGET_BONDING_RATE = 500_000_000  # 50 % in 1e9 units
SECONDS_PER_DAY = 86_400
WEI_PER_ETH = 10**18


# =============================================================================================
# inflation replay


@dataclass(frozen=True)
class RoundFeed:
    """What the Minter reads at one round's initialisation."""

    round: int
    bonded: int  # wei: becomes BondingManager.getTotalBonded()
    supply: int  # wei: becomes Minter.getGlobalTotalSupply()
    sample: Optional[int]  # index of the sample in this round (None: no sample fell in it)

    @property
    def bonding_rate_ppb(self) -> int:
        """The Minter's own arithmetic: bonded · 1e9 // supply."""
        return self.bonded * PERC_DIVISOR // self.supply


def _interval_feeds(prev: dict[str, Any], row: dict[str, Any], index: int) -> list[RoundFeed]:
    """The rounds initialised between two consecutive samples (`row` is sample `index`)."""
    n = row["rounds_initialised"]
    if n == 0:
        return []
    feeds = []
    if n == 2:
        feeds.append(RoundFeed(row["round"] - 1, (prev["bonded_wei"] + row["bonded_wei"]) // 2,
                               prev["total_supply_wei"], None))
    elif n != 1:
        raise ValueError(f"{row['date']}: rounds_initialised must be 0, 1 or 2, got {n}")
    feeds.append(RoundFeed(row["round"], row["bonded_wei"], prev["total_supply_wei"], index))
    return feeds


def feed_schedule(rows: Sequence[dict[str, Any]]) -> list[RoundFeed]:
    """The rounds to initialise after the first sample, in order, with what each must read.

    `rows` are `lpsim.data.inflation_daily()` rows (or a slice of them). A sampled round reads its
    sample's bonded stake and the previous sample's supply; a round between two samples reads the
    midpoint of their bonded stakes and the earlier sample's supply (module docstring)."""
    return [f for i in range(1, len(rows)) for f in _interval_feeds(rows[i - 1], rows[i], i)]


@dataclass(frozen=True)
class ReplayRow:
    """One matched round: a daily sample, what mainnet recorded and what the contract produced."""

    date: str
    round: int
    rounds_initialised: int  # initialisations since the previous sample (0, 1 or 2)
    recorded_inflation: int  # ppb
    replayed_inflation: int  # ppb: Minter.inflation() in the replay
    recorded_bonding_rate: float  # bonded / supply at the sample
    fed_bonding_rate_ppb: int  # bonded · 1e9 // supply as the Minter read it at this round
    recorded_step: int  # change since the previous sample
    replayed_step: int  # the contract's change over the same initialisations
    match: bool  # replayed == recorded
    reseeded: bool = False  # a mismatch after which the Minter was re-seeded (resync=True)


@dataclass
class InflationReplay:
    """A replay's table (one row per matched round) and every initialisation's step."""

    rows: list[ReplayRow]
    steps: list[tuple[int, int, int]]  # (round, inflation before, inflation after) per initialisation
    resync: bool
    seconds: float  # wall time of the replay
    start: ReplayRow = field(default=None)  # the first sample: the seed, not a comparison

    @property
    def compared(self) -> int:
        return len(self.rows)

    @property
    def matched(self) -> int:
        return sum(r.match for r in self.rows)

    @property
    def match_rate(self) -> float:
        return self.matched / self.compared if self.rows else float("nan")

    @property
    def mismatches(self) -> list[ReplayRow]:
        return [r for r in self.rows if not r.match]

    def offsets(self) -> dict[int, int]:
        """How many matched rounds are off by each amount (replayed - recorded, ppb)."""
        out: dict[int, int] = {}
        for r in self.rows:
            d = r.replayed_inflation - r.recorded_inflation
            out[d] = out.get(d, 0) + 1
        return dict(sorted(out.items()))

    def table(self) -> list[dict[str, Any]]:
        """The rows as dicts (round, date, recorded and replayed inflation, bonding rate, match...)."""
        return [asdict(r) for r in self.rows]

    def to_dataframe(self):
        import pandas as pd  # optional

        return pd.DataFrame(self.table())

    def summary(self) -> str:
        mode = "re-seeded after each mismatch" if self.resync else "free-running"
        lines = [f"inflation replay ({mode}): {self.matched} of {self.compared} matched rounds equal the recorded "
                 f"inflation ({100 * self.match_rate:.2f} %), {len(self.steps)} initialisations in {self.seconds:.1f} s"]
        bad_steps = [s for s in self.steps if abs(s[2] - s[1]) != INFLATION_CHANGE]
        lines.append(f"steps of exactly ±{INFLATION_CHANGE}: {len(self.steps) - len(bad_steps)} of {len(self.steps)}")
        if not self.resync:
            lines.append(f"offsets (ppb: rounds): {self.offsets()}")
        for r in self.mismatches[:10]:
            lines.append(f"  mismatch {r.date} round {r.round}: recorded {r.recorded_inflation}, replayed "
                         f"{r.replayed_inflation} (rate {r.recorded_bonding_rate:.6f}, {r.rounds_initialised} round(s))")
        return "\n".join(lines)


class _ChainReplay:
    """The protocol on RevmChain at mainnet's L1 block numbers, with one orchestrator holding the
    whole bonded stake and the L1 supply knob holding the rest of the supply."""

    def __init__(self, first_round: int, inflation: int, bonded: int, supply: int) -> None:
        from node.eth import ProtocolParams, RevmChain, deploy_protocol

        self.chain = RevmChain(num_accounts=2)
        self.owner, self.orch = self.chain.accounts[0], self.chain.accounts[1]
        params = ProtocolParams(round_length=_data.ROUND_LENGTH_BEFORE_LIP83, inflation=inflation,
                                inflation_change=INFLATION_CHANGE, target_bonding_rate=TARGET_BONDING_RATE,
                                unbonding_period=0, lpt_per_account=0, treasury_reward_cut_rate=0)
        self.p = deploy_protocol(self.chain, params)  # initialises round 0 (the Minter is re-seeded below)
        self.lip83_done = first_round > _data.LIP83_ROUND
        if self.lip83_done:  # a replay that starts after LIP-83: switch the length on the way
            self._mine_to(_data.LIP83_START_BLOCK - 1)
            self.p.RoundsManager.setRoundLength(_data.ROUND_LENGTH_AFTER_LIP83, sender=self.owner)
        self.initialize(first_round)
        token, bm = self.p.LivepeerToken, self.p.BondingManager
        from node.eth.deploy import MINTER_ROLE

        token.grantRole(MINTER_ROLE, self.owner.address, sender=self.owner)
        token.approve(bm.address, 2**255, sender=self.orch)
        token.mint(self.orch.address, bonded, sender=self.owner)
        bm.bond(bonded, self.orch.address, sender=self.orch)
        bm.transcoder(0, 0, sender=self.orch)
        self.bonded, self.next_lock = bonded, 0
        self.set_supply(supply)
        self.seed_minter(inflation)

    def _mine_to(self, block: int) -> None:
        """Make `block` the latest mined block (the next transaction lands in block + 1)."""
        n = block - self.chain.block_number
        if n < 0:
            raise RuntimeError(f"chain is at block {self.chain.block_number}, past {block}")
        self.chain.mine(n)

    def seed_minter(self, inflation: int) -> None:
        """Replace the Minter by a fresh one at `inflation`, as mainnet replaces a Minter: deploy,
        migrateToNewMinter (moves the LPT it holds), register it in the Controller."""
        from node.eth.compiler import compile_contract
        from node.eth.deploy import NULL_COMMIT, contract_id

        old = self.p.Minter
        new = self.chain.deploy(compile_contract("Minter"), self.p.Controller.address, inflation,
                                INFLATION_CHANGE, TARGET_BONDING_RATE, sender=self.owner)
        old.migrateToNewMinter(new.address, sender=self.owner)
        self.p.Controller.setContractInfo(contract_id("Minter"), new.address, NULL_COMMIT, sender=self.owner)
        self.p.contracts["Minter"] = new

    def set_stake(self, target: int) -> None:
        bm, token = self.p.BondingManager, self.p.LivepeerToken
        delta = target - self.bonded
        if delta > 0:
            short = delta - token.balanceOf(self.orch.address)
            if short > 0:
                token.mint(self.orch.address, short, sender=self.owner)
            bm.bond(delta, self.orch.address, sender=self.orch)
        elif delta < 0:
            bm.unbond(-delta, sender=self.orch)
            bm.withdrawStake(self.next_lock, sender=self.orch)
            self.next_lock += 1
        self.bonded = target

    def set_supply(self, target: int) -> None:
        l1 = target - self.p.LivepeerToken.totalSupply()
        if l1 < 0:
            raise RuntimeError(f"L2 supply exceeds the recorded supply {target}")
        self.p.L2LPTDataCache.setL1CirculatingSupply(l1, sender=self.owner)

    def initialize(self, round_: int) -> None:
        """Mine to `round_`'s first block and initialise it there (rounds in between are skipped)."""
        if not self.lip83_done and round_ >= _data.LIP83_ROUND:
            self._mine_to(_data.LIP83_START_BLOCK - 1)
            # lands in block 15,696,000: round 2725 under the old length becomes the first 6377-block one
            self.p.RoundsManager.setRoundLength(_data.ROUND_LENGTH_AFTER_LIP83, sender=self.owner)
            self.lip83_done = True
        start = _data.round_start_block(round_)
        if self.chain.block_number < start - 1:
            self._mine_to(start - 1)
        self.p.RoundsManager.initializeRound(sender=self.owner)
        current = self.p.RoundsManager.currentRound()
        if current != round_:
            raise RuntimeError(f"initialised round {current}, wanted {round_}")

    def feed(self, f: RoundFeed) -> int:
        self.set_stake(f.bonded)
        self.set_supply(f.supply)
        self.initialize(f.round)
        minter = self.p.Minter
        read = (self.p.BondingManager.getTotalBonded(), minter.getGlobalTotalSupply())
        if read != (f.bonded, f.supply):
            raise RuntimeError(f"round {f.round}: the Minter read {read}, not {(f.bonded, f.supply)}")
        return minter.inflation()


def _select(rows: list[dict[str, Any]], start: Optional[str], end: Optional[str]) -> list[dict[str, Any]]:
    picked = [r for r in rows if (start is None or r["date"] >= start) and (end is None or r["date"] <= end)]
    if len(picked) < 2:
        raise ValueError(f"need at least two samples between {start} and {end}")
    if picked[0]["rounds_initialised"] is not None:
        picked[0] = {**picked[0], "rounds_initialised": None}
    return picked


def replay_inflation(start: Optional[str] = None, end: Optional[str] = None, *, resync: bool = True,
                     rows: Optional[Sequence[dict[str, Any]]] = None) -> InflationReplay:
    """Replay the recorded bonding rate through the Minter (module docstring) and compare its
    inflation with the recorded one at every matched round.

    `start`/`end` ('YYYY-MM-DD', inclusive) pick the samples (default: all, 2022-02-18 ..
    2026-03-30); the Minter starts at the first picked sample's recorded inflation. `resync=True`
    re-seeds the Minter with the recorded value after a mismatch (each matched round then tests
    one step); `resync=False` is the plain free-running replay. `rows` replaces the shipped table.
    """
    t0 = _time.perf_counter()
    rows = _select(list(rows) if rows is not None else _data.inflation_daily(), start, end)
    first = rows[0]
    replay = _ChainReplay(first["round"], first["inflation_ppb"], first["bonded_wei"], first["total_supply_wei"])
    current = first["inflation_ppb"]
    previous_recorded, last_rate = first["inflation_ppb"], first["bonding_rate_ppb"]
    steps: list[tuple[int, int, int]] = []
    table: list[ReplayRow] = []
    start_row = ReplayRow(first["date"], first["round"], 0, first["inflation_ppb"], current,
                          first["bonded_wei"] / first["total_supply_wei"], first["bonding_rate_ppb"], 0, 0, True)
    base = current  # the replayed value at the previous sample
    for i in range(1, len(rows)):
        row = rows[i]
        for f in _interval_feeds(rows[i - 1], row, i):
            after = replay.feed(f)
            steps.append((f.round, current, after))
            current, last_rate = after, f.bonding_rate_ppb
        recorded = row["inflation_ppb"]
        match = current == recorded
        reseed = resync and not match
        table.append(ReplayRow(row["date"], row["round"], row["rounds_initialised"], recorded, current,
                               row["bonded_wei"] / row["total_supply_wei"], last_rate,
                               recorded - previous_recorded, current - base, match, reseed))
        if reseed:
            replay.seed_minter(recorded)
            current = recorded
        base, previous_recorded = current, recorded
    return InflationReplay(table, steps, resync, _time.perf_counter() - t0, start_row)


# =============================================================================================
# fee flow


@dataclass(frozen=True)
class FeeFlow:
    """One run's fee flow, totals and per day (scaled by the simulated time covered)."""

    run: str
    seed: Optional[int]
    duration_s: float
    tickets_won: int
    tickets_redeemed: int
    fees_realised_wei: int
    fees_expected_wei: float

    def _per_day(self, x: float) -> float:
        return x * SECONDS_PER_DAY / self.duration_s if self.duration_s > 0 else float("nan")

    @property
    def tickets_won_per_day(self) -> float:
        return self._per_day(self.tickets_won)

    @property
    def tickets_per_day(self) -> float:
        """Winning tickets redeemed per day: what mainnet's WinningTicketTransfer count measures."""
        return self._per_day(self.tickets_redeemed)

    @property
    def eth_per_day(self) -> float:
        """Face value redeemed per day, in ETH (mainnet's summed WinningTicketTransfer amounts)."""
        return self._per_day(self.fees_realised_wei) / WEI_PER_ETH

    @property
    def expected_eth_per_day(self) -> float:
        return self._per_day(self.fees_expected_wei) / WEI_PER_ETH

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tickets_won_per_day": self.tickets_won_per_day,
                "tickets_per_day": self.tickets_per_day, "eth_per_day": self.eth_per_day,
                "expected_eth_per_day": self.expected_eth_per_day}


_FLOW_METRICS = (M.TICKETS_WON, M.TICKETS_REDEEMED, M.FEES_REALISED, M.FEES_EXPECTED)


def _flows(metrics: Iterable[dict[str, Any]], duration_s: Optional[float], since_s: float = 0.0) -> list[FeeFlow]:
    """Per (run, seed): each orchestrator's cumulative counters at their last sample, less their
    value at `since_s` (the last sample at or before it; 0 before the first), summed."""
    last: dict[tuple, dict[tuple[str, str], tuple[float, Any]]] = {}
    base: dict[tuple, dict[tuple[str, str], tuple[float, Any]]] = {}
    horizon: dict[tuple, float] = {}
    for r in metrics:
        key = (str(r.get("run", "")), r.get("seed"))
        t = r["time"] or 0.0
        horizon[key] = max(horizon.get(key, 0.0), t)
        if r["metric"] in _FLOW_METRICS and r["value"] is not None:
            k = (r["entity"], r["metric"])
            slot = last.setdefault(key, {})
            if k not in slot or t >= slot[k][0]:
                slot[k] = (t, r["value"])
            if t <= since_s:
                b = base.setdefault(key, {})
                if k not in b or t >= b[k][0]:
                    b[k] = (t, r["value"])
    out = []
    for key in sorted(horizon, key=lambda k: (k[0], k[1] if k[1] is not None else -1)):
        totals = {m: 0 for m in _FLOW_METRICS}
        for k, (_t, value) in last.get(key, {}).items():
            totals[k[1]] += value - base.get(key, {}).get(k, (0, 0))[1]
        span = (duration_s if duration_s is not None else horizon[key]) - since_s
        out.append(FeeFlow(key[0], key[1], float(span), int(totals[M.TICKETS_WON]), int(totals[M.TICKETS_REDEEMED]),
                           int(totals[M.FEES_REALISED]), totals[M.FEES_EXPECTED]))
    return out


def fee_flow_per_day(results_dir: str | Path, duration_s: Optional[float] = None, since_s: float = 0.0) -> FeeFlow:
    """Winning tickets and ETH per day of one run's results folder.

    Sums the orchestrators' cumulative counters at their last sample (tickets_won,
    tickets_redeemed, fees_realised_wei, fees_expected_wei) and scales by the simulated time
    covered: `duration_s` (the run's end time), or else the latest sample time in metrics.csv
    (runs start at 0). `since_s` drops a warm-up: only what was counted after the last sample
    at or before it, over `end - since_s`."""
    metrics = load_results(results_dir)["metrics"] or []
    flows = _flows(metrics, duration_s, since_s)
    if not flows:
        raise ValueError(f"{results_dir}: no metric rows")
    if len(flows) > 1:
        raise ValueError(f"{results_dir}: {len(flows)} runs in one metrics.csv; use fee_flow_runs")
    return flows[0]


def fee_flow_runs(folder: str | Path, duration_s: Optional[float] = None, since_s: float = 0.0) -> list[FeeFlow]:
    """`fee_flow_per_day` of every run under `folder`: a run's own folder, or a sweep's
    `point-*/run-*/` folders (in order)."""
    root = Path(folder)
    runs = sorted(glob.glob(str(root / "point-*" / "run-*" / "metrics.csv")),
                  key=lambda p: tuple(int(part.split("-")[1]) for part in Path(p).parts[-3:-1]))
    if not runs:
        return [fee_flow_per_day(root, duration_s, since_s)]
    out = []
    for path in runs:
        flow = fee_flow_per_day(Path(path).parent, duration_s, since_s)
        point, run = Path(path).parts[-3], Path(path).parts[-2]
        out.append(FeeFlow(f"{point}/{run}", flow.seed, flow.duration_s, flow.tickets_won, flow.tickets_redeemed,
                           flow.fees_realised_wei, flow.fees_expected_wei))
    return out


def _quarter(quarter: str) -> str:
    """'2026Q1', '2026-Q1', 'Q1-2026', 'q1 2026' -> '2026Q1'."""
    q = quarter.upper().replace("-", "").replace(" ", "").replace("_", "")
    if q.startswith("Q") and len(q) == 6:
        q = q[2:] + q[:2]
    if len(q) != 6 or q[4] != "Q" or not q[:4].isdigit() or q[5] not in "1234":
        raise ValueError(f"not a quarter: {quarter!r} (e.g. '2026Q1')")
    return q


def recorded_fee_range(quarter: str = "2026Q1") -> dict[str, Any]:
    """The recorded daily fee flow of a quarter (lpsim/data/fee_quarters.csv): first/last date,
    days, and for ETH/day (`eth_*`) and winning tickets/day (`tickets_*`) the min, p05, median,
    p95, max and mean; `eth_per_ticket_median`."""
    q = _quarter(quarter)
    quarters = _data.fee_quarters()
    if q not in quarters:
        raise ValueError(f"no recorded fees for {q}: {', '.join(quarters)}")
    return dict(quarters[q])


def recorded_fee_series(quarter: str = "2026Q1") -> list[dict[str, Any]]:
    """The quarter's recorded days: date, fees_eth, winning_tickets."""
    return _data.fees_daily(_quarter(quarter))


def fee_flow_check(flows: Sequence[FeeFlow], quarter: str = "2026Q1") -> dict[str, Any]:
    """Whether the simulated Monte Carlo band (min..max over runs) of tickets/day and ETH/day lies
    within the recorded daily range of the quarter (min..max), and within its 5-95 % band."""
    rec = recorded_fee_range(quarter)
    out: dict[str, Any] = {"quarter": _quarter(quarter), "runs": len(flows)}
    for name, values, lo, lo5, hi5, hi in (
            ("tickets_per_day", [f.tickets_per_day for f in flows], rec["tickets_min"], rec["tickets_p05"],
             rec["tickets_p95"], rec["tickets_max"]),
            ("eth_per_day", [f.eth_per_day for f in flows], rec["eth_min"], rec["eth_p05"], rec["eth_p95"],
             rec["eth_max"])):
        band = (min(values), max(values)) if values else (float("nan"), float("nan"))
        out[name] = {"band": band, "mean": statistics.fmean(values) if values else float("nan"),
                     "recorded": (lo, hi), "recorded_p05_p95": (lo5, hi5),
                     "within_range": bool(values) and lo <= band[0] and band[1] <= hi,
                     "within_p05_p95": bool(values) and lo5 <= band[0] and band[1] <= hi5}
    out["ok"] = out["tickets_per_day"]["within_range"] and out["eth_per_day"]["within_range"]
    return out


# =============================================================================================
# plots (matplotlib object API: a Figure, no pyplot state)


def _dates(strings: Iterable[str]) -> list[_date]:
    return [_date.fromisoformat(s) for s in strings]


def plot_inflation_replay(replay: InflationReplay | Sequence[ReplayRow] | Sequence[dict]):
    """Recorded vs replayed inflation over time, their difference at every matched round
    (mismatches marked), and the recorded bonding rate against the 50 % target."""
    from matplotlib.figure import Figure

    rows = replay.rows if isinstance(replay, InflationReplay) else list(replay)
    rows = [r if isinstance(r, dict) else asdict(r) for r in rows]
    if isinstance(replay, InflationReplay) and replay.start is not None:
        rows = [asdict(replay.start)] + rows
    days = _dates(r["date"] for r in rows)
    fig = Figure(figsize=(9, 7), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True, height_ratios=(2.2, 1, 1.2))
    ax1.plot(days, [r["recorded_inflation"] for r in rows], color="black", lw=2.4, label="recorded (Minter.inflation)")
    ax1.plot(days, [r["replayed_inflation"] for r in rows], color="tab:orange", lw=1.0, label="replayed (contract)")
    ax1.set_ylabel("inflation (ppb per round)")
    matched = sum(1 for r in rows[1:] if r["match"])
    ax1.set_title(f"Minter inflation, recorded vs replayed through the contracts: "
                  f"{matched} of {len(rows) - 1} matched rounds equal")
    ax1.legend(loc="upper left", fontsize="small")
    ax1.grid(alpha=0.3)
    diff = [r["replayed_inflation"] - r["recorded_inflation"] for r in rows]
    ax2.step(days, diff, where="post", color="tab:orange", lw=1.0)
    bad = [(d, x) for d, x, r in zip(days, diff, rows) if not r["match"]]
    if bad and len(bad) <= 50:
        ax2.scatter([d for d, _ in bad], [x for _, x in bad], s=18, marker="x", color="tab:red", zorder=3,
                    label="mismatch")
        ax2.legend(loc="upper left", fontsize="small")
    ax2.axhline(0, color="black", lw=0.6)
    ax2.set_ylabel("replayed - recorded")
    ax2.grid(alpha=0.3)
    ax3.plot(days, [100 * r["recorded_bonding_rate"] for r in rows], color="tab:blue", lw=1.0, label="recorded bonding rate")
    ax3.axhline(100 * TARGET_BONDING_RATE / PERC_DIVISOR, color="grey", ls="--", lw=1, label="target 50 %")
    ax3.set_ylabel("bonded / supply (%)")
    ax3.legend(loc="lower right", fontsize="small")
    ax3.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def _sim_values(sim_values: Any) -> tuple[list[float], list[float]]:
    """(tickets/day, ETH/day) lists from FeeFlows, dicts with those keys, or (tickets, eth) pairs."""
    tickets, eth = [], []
    for v in (sim_values if isinstance(sim_values, (list, tuple)) else [sim_values]):
        if isinstance(v, FeeFlow):
            tickets.append(v.tickets_per_day)
            eth.append(v.eth_per_day)
        elif isinstance(v, dict):
            tickets.append(float(v["tickets_per_day"]))
            eth.append(float(v["eth_per_day"]))
        else:
            tickets.append(float(v[0]))
            eth.append(float(v[1]))
    return tickets, eth


def plot_fee_flow(sim_values: Any, recorded: str | Sequence[dict[str, Any]] = "2026Q1"):
    """The recorded daily winning tickets and ETH of a quarter (or the given rows of
    `recorded_fee_series`) with the simulated runs' values as points and their band (min..max
    over runs) shaded. `sim_values`: FeeFlows, dicts with tickets_per_day and eth_per_day, or
    (tickets/day, ETH/day) pairs."""
    from matplotlib.figure import Figure

    series = recorded_fee_series(recorded) if isinstance(recorded, str) else list(recorded)
    days = _dates(r["date"] for r in series)
    tickets, eth = _sim_values(sim_values)
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, rec, sim, label in ((axes[0], [r["winning_tickets"] for r in series], tickets, "winning tickets per day"),
                                (axes[1], [r["fees_eth"] for r in series], eth, "ETH per day")):
        ax.plot(days, rec, color="black", lw=1.2, label="recorded (fees.csv)")
        if days:
            ax.axhspan(min(rec), max(rec), color="grey", alpha=0.12, label="recorded range")
        if sim:
            ax.axhspan(min(sim), max(sim), color="tab:orange", alpha=0.35,
                       label=f"simulated band ({len(sim)} run{'s' if len(sim) != 1 else ''})")
            if days:
                mid = days[len(days) // 2]
                ax.scatter([mid] * len(sim), sim, s=16, color="tab:orange", edgecolor="black", lw=0.5, zorder=3,
                           label="simulated runs")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="x-small", framealpha=0.8)
    if days:
        fig.suptitle(f"Fee flow: recorded {days[0]} .. {days[-1]} vs simulation")
    fig.autofmt_xdate()
    return fig
