"""node.core.ai_models: parsing `-aiModels` (JSON file text or triples) with errors that name the
entry, and the model constraints and prices a node derives from it (spec node.md §7.3, §4.3)."""
import json
from fractions import Fraction as F

import pytest

from node.core.ai_models import (
    AIModelConfig,
    AIModelsError,
    ai_model_constraints,
    ai_model_prices,
    parse_ai_model_triples,
    parse_ai_models,
    parse_ai_models_json,
    parse_bool,
)
from node.core.capabilities import Capability, ModelConstraint
from node.core.pricing import PriceFeed

C = Capability


def doc(*entries) -> str:
    return json.dumps(list(entries), indent=2)


def test_parse_json_all_fields():
    text = """[
      {"pipeline": "text-to-image", "model_id": "sd", "warm": true, "capacity": 2,
       "url": "http://runner:8000", "token": "secret",
       "optimization_flags": {"SFAST": true, "DEEPCACHE": "false"},
       "gateway": "0xAbC", "price_per_unit": 0.5, "pixels_per_unit": 1e3, "currency": "USD"},
      {"pipeline": "llm", "model_id": "llama", "unknown_key": 1}
    ]"""
    first, second = parse_ai_models_json(text)
    assert first == AIModelConfig(
        "text-to-image", "sd", url="http://runner:8000", token="secret", warm=True, capacity=2,
        optimization_flags={"SFAST": "true", "DEEPCACHE": "false"}, gateway="0xAbC",
        price_per_unit=F(1, 2), pixels_per_unit=1000, currency="USD")
    assert second == AIModelConfig("llm", "llama")
    assert (second.gateway, second.warm, second.capacity, second.price_per_unit) == ("default", False, 0, None)
    assert first.origin == "aiModels.json[0]"


def test_gateway_empty_means_default():
    (cfg,) = parse_ai_models_json(doc({"pipeline": "llm", "model_id": "m", "gateway": ""}))
    assert cfg.gateway == "default"


def test_json_syntax_error_names_line_and_column():
    text = '[\n  {"pipeline": "llm", "model_id": "m"},\n  {"pipeline": "llm" "model_id": "n"}\n]'
    with pytest.raises(AIModelsError, match=r"^models/ai\.json: invalid JSON at line 3 column 22: "
                                            r"Expecting ',' delimiter$"):
        parse_ai_models_json(text, source="models/ai.json")


@pytest.mark.parametrize("entry, message", [
    ({"pipeline": "llm", "model_id": "m", "warm": "true"}, r'\[1\]\.warm: expected true or false, got "true"'),
    ({"pipeline": "llm", "model_id": "m", "capacity": "2"}, r'\[1\]\.capacity: expected an integer, got "2"'),
    ({"pipeline": "llm", "model_id": "m", "capacity": 1.5}, r"\[1\]\.capacity: expected an integer, got 1\.5"),
    ({"pipeline": "llm", "model_id": "m", "capacity": -1}, r"\[1\]\.capacity: must be 0 or more, provided -1"),
    ({"pipeline": "llm", "model_id": "m", "price_per_unit": "1"},
     r'\[1\]\.price_per_unit: expected a number, got "1"'),
    ({"pipeline": "llm", "model_id": "m", "price_per_unit": -1},
     r"\[1\]\.price_per_unit: 'pricePerUnit' value specified for model 'm' in pipeline 'llm' must be a "
     r"valid positive number, provided -1"),
    ({"pipeline": "llm", "model_id": "m", "pixels_per_unit": 1.5},
     r"\[1\]\.pixels_per_unit: 'pixelsPerUnit' value specified for model 'm' in pipeline 'llm' must be "
     r"a valid positive integer, provided 1\.5"),
    ({"pipeline": "llm", "model_id": "m", "pixels_per_unit": 0},
     r"\[1\]\.pixels_per_unit: .*positive integer, provided 0"),
    ({"pipeline": "llm", "model_id": "m", "url": 5}, r"\[1\]\.url: expected a string, got 5"),
    ({"pipeline": "llm", "model_id": "m", "optimization_flags": {"X": 1}},
     r"\[1\]\.optimization_flags\.X: expected a string or true/false"),
    ({"pipeline": "llm", "model_id": "m", "optimization_flags": []},
     r"\[1\]\.optimization_flags: expected an object, got \[\]"),
    ({"model_id": "m"}, r"\[1\]\.pipeline: must be set"),
    ({"pipeline": "llm", "model_id": ""}, r"\[1\]\.model_id: must be set"),
    ("llm:m:true", r"\[1\]: expected an object with pipeline and model_id"),
])
def test_bad_entries_are_named(entry, message):
    text = doc({"pipeline": "llm", "model_id": "ok"}, entry)
    with pytest.raises(AIModelsError, match=r"^aiModels\.json" + message + "$"):
        parse_ai_models_json(text)


def test_json_must_be_an_array():
    with pytest.raises(AIModelsError, match=r"^aiModels\.json: expected a JSON array of model objects$"):
        parse_ai_models_json('{"pipeline": "llm"}')


def test_triples():
    assert parse_ai_model_triples("text-to-image:sd:true,llm:llama:0") == [
        AIModelConfig("text-to-image", "sd", warm=True), AIModelConfig("llm", "llama", warm=False)]
    # extra parts ignored, spaces kept, as go does
    assert parse_ai_model_triples(" upscale:x:F:extra") == [AIModelConfig(" upscale", "x")]


