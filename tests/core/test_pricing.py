"""node.core.pricing: price flags, currency conversion, auto-adjust, the orchestrator's price
table, AI units, fee estimates and the gateway's price checks (spec node.md §2.4, §3.5, §4, §15)."""
import math
from fractions import Fraction as F

import pytest

from node.core.capabilities import Capabilities, Capability, ModelConstraint, ai_job_capabilities
from node.core.pricing import (
    LIVE_INITIAL_UNITS,
    LIVE_VIDEO_UNITS_PER_SECOND,
    PIXEL_ESTIMATE_MULTIPLIER,
    AIRequestError,
    MaxPrices,
    PriceError,
    PriceFeed,
    PriceInfo,
    PriceTable,
    ai_fee,
    auto_adjust_price,
    byoc_price,
    estimate_transcode_fee,
    gateway_ai_units,
    live_video_units,
    orchestrator_ai_units,
    parse_gateway_prices,
    parse_max_prices,
    parse_pixels_per_unit,
    parse_price_per_unit,
    price_per_pixel,
    price_to_fixed,
    to_wei,
    transcode_pixels,
    validate_price,
)

C = Capability
GATEWAY = "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"
USD_FEED = PriceFeed("ETH", "USD", F(3000))


@pytest.mark.parametrize("text, price, currency", [
    ("1200", F(1200), ""), ("0.5", F(1, 2), ""), ("1.25USD", F(5, 4), "USD"),
    ("3eth", F(3), "eth"), ("10wei", F(10), "wei"), ("1e3", F(1), "e3"),
    ("7_x", F(7), "_x"),  # go's [A-z] takes "_"
])
def test_parse_price_per_unit(text, price, currency):
    assert parse_price_per_unit(text) == (price, currency)


@pytest.mark.parametrize("text", ["", "-1", "1.", ".5", "1 USD", "USD", "1USD!", "1\n"])
def test_parse_price_per_unit_rejects(text):
    with pytest.raises(PriceError, match=r"^price must be in the format of <price><currency>, provided "):
        parse_price_per_unit(text)


def test_pixels_per_unit():
    assert parse_pixels_per_unit("1") == 1
    assert parse_pixels_per_unit("1e3") == 1000  # go reads it as a big.Rat
    assert parse_pixels_per_unit(7) == 7
    with pytest.raises(PriceError, match=r"^-pixelsPerUnit must be a valid integer, provided 1.5$"):
        parse_pixels_per_unit("1.5")
    with pytest.raises(PriceError, match=r"^-pixelsPerUnit must be a valid integer, provided abc$"):
        parse_pixels_per_unit("abc")
    with pytest.raises(PriceError, match=r"^-pixelsPerUnit must be > 0, provided 0$"):
        parse_pixels_per_unit("0")


def test_price_per_pixel_is_reduced():
    assert price_per_pixel(F(1200), 4) == F(300)
    assert price_per_pixel(F(1), 3) == F(1, 3)
    for bad in (0, -1, F(3, 2), True):
        with pytest.raises(PriceError):
            price_per_pixel(F(1), bad)


def test_currency_conversion():
    assert to_wei(F(5), "") == 5
    assert to_wei(F(5), "WEI") == 5
    assert to_wei(F(1, 2), "ETH") == 5 * 10**17
    # 1 USD at 3000 USD per ETH = 1/3000 ETH
    assert to_wei(F(3), "usd", USD_FEED) == 10**15
    # a feed quoted the other way round (USD/ETH: ETH per USD)
    assert to_wei(F(3), "USD", PriceFeed("USD", "ETH", F(1, 3000))) == 10**15
    with pytest.raises(PriceError, match="^PriceFeedWatcher is not initialized$"):
        to_wei(F(1), "USD")
    with pytest.raises(PriceError, match=r"^price feed does not have ETH as a currency \(BTC/USD\)$"):
        to_wei(F(1), "USD", PriceFeed("BTC", "USD", F(60000)))
    with pytest.raises(PriceError, match=r"^price feed does not have EUR as a currency \(ETH/USD\)$"):
        to_wei(F(1), "eur", USD_FEED)


