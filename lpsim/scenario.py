"""Scenario files (scenarios/README.md): their models, their loader, and their error report.

- The pydantic models of every section, with the reference's defaults; unknown keys are refused.
  Values are parsed once, into the units the engine uses: durations in seconds (float), ETH
  amounts in wei (int), LPT amounts in LPT base units (int), prices in wei per unit (`Fraction`),
  rates per second, fractions in [0, 1], distributions as `lpsim.distributions` objects that
  sample in those units. Durations in `blocks` or `rounds` are converted through the same file's
  `chain.block_time` and `chain.round_length`.
- A YAML loader that records the line of every mapping key and list item, so that an error at
  `("orchestrators", 0, "reward_cut")` is reported at the line of that key, and that refuses a
  file past the limits (size, nesting, values once aliases are expanded) at the line at fault.
- `ScenarioError`, listing every problem as `line N, dotted.path: message`.

`load_scenario(path)` and `parse_scenario(text)` are the entry points; `Scenario.to_yaml()` writes
the resolved scenario back (it parses to an equal `Scenario`).
"""
from __future__ import annotations

import difflib
import math
import re
import types
from collections.abc import Mapping
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass, fields as dataclass_fields
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, PlainValidator, ValidationError,
                      create_model, field_validator, model_validator)

from node.core.ai_models import DEFAULT_MODEL_IDS
from node.eth.deploy import LPT_AMOUNT_FIELDS, ProtocolParams

from . import exogenous, policies, units
from .distributions import Distribution, Exponential, Constant, parse_distribution
from .seeds import SeedTree
from .units import FieldError

# --- limits (scenarios/README.md, "Limits"): far above any study, low enough that a mistaken or
# hostile file is refused at its line instead of exhausting memory or running for ever ----------

MAX_FILE_BYTES = 10 * 2**20
MAX_DEPTH = 50  # nesting of mappings and lists, aliases expanded
MAX_VALUES = 200_000  # values in the file once aliases are expanded
MAX_AGENTS = 100_000  # orchestrators + gateways + delegators
MAX_DURATION_YEARS = 100  # simulated time of one run
MAX_SWEEP_POINTS = 10_000
MAX_SWEEP_RUNS = 100_000  # points x runs
LIMITS_HINT = 'see "Limits" in scenarios/README.md'


# --- pipelines and transcoding profiles --------------------------------------------------------

TRANSCODING = "transcoding"
AI_PIPELINES = tuple(DEFAULT_MODEL_IDS)
PIPELINES = (TRANSCODING, *AI_PIPELINES)
BATCH_AI_PIPELINES = tuple(p for p in AI_PIPELINES if p != "live-video-to-video")

DEFAULT_COMPUTE = {  # compute time per job in mock mode
    TRANSCODING: {"dist": "lognormal", "median": "0.4 s", "sigma": 0.3},
    "ai": {"dist": "lognormal", "median": "1 s", "sigma": 0.3},
}


@dataclass(frozen=True)
class VideoProfile:
    """An lpms transcoding preset: what a rendition costs is width × height × fps pixels a second.

    It also reads as `node.core.pricing.PixelProfile` and `node.core.capabilities.ProfileLike`
    (an H.264 rendition in MPEG-TS with an integer framerate, as the presets are)."""

    name: str
    width: int
    height: int
    fps: int
    # ProfileLike's other fields (class attributes, not dataclass fields): the lpms defaults.
    format = ""
    encoder = "h264"
    profile = ""
    gop = 0.0
    framerate_den = 0

    @property
    def framerate(self) -> int:
        return self.fps

    @property
    def pixels_per_second(self) -> int:
        return self.width * self.height * self.fps


# lpms ffmpeg/videoprofile.go presets (spec node.md §8.1).
PROFILES: dict[str, VideoProfile] = {p.name: p for p in (
    VideoProfile("P720p60fps16x9", 1280, 720, 60),
    VideoProfile("P720p30fps16x9", 1280, 720, 30),
    VideoProfile("P720p25fps16x9", 1280, 720, 25),
    VideoProfile("P720p30fps4x3", 960, 720, 30),
    VideoProfile("P576p30fps16x9", 1024, 576, 30),
    VideoProfile("P576p25fps16x9", 1024, 576, 25),
    VideoProfile("P360p30fps16x9", 640, 360, 30),
    VideoProfile("P360p25fps16x9", 640, 360, 25),
    VideoProfile("P360p30fps4x3", 480, 360, 30),
    VideoProfile("P240p30fps16x9", 426, 240, 30),
    VideoProfile("P240p25fps16x9", 426, 240, 25),
    VideoProfile("P240p30fps4x3", 320, 240, 30),
    VideoProfile("P144p30fps16x9", 256, 144, 30),
    VideoProfile("P144p25fps16x9", 256, 144, 25),
)}


def _one_of(kind: str, value: Any, valid: tuple[str, ...] | list[str]) -> ValueError:
    return ValueError(f'unknown {kind} "{value}" (expected one of {", ".join(valid)})')


def _pipeline(value: Any) -> str:
    if value not in PIPELINES:
        raise _one_of("pipeline", value, PIPELINES)
    return value


def _batch_ai_pipeline(value: Any) -> str:
    if value == "live-video-to-video":
        raise ValueError("live-video-to-video is a live pipeline, not a batch one")
    if value not in BATCH_AI_PIPELINES:
        raise _one_of("batch AI pipeline", value, BATCH_AI_PIPELINES)
    return value


def _ai_price_key(value: Any) -> str:
    """`pipeline` or `pipeline/model id` (model ids contain slashes themselves)."""
    pipeline, slash, model_id = str(value).partition("/")
    if pipeline == TRANSCODING:
        raise ValueError("transcoding is priced per pixel (price_per_pixel / max_price_per_pixel)")
    if pipeline not in AI_PIPELINES:
        raise _one_of("AI pipeline", pipeline, AI_PIPELINES)
    if slash and not model_id:
        raise ValueError(f'"{value}" names no model after the slash')
    return value


def _profile(value: Any) -> VideoProfile:
    if isinstance(value, VideoProfile):
        return value
    if value not in PROFILES:
        raise _one_of("profile", value, list(PROFILES))
    return PROFILES[value]


# --- durations: converted through the chain of the scenario being validated -------------------

