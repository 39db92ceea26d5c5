"""Recorded Livepeer network data shipped with the package (provenance: README.md here).

Three compact tables derived from public daily on-chain data (Arbitrum One, 2022-02-18 ..
2026-03-30) by `scripts/derive_chain_data.py`:

- `inflation_daily()`: per daily sample, the Minter's inflation, the global supply, the total
  bonded stake, and the round the sample falls in (derived; see the README);
- `fees_daily()`: per UTC day, ETH paid through winning tickets and how many were redeemed;
- `fee_quarters()`: per calendar quarter, the daily range of both.

Wei amounts are exact Python ints. Nothing here needs the workplace's `../shared` folder.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "DATA_DIR",
    "LIP83_ROUND",
    "LIP83_START_BLOCK",
    "ROUND_LENGTH_AFTER_LIP83",
    "ROUND_LENGTH_BEFORE_LIP83",
    "fee_quarters",
    "fees_daily",
    "inflation_daily",
    "quarter_of",
    "round_start_block",
]

DATA_DIR = Path(__file__).resolve().parent

# Mainnet round geometry in L1 blocks (Arbitrum's block.number is the L1 block number).
ROUND_LENGTH_BEFORE_LIP83 = 5760
ROUND_LENGTH_AFTER_LIP83 = 6377
LIP83_ROUND = 2725  # the first 6377-block round (setRoundLength took effect in it, 2022-10-07)
LIP83_START_BLOCK = LIP83_ROUND * ROUND_LENGTH_BEFORE_LIP83  # 15,696,000


def round_start_block(round_: int) -> int:
    """The L1 block at which mainnet round `round_` starts."""
    if round_ <= LIP83_ROUND:
        return round_ * ROUND_LENGTH_BEFORE_LIP83
    return LIP83_START_BLOCK + (round_ - LIP83_ROUND) * ROUND_LENGTH_AFTER_LIP83


def quarter_of(date: str) -> str:
    """'2026-02-14' -> '2026Q1'."""
    return f"{date[:4]}Q{(int(date[5:7]) - 1) // 3 + 1}"


_INT_COLUMNS = {"arbitrum_block", "round", "l1_round_start_block", "rounds_initialised", "inflation_ppb",
                "total_supply_wei", "bonded_wei", "bonding_rate_ppb", "winning_tickets", "days",
                "tickets_min", "tickets_max"}
_TEXT_COLUMNS = {"date", "quarter", "first_date", "last_date"}


def _cell(column: str, text: str) -> Any:
    if text == "":
        return None
    if column in _TEXT_COLUMNS:
        return text
    if column in _INT_COLUMNS:
        return int(text)
    return float(text)


@lru_cache(maxsize=None)
def _table(name: str) -> tuple[dict[str, Any], ...]:
    with (DATA_DIR / name).open(newline="", encoding="utf-8") as f:
        return tuple({k: _cell(k, v) for k, v in row.items()} for row in csv.DictReader(f))


def inflation_daily() -> list[dict[str, Any]]:
    """Rows of inflation_daily.csv: date, arbitrum_block, round, l1_round_start_block,
    rounds_initialised (since the previous sample; None on the first row), inflation_ppb,
    total_supply_wei, bonded_wei, bonding_rate_ppb (floor(bonded · 1e9 / supply)),
    supply_growth_rounds (the day's supply growth over one round's mint)."""
    return [dict(r) for r in _table("inflation_daily.csv")]


def fees_daily(quarter: str | None = None) -> list[dict[str, Any]]:
    """Rows of fees_daily.csv (date, quarter, fees_eth, winning_tickets), optionally one
    quarter's ('2026Q1')."""
    return [dict(r) for r in _table("fees_daily.csv") if quarter is None or r["quarter"] == quarter]


def fee_quarters() -> dict[str, dict[str, Any]]:
    """fee_quarters.csv by quarter: first/last date, days, and the daily ETH and ticket range
    (min, p05, median, p95, max, mean) and the median ETH per ticket."""
    return {r["quarter"]: dict(r) for r in _table("fee_quarters.csv")}
