"""The vocabulary of a run's outputs, in one place: the metric names the engine records and the
summary and report read, the special entity, and the job workloads and statuses.

Metrics are sampled every `metrics.sample_every` and are cumulative counters unless listed in
`PER_ROUND` (a value that belongs to one round: read the last sample of each round, never sum
every sample).
"""
from __future__ import annotations

NETWORK = "network"  # the entity of network-wide rows

# network rows
INFLATION = "inflation"  # parts per billion of supply minted this round (Minter.inflation)
BONDING_RATE = "bonding_rate"  # fraction 0..1: total bonded / total supply
TOTAL_SUPPLY = "total_supply_lpt"
TOTAL_BONDED = "total_bonded_lpt"
MINTED = "minted_lpt"  # minted in this round: the rewards and the treasury's cut of them
TREASURY_MINTED = "treasury_minted_lpt"  # the treasury's cut of this round's rewards (LIP-92)
TREASURY_BALANCE = "treasury_balance_lpt"  # the treasury's LPT after this round's rewards
ACTIVE_ORCHESTRATORS = "active_orchestrators"
# exogenous series (lpsim.exogenous), recorded each round when the scenario has them
LPT_USD = "lpt_usd"
ETH_USD = "eth_usd"
GAS_PRICE_GWEI = "gas_price_gwei"
DEMAND_MULTIPLIER = "demand_multiplier"  # scales every workload's arrival rate
RECORDED_BONDING_RATE = "recorded_bonding_rate"  # the chain's rate on the round's date (hold_bonding_rate target: recorded)
SERIES_METRICS = {"lpt_usd": LPT_USD, "eth_usd": ETH_USD, "gas_price_gwei": GAS_PRICE_GWEI,
                  "demand": DEMAND_MULTIPLIER, "bonding_rate": RECORDED_BONDING_RATE}
SERIES_UNITS = {LPT_USD: ("USD", "LPT price in the round (series lpt_usd)"),
                ETH_USD: ("USD", "ETH price in the round (series eth_usd)"),
                GAS_PRICE_GWEI: ("gwei", "gas price in the round (series gas_price_gwei)"),
                DEMAND_MULTIPLIER: ("", "factor on every workload's arrival rate in the round (series demand)"),
                RECORDED_BONDING_RATE: ("", "recorded bonding rate on the round's date (inflation_daily.csv), the "
                                            "target of hold_bonding_rate with target: recorded")}

# orchestrator rows
STAKE = "stake_lpt"
STAKE_SHARE = "stake_share"  # fraction 0..1 of the active stake
JOBS_COMPLETED = "jobs_completed"  # also a gateway metric
TICKETS_RECEIVED = "tickets_received"
TICKETS_WON = "tickets_won"
TICKETS_REDEEMED = "tickets_redeemed"
TICKETS_EXPIRED = "tickets_expired"
TICKETS_PENDING = "tickets_pending"  # won, not yet redeemed nor expired (a level, not a count)
TICKETS_WON_EXPECTED = "tickets_won_expected"  # sum of the win probabilities of tickets received
TICKETS_WON_VARIANCE = "tickets_won_variance"  # sum of p(1 - p): the variance of the number won
FEES_EXPECTED = "fees_expected_wei"  # sum of face value × win probability of tickets received
FEES_REALISED = "fees_realised_wei"  # face value of tickets redeemed
REWARD = "reward_lpt"  # the orchestrator's reward in this round
PRICE_PER_PIXEL = "price_per_pixel_wei"  # the orchestrator's base transcoding price (recorded once, at time 0)

# gateway rows
JOBS_SUBMITTED = "jobs_submitted"
JOBS_FAILED = "jobs_failed"
TICKETS_SENT = "tickets_sent"
DEPOSIT = "deposit_wei"
RESERVE = "reserve_wei"

PER_ROUND = frozenset({INFLATION, MINTED, REWARD, LPT_USD, ETH_USD, GAS_PRICE_GWEI, DEMAND_MULTIPLIER})
TICKET_METRICS = (TICKETS_SENT, TICKETS_RECEIVED, TICKETS_WON, TICKETS_REDEEMED, TICKETS_EXPIRED,
                  TICKETS_PENDING, TICKETS_WON_EXPECTED, TICKETS_WON_VARIANCE)
NETWORK_METRICS = (INFLATION, BONDING_RATE, TOTAL_SUPPLY, TOTAL_BONDED, MINTED, TREASURY_MINTED, TREASURY_BALANCE,
                   ACTIVE_ORCHESTRATORS)

# jobs.csv vocabulary
TRANSCODING = "transcoding"
BATCH_AI = "batch_ai"
LIVE_AI = "live_ai"  # a live video-to-video session; its latency is the time to start streaming
COMPLETED = "completed"
FAILED = "failed"