DEFAULT_BLOCK_TIME = 12.0
DEFAULT_ROUND_LENGTH = ProtocolParams().round_length
# (block_time, round_length) of the scenario under validation: Scenario sets it from the raw
# `chain` section before validating, so that `3 rounds` anywhere in the file means that chain's
# rounds. A section validated on its own (e.g. `Network.model_validate(...)`) gets the defaults.
_TIME_BASE: ContextVar[tuple[float, int]] = ContextVar("lpsim_time_base",
                                                      default=(DEFAULT_BLOCK_TIME, DEFAULT_ROUND_LENGTH))


def _seconds(value: Any) -> float:
    return units.parse_duration(value).to_seconds(*_TIME_BASE.get())


def _block_time(value: Any) -> float:
    duration = units.parse_duration(value)
    if duration.chain_relative:
        raise ValueError("must be a time such as `12 s`, not a number of blocks or rounds")
    return duration.to_seconds(0, 0)


def _time_base_of(data: Any) -> tuple[float, int]:
    """The time base of raw scenario data; defaults where the chain section is invalid (its
    own errors are reported by its fields)."""
    block_time, round_length = DEFAULT_BLOCK_TIME, DEFAULT_ROUND_LENGTH
    chain = data.get("chain") if isinstance(data, Mapping) else None
    if isinstance(chain, Mapping):
        with suppress(ValueError):
            block_time = _block_time(chain.get("block_time", DEFAULT_BLOCK_TIME)) or DEFAULT_BLOCK_TIME
        value = chain.get("round_length")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            round_length = value
    return block_time, round_length


# --- field types -----------------------------------------------------------------------------

def _serialized(fmt) -> PlainSerializer:
    return PlainSerializer(fmt, return_type=Any)


def _distribution_of(unit, fmt) -> Any:
    return Annotated[Distribution, PlainValidator(lambda value: parse_distribution(value, unit)),
                     _serialized(lambda dist: dist.to_data(fmt))]


Int = Annotated[int, Field(strict=True)]  # YAML writes integers as such; `count: true` is a mistake
Seconds = Annotated[float, BeforeValidator(_seconds), _serialized(units.plain)]
PositiveSeconds = Annotated[Seconds, Field(gt=0)]
Wei = Annotated[int, BeforeValidator(units.parse_eth)]
LptAmount = Annotated[int, BeforeValidator(units.parse_lpt), _serialized(units.format_lpt)]
Price = Annotated[Fraction, PlainValidator(units.parse_price), _serialized(units.format_price)]
Rate = Annotated[float, BeforeValidator(units.parse_rate), Field(gt=0)]
Ratio = Annotated[float, BeforeValidator(units.parse_fraction)]
DurationDistribution = _distribution_of(_seconds, units.plain)
LptDistribution = _distribution_of(lambda value: float(units.parse_lpt(value)), units.format_lpt)
PriceDistribution = _distribution_of(lambda value: float(units.parse_price(value)), units.plain)
PipelineName = Annotated[str, BeforeValidator(_pipeline)]
AIPriceKey = Annotated[str, BeforeValidator(_ai_price_key)]
Profile = Annotated[VideoProfile, PlainValidator(_profile), _serialized(lambda profile: profile.name)]


