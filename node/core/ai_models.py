"""The `-aiModels` configuration: which pipelines and models a node serves, how warm, how many at
once and at what price (go-livepeer core/ai.go `AIModelConfig`, `ParseAIModelConfigs`,
cmd/livepeer/starter/starter.go model constraints and AI prices; spec node.md §7.3, §4.3).

Parsing is sans-I/O: the node decides whether the flag names a file and passes its text. Every
error is an `AIModelsError` naming the entry (`aiModels.json[2].warm`, `-aiModels[1]`) and, for
broken JSON, the line and column.

Decisions:
- Stricter than go, so mistakes surface at parse time with the entry named: `pipeline` and
  `model_id` must be non-empty strings, `capacity` a non-negative integer, `price_per_unit` ≥ 0
  and `pixels_per_unit` a positive integer (go checks the last two only when pricing, on-chain),
  and a null value counts as absent. Unknown keys are ignored, as go does.
- Mirrored (spec §12.9): `capacity` without `url` starts that many containers but advertises
  capacity 1; with `url` the capacity is advertised.
- Mirrored: triples are split on "," and ":" without trimming spaces, extra ":" parts ignored.
- Mirrored: a model without its own price takes `-pricePerUnit` (and its currency); a
  `-pricePerUnit` of 0 counts as not set.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Mapping, Optional

from .capabilities import (Capability, CapabilityError, Constraints, ModelConstraint,
                           pipeline_capability)
from .pricing import (PriceError, PriceFeed, json_field, load_json, parse_pixels_per_unit,
                      parse_price_per_unit, price_per_pixel, show_number, to_wei)

__all__ = [
    "AIModelsError", "AIModelConfig", "parse_ai_models_json", "parse_ai_model_triples",
    "parse_ai_models", "parse_bool", "ai_model_constraints", "ai_model_prices",
]

# go-livepeer's AI pipelines and the model each uses when a request names none (spec node.md §3.7)
DEFAULT_MODEL_IDS: dict[str, str] = {
    "text-to-image": "stabilityai/sdxl-turbo",
    "image-to-image": "stabilityai/sdxl-turbo",
    "image-to-video": "stabilityai/stable-video-diffusion-img2vid-xt",
    "upscale": "stabilityai/stable-diffusion-x4-upscaler",
    "audio-to-text": "openai/whisper-large-v3",
    "segment-anything-2": "facebook/sam2-hiera-large",
    "llm": "meta-llama/llama-3.1-8B-Instruct",
    "image-to-text": "Salesforce/blip-image-captioning-large",
    "text-to-speech": "parler-tts/parler-tts-large-v1",
    "live-video-to-video": "noop",
}

_TRIPLE_ERROR = "invalid AI model config expected <pipeline>:<model_id>:<warm>"


class AIModelsError(ValueError):
    """A bad `-aiModels` value or aiModels.json entry; the message names the entry."""


@dataclass(frozen=True, slots=True)
class AIModelConfig:
    """One aiModels.json entry. Worker side: pipeline, model, external runner `url` and its bearer
    `token`, `warm` (loaded at start), `capacity` (0 = 1), `optimization_flags` (warm only).
    Orchestrator side: the `gateway` the price is for ("default" = everyone) and the price,
    `price_per_unit` / `pixels_per_unit` in `currency` (None = the node's `-pricePerUnit` /
    `-pixelsPerUnit`). `origin` says where the entry came from, for error messages."""

    pipeline: str
    model_id: str
    url: str = ""
    token: str = ""
    warm: bool = False
    capacity: int = 0
    optimization_flags: Mapping[str, str] = field(default_factory=dict)
    gateway: str = "default"
    price_per_unit: Optional[Fraction] = None
    pixels_per_unit: Optional[int] = None
    currency: str = ""
    origin: str = field(default="", compare=False, repr=False)

    @property
    def advertised_capacity(self) -> int:
        """The model capacity the node advertises for this entry."""
        return self.capacity if self.url and self.capacity else 1

    @property
    def containers(self) -> int:
        """Runner containers to warm (or endpoints to register) when `warm` or `url` is set."""
        return self.capacity if not self.url and self.capacity else 1

    @property
    def where(self) -> str:
        return self.origin or f"{self.pipeline}:{self.model_id}"


# --------------------------------------------------------------------------------------- parsing

def _field(item: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    return json_field(item, key, kind, where, AIModelsError)


def _required(item: Mapping[str, Any], key: str, where: str) -> str:
    value = _field(item, key, str, where)
    if not value:
        raise AIModelsError(f"{where}.{key}: must be set")
    return value


def _flags(item: Mapping[str, Any], where: str) -> dict[str, str]:
    """optimization_flags: strings, with JSON booleans read as "true" / "false" (go's EnvValue)."""
    flags = _field(item, "optimization_flags", dict, where) or {}
    out = {}
    for name, value in flags.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str):
            raise AIModelsError(f"{where}.optimization_flags.{name}: "
                                "expected a string or true/false")
        out[name] = value
    return out