@pytest.mark.parametrize("base, multiplier, price", [
    (F(1), F(100), F(101, 100)), (F(10), F(10), F(11)), (F(10), F(1, 10), F(110)),
    (F(10), F(1), F(20)),  # the §4.1 examples
    (F(1200), F(100), F(1212)),  # §15
    (F(10), F(0), F(10)), (F(10), None, F(10)), (F(0), F(100), F(0)),
    (F(1, 3), F(100), F(336, 1000)),  # 0.33666… truncated to 3 decimals
    (F(2, 3), F(0), F(666, 1000)),
])
def test_auto_adjust(base, multiplier, price):
    assert auto_adjust_price(base, multiplier) == price


def test_auto_adjust_asks_for_the_multiplier_only_when_the_price_is_positive():
    def boom():
        raise PriceError("no multiplier")

    assert auto_adjust_price(F(0), boom) == 0
    with pytest.raises(PriceError, match="no multiplier"):
        auto_adjust_price(F(1), boom)
    assert auto_adjust_price(F(1), lambda: F(100)) == F(101, 100)


def test_price_to_fixed_mirrors_big_float():
    assert price_to_fixed(F(1234567, 1000000)) == 1234
    assert price_to_fixed(F(-1, 3)) == -333  # toward zero, as go's Int64
    assert price_to_fixed(F(10**30)) == (1 << 63) - 1  # saturates
    assert price_to_fixed(F(3 * 10**22 - 1, 10**25)) == 2  # a hair below 0.003


def test_price_info_from_fraction():
    assert PriceInfo.from_fraction(F(101, 100)) == PriceInfo(101, 100)
    assert PriceInfo.from_fraction(F(6, 4)) == PriceInfo(3, 2)
    # numerator or denominator outside int64 ⇒ the integer part
    assert PriceInfo.from_fraction(F(10**20 + 1, 10**19)) == PriceInfo(10, 1)
    with pytest.raises(PriceError, match="^price cannot be converted to int64$"):
        PriceInfo.from_fraction(F(10**40 + 1, 3))
    assert PriceInfo(3, 2).price == F(3, 2)
    with pytest.raises(PriceError, match="^pixels per unit is 0$"):
        PriceInfo(3, 0).price


def table():
    t = PriceTable()
    t.set_base_price("default", F(1200))
    t.set_capability_price("default", C.TextToImage, "sd", F(5))
    t.set_capability_price("default", C.LLM, "llama", F(7))
    return t


def test_transcoding_price_default_and_per_gateway():
    t = table()
    assert t.price(GATEWAY, auto_adjust=False) == 1200
    assert t.price_info(GATEWAY, tx_cost_multiplier=F(100)) == PriceInfo(1212, 1)
    t.set_base_price(GATEWAY, F(1000))  # checksum address: stored lower-cased
    assert t.base_price(GATEWAY.lower()) == 1000
    assert t.price(GATEWAY.upper().replace("0X", "0x"), tx_cost_multiplier=F(100)) == 1010
    assert t.price("0x" + "11" * 20, tx_cost_multiplier=F(100)) == 1212


def test_pinned_price_wins():
    assert table().price(GATEWAY, fixed_price=F(7, 3), tx_cost_multiplier=F(100)) == F(7, 3)


def test_ai_price_is_the_sum_over_requested_models():
    t = table()
    caps = Capabilities.new([C.TextToImage, C.LLM])
    caps.constraints = {C.TextToImage: {"sd": ModelConstraint()}, C.LLM: {"llama": ModelConstraint()}}
    assert t.price(GATEWAY, caps, auto_adjust=False) == 12
    t.set_capability_price(GATEWAY, C.LLM, "llama", F(1))  # this gateway's own price
    assert t.price(GATEWAY, caps, auto_adjust=False) == 6
    assert t.price_info(GATEWAY, caps, tx_cost_multiplier=F(100)) == PriceInfo(303, 50)  # 6.06


