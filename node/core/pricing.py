"""Prices and fees: what an orchestrator charges, what a gateway expects to pay and accepts
(go-livepeer cmd/livepeer/starter/starter.go price flags, core/orchestrator.go `priceInfo`,
`PriceInfoForCaps`, `GetCapabilitiesPrices`, core/ai_orchestrator.go `JobPriceInfo`,
core/autoconvertedprice.go, core/livepeernode.go price maps, common/util.go `PriceToFixed`,
`PriceToInt64`, server/segment_rpc.go `estimateFee`, `validatePrice`, server/ai_process.go and
server/ai_http.go AI units, server/broadcast.go `GetCapabilitiesMaxPrice`; spec node.md §2.4,
§3.5, §4.1–§4.4, §15).

A price is a `Fraction` of wei per unit (a pixel for transcoding, a pipeline's unit for AI, a
second for BYOC) everywhere; `PriceInfo` is the (pricePerUnit, pixelsPerUnit) pair on the wire.
Fees stay exact; callers round.

Decisions and quirks:
- Mirrored: the fee estimate multiplies by the float64 1.02 exactly as go's big.Rat.SetFloat64
  does (2296835809958953 / 2^51), not by 51/50.
- Mirrored: the 3-decimal cut truncates toward zero (floor for the prices a node can set) and
  saturates at int64, as go's big.Float Int64 does.
- Mirrored (spec §12.5): text-to-speech costs len(text) UTF-8 bytes on the gateway but 1000 × the
  number of characters on the orchestrator.
- Mirrored: BYOC job prices and the advertised per-capability prices are cut to whole wei
  (go's PriceToInt64), and a `-maxPricePerCapability` entry without a price borrows the number of
  `-maxPricePerUnit` but converts it with its own currency.
- Decided: every price turned into a PriceInfo gets go's PriceInfoForCaps rule (a numerator or
  denominator outside int64 ⇒ integer price, else "price cannot be converted to int64"); go's
  plain PriceInfo truncates such values silently.
- Decided: `-pricePerGateway` / `-maxPricePerCapability` errors raise, naming the entry (go logs
  them and ignores the whole flag, or panics on a missing pixels value).
- Decided: an orchestrator-side text-to-speech request without text answers "text field is
  required" as the gateway does (go dereferences the missing text).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Optional, Protocol, Union

from .capabilities import Capabilities, Capability, CapabilityError, pipeline_capability

__all__ = [
    "WEI_PER_ETH", "PRICE_SCALING_FACTOR", "PIXEL_ESTIMATE_MULTIPLIER", "PRICE_INCREASE_THRESHOLD",
    "DEFAULT_LLM_MAX_TOKENS", "LIVE_VIDEO_UNITS_PER_SECOND", "LIVE_INITIAL_UNITS",
    "PriceError", "AIRequestError", "parse_price_per_unit", "parse_pixels_per_unit",
    "price_per_pixel", "PriceFeed", "to_wei", "price_to_fixed", "auto_adjust_price",
    "price_to_int", "PriceInfo", "PriceTable", "byoc_price", "parse_gateway_prices",
    "gateway_ai_units", "orchestrator_ai_units", "live_video_units", "ai_fee", "transcode_pixels",
    "estimate_transcode_fee", "validate_price", "MaxPrices", "parse_max_prices", "load_json",
    "json_field", "show_number",
]

WEI_PER_ETH = 10**18
PRICE_SCALING_FACTOR = 1000  # advertised prices keep 3 decimals
PIXEL_ESTIMATE_MULTIPLIER = Fraction(1.02)  # the float64 value, exactly as go uses it
PRICE_INCREASE_THRESHOLD = 2  # a session's price may at most double
DEFAULT_LLM_MAX_TOKENS = 256
LIVE_VIDEO_UNITS_PER_SECOND = 1280 * 720 * 30
LIVE_INITIAL_UNITS = 60 * LIVE_VIDEO_UNITS_PER_SECOND  # paid up front when a live stream starts
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

TxCostMultiplier = Union[Fraction, int, Callable[[], Fraction], None]


class PriceError(ValueError):
    """A price that cannot be parsed, converted or accepted; `str(e)` is go's message."""