class Section(BaseModel):
    """Base of every section: unknown keys refused, immutable, defaults parsed like values
    (so they are written as the reference writes them: "1 ETH", "10 min", "1 rounds")."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, arbitrary_types_allowed=True)


# --- chain -------------------------------------------------------------------------------------

# ProtocolParams fields in fixed point: how many units make 1 (they also take a percentage).
_FIXED_POINT_ONE = {"round_lock_amount": 10**6, "inflation": 10**9, "inflation_change": 10**9,
                    "target_bonding_rate": 10**9, "treasury_reward_cut_rate": 10**27}


def _whole_number(value: Any) -> int:
    amount, unit = units.split_quantity(value, "expected a whole number")
    if unit or amount.denominator != 1 or amount < 0:
        raise ValueError(f"expected a whole number (got {value!r})")
    return amount.numerator


def _fixed_point(value: Any, one: int) -> int:
    """A ProtocolParams fixed-point value: a whole number of 1/`one` units, or a percentage."""
    expected = f"expected a whole number of 1e-{len(str(one)) - 1} units or a percentage such as `50%`"
    amount, unit = units.split_quantity(value, expected)
    if unit == "%":
        amount = amount * one / 100
    elif unit:
        raise ValueError(f"{expected} (got {value!r})")
    if amount.denominator != 1 or amount < 0:
        raise ValueError(f"{expected} (got {value!r})")
    return amount.numerator


def _protocol_param_type(name: str) -> Any:
    if name in LPT_AMOUNT_FIELDS:
        parse, extra = units.parse_lpt, [_serialized(units.format_lpt)]
    elif name in _FIXED_POINT_ONE:
        parse, extra = (lambda value: _fixed_point(value, _FIXED_POINT_ONE[name])), []
    else:
        parse, extra = _whole_number, []

    def validate(value: Any) -> int:
        parsed = parse(value)
        try:  # ProtocolParams' own bounds, checked for this one field
            ProtocolParams(**{name: parsed})
        except ValueError as exc:
            raise ValueError(str(exc).removeprefix(f"ProtocolParams.{name} ")) from None
        return parsed

    return Annotated[(int, BeforeValidator(validate), *extra)]


def _protocol_param_default(name: str, value: int) -> Any:
    return units.format_lpt(value) if name in LPT_AMOUNT_FIELDS else value


ProtocolParamsSection = create_model(
    "ProtocolParamsSection",
    __base__=Section,
    **{f.name: (_protocol_param_type(f.name), _protocol_param_default(f.name, f.default))
       for f in dataclass_fields(ProtocolParams) if f.name != "round_length"},
)
ProtocolParamsSection.__doc__ = """`chain.params`: every field of `node.eth.ProtocolParams` but `round_length`
(`chain.round_length`), defaulting to its defaults. LPT amounts take LPT units; fixed-point
fields take their integer or a percentage (`target_bonding_rate: 50%`)."""


class Chain(Section):
    backend: Literal["revm", "fast", "embedded"] = "revm"
    block_time: Annotated[float, BeforeValidator(_block_time), Field(gt=0), _serialized(units.plain)] = "12 s"
    round_length: Int = Field(DEFAULT_ROUND_LENGTH, ge=1)
    gas_price: Wei = "0.01 gwei"
    redeem_gas: Int = Field(1_200_000, ge=0)
    params: ProtocolParamsSection = Field(default_factory=dict)  # type: ignore[valid-type]
    initial_supply: LptAmount = 0

    @property
    def round_seconds(self) -> float:
        """Simulated seconds per round: round_length × block_time."""
        return self.round_length * self.block_time

    def protocol_params(self) -> ProtocolParams:
        return ProtocolParams(round_length=self.round_length, **dict(self.params))


# --- orchestrators -------------------------------------------------------------------------------

class Group(Section):
    """A group of `count` agents named `<name>-<i>`."""

    name: str = Field(min_length=1)
    count: Int = Field(1, ge=1)

    @field_validator("count")
    @classmethod
    def _count_limit(cls, value: int) -> int:
        if value > MAX_AGENTS:
            raise ValueError(f"must be at most {MAX_AGENTS:,} (got {value:,}); {LIMITS_HINT}")
        return value

    def member_names(self) -> list[str]:
        return [f"{self.name}-{i}" for i in range(self.count)]


class Pipeline(Section):
    """What an orchestrator runs for one pipeline; `name` is its key in `pipelines`."""

    name: str = Field(exclude=True)
    model_id: str
    warm: bool = True
    compute: DurationDistribution
    mode: Literal["mock", "real"] = "mock"

    @model_validator(mode="before")
    @classmethod
    def _pipeline_defaults(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("name"), str):
            name = data["name"]  # (an unknown one is reported at its key; these defaults avoid follow-on errors)
            data = {"model_id": DEFAULT_MODEL_IDS.get(name, ""),
                    "compute": DEFAULT_COMPUTE[TRANSCODING if name == TRANSCODING else "ai"], **data}
        return data


def _reward(value: Any) -> float:
    if value == "always":
        return 1.0
    if value == "never":
        return 0.0
    try:
        return units.parse_fraction(value)
    except ValueError as exc:
        raise ValueError(f"expected always, never or a probability per round such as 0.9 ({exc})") from None


def _policy(value: Any) -> policies.PolicySpec | None:
    if value is None or isinstance(value, policies.PolicySpec):
        return value
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str) or set(value) - {"name", "params"}:
        raise ValueError("expected a policy name, or {name: <shipped name or module:function>, params: {...}}")
    params = value.get("params", {})
    if not isinstance(params, Mapping):
        raise FieldError("expected a mapping of parameters", ("params",))
    policies.resolve(value["name"])  # an unknown name or an import error, reported at this field
    return policies.PolicySpec(value["name"], dict(params))


PolicyField = Annotated[Optional[policies.PolicySpec], PlainValidator(_policy),
                        _serialized(lambda p: p and {"name": p.name, "params": dict(p.params)})]


class ByocCapability(Section):
    """A BYOC capability an orchestrator's worker registers (go's /capability/register)."""

    capacity: Int = Field(1, ge=1)


class OrchestratorGroup(Group):
    stake: LptDistribution = "1000 LPT"
    reward_cut: Ratio = 0.1
    fee_share: Ratio = 0.5
    price_per_pixel: PriceDistribution = "1200 wei"
    ai_prices: dict[AIPriceKey, Price] = {}
    auto_adjust_price: bool = True
    ticket_ev: Wei = "8 gwei"
    max_face_value: Wei = 0
    capacity: Int = Field(10, ge=1)
    pipelines: dict[PipelineName, Pipeline] = Field({TRANSCODING: {}}, min_length=1)
    failure_rate: Ratio = 0
    # Probability of calling reward in a round when active: always = 1, never = 0.
    reward: Annotated[float, BeforeValidator(_reward),
                      _serialized(lambda p: {1.0: "always", 0.0: "never"}.get(p, p))] = "always"
    service_uri: str = "https://{name}:8935"  # {name}: the orchestrator's name; {index}: its i
    policy: PolicyField = None  # None: the default policy (reward with probability `reward`, fixed terms)
    # False: holds its stake unbonded at genesis, outside the set, until its policy Joins
    registered_at_start: bool = True
    # running cost in USD per 30.44-day month, for the summary's profitability (lpsim.economics)
    cost_usd_per_month: Optional[float] = Field(None, ge=0)
    # BYOC capabilities its workers register (name -> capacity); the price is the byoc workload's
    byoc: dict[Annotated[str, Field(min_length=1)], ByocCapability] = {}

    @field_validator("pipelines", mode="before")
    @classmethod
    def _name_pipelines(cls, value: Any) -> Any:
        """Hand each pipeline its key (it sets the defaults); `transcoding:` alone means {}."""
        if not isinstance(value, Mapping):
            return value
        named = {}
        for key, config in value.items():
            config = {} if config is None else config
            if isinstance(config, Mapping):
                if "name" in config:
                    raise FieldError('unknown key "name" (a pipeline is named by its key)', (key, "name"))
                config = {**config, "name": key}
            named[key] = config
        return named

    @field_validator("service_uri")
    @classmethod
    def _check_service_uri(cls, value: str) -> str:
        try:
            value.format(name="o", index=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"bad placeholder in {value!r} ({exc}); use {{name}} or {{index}}") from None
        return value

    @model_validator(mode="after")
    def _entrants_need_a_policy(self) -> "OrchestratorGroup":
        if not self.registered_at_start and self.policy is None:
            raise FieldError("a group that starts unregistered needs a policy to join (e.g. join_when_profitable)",
                             ("registered_at_start",))
        return self

    @model_validator(mode="after")
    def _distinct_service_uris(self) -> "OrchestratorGroup":
        if self.count > 1 and len({self.service_uri_for(i) for i in range(2)}) == 1:
            raise FieldError("every orchestrator of a group needs its own URI: use {name} or {index}", ("service_uri",))
        return self

    def service_uri_for(self, index: int) -> str:
        return self.service_uri.format(name=f"{self.name}-{index}", index=index)


# --- gateways and their demand ------------------------------------------------------------------

class Selection(Section):
    """go-livepeer's orchestrator selection weights (spec node.md §3.5)."""

    stake_weight: Ratio = 0.7
    price_weight: Ratio = 0.0
    rand_weight: Ratio = 0.3
    price_exp_factor: float = Field(100.0, gt=0)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> "Selection":
        total = self.stake_weight + self.price_weight + self.rand_weight
        if abs(total - 1) > 1e-4:  # go refuses to start otherwise
            raise ValueError(f"stake_weight + price_weight + rand_weight must add up to 1 (got {total:g})")
        return self


class PoissonArrival(Section):
    process: Literal["poisson"]
    rate: Rate

    @property
    def interarrival(self) -> Distribution:
        """Seconds between arrivals."""
        return Exponential(1.0 / self.rate)


