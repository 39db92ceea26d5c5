"""Deploy the Livepeer protocol on any chain backend and wire it up as mainnet is wired.

Defaults are the Arbitrum One mainnet parameters (spec contracts.md §9; the moving ones —
inflation and the treasury cut — at their most recent recorded values). Every one can be
overridden.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from eth_utils import keccak, to_checksum_address

from contracts import PROTOCOL_CONTRACTS

from .chain import Account, Chain
from .compiler import compile_contract
from .contract import Contract, Receipt
from .errors import ChainError

LPT = 10**18
MAX_POOL_SIZE = 256  # BondingManager's bound on the active set (its loops must be bounded)
NULL_COMMIT = b"\x00" * 20
# ProtocolParams fields that are amounts of LPT (wei here; whole LPT on command lines).
LPT_AMOUNT_FIELDS = frozenset({"lpt_per_account", "l1_circulating_supply", "treasury_balance_ceiling"})
MINTER_ROLE = keccak(text="MINTER_ROLE")
BURNER_ROLE = keccak(text="BURNER_ROLE")


@dataclass(frozen=True)
class ProtocolParams:
    round_length: int = 6377  # L1 blocks; 5760 at L2 launch, 6377 since LIP-83
    round_lock_amount: int = 100_000  # 10 % in 1e6 units
    unbonding_period: int = 7  # rounds
    num_active_transcoders: int = 100
    inflation: int = 613_500  # 1e9 units per round; recorded 2026-03-30 (220,500 at L2 launch)
    inflation_change: int = 500  # 1e9 units per round
    target_bonding_rate: int = 500_000_000  # 50 % in 1e9 units
    treasury_reward_cut_rate: int = 0  # 1e27 units; 10 % (1e26) under LIP-92 until the ceiling was reached
    treasury_balance_ceiling: int = 750_000 * LPT
    unlock_period: int = 2  # rounds
    ticket_validity_period: int = 2  # rounds
    l1_circulating_supply: int = 0  # LPT wei on L1, added to the L2 supply by the Minter
    lpt_per_account: int = 1_000_000 * LPT  # minted to every chain account at deployment

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"ProtocolParams.{f.name} must be a non-negative integer, got {value!r}")
        if self.round_length == 0:
            raise ValueError("ProtocolParams.round_length must be greater than 0")
        if self.ticket_validity_period == 0:
            raise ValueError("ProtocolParams.ticket_validity_period must be greater than 0")
        for name, limit in (("num_active_transcoders", MAX_POOL_SIZE), ("round_lock_amount", 10**6), ("inflation", 10**9), ("inflation_change", 10**9),
                            ("target_bonding_rate", 10**9), ("treasury_reward_cut_rate", 10**27)):
            if getattr(self, name) > limit:
                raise ValueError(f"ProtocolParams.{name} must be at most {limit}, got {getattr(self, name)}")

    def with_(self, **overrides) -> "ProtocolParams":
        unknown = set(overrides) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown protocol parameter(s): {', '.join(sorted(unknown))}")
        return replace(self, **overrides)

    def as_dict(self) -> dict:
        return asdict(self)


def contract_id(name: str) -> bytes:
    """The Controller registry id of a contract: keccak256 of its name."""
    return keccak(text=name)


class Protocol:
    """The deployed protocol: bindings by contract name plus round helpers."""

    def __init__(self, chain: Chain, params: ProtocolParams, contracts: dict[str, Contract], owner: Account, treasury: str):
        self.chain = chain
        self.params = params
        self.contracts = contracts
        self.owner = owner
        self.treasury = treasury

    def __getattr__(self, name: str) -> Contract:
        contracts = self.__dict__.get("contracts", {})
        if name in contracts:
            return contracts[name]
        raise AttributeError(f"Protocol has no contract or attribute {name!r}")

    def __getitem__(self, name: str) -> Contract:
        return self.contracts[name]

    @property
    def addresses(self) -> dict[str, str]:
        return {name: c.address for name, c in self.contracts.items()}

    @staticmethod
    def contract_id(name: str) -> bytes:
        return contract_id(name)

    # --- rounds -------------------------------------------------------------------------
    def current_round(self) -> int:
        return self.RoundsManager.currentRound()

    def next_round_start_block(self) -> int:
        rm = self.RoundsManager
        return rm.currentRoundStartBlock() + rm.roundLength()

    def next_round(self, initialize: bool = True) -> int:
        """Move to the first block of the next round and initialise the round there: the
        initializeRound transaction is that block. Without initialising, the round's first
        block is mined empty. Returns the new round number."""
        self.chain.mine(max(0, self.next_round_start_block() - 1 - self.chain.block_number))
        if initialize:
            self.RoundsManager.initializeRound(sender=self.owner)
        else:
            self.chain.mine(1)
        return self.current_round()

    def advance_rounds(self, n: int, initialize: bool = True) -> int:
        for _ in range(n):
            self.next_round(initialize)
        return self.current_round()

    # --- conveniences ---------------------------------------------------------------------
    def approve_and_bond(self, account: Account, amount: int, to: str) -> Receipt:
        self.LivepeerToken.approve(self.BondingManager.address, amount, sender=account)
        return self.BondingManager.bond(amount, to, sender=account)


def deploy_protocol(
    chain: Chain,
    params: ProtocolParams | None = None,
    *,
    owner: Account | None = None,
    treasury: str | None = None,
    unpause: bool = True,
    initialize_round: bool = True,
) -> Protocol:
    """Deploy, register and configure every protocol contract; returns the bindings.

    The treasury is a plain address (default: a fixed address nobody holds a key to).
    """
    params = params or ProtocolParams()
    owner = owner or chain.default_account
    treasury = to_checksum_address(treasury or "0x" + keccak(text="lpsim treasury")[-20:].hex())

    def deploy(name: str, *args) -> Contract:
        return chain.deploy(compile_contract(name), *args, sender=owner)

    c: dict[str, Contract] = {}
    c["Controller"] = deploy("Controller")
    ctrl = c["Controller"].address
    c["LivepeerToken"] = deploy("LivepeerToken")
    c["L2LPTDataCache"] = deploy("L2LPTDataCache", ctrl, params.l1_circulating_supply)
    c["Minter"] = deploy("Minter", ctrl, params.inflation, params.inflation_change, params.target_bonding_rate)
    for name in ("RoundsManager", "BondingManager", "TicketBroker", "ServiceRegistry"):
        c[name] = deploy(name, ctrl)
    missing = set(PROTOCOL_CONTRACTS) - set(c)
    if missing:
        raise ChainError(f"deployment does not cover {sorted(missing)}")

    controller = c["Controller"]
    registry = {name: contract.address for name, contract in c.items() if name != "Controller"}
    registry["JobsManager"] = c["TicketBroker"].address  # the Minter accepts ETH from the "JobsManager" id
    registry["Treasury"] = treasury
    for name, address in registry.items():
        controller.setContractInfo(contract_id(name), address, NULL_COMMIT, sender=owner)

    token = c["LivepeerToken"]
    token.grantRole(MINTER_ROLE, c["Minter"].address, sender=owner)
    token.grantRole(BURNER_ROLE, c["Minter"].address, sender=owner)
    if params.lpt_per_account:
        token.grantRole(MINTER_ROLE, owner.address, sender=owner)
        for account in chain.accounts:
            token.mint(account.address, params.lpt_per_account, sender=owner)
        token.revokeRole(MINTER_ROLE, owner.address, sender=owner)

    rm, bm, tb = c["RoundsManager"], c["BondingManager"], c["TicketBroker"]
    rm.setRoundLength(params.round_length, sender=owner)
    rm.setRoundLockAmount(params.round_lock_amount, sender=owner)
    bm.setUnbondingPeriod(params.unbonding_period, sender=owner)
    if params.num_active_transcoders:  # the pool can only grow; 0 leaves it as deployed (empty)
        bm.setNumActiveTranscoders(params.num_active_transcoders, sender=owner)
    bm.setTreasuryRewardCutRate(params.treasury_reward_cut_rate, sender=owner)
    bm.setTreasuryBalanceCeiling(params.treasury_balance_ceiling, sender=owner)
    tb.setUnlockPeriod(params.unlock_period, sender=owner)
    tb.setTicketValidityPeriod(params.ticket_validity_period, sender=owner)

    protocol = Protocol(chain, params, c, owner, treasury)
    if unpause:
        controller.unpause(sender=owner)
        if initialize_round:
            # Never initialise in round 0's first blocks: blockHash(block - 1) needs a past block.
            if not rm.currentRoundInitialized():
                rm.initializeRound(sender=owner)
    return protocol


def attach_protocol(chain: Chain, addresses: dict[str, str], owner: Account | None = None) -> Protocol:
    """Bind an already-deployed protocol (e.g. the `lpnode devchain` addresses file).

    The parameters are read back from the contracts; `lpt_per_account` is not recorded
    on chain and keeps its default.
    """
    missing = [name for name in PROTOCOL_CONTRACTS if name not in addresses]
    if missing:
        raise ChainError(f"addresses lack {', '.join(missing)}")
    c = {name: chain.at(compile_contract(name), addresses[name]) for name in PROTOCOL_CONTRACTS}
    rm, bm, minter, tb = c["RoundsManager"], c["BondingManager"], c["Minter"], c["TicketBroker"]
    params = ProtocolParams(
        round_length=rm.roundLength(),
        round_lock_amount=rm.roundLockAmount(),
        unbonding_period=bm.unbondingPeriod(),
        num_active_transcoders=bm.getTranscoderPoolMaxSize(),
        inflation=minter.inflation(),
        inflation_change=minter.inflationChange(),
        target_bonding_rate=minter.targetBondingRate(),
        treasury_reward_cut_rate=bm.nextRoundTreasuryRewardCutRate(),
        treasury_balance_ceiling=bm.treasuryBalanceCeiling(),
        unlock_period=tb.unlockPeriod(),
        ticket_validity_period=tb.ticketValidityPeriod(),
        l1_circulating_supply=c["L2LPTDataCache"].l1CirculatingSupply(),
    )
    owner = owner or chain.account(c["Controller"].owner())
    treasury = c["Controller"].getContract(contract_id("Treasury"))
    return Protocol(chain, params, c, owner, treasury)


def params_to_flags(params: ProtocolParams) -> list[str]:
    """Command-line flags (as `lpnode devchain` takes them) that reproduce `params`."""
    from decimal import Decimal

    flags = []
    for name, value in params.as_dict().items():
        if name in LPT_AMOUNT_FIELDS:
            value = f"{Decimal(value) / LPT:f}"
        flags += ["--" + name.replace("_", "-"), str(value)]
    return flags
