#!/usr/bin/env python3
"""Rebuild the compact tables in lpsim/data/ from the recorded Livepeer chain data.

    python scripts/derive_chain_data.py [--source ../shared/data/livepeer-chain] [--out lpsim/data] [--check]

Reads `lpt-daily-data.json` and `fees.csv` (copied byte for byte from
shtukaresearch/livepeer-emissions-risk at 7b1555b8; see that folder's README.md) and writes:

- `inflation_daily.csv`: one row per daily sample (00:00 UTC, 2022-02-18 .. 2026-03-30) with the
  recorded Minter inflation, global supply and total bonded stake, plus the protocol round the
  sample falls in and the number of rounds initialised since the previous sample (derived, below);
- `fees_daily.csv`: one row per UTC day with the recorded ETH fees and winning tickets;
- `fee_quarters.csv`: per calendar quarter, the recorded daily range (min, 5th/50th/95th
  percentile, max, mean) of ETH/day and winning tickets/day.

How a sample is placed in a round (the data has Arbitrum block numbers only; rounds count L1
blocks, which Arbitrum's `block.number` returns):

1. The Minter moves by exactly 500 ppb at every round initialisation (never 0 unless the bonding
   rate is exactly 50 %). So between two daily samples |Δinflation| = 500 means one round was
   initialised, 1000 means two. Δ = 0 happens five times: the supply growth over that day
   (`supply_growth_rounds`, the growth over one round's mint `supply × inflation`, ≈ 1 per
   round) tells two initialisations that cancelled (growth ≈ 2) from none (growth ≈ 0: the one
   case, 2022-06-23, is a round nobody initialised, so one round number is skipped and the next
   sample is two round numbers on with a single initialisation).
2. The round number is anchored on 2026-01-01: round 4048 started at L1 block 24,132,771
   (2025-12-31 13:01:11 UTC; read on chain by the source repository, its
   `python/src/lpt_stake/constants.py`), and the next starts ~21.3 h later, so the 2026-01-01
   00:00 sample is in round 4048. Counting initialisations (and the skipped round) back and
   forth from there gives every sample's round.
3. L1 round geometry (RoundsManager): round r starts at block 5760·r up to LIP-83, whose
   `setRoundLength(6377)` took effect in round 2725 (start block 2725·5760 = 15,696,000; the
   anchor above satisfies 15,696,000 + (4048 - 2725)·6377 = 24,132,771 exactly), and at
   15,696,000 + (r - 2725)·6377 after it. `l1_round_start_block` is that block.

The counts are cross-checked independently of the Minter's direction by the supply growth (it
rounds to the same count for all but a handful of days, where reward calls straddled midnight),
and the round labels by three clock points: the 2022-09-15 sample in round 2697 (the Merge block
15,537,394 at 06:42:59 UTC lies in 2697), the first 6377-block round 2725 starting on 2022-10-07
(the 2022-10-08 sample is the first in it) and 2026-03-30 in round 4147 (99.4 rounds of 76.5 ks
plus ~0.5 % missed slots after the anchor). `--check` prints these checks.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "livepeer-chain"
DEFAULT_OUT = REPO / "lpsim" / "data"

INFLATION_CHANGE = 500
ANCHOR_DATE, ANCHOR_ROUND = "2026-01-01", 4048  # round 4048 started 2025-12-31 13:01:11 UTC, L1 24,132,771
LIP83_ROUND, LIP83_START_BLOCK = 2725, 15_696_000
ROUND_LENGTH_BEFORE, ROUND_LENGTH_AFTER = 5760, 6377
SKIP_GROWTH_BELOW = 0.5  # a Δ = 0 day whose supply grew by less than half a round's mint had no initialisation

INFLATION_COLUMNS = ("date", "arbitrum_block", "round", "l1_round_start_block", "rounds_initialised",
                     "inflation_ppb", "total_supply_wei", "bonded_wei", "bonding_rate_ppb", "supply_growth_rounds")
FEES_COLUMNS = ("date", "quarter", "fees_eth", "winning_tickets")
QUARTER_COLUMNS = ("quarter", "first_date", "last_date", "days",
                   "eth_min", "eth_p05", "eth_median", "eth_p95", "eth_max", "eth_mean",
                   "tickets_min", "tickets_p05", "tickets_median", "tickets_p95", "tickets_max", "tickets_mean",
                   "eth_per_ticket_median")


def round_start_block(round_: int) -> int:
    """The L1 block at which mainnet round `round_` starts (5760-block rounds until LIP-83)."""
    if round_ <= LIP83_ROUND:
        return round_ * ROUND_LENGTH_BEFORE
    return LIP83_START_BLOCK + (round_ - LIP83_ROUND) * ROUND_LENGTH_AFTER


def quarter_of(date: str) -> str:
    return f"{date[:4]}Q{(int(date[5:7]) - 1) // 3 + 1}"


def _percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), without numpy."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _csv(columns: tuple[str, ...], rows: list[tuple]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def derive_inflation(chain: dict) -> list[tuple]:
    dates, blocks = chain["date"], chain["block"]
    inflation, supply, bonded = chain["inflation"], chain["total-supply"], chain["bonded"]
    n = len(dates)
    if not all(len(chain[k]) == n for k in ("inflation", "total-supply", "bonded", "block")):
        raise ValueError("lpt-daily-data.json lists differ in length")
    growth: list[float | None] = [None]
    inits: list[int | None] = [None]
    for i in range(1, n):
        g = (supply[i] - supply[i - 1]) / (supply[i - 1] * inflation[i] / 1e9)
        growth.append(g)
        step = abs(inflation[i] - inflation[i - 1])
        if step == INFLATION_CHANGE:
            inits.append(1)
        elif step == 2 * INFLATION_CHANGE:
            inits.append(2)
        elif step == 0:
            inits.append(0 if g < SKIP_GROWTH_BELOW else 2)
        else:
            raise ValueError(f"{dates[i]}: inflation moved by {inflation[i] - inflation[i - 1]}, not a multiple of 500 up to 1000")
    # round numbers advance by the initialisations, plus one skipped number after a day with none
    advance = [0] + [inits[i] + (1 if i >= 2 and inits[i - 1] == 0 else 0) for i in range(1, n)]
    rounds: list[int] = [0] * n
    a = dates.index(ANCHOR_DATE)
    rounds[a] = ANCHOR_ROUND
    for i in range(a + 1, n):
        rounds[i] = rounds[i - 1] + advance[i]
    for i in range(a - 1, -1, -1):
        rounds[i] = rounds[i + 1] - advance[i + 1]
    out = []
    for i in range(n):
        out.append((dates[i], blocks[i], rounds[i], round_start_block(rounds[i]),
                    "" if inits[i] is None else inits[i], inflation[i], supply[i], bonded[i],
                    bonded[i] * 10**9 // supply[i], "" if growth[i] is None else f"{growth[i]:.4f}"))
    return out


def derive_fees(fees_text: str) -> tuple[list[tuple], list[tuple]]:
    reader = csv.DictReader(io.StringIO(fees_text))
    daily = [(r["date"], quarter_of(r["date"]), r["fees_eth"], int(r["winning_ticket_transfers"])) for r in reader]
    quarters: dict[str, list[tuple]] = {}
    for row in daily:
        quarters.setdefault(row[1], []).append(row)
    summary = []
    for q, rows in quarters.items():
        eth = [float(r[2]) for r in rows]
        tickets = [float(r[3]) for r in rows]
        per_ticket = [e / t for e, t in zip(eth, tickets) if t > 0]
        summary.append((q, rows[0][0], rows[-1][0], len(rows),
                        *(f"{v:.6f}" for v in (min(eth), _percentile(eth, 0.05), statistics.median(eth),
                                               _percentile(eth, 0.95), max(eth), statistics.fmean(eth))),
                        int(min(tickets)), *(f"{v:.1f}" for v in (_percentile(tickets, 0.05), statistics.median(tickets),
                                                                  _percentile(tickets, 0.95))),
                        int(max(tickets)), f"{statistics.fmean(tickets):.1f}",
                        f"{statistics.median(per_ticket):.7f}" if per_ticket else ""))
    return daily, summary


def derive(source: Path = DEFAULT_SOURCE) -> dict[str, str]:
    """The derived tables' text by file name, from the recorded files in `source`."""
    source = Path(source)
    chain = json.loads((source / "lpt-daily-data.json").read_text())  # Python's json keeps big integers exact
    daily, quarters = derive_fees((source / "fees.csv").read_text())
    return {
        "inflation_daily.csv": _csv(INFLATION_COLUMNS, derive_inflation(chain)),
        "fees_daily.csv": _csv(FEES_COLUMNS, daily),
        "fee_quarters.csv": _csv(QUARTER_COLUMNS, quarters),
    }