@pytest.mark.parametrize("value, bad", [("llm:m", "'llm:m' (-aiModels[0])"),
                                        ("llm:m:true,upscale", "'upscale' (-aiModels[1])"),
                                        ("", "'' (-aiModels[0])"),
                                        ("/no/such/aiModels.json", "'/no/such/aiModels.json'")])
def test_triples_too_few_parts(value, bad):
    with pytest.raises(AIModelsError) as e:
        parse_ai_model_triples(value)
    assert str(e.value).startswith("invalid AI model config expected <pipeline>:<model_id>:<warm>, got ")
    assert bad in str(e.value)


def test_triples_bad_bool_names_the_value():
    with pytest.raises(AIModelsError, match=r'^-aiModels\[1\] \'llm:m:yes\': strconv\.ParseBool: '
                                            r'parsing "yes": invalid syntax$'):
        parse_ai_model_triples("llm:m:true,llm:m:yes")


def test_parse_bool_accepts_what_go_accepts():
    for s in ("1", "t", "T", "TRUE", "true", "True"):
        assert parse_bool(s) is True
    for s in ("0", "f", "F", "FALSE", "false", "False"):
        assert parse_bool(s) is False
    for s in ("yes", "tRUE", "", " true"):
        with pytest.raises(ValueError):
            parse_bool(s)


def test_parse_ai_models_chooses_file_or_triples():
    text = doc({"pipeline": "llm", "model_id": "m"})
    assert parse_ai_models("conf/ai.json", file_text=text)[0].origin == "conf/ai.json[0]"
    assert parse_ai_models("llm:m:true") == [AIModelConfig("llm", "m", warm=True)]
    with pytest.raises(AIModelsError, match="expected <pipeline>:<model_id>:<warm>"):
        parse_ai_models("conf/ai.json")  # the node found no such file: read as triples


def test_constraints_capacity_rules():
    configs = parse_ai_models_json(doc(
        {"pipeline": "text-to-image", "model_id": "sd", "warm": True},
        {"pipeline": "text-to-image", "model_id": "sd", "warm": True, "capacity": 3},  # no url: 1
        {"pipeline": "llm", "model_id": "llama", "url": "http://r", "capacity": 4},
        {"pipeline": "llm", "model_id": "llama", "url": "http://r2"},  # capacity 0 ⇒ 1
        {"pipeline": "upscale", "model_id": "x"},
    ))
    constraints = ai_model_constraints(configs, {("llm", "llama"): "0.2.0"})
    assert list(constraints) == [C.TextToImage, C.LLM, C.Upscale]
    assert constraints[C.TextToImage] == {"sd": ModelConstraint(warm=True, capacity=2)}
    assert constraints[C.LLM] == {"llama": ModelConstraint(capacity=5, runner_version="0.2.0")}
    assert constraints[C.Upscale] == {"x": ModelConstraint(capacity=1)}
    assert [c.containers for c in configs] == [1, 3, 1, 1, 1]


def test_constraints_errors():
    with pytest.raises(AIModelsError, match=r"^aiModels\.json\[1\]: Cannot have same model_id \(sd\) as cold "
                                            r"and warm in same AI worker, please fix aiModels json config$"):
        ai_model_constraints(parse_ai_models_json(doc(
            {"pipeline": "text-to-image", "model_id": "sd", "warm": True},
            {"pipeline": "text-to-image", "model_id": "sd"})))
    with pytest.raises(AIModelsError, match=r"^-aiModels\[0\]: Pipeline is not valid capability: text-to-3d$"):
        ai_model_constraints(parse_ai_model_triples("text-to-3d:m:true"))


def test_prices_per_gateway_capability_and_model():
    configs = parse_ai_models_json(doc(
        {"pipeline": "text-to-image", "model_id": "sd", "price_per_unit": 4, "pixels_per_unit": 8},
        {"pipeline": "text-to-image", "model_id": "sd", "gateway": "0xAbC", "price_per_unit": 1},
        {"pipeline": "llm", "model_id": "llama"},  # falls back to -pricePerUnit / -pixelsPerUnit
        {"pipeline": "upscale", "model_id": "x", "price_per_unit": 0.000003, "pixels_per_unit": 1,
         "currency": "USD"},
    ))
    prices = ai_model_prices(configs, price_per_unit="6eth", pixels_per_unit="3",
                             feed=PriceFeed("ETH", "USD", F(3000)))
    assert prices == {
        ("default", C.TextToImage, "sd"): F(1, 2),
        ("0xAbC", C.TextToImage, "sd"): F(1, 3),  # the entry's price, the flag's pixels
        ("default", C.LLM, "llama"): 2 * 10**18,  # 6 ETH / 3, in the flag's currency
        ("default", C.Upscale, "x"): 10**9,  # 0.000003 USD at 3000 USD per ETH
    }


def test_price_errors():
    configs = parse_ai_model_triples("llm:llama:true")
    for flag in (None, "0"):  # unset, or 0, and no price of its own
        with pytest.raises(AIModelsError, match=r"^-aiModels\[0\]: 'pricePerUnit' must be set for model "
                                                r"'llama' in pipeline 'llm'$"):
            ai_model_prices(configs, price_per_unit=flag)
    with pytest.raises(AIModelsError, match=r"^-pricePerUnit must be a valid positive integer with an "
                                            r"optional currency, provided -5$"):
        ai_model_prices(configs, price_per_unit="-5")
    with pytest.raises(AIModelsError, match=r"^-aiModels\[0\]: error converting price: "
                                            r"PriceFeedWatcher is not initialized$"):
        ai_model_prices(configs, price_per_unit="1USD")
