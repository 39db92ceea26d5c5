"""Starting a scenario from the recorded network on a given day (`start: {from_network: DATE}`).

From the shipped daily chain data (`lpsim.data.inflation_daily()`, Arbitrum One, 2022-02-18 ..
2026-03-30; the state at 00:00 UTC of the day) the run takes:

- the Minter's inflation (`chain.params.inflation`);
- the total bonded stake: the stakes the scenario's orchestrator and delegator groups draw are
  scaled by one factor so they add up to the recorded `getTotalBonded()` (to within a wei per
  holder): the groups' distributions give the shape, the record the level. The data has totals
  only, no per-orchestrator stakes, so the shape is the scenario's to choose: a heavy-tailed
  draw (Pareto shape 1.5, as in scenarios/economics.yaml) comes near the published
  concentration (spec network.md §5: top-10 ≈ 62 %, Nakamoto-50 % = 6 in Jan 2026), which the
  summary's `research.concentration` lets one check;
- the total supply: whatever is not bonded is held by a non-participant (`chain.initial_supply`
  is replaced by supply − bonded);
- the active set size of 100 (`numActiveTranscoders` on Arbitrum mainnet, network.md §5) unless
  the scenario sets `chain.params.num_active_transcoders` itself.

Rounds map to calendar dates from that day on (`date_of_round`): round r of the run is
`start + (r − first round) × round length`; the summary's extra has `start_date` and `end_date`.
The treasury cut and inflationChange stay the scenario's (mainnet: 500 ppb steps in the data).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction

from lpsim import data as _data

__all__ = ["ACTIVE_SET_SIZE", "NetworkDay", "date_of_round", "network_day", "scale_stakes"]

ACTIVE_SET_SIZE = 100


@dataclass(frozen=True)
class NetworkDay:
    date: str
    round: int  # the mainnet round the sample falls in
    inflation_ppb: int
    total_supply_wei: int
    bonded_wei: int


def network_day(date: object) -> NetworkDay:
    """The recorded state on `date` ("YYYY-MM-DD"); a ValueError that says what is wrong and the
    range the data covers otherwise."""
    rows = _data.inflation_daily()
    first, last = rows[0]["date"], rows[-1]["date"]
    if isinstance(date, dt.date):  # YAML reads an unquoted 2024-06-01 as a date
        date = date.isoformat()
    if not isinstance(date, str):  # a ValueError: pydantic turns it into the field's problem
        raise ValueError(  # noqa: TRY004
            f"expected a date YYYY-MM-DD between {first} and {last} (got {date!r})")
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise ValueError(f"expected a date YYYY-MM-DD between {first} and {last} (got {date!r})") from None
    row = next((r for r in rows if r["date"] == day.isoformat()), None)
    if row is None:
        raise ValueError(f"{day.isoformat()} is outside the recorded network data ({first} .. {last})")
    return NetworkDay(row["date"], row["round"], row["inflation_ppb"], row["total_supply_wei"], row["bonded_wei"])


def scale_stakes(stakes: list[int], bonded_wei: int) -> list[int]:
    """`stakes` (wei) scaled by one exact factor so they add up to `bonded_wei` (each rounded
    down, the remainder given to the largest so the total is exact)."""
    total = sum(stakes)
    if total <= 0:
        raise ValueError("the scenario's groups draw no stake to scale to the recorded bonded total")
    factor = Fraction(bonded_wei, total)
    out = [int(s * factor) for s in stakes]
    out[max(range(len(out)), key=out.__getitem__)] += bonded_wei - sum(out)
    return out


def date_of_round(start: str, round_: int, first_round: int, round_seconds: float) -> str:
    """The UTC date round `round_` of a run started from `start` falls on."""
    t = dt.datetime.fromisoformat(start) + dt.timedelta(seconds=(round_ - first_round) * round_seconds)
    return t.date().isoformat()


def recorded_bonding_rate(start: object, rounds: int, first_round: int, round_seconds: float) -> list[float]:
    """The recorded bonding rate (bonding_rate_ppb / 1e9) on the date of each round
    `first_round .. first_round + rounds` of a run started from `start`: the path that
    `hold_bonding_rate` with `target: recorded` holds (series `bonding_rate`). A ValueError naming
    the first round past the data's last date (the data has a row for every day it covers)."""
    day = network_day(start)  # validates the start date and its range
    by_date = {r["date"]: r["bonding_rate_ppb"] for r in _data.inflation_daily()}
    out = []
    for r in range(first_round, first_round + rounds + 1):
        date = date_of_round(day.date, r, first_round, round_seconds)
        if date not in by_date:
            raise ValueError(f"round {r} falls on {date}, past the recorded bonding rate "
                             f"(last date {max(by_date)}): shorten the run or start earlier")
        out.append(by_date[date] / 1e9)
    return out