class AIRequestError(ValueError):
    """An AI request whose units cannot be counted: answered with HTTP 400 and this message."""


# ------------------------------------------------------------------------------ flag parsing

_PRICE_PER_UNIT = re.compile(r"([0-9]+(?:\.[0-9]+)?)([A-z][A-z0-9]*)?")  # go's regex, [A-z] and all


def parse_price_per_unit(value: str) -> tuple[Fraction, str]:
    """`-pricePerUnit` / `-maxPricePerUnit`: "<number><currency>?" ⇒ (number, currency)."""
    m = _PRICE_PER_UNIT.fullmatch(value)
    if m is None:
        raise PriceError(f"price must be in the format of <price><currency>, provided {value}")
    return Fraction(m.group(1)), m.group(2) or ""


def parse_pixels_per_unit(value: Union[str, int]) -> int:
    """`-pixelsPerUnit`: a positive integer (go reads it as a big.Rat, so "1e3" is 1000)."""
    try:
        ppu = Fraction(value)
    except (ValueError, TypeError, ZeroDivisionError):
        ppu = None
    if ppu is None or ppu.denominator != 1:
        raise PriceError(f"-pixelsPerUnit must be a valid integer, provided {value}")
    if ppu <= 0:
        raise PriceError(f"-pixelsPerUnit must be > 0, provided {value}")
    return int(ppu)


def price_per_pixel(price_per_unit: Union[Fraction, int], pixels_per_unit: int) -> Fraction:
    """pricePerUnit / pixelsPerUnit, reduced."""
    if (isinstance(pixels_per_unit, bool) or int(pixels_per_unit) != pixels_per_unit
            or pixels_per_unit <= 0):
        raise PriceError(f"pixels per unit must be a positive integer, provided {pixels_per_unit}")
    return Fraction(price_per_unit) / int(pixels_per_unit)


# ------------------------------------------------------------------------- currency conversion

@dataclass(frozen=True, slots=True)
class PriceFeed:
    """A price feed reading, e.g. PriceFeed("ETH", "USD", Fraction(3000)): 1 ETH = 3000 USD (the
    Chainlink ETH/USD pair the node watches by default)."""

    base: str
    quote: str
    price: Fraction


def to_wei(amount: Union[Fraction, int], currency: str,
           feed: Optional[PriceFeed] = None) -> Fraction:
    """An amount in `currency` as wei: "" / "wei" as is, "eth" × 10^18, any other currency through
    a feed pairing ETH with it (core/autoconvertedprice.go). Re-run on each feed update."""
    amount = Fraction(amount)
    cur = currency.lower()
    if cur in ("", "wei"):
        return amount
    if cur == "eth":
        return amount * WEI_PER_ETH
    if feed is None:
        raise PriceError("PriceFeedWatcher is not initialized")
    base, quote, cur = feed.base.upper(), feed.quote.upper(), currency.upper()
    if "ETH" not in (base, quote):
        raise PriceError(f"price feed does not have ETH as a currency ({base}/{quote})")
    if cur not in (base, quote):
        raise PriceError(f"price feed does not have {cur} as a currency ({base}/{quote})")
    eth_per_unit = 1 / Fraction(feed.price) if base == "ETH" else Fraction(feed.price)
    return amount * eth_per_unit * WEI_PER_ETH


# ---------------------------------------------------------------------- auto-adjust, PriceInfo

def price_to_fixed(price: Fraction) -> int:
    """go's PriceToFixed: the price × 1000 truncated toward zero, saturating at the int64 limits.
    (Go rounds through a big.Float of at least the operands' bit length first; that can never
    reach the next integer, so exact truncation gives the same number.)"""
    scaled = int(Fraction(price) * PRICE_SCALING_FACTOR)  # int() of a Fraction truncates
    return max(_INT64_MIN, min(_INT64_MAX, scaled))