def checks(tables: dict[str, str]) -> list[str]:
    """Consistency checks of the derived round numbers, as lines of text."""
    rows = list(csv.DictReader(io.StringIO(tables["inflation_daily.csv"])))
    by_date = {r["date"]: r for r in rows}
    lines = []
    merge_block = 15_537_394  # first proof-of-stake block, 2022-09-15 06:42:59 UTC
    r = int(by_date["2022-09-15"]["round"])
    lines.append(f"2022-09-15 00:00 in round {r}: round {r} starts at L1 {round_start_block(r):,}, the Merge block "
                 f"{merge_block:,} (06:42:59) is in round {merge_block // ROUND_LENGTH_BEFORE}")
    lines.append(f"first 6377-block round {LIP83_ROUND}: samples 2022-10-07 in {by_date['2022-10-07']['round']}, "
                 f"2022-10-08 in {by_date['2022-10-08']['round']} (round 2725 starts ~2022-10-07 11:40 UTC by slot arithmetic)")
    lines.append(f"2026-03-30 in round {by_date['2026-03-30']['round']} (expected 4147 from the anchor and ~0.5 % missed slots)")
    agree = total = 0
    for row in rows[1:]:
        if row["rounds_initialised"] in ("1", "2"):
            total += 1
            agree += round(float(row["supply_growth_rounds"])) == int(row["rounds_initialised"])
    lines.append(f"supply growth rounds to the initialisation count on {agree} of {total} days with 1 or 2 initialisations")
    skipped = [(a["date"], b["date"]) for a, b in zip(rows, rows[1:])
               if b["rounds_initialised"] != "" and int(b["round"]) - int(a["round"]) != int(b["rounds_initialised"])]
    lines.append(f"skipped round numbers between samples: {skipped}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder with lpt-daily-data.json and fees.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the CSV files")
    parser.add_argument("--check", action="store_true", help="only compare with the files in --out and print the checks")
    args = parser.parse_args(argv)
    tables = derive(args.source)
    stale = []
    for name, text in tables.items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path} ({text.count(chr(10)) - 1} rows)")
    for line in checks(tables):
        print(line)
    if stale:
        print(f"out of date: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