def test_ai_price_counts_only_capabilities_with_a_capacity_and_constraints():
    t = table()
    caps = Capabilities.new([C.TextToImage])
    caps.constraints = {C.TextToImage: {"sd": ModelConstraint()}, C.LLM: {"llama": ModelConstraint()}}
    assert t.price(GATEWAY, caps, auto_adjust=False) == 5  # LLM has no capacity in the job


def test_ai_price_falls_back_to_the_transcoding_price():
    t = table()
    assert t.price(GATEWAY, ai_job_capabilities(C.Upscale, "x"), auto_adjust=False) == 1200
    assert t.price(GATEWAY, Capabilities.new([C.H264]), auto_adjust=False) == 1200
    empty = PriceTable()
    assert empty.price(GATEWAY, ai_job_capabilities(C.Upscale, "x"), tx_cost_multiplier=F(100)) == 0


def test_byoc_prices():
    t = PriceTable()
    t.set_job_price("my-cap", byoc_price(1000, 3))
    assert t.job_price(GATEWAY, "my-cap") == F(1000, 3)
    assert t.job_price(GATEWAY, "other") == 0
    # auto-adjusted (333.33 × 1.01 = 336.666 → 336.666) and cut to whole wei
    assert t.job_price_info(GATEWAY, "my-cap", tx_cost_multiplier=F(100)) == PriceInfo(336, 1)
    assert t.job_price_info(GATEWAY, "my-cap", auto_adjust=False) == PriceInfo(333, 1)
    assert byoc_price(5, 0) == 5  # scaling 0 ⇒ 1
    assert byoc_price(3, 1, "USD", USD_FEED) == 10**15


def test_advertised_capability_prices():
    t = table()
    t.set_capability_price(GATEWAY, C.LLM, "llama", F(9, 2))
    t.set_job_price("my-cap", F(10))
    prices = t.capabilities_prices(GATEWAY)
    assert prices == [PriceInfo(5, 1, C.TextToImage, "sd"), PriceInfo(4, 1, C.LLM, "llama"),
                      PriceInfo(10, 1, C.BYOC, "my-cap")]
    assert PriceInfo(7, 1, C.LLM, "llama") in t.capabilities_prices("0x" + "22" * 20)


def test_ai_units_gateway_and_orchestrator():
    g, o = gateway_ai_units, orchestrator_ai_units
    assert g("text-to-image", {}) == o("text-to-image", {}) == 512 * 512
    assert g("text-to-image", {"height": 1024, "width": 768, "num_images_per_prompt": 2}) == 1024 * 768 * 2
    assert g("text-to-image", {"num_images_per_prompt": 0}) == 512 * 512  # the gateway clamps to 1
    assert o("text-to-image", {"num_images_per_prompt": 0}) == 0
    assert g("image-to-image", {}, image_size=(640, 480)) == 640 * 480
    assert o("image-to-image", {"num_images_per_prompt": 3}, image_size=(640, 480)) == 640 * 480 * 3
    assert g("image-to-video", {}) == o("image-to-video", {}) == 576 * 1024 * 25
    for p in ("upscale", "segment-anything-2", "image-to-text"):
        assert g(p, {}, image_size=(100, 50)) == o(p, {}, image_size=(100, 50)) == 5000
    assert g("audio-to-text", {}, audio_seconds=12.9) == o("audio-to-text", {}, audio_seconds=12.9) == 12000
    assert g("llm", {}) == 256
    assert g("llm", {"max_tokens": 100}) == o("llm", {"max_tokens": 100}) == 100