def auto_adjust_price(base: Fraction, tx_cost_multiplier: TxCostMultiplier) -> Fraction:
    """base × (1 + 1/multiplier) when base > 0 and multiplier > 0 (else base), kept to 3 decimals:
    the redemption cost is passed on. The multiplier may be a callable: go only asks for it (and
    propagates its errors) when the base is positive."""
    m = None
    if _positive(base):
        m = tx_cost_multiplier() if callable(tx_cost_multiplier) else tx_cost_multiplier
        if m is not None and not _positive(m):
            m = None
    base = _as_fraction(base)
    if m is None:
        return _adjusted_price(base.numerator, base.denominator, 0, 0)
    m = _as_fraction(m)
    return _adjusted_price(base.numerator, base.denominator, m.numerator, m.denominator)


def _positive(x) -> bool:
    """x > 0; a Fraction's sign is its numerator's (asked on every offer: no generic comparison)."""
    return x.numerator > 0 if type(x) is Fraction else x > 0


def _as_fraction(x) -> Fraction:
    return x if type(x) is Fraction else Fraction(x)


# Pure, keyed by integers (a Fraction's hash costs a modular inverse): an orchestrator asks with
# the same few (base, multiplier) pairs. A multiplier of 0/0 stands for none.
@lru_cache(maxsize=4096)
def _adjusted_price(base_n: int, base_d: int, m_n: int, m_d: int) -> Fraction:
    overhead = Fraction(1) if m_d == 0 else 1 + Fraction(m_d, m_n)
    return Fraction(price_to_fixed(Fraction(base_n, base_d) * overhead), PRICE_SCALING_FACTOR)


def _fits_int64(n: int) -> bool:
    return _INT64_MIN <= n <= _INT64_MAX


def price_to_int(price: Fraction) -> int:
    """go's PriceToInt64: the integer part (floor), which must fit in int64."""
    whole = price.numerator // price.denominator
    if not _fits_int64(whole):
        raise PriceError("price cannot be converted to int64")
    return whole


@dataclass(frozen=True, slots=True)
class PriceInfo:
    """net.PriceInfo: pricePerUnit / pixelsPerUnit, and for per-capability prices the capability
    and its constraint (model ID, or a BYOC capability name)."""

    price_per_unit: int
    pixels_per_unit: int
    capability: int = 0
    constraint: str = ""

    @property
    def price(self) -> Fraction:
        if self.pixels_per_unit == 0:
            raise PriceError("pixels per unit is 0")
        return Fraction(self.price_per_unit, self.pixels_per_unit)

    @classmethod
    def from_fraction(cls, price: Fraction, capability: int = 0, constraint: str = "") -> PriceInfo:
        if cls is PriceInfo:
            price = _as_fraction(price)
            return _price_info(price.numerator, price.denominator, capability, constraint)
        return cls._from_fraction(price, capability, constraint)

    @classmethod
    def _from_fraction(cls, price: Fraction, capability: int, constraint: str) -> PriceInfo:
        price = Fraction(price)
        if not (_fits_int64(price.numerator) and _fits_int64(price.denominator)):
            price = Fraction(price_to_int(price))
        return cls(price.numerator, price.denominator, int(capability), constraint)


@lru_cache(maxsize=4096)  # PriceInfo is frozen: one value per (price, capability, constraint)
def _price_info(price_n: int, price_d: int, capability: int, constraint: str) -> PriceInfo:
    return PriceInfo._from_fraction(Fraction(price_n, price_d), capability, constraint)


# -------------------------------------------------------------------------- orchestrator prices