class ConstantArrival(Section):
    process: Literal["constant"]
    interval: PositiveSeconds

    @property
    def interarrival(self) -> Distribution:
        """Seconds between arrivals."""
        return Constant(self.interval)


Arrival = Annotated[Union[PoissonArrival, ConstantArrival], Field(discriminator="process")]


class Workload(Section):
    """What a gateway's clients send: the fields every workload has."""

    type: str
    arrival: Arrival
    start: Seconds = 0
    stop: Optional[Seconds] = None  # None: the end of the run

    @model_validator(mode="after")
    def _stop_after_start(self) -> "Workload":
        if self.stop is not None and self.stop <= self.start:
            raise FieldError(f"must be after start ({units.plain(self.stop)} s <= {units.plain(self.start)} s)",
                             ("stop",))
        return self


class Source(Section):
    width: Int = Field(1280, ge=1)
    height: Int = Field(720, ge=1)
    fps: float = Field(30, gt=0)


class TranscodingWorkload(Workload):
    """Streams arrive by `arrival`; each lasts `stream_duration` and is cut into segments."""

    type: Literal["transcoding"]
    stream_duration: DurationDistribution = "10 min"
    segment_duration: PositiveSeconds = "2 s"
    profiles: tuple[Profile, ...] = ("P240p30fps16x9", "P360p30fps16x9")
    source: Source = Field(default_factory=dict)

    @field_validator("profiles")
    @classmethod
    def _some_profiles(cls, value: tuple) -> tuple:
        if not value:  # (not min_length: pydantic would report it too when an item is invalid)
            raise ValueError("must list at least one profile")
        return value