def _config(item: Any, where: str) -> AIModelConfig:
    if not isinstance(item, dict):
        raise AIModelsError(f"{where}: expected an object with pipeline and model_id")
    pipeline = _required(item, "pipeline", where)
    model_id = _required(item, "model_id", where)
    capacity = _field(item, "capacity", int, where) or 0
    if capacity < 0:
        raise AIModelsError(f"{where}.capacity: must be 0 or more, provided {capacity}")
    price = _field(item, "price_per_unit", Fraction, where)
    if price is not None and price < 0:
        raise AIModelsError(f"{where}.price_per_unit: 'pricePerUnit' value specified for model "
                            f"'{model_id}' in pipeline '{pipeline}' must be a valid positive "
                            f"number, provided {show_number(price)}")
    pixels = _field(item, "pixels_per_unit", Fraction, where)
    if pixels is not None and (pixels.denominator != 1 or pixels <= 0):
        raise AIModelsError(f"{where}.pixels_per_unit: 'pixelsPerUnit' value specified for model "
                            f"'{model_id}' in pipeline '{pipeline}' must be a valid positive "
                            f"integer, provided {show_number(pixels)}")
    return AIModelConfig(
        pipeline, model_id,
        url=_field(item, "url", str, where) or "",
        token=_field(item, "token", str, where) or "",
        warm=_field(item, "warm", bool, where) or False,
        capacity=capacity,
        optimization_flags=_flags(item, where),
        gateway=_field(item, "gateway", str, where) or "default",
        price_per_unit=price,
        pixels_per_unit=None if pixels is None else int(pixels),
        currency=_field(item, "currency", str, where) or "",
        origin=where)


def parse_ai_models_json(text: str, source: str = "aiModels.json") -> list[AIModelConfig]:
    """An aiModels.json document: a JSON array of model objects."""
    doc = load_json(text, source, AIModelsError)
    if not isinstance(doc, list):
        raise AIModelsError(f"{source}: expected a JSON array of model objects")
    return [_config(item, f"{source}[{i}]") for i, item in enumerate(doc)]


_BOOLS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
          **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)}


def parse_bool(value: str) -> bool:
    """go's strconv.ParseBool."""
    try:
        return _BOOLS[value]
    except KeyError:
        raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax') from None


def parse_ai_model_triples(value: str) -> list[AIModelConfig]:
    """The flag form: comma-separated "pipeline:model_id:warm"."""
    configs = []
    for i, entry in enumerate(value.split(",")):
        where = f"-aiModels[{i}]"
        parts = entry.split(":")
        if len(parts) < 3:
            raise AIModelsError(f"{_TRIPLE_ERROR}, got {entry!r} ({where})")
        try:
            warm = parse_bool(parts[2])
        except ValueError as e:
            raise AIModelsError(f"{where} {entry!r}: {e}") from None
        configs.append(AIModelConfig(parts[0], parts[1], warm=warm, origin=where))
    return configs


def parse_ai_models(value: str, file_text: Optional[str] = None) -> list[AIModelConfig]:
    """`-aiModels`: the text of the file it names when the node found one (then `value` is the
    path, used in messages), else the triples in `value` itself."""
    if file_text is not None:
        return parse_ai_models_json(file_text, source=value)
    return parse_ai_model_triples(value)


# ------------------------------------------------------------------------ constraints and prices

def _capability(cfg: AIModelConfig) -> Capability:
    try:
        return pipeline_capability(cfg.pipeline)
    except CapabilityError:
        raise AIModelsError(f"{cfg.where}: Pipeline is not valid capability: "
                            f"{cfg.pipeline}") from None


def ai_model_constraints(
        configs: Iterable[AIModelConfig],
        runner_versions: Optional[Mapping[tuple[str, str], str]] = None) -> Constraints:
    """What an AI worker advertises: per pipeline capability, per model, warm and capacity (entries
    for the same model add up), with the runner version found for (pipeline, model_id). The keys
    are the AI capabilities to add to the node's, in first-seen order."""
    constraints: Constraints = {}
    for cfg in configs:
        models = constraints.setdefault(_capability(cfg), {})
        have = models.get(cfg.model_id)
        if have is None:
            models[cfg.model_id] = ModelConstraint(
                warm=cfg.warm, capacity=cfg.advertised_capacity,
                runner_version=(runner_versions or {}).get((cfg.pipeline, cfg.model_id), ""))
        elif have.warm == cfg.warm:
            have.capacity += cfg.advertised_capacity
        else:
            raise AIModelsError(f"{cfg.where}: Cannot have same model_id ({cfg.model_id}) as "
                                "cold and warm in same AI worker, please fix aiModels json config")
    return constraints


def ai_model_prices(
        configs: Iterable[AIModelConfig], price_per_unit: Optional[str] = None,
        pixels_per_unit: str | int = 1,
        feed: Optional[PriceFeed] = None) -> dict[tuple[str, Capability, str], Fraction]:
    """An orchestrator's AI prices, wei per unit, keyed (gateway, capability, model_id), from
    each entry's price or else the node's `-pricePerUnit` / `-pixelsPerUnit` flag values."""
    base_pixels = parse_pixels_per_unit(pixels_per_unit)
    base, base_currency = Fraction(0), ""
    if price_per_unit is not None:
        try:
            base, base_currency = parse_price_per_unit(price_per_unit)
        except PriceError:
            raise AIModelsError("-pricePerUnit must be a valid positive integer with an optional "
                                f"currency, provided {price_per_unit}") from None
    prices = {}
    for cfg in configs:
        cap = _capability(cfg)
        price, currency = cfg.price_per_unit, cfg.currency
        if price is None:
            if base == 0:
                raise AIModelsError(f"{cfg.where}: 'pricePerUnit' must be set for model "
                                    f"'{cfg.model_id}' in pipeline '{cfg.pipeline}'")
            price, currency = base, base_currency
        try:
            wei = to_wei(price_per_pixel(price, cfg.pixels_per_unit or base_pixels), currency, feed)
        except PriceError as e:
            raise AIModelsError(f"{cfg.where}: error converting price: {e}") from None
        prices[(cfg.gateway or "default", cap, cfg.model_id)] = wei
    return prices