def test_tts_units_mismatch():
    text = "héllo"  # 5 characters, 6 UTF-8 bytes
    assert gateway_ai_units("text-to-speech", {"text": text}) == 6
    assert orchestrator_ai_units("text-to-speech", {"text": text}) == 5000


@pytest.mark.parametrize("units, pipeline, request_, kwargs, message", [
    (orchestrator_ai_units, "llm", {}, {}, "MaxTokens not specified"),
    (gateway_ai_units, "text-to-speech", {}, {}, "text field is required"),
    (gateway_ai_units, "audio-to-text", {}, dict(audio_seconds=0.5), "audio duration calculation failed"),
    (orchestrator_ai_units, "audio-to-text", {}, dict(audio_seconds=None), "Unable to calculate duration"),
    (orchestrator_ai_units, "text-to-3d", {}, {}, "Unknown request type"),
])
def test_ai_unit_errors(units, pipeline, request_, kwargs, message):
    with pytest.raises(AIRequestError, match=f"^{message}$"):
        units(pipeline, request_, **kwargs)


def test_live_video_units():
    assert LIVE_VIDEO_UNITS_PER_SECOND == 27_648_000
    assert LIVE_INITIAL_UNITS == 60 * 27_648_000
    assert live_video_units(5) == 5 * 27_648_000
    assert live_video_units(0.5) == 13_824_000


def test_ai_fee_has_no_margin():
    assert ai_fee(512 * 512, F(5, 2)) == 655_360
    assert ai_fee(10, None) is None


class Profile:
    def __init__(self, width, height, framerate=30, framerate_den=0):
        self.width, self.height, self.framerate, self.framerate_den = width, height, framerate, framerate_den


P240, P360 = Profile(426, 240), Profile(640, 360)


def test_worked_example_of_section_15():
    assert transcode_pixels([P240, P360], 2.0) == 19_958_400
    fee = estimate_transcode_fee([P240, P360], 2.0, F(1212))
    assert fee == 19_958_400 * PIXEL_ESTIMATE_MULTIPLIER * 1212
    assert abs(fee - F(24_673_372_416)) < F(1, 10**5)  # ≈ 2.467e10 wei
    assert math.ceil(fee / 8_000_000_000) == 4  # tickets at EV 8e9
    assert PIXEL_ESTIMATE_MULTIPLIER == F(1.02) != F(51, 50)  # go's float64 1.02


def test_fee_estimate_rounding_rules():
    assert transcode_pixels([Profile(10, 10, 30000, 1001)], 2.0) == 100 * 30 * 2  # 29.97 fps → 30
    assert transcode_pixels([Profile(10, 10, 0)], 1.0) == 100 * 60  # passthrough counts 60 fps
    assert transcode_pixels([Profile(10, 10, 25, 0)], 2.1) == 100 * 25 * 3  # duration ceiling
    assert estimate_transcode_fee([P240], 2.0, None) is None


def test_validate_price():
    validate_price(PriceInfo(1212, 1), None)
    validate_price(PriceInfo(2424, 1), PriceInfo(1212, 1))  # exactly double is fine
    with pytest.raises(PriceError, match="^missing orchestrator price$"):
        validate_price(None, PriceInfo(1, 1))
    with pytest.raises(PriceError, match="^pixels per unit is 0$"):
        validate_price(PriceInfo(1, 0), None)
    with pytest.raises(PriceError, match="^Orchestrator price has more than doubled, Orchestrator price: "
                                         "2425, Orchestrator initial price: 1212$"):
        validate_price(PriceInfo(2425, 1), PriceInfo(1212, 1))
    with pytest.raises(PriceError, match="^Orchestrator price has more than doubled, Orchestrator price: "
                                         "7/2, Orchestrator initial price: 3/2$"):
        validate_price(PriceInfo(7, 2), PriceInfo(3, 2))
    validate_price(PriceInfo(7, 2), PriceInfo(3, 0))  # an unreadable initial price is ignored