class BatchAIWorkload(Workload):
    """Requests arrive by `arrival`, each one job of `pipeline`."""

    type: Literal["batch_ai"]
    pipeline: Annotated[str, BeforeValidator(_batch_ai_pipeline)]
    model_id: str
    request: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _default_model_id(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "model_id" not in data:
            pipeline = data.get("pipeline")  # (when missing or unknown it is reported by itself)
            data = {**data, "model_id": DEFAULT_MODEL_IDS.get(pipeline, "") if isinstance(pipeline, str) else ""}
        return data


class LiveAIWorkload(Workload):
    """Live video-to-video sessions arrive by `arrival`; each streams for `session_duration`,
    paying 60 s up front and then every `payment_interval` (go's -livePaymentInterval)."""

    type: Literal["live_ai"]
    model_id: str = DEFAULT_MODEL_IDS["live-video-to-video"]
    session_duration: DurationDistribution = "5 min"
    payment_interval: PositiveSeconds = "5 s"


class ByocWorkload(Workload):
    """Bring-your-own-container jobs arrive by `arrival`, each running `job_duration` (cut at
    `timeout`, go's timeout_seconds) on an orchestrator whose worker registered `capability` at
    `price_per_second`; `sse` jobs answer as server-sent events, `stream` jobs are BYOC streams
    paid as they run (lpsim.byoc)."""

    type: Literal["byoc"]
    capability: str = Field(min_length=1)
    price_per_second: Price
    job_duration: DurationDistribution = "10 s"
    timeout: PositiveSeconds = "30 s"
    mode: Literal["batch", "sse", "stream"] = "batch"

    @field_validator("timeout")
    @classmethod
    def _whole_seconds(cls, value: float) -> float:
        if value != int(value):  # go's timeout_seconds is an integer
            raise ValueError(f"must be whole seconds (got {units.plain(value)} s)")
        return value


AnyWorkload = Annotated[Union[TranscodingWorkload, BatchAIWorkload, LiveAIWorkload, ByocWorkload],
                        Field(discriminator="type")]


class GatewayGroup(Group):
    deposit: Wei = "1 ETH"
    reserve: Wei = "1 ETH"
    max_price_per_pixel: Optional[Price] = None  # None: accept any price
    max_ai_prices: dict[AIPriceKey, Price] = {}
    selection: Selection = Field(default_factory=dict)
    max_attempts: Int = Field(3, ge=1)
    max_ticket_ev: Wei = "3000 gwei"
    max_total_ev: Wei = "20000 gwei"
    demand: list[AnyWorkload] = []


# --- delegators, network, metrics ---------------------------------------------------------------

class DelegatorGroup(Group):
    stake: LptDistribution = "100 LPT"
    bond_to: Literal["stake_weighted", "uniform", "lowest_cut"] = "stake_weighted"
    unbond_probability: Ratio = 0  # per round
    rebond_after: Optional[Seconds] = None  # None: leave for good
    claim_every: Optional[PositiveSeconds] = "30 d"  # None: never claim
    # None: the default policy (unbond with probability unbond_probability, rebond after rebond_after)
    policy: PolicyField = None
    # False: holds its stake unbonded at genesis (a would-be entrant) until its policy bonds it
    bonded_at_start: bool = True

    @model_validator(mode="after")
    def _entrants_need_a_policy(self) -> "DelegatorGroup":
        if not self.bonded_at_start and self.policy is None:
            raise FieldError("a group that starts unbonded needs a policy to bond (e.g. enter_and_exit)",
                             ("bonded_at_start",))
        return self


# protocol parameters a governance vote can change mid-run: the contract and its owner-only setter
GOVERNANCE_SETTERS = {
    "target_bonding_rate": ("Minter", "setTargetBondingRate"),
    "inflation_change": ("Minter", "setInflationChange"),
    "unbonding_period": ("BondingManager", "setUnbondingPeriod"),
    "treasury_reward_cut_rate": ("BondingManager", "setTreasuryRewardCutRate"),
    "treasury_balance_ceiling": ("BondingManager", "setTreasuryBalanceCeiling"),
    "num_active_transcoders": ("BondingManager", "setNumActiveTranscoders"),
}
GovernanceParams = create_model(
    "GovernanceParams", __base__=Section,
    **{name: (Optional[_protocol_param_type(name)], None) for name in GOVERNANCE_SETTERS},
)


class Shock(Section):
    """A change to one exogenous series from the event's round on: `multiply` its values (a jump:
    the path keeps its own moves after it) or `set` them (held at that value)."""

    multiply: Optional[float] = Field(None, ge=0)
    set: Optional[float] = Field(None, ge=0)

    @model_validator(mode="after")
    def _one(self) -> "Shock":
        if (self.multiply is None) == (self.set is None):
            raise ValueError("expected one of multiply or set")
        return self


class Event(Section):
    """A timeline event at simulated time `at`: the protocol owner sets `set`'s parameters through
    the contracts' governance setters (as an executed vote would); the orchestrators in `down` go
    down and those in `up` come back (names, or a group's name for all of it); `shock` multiplies
    or sets exogenous series (demand, prices) from the round `at` falls in."""

    at: Seconds = Field(ge=0)
    set: Optional[GovernanceParams] = None  # type: ignore[valid-type]
    down: list[str] = []
    up: list[str] = []
    shock: dict[Literal[exogenous.SERIES_NAMES], Shock] = {}  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _something(self) -> "Event":
        if self.set is not None and not self.set.model_dump(exclude_none=True):
            raise FieldError("names no parameter to change", ("set",))
        if self.set is None and not (self.down or self.up or self.shock):
            raise ValueError("expected at least one of set, down, up or shock")
        for j, name in enumerate(self.up):
            if name in self.down:
                raise FieldError(f"{name!r} is also in down", ("up", j))
        return self


class SeriesSpec(Section):
    """One exogenous series (lpsim.exogenous): a process and its parameters."""

    process: Literal[exogenous.PROCESSES]  # type: ignore[valid-type]
    value: Optional[float] = None  # constant
    start: Optional[float] = Field(None, gt=0)  # gbm, merton, bootstrap: the value at time 0
    mu: float = 0.0  # annual drift of the log price
    sigma: Optional[float] = Field(None, ge=0)  # annual volatility
    jump_rate: Optional[float] = Field(None, ge=0)  # merton: jumps per year
    jump_mean: float = 0.0  # merton: mean log jump
    jump_sd: float = Field(0.0, ge=0)  # merton: sd of the log jump
    returns: Optional[list[float]] = None  # bootstrap: log-returns per round
    path: Optional[str] = None  # file, bootstrap: a CSV with a round or day column
    column: Optional[str] = None  # file, bootstrap: the value column

    @model_validator(mode="after")
    def _needs(self) -> "SeriesSpec":
        needed = {"constant": ("value",), "gbm": ("start", "sigma"), "merton": ("start", "sigma", "jump_rate"),
                  "file": ("path", "column"), "bootstrap": ("start",)}[self.process]
        for name in needed:
            if getattr(self, name) is None:
                raise FieldError(f"required by process {self.process}", (name,))
        if self.process == "bootstrap" and self.returns is None and (self.path is None or self.column is None):
            raise FieldError("bootstrap needs returns, or path and column", ("returns",))
        if self.path is not None:
            try:
                exogenous.read_column(self.path, self.column or "")
            except (OSError, ValueError) as exc:
                raise FieldError(str(exc), ("path",)) from None
        return self


class Network(Section):
    latency: DurationDistribution = {"dist": "lognormal", "median": "40 ms", "sigma": 0.5}
    loss: Ratio = 0


class JobRows(Section):
    """`metrics.jobs` as a mapping: which job rows to keep and the file they go to."""

    sample: Ratio = Field(1.0, gt=0, le=1)  # the fraction of jobs kept, drawn from the seed tree
    format: Literal["csv", "parquet"] = "csv"  # jobs.csv, or jobs.parquet (needs pyarrow)


class Metrics(Section):
    sample_every: PositiveSeconds = "1 rounds"
    jobs: Union[bool, JobRows] = True  # true: every job in jobs.csv; false: none; or a JobRows mapping
    transitions: bool = False


# --- the scenario --------------------------------------------------------------------------------

GROUP_PREFIXES = {"orchestrators": "orch", "gateways": "gw", "delegators": "del"}


class Sweep(Section):
    """Parameters to vary and Monte Carlo runs per point (lpsim.sweep expands and runs it).
    `parameters` maps a dotted path into the scenario (`chain.params.inflation_change`,
    `gateways[0].demand[0].arrival.rate`) to the values to try, written as in the file."""

    mode: Literal["grid", "zip"] = "grid"  # every combination, or the i-th values together
    parameters: dict[str, list[Any]] = Field(min_length=1)
    runs: Int = Field(1, ge=1)  # Monte Carlo runs per point, each with its own seed
    common_seeds: bool = False  # run r uses the same seed at every point (common random numbers)

    @field_validator("parameters")
    @classmethod
    def _values(cls, value: dict) -> dict:
        for path, values in value.items():
            if not values:
                raise FieldError("needs at least one value", (path,))
        return value

    @model_validator(mode="after")
    def _zip_lengths(self) -> "Sweep":
        if self.mode == "zip" and len({len(v) for v in self.parameters.values()}) > 1:
            lengths = ", ".join(f"{k}: {len(v)}" for k, v in self.parameters.items())
            raise FieldError(f"zip mode needs lists of one length ({lengths})", ("parameters",))
        check_sweep_size(self.point_count, self.runs)
        return self

    @property
    def point_count(self) -> int:
        """How many points the sweep has (counted, not expanded)."""
        lengths = [len(v) for v in self.parameters.values()]
        return lengths[0] if self.mode == "zip" else math.prod(lengths)


def check_sweep_size(points: int, runs: int) -> None:
    """Refuse more points, or points x runs, than the limits (FieldError)."""
    if points > MAX_SWEEP_POINTS:
        raise FieldError(f"{points:,} points, more than {MAX_SWEEP_POINTS:,}; {LIMITS_HINT}", ("parameters",))
    if points * runs > MAX_SWEEP_RUNS:
        raise FieldError(f"{points:,} points x {runs:,} runs, more than {MAX_SWEEP_RUNS:,} runs; {LIMITS_HINT}",
                         ("runs",))


class Start(Section):
    """`start`: where the run begins. `from_network: 2024-06-01` starts from the recorded network
    that day: its inflation, total supply and bonded total, and the 100-orchestrator active set
    (lpsim.network_start says what is taken and how); the groups' stake draws give the shape."""
    from_network: Optional[str] = None

    @field_validator("from_network", mode="before")
    @classmethod
    def _recorded_day(cls, value: Any) -> Optional[str]:
        from .network_start import network_day

        return None if value is None else network_day(value).date

    def protocol_params(self, params: ProtocolParams, given: BaseModel) -> ProtocolParams:
        """`params` with the recorded day's inflation and active set size, except where the
        scenario's `chain.params` (`given`) set them itself."""
        if self.from_network is None:
            return params
        from .network_start import ACTIVE_SET_SIZE, network_day

        recorded = {"inflation": network_day(self.from_network).inflation_ppb,
                    "num_active_transcoders": ACTIVE_SET_SIZE}
        return params.with_(**{k: v for k, v in recorded.items() if k not in given.model_fields_set})


class Scenario(Section):
    """A whole scenario, resolved: see the module docstring for the units of its values."""

    name: str = "scenario"
    description: str = ""
    seed: Int = Field(0, ge=0)
    duration: PositiveSeconds
    chain: Chain = Field(default_factory=dict)
    orchestrators: list[OrchestratorGroup] = Field(min_length=1)
    gateways: list[GatewayGroup] = []
    delegators: list[DelegatorGroup] = []
    network: Network = Field(default_factory=dict)
    metrics: Metrics = Field(default_factory=dict)
    sweep: Optional[Sweep] = None  # `lpsim sweep` runs it; `lpsim run` runs the base scenario
    start: Optional[Start] = None  # from the recorded network on a day (lpsim.network_start)
    series: dict[Literal[exogenous.SERIES_NAMES], SeriesSpec] = {}  # type: ignore[valid-type]
    events: list[Event] = []  # governance changes, outages, shocks at given times (lpsim.behaviour.Behaviour.timeline)

    @model_validator(mode="wrap")
    @classmethod
    def _prepare(cls, data: Any, handler: Any) -> "Scenario":
        """Name unnamed groups after their index, and validate under this chain's time base."""
        if isinstance(data, Mapping):
            data = dict(data)
            for key, prefix in GROUP_PREFIXES.items():
                if isinstance(data.get(key), list):
                    data[key] = [{"name": f"{prefix}{i}", **group} if isinstance(group, Mapping) and "name" not in group
                                 else group for i, group in enumerate(data[key])]
        token = _TIME_BASE.set(_time_base_of(data))
        try:
            return handler(data)
        finally:
            _TIME_BASE.reset(token)

    @model_validator(mode="after")
    def _distinct_group_names(self) -> "Scenario":
        """Agent names (`<name>-<i>`) are distinct exactly when group names are."""
        seen: dict[str, str] = {}
        for key in GROUP_PREFIXES:
            for i, group in enumerate(getattr(self, key)):
                if group.name in seen:
                    raise FieldError(f'duplicate group name "{group.name}" (also {seen[group.name]})', (key, i, "name"))
                seen[group.name] = f"{key}[{i}]"
        return self

    @field_validator("duration")
    @classmethod
    def _duration_limit(cls, value: float) -> float:
        if value > MAX_DURATION_YEARS * units.SECONDS_PER_UNIT["y"]:
            raise ValueError(f"must be at most {MAX_DURATION_YEARS} y (got {units.plain(value)} s); {LIMITS_HINT}")
        return value

    @model_validator(mode="after")
    def _agent_limit(self) -> "Scenario":
        total = 0
        for key in GROUP_PREFIXES:
            for i, group in enumerate(getattr(self, key)):
                total += group.count
                if total > MAX_AGENTS:
                    raise FieldError(f"more than {MAX_AGENTS:,} agents in all (orchestrators, gateways and "
                                     f"delegators); {LIMITS_HINT}", (key, i, "count"))
        return self

    @model_validator(mode="after")
    def _demand_is_served(self) -> "Scenario":
        """Every workload has an orchestrator group that runs its pipeline (and model): one that
        none runs would only fail, job after job (the engine's SimOrchestrator.can_run rule)."""
        offered = {(name, None if name == TRANSCODING else p.model_id)
                   for group in self.orchestrators for name, p in group.pipelines.items()}
        byoc_offered = {name for group in self.orchestrators for name in group.byoc}
        byoc_prices: dict[str, Fraction] = {}
        for i, gateway in enumerate(self.gateways):
            for j, work in enumerate(gateway.demand):
                if work.type == "byoc":
                    if work.capability not in byoc_offered:
                        runs = ", ".join(sorted(byoc_offered)) or "none"
                        raise FieldError(f"no orchestrator runs the BYOC capability {work.capability!r}, so every "
                                         f"job would fail (orchestrators' byoc capabilities: {runs})",
                                         ("gateways", i, "demand", j, "capability"))
                    price = byoc_prices.setdefault(work.capability, work.price_per_second)
                    if price != work.price_per_second:  # one registration per capability and orchestrator
                        raise FieldError(f"{work.capability!r} is priced {price} wei per second by "
                                         "another byoc workload: a capability has one price",
                                         ("gateways", i, "demand", j, "price_per_second"))
                    continue
                pipeline = {"transcoding": TRANSCODING, "live_ai": "live-video-to-video"}.get(work.type, None) \
                    or work.pipeline
                model = None if pipeline == TRANSCODING else work.model_id
                if (pipeline, model) not in offered:
                    runs = sorted(f"{p}/{m}" if m else p for p, m in offered)
                    wanted = f"{pipeline} with model {model}" if model else pipeline
                    raise FieldError(f"no orchestrator runs {wanted}, so every job would fail (the orchestrators "
                                     f"run: {', '.join(runs)})", ("gateways", i, "demand", j))
        return self

    @model_validator(mode="after")
    def _recorded_parameters(self) -> "Scenario":
        """A run from the recorded network gets the day's parameters written into chain.params
        (where the file does not set them), so the resolved scenario says what ran, and a copy
        with overrides (a sweep point) keeps them instead of falling back to the defaults."""
        if self.start is None or self.start.from_network is None:
            return self
        given = self.chain.params
        resolved = self.start.protocol_params(self.chain.protocol_params(), given)
        recorded = {k: getattr(resolved, k) for k in ("inflation", "num_active_transcoders")
                    if k not in given.model_fields_set}
        if recorded:
            object.__setattr__(self, "chain", self.chain.model_copy(update={"params": given.model_copy(update=recorded)}))
        return self

    @model_validator(mode="after")
    def _recorded_target(self) -> "Scenario":
        """`target: recorded` holds the chain's rate on each round's date: the run needs that date."""
        if self.start is None or self.start.from_network is None:
            for i, group in enumerate(self.delegators):
                if group.policy is not None and group.policy.params.get("target") == "recorded":
                    raise FieldError("recorded needs start.from_network: <date> (the recorded rate is "
                                     "read on each round's date)",
                                     ("delegators", i, "policy", "params", "target"))
        return self

    @model_validator(mode="after")
    def _event_targets(self) -> "Scenario":
        """Outage events name orchestrators (or their groups); a price shock needs its series (a
        demand shock scales the workloads' own rates, so needs none)."""
        known = {n for g in self.orchestrators for n in (g.name, *g.member_names())}
        for i, event in enumerate(self.events):
            for key in ("down", "up"):
                for j, name in enumerate(getattr(event, key)):
                    if name not in known:
                        near = difflib.get_close_matches(name, sorted(known), 1)
                        hint = f'; did you mean "{near[0]}"?' if near else ""
                        raise FieldError(f"no orchestrator or orchestrator group {name!r}{hint}", ("events", i, key, j))
            for name in event.shock:
                if name != "demand" and name not in self.series:
                    raise FieldError(f"a shock to {name} needs a {name} series (series.{name})",
                                     ("events", i, "shock", name))
        return self

    def orchestrator_names(self, names: list[str]) -> list[str]:
        """Orchestrator names with group names expanded to their members, in order, once each."""
        groups = {g.name: g.member_names() for g in self.orchestrators}
        return list(dict.fromkeys(m for n in names for m in groups.get(n, [n])))

    @property
    def groups(self) -> list[Group]:
        return [*self.orchestrators, *self.gateways, *self.delegators]

    def protocol_params(self) -> ProtocolParams:
        params = self.chain.protocol_params()
        return self.start.protocol_params(params, self.chain.params) if self.start else params

    def seed_tree(self) -> SeedTree:
        return SeedTree(self.seed)

    def to_data(self) -> dict[str, Any]:
        """The resolved scenario as plain data: seconds, wei, LPT amounts as "<n> LPT"."""
        return self.model_dump(mode="json")

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Scenario":
        """A copy with values changed by dotted path (`chain.params.inflation`,
        `gateways[0].demand[0].arrival.rate`), written as in a scenario file, and validated again."""
        data = self.to_data()
        for path, value in overrides.items():
            set_path(data, path, value)
        return Scenario.model_validate(data)

    def to_yaml(self) -> str:
        """The resolved scenario as YAML; `parse_scenario` reads it back to an equal Scenario."""
        header = "# resolved by lpsim: durations in seconds, ETH amounts and prices in wei\n"
        return header + yaml.safe_dump(self.to_data(), sort_keys=False, allow_unicode=True, width=100)


# --- dotted paths (sweeps and overrides) ----------------------------------------------------------

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _path_parts(path: str) -> list[str | int]:
    parts, pos = [], 0
    for m in _PATH_PART.finditer(path):
        if m.start() != pos and path[pos] != ".":
            break
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end() + (1 if m.end() < len(path) and path[m.end()] == "." else 0)
    if not parts or pos != len(path):
        raise ValueError(f"not a parameter path: {path!r} (e.g. chain.params.inflation, gateways[0].demand[0].arrival.rate)")
    return parts


def set_path(data: dict, path: str, value: Any) -> None:
    """Set `value` at a dotted path in scenario data (lists by [i]); the parent must exist."""
    parts = _path_parts(path)
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            where = ".".join(str(p) for p in parts[:i + 1])
            raise ValueError(f"{path}: the scenario has no {where}") from None
    last = parts[-1]
    if isinstance(node, list) and not (isinstance(last, int) and last < len(node)):
        raise ValueError(f"{path}: index out of range")
    if (isinstance(node, dict) and isinstance(last, int)) or not isinstance(node, (dict, list)):
        raise ValueError(f"{path}: cannot set a value there")
    node[last] = value



# --- loading and error reports -------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file, where it is."""

    line: int | None
    path: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line else []
        if self.column:
            where.append(f"column {self.column}")
        if self.path:
            where.append(self.path)
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ScenarioError(ValueError):
    """An invalid scenario: `problems` lists every one; the message is the report."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        lines = [f"{source}: {count} problem{'' if count == 1 else 's'}", *(f"  {p}" for p in self.problems)]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class _Document:
    data: Any
    lines: dict[tuple, int]  # path -> 1-based line of that key or list item; () -> the document
    duplicates: list[Problem]


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that measures every node as it composes it: its number of values and its
    depth once aliases are expanded. An alias costs nothing to compose but repeats its anchor's
    whole value wherever the data is walked (nine aliases of nine aliases ... is the "billion
    laughs"), so sizes past the limits are refused at the node's line before anything walks them."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth), aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self._measured:
                raise yaml.composer.ComposerError(None, None, "an alias cannot stand inside its own anchor", mark)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels; {LIMITS_HINT}",
                                              mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._measure(node, mark)
        return node

    def _measure(self, node: yaml.Node, mark: Any) -> None:
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else []
        measured = [self._measured[id(child)] for child in children]
        values = 1 + sum(v for v, _ in measured)
        depth = 1 + max((d for _, d in measured), default=0)
        if values > MAX_VALUES:
            raise yaml.composer.ComposerError(None, None, f"more than {MAX_VALUES:,} values once aliases are "
                                              f"expanded; {LIMITS_HINT}", mark)
        if depth > MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels once aliases "
                                              f"are expanded; {LIMITS_HINT}", mark)
        self._measured[id(node)] = (values, depth)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value YAML recognises but Python cannot build (an integer past 4300 digits, a date
        such as 2001-13-45) is an error at its line, not a traceback."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(None, None, f"cannot read this value: {str(exc).split(';')[0]}",
                                                    node.start_mark) from None


def _problem_at(text: str | bytes, position: int, message: str) -> Problem:
    """A problem at a character (or byte) offset of the file, as its line and column."""
    newline = b"\n" if isinstance(text, bytes) else "\n"
    line_start = text.rfind(newline, 0, position) + 1
    return Problem(text.count(newline, 0, position) + 1, "", message, position - line_start + 1)


def _text_of(text: str | bytes, source: str) -> str:
    """The file as text: not too large, and UTF-8 when given as bytes."""
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError(source, [Problem(None, "", f"larger than {MAX_FILE_BYTES // 2**20} MiB; {LIMITS_HINT}")])
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = _problem_at(text, exc.start, f"not UTF-8 text (byte 0x{text[exc.start]:02x})")
        raise ScenarioError(source, [problem]) from None


def _load_yaml(text: str) -> _Document:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return _Document(None, {}, [])
        lines: dict[tuple, int] = {(): node.start_mark.line + 1}
        duplicates: list[Problem] = []
        _record_lines(loader, node, (), lines, duplicates)
        return _Document(loader.construct_document(node), lines, duplicates)
    finally:
        loader.dispose()


def _record_lines(loader: yaml.SafeLoader, node: yaml.Node, path: tuple, lines: dict, duplicates: list) -> None:
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _record_lines(loader, item, path + (i,), lines, duplicates)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        merged = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # `<<: *anchor`: its keys count where not overridden
                merged += value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key, line = loader.construct_object(key_node), key_node.start_mark.line + 1
            if key in seen:
                duplicates.append(Problem(line, _dotted(path + (key,)),
                                          f'duplicate key "{key}" (first on line {seen[key]})'))
            seen.setdefault(key, line)
            lines[path + (key,)] = line
            _record_lines(loader, value_node, path + (key,), lines, duplicates)
        for source in merged:
            inherited: dict[tuple, int] = {}
            _record_lines(loader, source, path, inherited, [])
            for key, line in inherited.items():
                lines.setdefault(key, line)


def _yaml_problem(exc: yaml.YAMLError, text: str) -> Problem:
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        return _problem_at(text, exc.position, f"character #x{exc.character:04x} is not allowed in YAML")
    if not isinstance(exc, yaml.MarkedYAMLError):
        return Problem(None, "", f"invalid YAML: {exc}")
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or "invalid YAML"
    if exc.context:
        where = f" on line {exc.context_mark.line + 1}" if exc.context_mark and exc.context_mark is not mark else ""
        message = f"{message} ({exc.context}{where})"
    return Problem(mark.line + 1 if mark else None, "", message, mark.column + 1 if mark else None)


def _dotted(loc: tuple) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[\w-]+", str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f'["{part}"]'
    return text


_TAG_KEYS = ("type", "process")  # the discriminators of the tagged unions above


def _clean_loc(loc: tuple, data: Any) -> tuple:
    """Pydantic's error location as a path in the file: without the tags of tagged unions
    (the value of `type` / `process`) and without its `[key]` marker for errors in a key."""
    out, node = [], data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, Mapping) and part not in node and any(node.get(k) == part for k in _TAG_KEYS):
            continue
        out.append(part)
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def _line_of(loc: tuple, lines: dict[tuple, int]) -> int | None:
    """The line of `loc`, else of its nearest parent in the file."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _model_fields_at(loc: tuple) -> list[str]:
    """The keys the section at pydantic location `loc` accepts ([] when it is not a section)."""
    tp: Any = Scenario
    for part in loc:
        tp = _strip_annotated(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(part)
            tp = field.annotation if field else None
        elif get_origin(tp) in (list, tuple):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        elif get_origin(tp) in (Union, types.UnionType):
            tp = next((m for m in map(_strip_annotated, get_args(tp)) if part in _tags(m)), None)
        else:
            return []
    tp = _strip_annotated(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [name for name, field in tp.model_fields.items() if not field.exclude]
    return []


def _strip_annotated(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _tags(model: Any) -> tuple:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ()
    fields = model.model_fields
    return tuple(tag for key in _TAG_KEYS if key in fields for tag in get_args(fields[key].annotation))


_MOVED_KEYS = {("chain", "params", "round_length"): "set `chain.round_length` instead"}


def _unknown_key(loc: tuple) -> str:
    key = loc[-1]
    message = f'unknown key "{key}"'
    if loc in _MOVED_KEYS:
        return f"{message}: {_MOVED_KEYS[loc]}"
    known = _model_fields_at(loc[:-1])
    close = difflib.get_close_matches(str(key), known, n=1)
    if close:
        return f'{message}; did you mean "{close[0]}"?'
    return f"{message} (expected one of {', '.join(known)})" if known else message


def _describe(error: dict) -> tuple[tuple, str]:
    """(location below pydantic's, message) of one pydantic error, in the file's words."""
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    if kind in ("value_error", "assertion_error") and isinstance(ctx.get("error"), BaseException):
        return getattr(ctx["error"], "path", ()), str(ctx["error"])
    if kind == "missing":
        return (), "required"
    if kind == "extra_forbidden":
        return (), _unknown_key(tuple(error["loc"]))
    if kind == "literal_error":
        return (), f"must be {ctx['expected']} (got {given!r})"
    if kind in ("greater_than", "greater_than_equal"):
        bound = f"greater than {ctx['gt']}" if kind == "greater_than" else f"at least {ctx['ge']}"
        return (), f"must be {bound} (got {given!r})"
    if kind == "too_short":
        count = ctx.get("min_length", 1)
        return (), f"must have at least {count} {'entry' if count == 1 else 'entries'}"
    if kind == "union_tag_invalid":
        return (ctx["discriminator"].strip("'"),), f"must be one of {ctx['expected_tags']} (got {ctx['tag']!r})"
    if kind == "union_tag_not_found":
        return (ctx["discriminator"].strip("'"),), "required"
    message = error["msg"]
    if given is not None and not isinstance(given, (Mapping, list)):
        message += f" (got {given!r})"
    return (), message


def _problem(error: dict, document: _Document) -> Problem:
    below, message = _describe(error)
    loc = _clean_loc(tuple(error["loc"]), document.data) + tuple(below)
    return Problem(_line_of(loc, document.lines), _dotted(loc), message)


def _default_name(source: str) -> str:
    return "scenario" if source.startswith("<") else Path(source).stem


def parse_scenario(text: str | bytes, source: str = "<string>", seed: int | None = None) -> Scenario:
    """Validate a scenario given as YAML text (bytes: UTF-8); `seed` overrides the file's.
    `source` names the text in error reports and gives the default `name` (its stem)."""
    text = _text_of(text, source)
    try:
        document = _load_yaml(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [_yaml_problem(exc, text)]) from None
    data = document.data
    if not isinstance(data, Mapping):
        got = "the file is empty" if data is None else f"got {type(data).__name__} {data!r}"[:80]
        raise ScenarioError(source, [Problem(document.lines.get(()), "", f"a scenario is a mapping of keys such as "
                                             f"`duration` and `orchestrators` ({got})")])
    data = {"name": _default_name(source), **data}
    if seed is not None:
        data["seed"] = seed
    problems = list(document.duplicates)
    scenario = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems += [_problem(error, document) for error in exc.errors()]
    if problems:
        raise ScenarioError(source, sorted(problems, key=lambda p: p.line or 0))
    return scenario


def load_scenario(path: str | Path, seed: int | None = None) -> Scenario:
    """Read and validate a scenario file; `seed` overrides the file's (as `--seed` does)."""
    path = Path(path)
    with path.open("rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)  # one byte more tells a file over the limit
    return parse_scenario(data, source=str(path), seed=seed)