class PriceTable:
    """An orchestrator's prices, wei per unit (go's LivepeerNode price maps): the transcoding price
    for "default" and per-gateway overrides, AI prices per (gateway, capability, model) and BYOC
    prices per (gateway, capability name). Gateway addresses match case-insensitively. Prices in
    another currency are converted by the caller (`to_wei`) and set again on each feed update."""

    DEFAULT = "default"

    def __init__(self) -> None:
        self._base: dict[str, Fraction] = {}
        self._caps: dict[str, dict[tuple[int, str], Fraction]] = {}
        self._jobs: dict[str, dict[str, Fraction]] = {}

    def set_base_price(self, gateway: str, price: Fraction) -> None:
        self._base[gateway.lower()] = Fraction(price)

    def base_price(self, gateway: str) -> Optional[Fraction]:
        return self._base.get(gateway.lower())

    def set_capability_price(self, gateway: str, cap: int, model_id: str, price: Fraction) -> None:
        self._caps.setdefault(gateway.lower(), {})[(int(cap), model_id)] = Fraction(price)

    def capability_price(self, gateway: str, cap: int, model_id: str) -> Optional[Fraction]:
        return self._caps.get(gateway.lower(), {}).get((int(cap), model_id))

    def set_job_price(self, capability: str, price: Fraction, gateway: str = DEFAULT) -> None:
        self._jobs.setdefault(gateway.lower(), {})[capability] = Fraction(price)

    def job_price(self, sender: str, capability: str) -> Fraction:
        """A BYOC capability's price: from the sender's table if it has one, else the default
        table; 0 when the table lacks the capability (go's GetPriceForJob)."""
        table = self._jobs.get(sender.lower(), self._jobs.get(self.DEFAULT, {}))
        return table.get(capability, Fraction(0))

    def price(self, sender: str, caps: Optional[Capabilities] = None, *,
              fixed_price: Optional[Fraction] = None, tx_cost_multiplier: TxCostMultiplier = None,
              auto_adjust: bool = True) -> Fraction:
        """The price per unit offered to `sender` for a job needing `caps` (§4.1 priceInfo):
        a session's pinned price as is; else the sum of the prices of each requested (capability,
        model) the job gives a capacity for, falling back to the transcoding price when that sum
        is 0 or no capabilities are given; then auto-adjusted."""
        if fixed_price is not None:
            return fixed_price
        transcode = self.base_price(sender)
        if transcode is None:
            transcode = self.base_price(self.DEFAULT)
        base = Fraction(0)
        if caps is not None:
            for cap in caps.capacities:
                for model_id in caps.constraints.get(cap, {}):
                    p = self.capability_price(sender, cap, model_id)
                    if p is None:
                        p = self.capability_price(self.DEFAULT, cap, model_id)
                    base += p or 0
        if base == 0 and transcode is not None:
            base = transcode
        return auto_adjust_price(base, tx_cost_multiplier) if auto_adjust else base

    def price_info(self, sender: str, caps: Optional[Capabilities] = None,
                   **kwargs: Any) -> PriceInfo:
        """`price` as a wire PriceInfo (same keyword arguments)."""
        return PriceInfo.from_fraction(self.price(sender, caps, **kwargs))

    def job_price_info(self, sender: str, capability: str, *,
                       tx_cost_multiplier: TxCostMultiplier = None,
                       auto_adjust: bool = True) -> PriceInfo:
        """A BYOC capability's price per second, auto-adjusted, cut to whole wei."""
        price = self.job_price(sender, capability)
        if auto_adjust:
            price = auto_adjust_price(price, tx_cost_multiplier)
        return PriceInfo(price_to_int(price), 1)

    def capabilities_prices(self, sender: str) -> list[PriceInfo]:
        """The per-(capability, model) prices advertised to `sender` (defaults overridden by the
        sender's own), whole wei, then a BYOC price per capability (Capability.BYOC, name)."""
        merged = {**self._caps.get(self.DEFAULT, {}), **self._caps.get(sender.lower(), {})}
        entries = [(price, cap, model_id) for (cap, model_id), price in merged.items()]
        entries += [(self.job_price(sender, name), Capability.BYOC, name)
                    for name in self._jobs.get(self.DEFAULT, {})]
        out = []
        for price, cap, constraint in entries:
            try:
                if price >= 0:
                    out.append(PriceInfo(price_to_int(price), 1, cap, constraint))
            except PriceError:
                continue  # go logs it and leaves it out
        return out


def byoc_price(price_per_unit: int, price_scaling: int = 1, currency: str = "",
               feed: Optional[PriceFeed] = None) -> Fraction:
    """A BYOC capability's registered price: price_per_unit / price_scaling (0 ⇒ 1), in wei."""
    return to_wei(Fraction(price_per_unit, price_scaling or 1), currency, feed)