def test_gateway_prices_flag():
    text = ('{"broadcasters": [{"ethaddress": "%s", "priceperunit": 1, "pixelsperunit": 1}],'
            ' "gateways": [{"ethaddress": "%s", "priceperunit": 0.5, "pixelsperunit": 3},'
            ' {"ethaddress": "0xB", "priceperunit": 3, "pixelsperunit": 1, "currency": "USD"}]}'
            ) % (GATEWAY, GATEWAY)
    prices = parse_gateway_prices(text, USD_FEED)
    assert prices == {GATEWAY.lower(): F(1, 6), "0xb": 10**15}
    with pytest.raises(PriceError, match=r"^pricePerGateway.gateways\[0\]: 'priceperunit' and a positive"):
        parse_gateway_prices('{"gateways": [{"ethaddress": "0xa", "priceperunit": 1}]}')
    with pytest.raises(PriceError, match=r"^pricePerGateway: invalid JSON at line 1 column 14"):
        parse_gateway_prices('{"gateways": ]}')


def test_max_price_resolution():
    limits = parse_max_prices("1200", "1", '{"capabilities_prices": ['
                              '{"pipeline": "text-to-image", "model_id": "sd", "price_per_unit": 10},'
                              '{"pipeline": "text-to-image", "price_per_unit": 20, "pixels_per_unit": 2},'
                              '{"pipeline": "llm", "model_id": "llama"},'
                              '{"pipeline": "upscale", "price_per_unit": 0.003, "currency": "eth"}]}')
    assert limits.default == 1200
    assert limits.per_capability == {(C.TextToImage, "sd"): 10, (C.TextToImage, "default"): 10,
                                     (C.LLM, "llama"): 1200, (C.Upscale, "default"): 3 * 10**15}
    assert limits.for_capabilities(None) == 1200
    assert limits.for_capabilities(ai_job_capabilities(C.TextToImage, "sd")) == 10
    assert limits.for_capabilities(ai_job_capabilities(C.TextToImage, "other")) == 10  # "default" model
    assert limits.for_capabilities(ai_job_capabilities(C.ImageToVideo, "x")) == 1200  # sum 0 ⇒ general
    both = ai_job_capabilities(C.TextToImage, "sd")
    both.constraints[C.LLM] = {"llama": ModelConstraint()}
    assert limits.for_capabilities(both) == 1210


def test_max_price_defaults_accept_any():
    limits = parse_max_prices()
    assert limits == MaxPrices()
    assert limits.for_capabilities(ai_job_capabilities(C.LLM, "x")) is None
    # no price and no -maxPricePerUnit: that model has no limit
    assert parse_max_prices("0", 1, '{"capabilities_prices": [{"pipeline": "llm"}]}').per_capability == {}
    # per unit: pixels per unit divides the max price
    assert parse_max_prices("10", "4").default == F(5, 2)


def test_max_price_errors():
    with pytest.raises(PriceError, match=r"^The maximum price per unit must be a valid integer with an "
                                         r"optional currency, provided x instead$"):
        parse_max_prices("x")
    with pytest.raises(PriceError, match=r"^maxPricePerCapability.capabilities_prices\[1\].pipeline: "
                                         r"Pipeline in 'maxPricePerCapability' config is not valid "
                                         r"capability: text-to-3d$"):
        parse_max_prices("1", 1, '{"capabilities_prices": [{"pipeline": "llm"}, {"pipeline": "text-to-3d"}]}')
    with pytest.raises(PriceError, match=r"^maxPricePerCapability.capabilities_prices\[0\].price_per_unit: "
                                         r'expected a number, got "1"$'):
        parse_max_prices("1", 1, '{"capabilities_prices": [{"pipeline": "llm", "price_per_unit": "1"}]}')
    with pytest.raises(PriceError, match=r"^maxPricePerCapability: invalid JSON at line 2 column 1"):
        parse_max_prices("1", 1, '{"capabilities_prices": [\n')