# ---------------------------------------------------------------------------- JSON price files

def load_json(text: str, source: str, error: type[ValueError] = PriceError) -> Any:
    """JSON with numbers kept exact (Fraction); a syntax error names the line and column."""
    try:
        return json.loads(text, parse_float=Fraction)
    except json.JSONDecodeError as e:
        raise error(f"{source}: invalid JSON at line {e.lineno} column {e.colno}: "
                    f"{e.msg}") from None


_KINDS = {str: "a string", bool: "true or false", int: "an integer", Fraction: "a number",
          dict: "an object", list: "an array"}


def json_field(obj: Mapping[str, Any], key: str, kind: type, where: str,
               error: type[ValueError] = PriceError) -> Any:
    """obj[key] checked to be `kind` (str, bool, int, Fraction = any number, dict, list); None
    when absent or null. An integral number passes as int, an int as Fraction."""
    value = obj.get(key)
    if value is None:
        return None
    is_number = isinstance(value, (int, Fraction)) and not isinstance(value, bool)
    if kind is Fraction and is_number:
        return Fraction(value)
    if kind is int and is_number and Fraction(value).denominator == 1:
        return int(value)
    if kind not in (int, Fraction) and isinstance(value, kind):  # bool only passes as bool
        return value
    shown = show_number(value) if isinstance(value, Fraction) else json.dumps(value)
    raise error(f"{where}.{key}: expected {_KINDS[kind]}, got {shown}")


def show_number(value: Fraction) -> str:
    """A JSON number as a person wrote it, near enough: 3, 1.5, 3.3333333333333335."""
    return str(value.numerator) if value.denominator == 1 else repr(float(value))


def _entries(doc: Any, key: str, where: str) -> list[tuple[str, Mapping[str, Any]]]:
    if not isinstance(doc, dict):
        raise PriceError(f"{where}: expected a JSON object with a {key!r} array")
    out = []
    for i, item in enumerate(json_field(doc, key, list, where) or []):
        if not isinstance(item, dict):
            raise PriceError(f"{where}.{key}[{i}]: expected an object")
        out.append((f"{where}.{key}[{i}]", item))
    return out


def parse_gateway_prices(text: str, feed: Optional[PriceFeed] = None,
                         source: str = "pricePerGateway") -> dict[str, Fraction]:
    """`-pricePerGateway` {"gateways": [{ethaddress, priceperunit, pixelsperunit, currency}]}
    (the deprecated "broadcasters" list is read first) ⇒ lower-cased address → wei per pixel."""
    doc = load_json(text, source)
    prices = {}
    for where, item in _entries(doc, "broadcasters", source) + _entries(doc, "gateways", source):
        address = json_field(item, "ethaddress", str, where)
        if not address:
            raise PriceError(f"{where}.ethaddress: must be set")
        ppu = json_field(item, "priceperunit", Fraction, where)
        ppx = json_field(item, "pixelsperunit", Fraction, where)
        if ppu is None or ppx is None or ppx <= 0:
            raise PriceError(f"{where}: 'priceperunit' and a positive 'pixelsperunit' must be set")
        currency = json_field(item, "currency", str, where) or ""
        prices[address.lower()] = to_wei(ppu / ppx, currency, feed)
    return prices


# ------------------------------------------------------------------------------- gateway limits

@dataclass(frozen=True, slots=True)
class MaxPrices:
    """A gateway's price limits (go's BroadcastConfig): the general maximum per unit (None =
    accept any) and maxima per (capability, model ID), where model "default" covers a pipeline."""

    default: Optional[Fraction] = None
    per_capability: Mapping[tuple[int, str], Fraction] = field(default_factory=dict)

    def for_capability(self, cap: int, model_id: str) -> Optional[Fraction]:
        price = self.per_capability.get((int(cap), model_id))
        return price if price is not None else self.per_capability.get((int(cap), "default"))

    def for_capabilities(self, caps: Optional[Capabilities]) -> Optional[Fraction]:
        """The most a job needing `caps` may cost per unit: the sum of its models' maxima, or
        the general maximum when that sum is 0 (§3.5)."""
        if caps is None:
            return self.default
        total = Fraction(0)
        for cap, models in caps.constraints.items():
            for model_id in models:
                total += self.for_capability(cap, model_id) or 0
        return total if total != 0 else self.default


def parse_max_prices(max_price_per_unit: str = "0", pixels_per_unit: Union[str, int] = 1,
                     capabilities_json: str = "", feed: Optional[PriceFeed] = None,
                     source: str = "maxPricePerCapability") -> MaxPrices:
    """`-maxPricePerUnit`, `-pixelsPerUnit` and `-maxPricePerCapability`
    {"capabilities_prices": [{pipeline, model_id, price_per_unit, pixels_per_unit, currency}]}
    with go's defaults: model "default", pixels from `-pixelsPerUnit` when unset or ≤ 0, price
    from `-maxPricePerUnit` when unset or ≤ 0, and no limit for the entry when that is not set
    either."""
    ppx = parse_pixels_per_unit(pixels_per_unit)
    try:
        mppu, currency = parse_price_per_unit(max_price_per_unit)
    except PriceError:
        raise PriceError("The maximum price per unit must be a valid integer with an optional "
                         f"currency, provided {max_price_per_unit} instead") from None
    default = to_wei(price_per_pixel(mppu, ppx), currency, feed) if mppu > 0 else None
    per_capability: dict[tuple[int, str], Fraction] = {}
    if capabilities_json:
        doc = load_json(capabilities_json, source)
        for where, item in _entries(doc, "capabilities_prices", source):
            pipeline = json_field(item, "pipeline", str, where) or ""
            model_id = json_field(item, "model_id", str, where) or "default"
            pixels = json_field(item, "pixels_per_unit", Fraction, where)
            if pixels is None or pixels <= 0:
                pixels = Fraction(ppx)
            price = json_field(item, "price_per_unit", Fraction, where)
            if price is None or price <= 0:
                if mppu <= 0:
                    continue  # this model: accept any price
                price = mppu
            try:
                cap = pipeline_capability(pipeline)
            except CapabilityError:
                raise PriceError(f"{where}.pipeline: Pipeline in 'maxPricePerCapability' config is "
                                 f"not valid capability: {pipeline}") from None
            per_capability[(cap, model_id)] = to_wei(
                price / pixels, json_field(item, "currency", str, where) or "", feed)
    return MaxPrices(default, per_capability)


def validate_price(price: Optional[PriceInfo], initial: Optional[PriceInfo]) -> None:
    """The gateway's check before paying a session (go's validatePrice): the orchestrator's price
    must exist and be at most twice the session's first price."""
    if price is not None and price.pixels_per_unit == 0:
        raise PriceError("pixels per unit is 0")
    if price is None:
        raise PriceError("missing orchestrator price")
    if initial is None or initial.pixels_per_unit == 0:  # go only logs an unreadable initial price
        return
    if price.price > initial.price * PRICE_INCREASE_THRESHOLD:
        raise PriceError("Orchestrator price has more than doubled, Orchestrator price: "
                         f"{price.price}, Orchestrator initial price: {initial.price}")


# ------------------------------------------------------------------------------------ AI units

def _ai_units(pipeline: str, request: Mapping[str, Any], image_size: Optional[tuple[int, int]],
              audio_seconds: Optional[float], gateway: bool) -> int:
    def get(key: str, default: int) -> int:
        value = request.get(key)
        return default if value is None else int(value)

    def image_pixels() -> int:
        if image_size is None:
            raise ValueError(f"{pipeline}: the input image size is needed to count units")
        return image_size[0] * image_size[1]

    def num_images() -> int:
        n = request.get("num_images_per_prompt")
        if n is None:
            return 1
        return max(1, int(n)) if gateway else int(n)  # the gateway clamps, the O trusts it

    if pipeline == "text-to-image":
        return get("height", 512) * get("width", 512) * num_images()
    if pipeline == "image-to-image":
        return image_pixels() * num_images()
    if pipeline == "image-to-video":
        return get("height", 576) * get("width", 1024) * 25  # frames of stable-video-diffusion
    if pipeline in ("upscale", "segment-anything-2", "image-to-text"):
        return image_pixels()
    if pipeline == "audio-to-text":
        seconds = int(audio_seconds or 0)  # go truncates the duration to whole seconds
        if seconds <= 0:
            raise AIRequestError("audio duration calculation failed" if gateway
                                 else "Unable to calculate duration")
        return seconds * 1000
    if pipeline == "llm":
        max_tokens = request.get("max_tokens")
        if max_tokens is None:
            if not gateway:
                raise AIRequestError("MaxTokens not specified")
            return DEFAULT_LLM_MAX_TOKENS
        return int(max_tokens)
    if pipeline == "text-to-speech":
        text = request.get("text")
        if text is None:
            raise AIRequestError("text field is required")
        return len(text.encode()) if gateway else 1000 * len(text)
    raise AIRequestError("Unknown request type")


def gateway_ai_units(pipeline: str, request: Mapping[str, Any], *,
                     image_size: Optional[tuple[int, int]] = None,
                     audio_seconds: Optional[float] = None) -> int:
    """Units the gateway pays for up front (§4.3): `request` is the JSON body (or multipart
    fields); `image_size` the input image's (width, height); `audio_seconds` the audio duration."""
    return _ai_units(pipeline, request, image_size, audio_seconds, gateway=True)


def orchestrator_ai_units(pipeline: str, request: Mapping[str, Any], *,
                          image_size: Optional[tuple[int, int]] = None,
                          audio_seconds: Optional[float] = None) -> int:
    """Units the orchestrator debits after a successful request (§4.3)."""
    return _ai_units(pipeline, request, image_size, audio_seconds, gateway=False)


def live_video_units(seconds: float) -> int:
    """Live video-to-video units for `seconds` of streaming (1280 × 720 × 30 per second,
    truncated as go's live payment processor does)."""
    return int(LIVE_VIDEO_UNITS_PER_SECOND * seconds)


def ai_fee(units: int, price: Optional[Fraction]) -> Optional[Fraction]:
    """units × price per unit (no estimate margin); None when there is no price (offchain)."""
    return None if price is None else units * Fraction(price)


# ----------------------------------------------------------------------------- transcoding fee

class PixelProfile(Protocol):
    width: int
    height: int
    framerate: int  # 0 = pass the input's through
    framerate_den: int  # 0 = 1


def transcode_pixels(profiles: Iterable[PixelProfile], duration_seconds: float) -> int:
    """Σ width × height × ceil(fps) × ceil(duration) over the renditions; a passed-through
    framerate counts as 60 fps."""
    total = 0
    for p in profiles:
        fps = math.ceil((p.framerate or 60) / (p.framerate_den or 1))
        total += p.width * p.height * fps * math.ceil(duration_seconds)
    return total


def estimate_transcode_fee(profiles: Iterable[PixelProfile], duration_seconds: float,
                           price: Optional[Fraction]) -> Optional[Fraction]:
    """The fee a gateway covers before sending a segment: pixels × 1.02 × price (§2.4); None
    when there is no price (offchain)."""
    if price is None:
        return None
    if type(profiles) is tuple and type(price) is Fraction:  # a runtime's fixed renditions: cached
        try:
            return _transcode_fee(profiles, duration_seconds, price.numerator, price.denominator)
        except TypeError:  # unhashable profiles
            pass
    pixels = transcode_pixels(profiles, duration_seconds)
    return pixels * PIXEL_ESTIMATE_MULTIPLIER * Fraction(price)


@lru_cache(maxsize=4096)
def _transcode_fee(profiles: tuple, duration_seconds: float, price_n: int, price_d: int) -> Fraction:
    return transcode_pixels(profiles, duration_seconds) * PIXEL_ESTIMATE_MULTIPLIER * Fraction(price_n, price_d)
