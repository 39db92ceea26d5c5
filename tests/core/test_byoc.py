"""BYOC rules (node.core.byoc) with the numbers of spec node.md §4.4, §6 and go-livepeer byoc/."""
from __future__ import annotations

import base64
import json
import math
from fractions import Fraction

import pytest

from node.core import byoc
from node.core.balances import Balances
from node.core.byoc import (
    ERR_NO_TIMEOUT,
    ERR_SEG_SIG,
    ExternalCapabilities,
    ExternalCapability,
    JobError,
    JobParameters,
    JobRequest,
    JobToken,
    WorkerOutcome,
)
from node.core.params import TicketExpirationParams, TicketParams
from node.core.pricing import PriceFeed, PriceInfo, PriceTable
from node.core.ticket import address_of_key
from node.net.auth import sign, verify_sig

KEY = bytes.fromhex("11" * 32)
ADDRESS = address_of_key(KEY)


def _sign(msg: bytes) -> bytes:
    return sign(msg, KEY)


def _job(**kw) -> JobRequest:
    base = {"id": "job-1", "request": '{"prompt":"x"}', "parameters": "{}", "capability": "sepia",
            "timeout_seconds": 30}
    return JobRequest(**{**base, **kw})


# ------------------------------------------------------------------------------ job requests

def test_job_header_round_trips_with_gos_field_names():
    job = byoc.sign_job(_job(), ADDRESS, _sign)
    header = byoc.job_request_header(job)
    doc = json.loads(base64.b64decode(header))
    assert doc["timeout_seconds"] == 30 and doc["capability"] == "sepia" and doc["sender"] == ADDRESS
    assert set(doc) >= {"id", "request", "parameters", "capability_url", "sig", "OrchSearchTimeout"}
    assert byoc.parse_job_request(base64.b64decode(header)) == job


def test_job_without_timeout_is_refused_with_gos_message():
    for doc in ({"capability": "sepia"}, {"capability": "sepia", "timeout_seconds": 0},
                {"timeout_seconds": None}):
        with pytest.raises(JobError, match=f"^{ERR_NO_TIMEOUT}$"):
            byoc.parse_job_request(json.dumps(doc))


def test_job_fields_match_case_insensitively_and_types_are_checked():
    assert byoc.parse_job_request('{"Timeout_Seconds": 5, "CAPABILITY": "a"}').capability == "a"
    with pytest.raises(JobError, match="cannot unmarshal string into Go struct field JobRequest.timeout_seconds of type int"):
        byoc.parse_job_request('{"timeout_seconds": "5"}')
    with pytest.raises(JobError, match="cannot unmarshal number 1.5 into Go struct field JobRequest.timeout_seconds"):
        byoc.parse_job_request('{"timeout_seconds": 1.5}')
    with pytest.raises(JobError, match="cannot unmarshal array into Go value of type byoc.JobRequest"):
        byoc.parse_job_request("[]")
    with pytest.raises(JobError, match="invalid JSON"):
        byoc.parse_job_request("{nope")


def test_signature_over_request_and_parameters_verifies_and_tampering_fails():
    job = byoc.sign_job(_job(), ADDRESS, _sign)
    byoc.verify_job_sig(job, verify_sig)
    for bad in (job.__class__(**{**_fields(job), "request": '{"prompt":"y"}'}),
                job.__class__(**{**_fields(job), "parameters": '{"a":1}'}),
                job.__class__(**{**_fields(job), "sender": "0x" + "22" * 20}),
                job.__class__(**{**_fields(job), "sig": "0xzz"})):
        with pytest.raises(JobError, match=f"^{ERR_SEG_SIG}$"):
            byoc.verify_job_sig(bad, verify_sig)


def _fields(job: JobRequest) -> dict:
    return {k: getattr(job, k) for k in job.__dataclass_fields__}


def test_signature_hex_is_read_as_go_reads_it():
    raw = _sign(b"m")
    assert byoc.signature_bytes("0x" + raw.hex()) == raw  # 132 characters: prefix dropped
    assert byoc.signature_bytes(raw.hex()) == raw  # 130: read as is
    with pytest.raises(JobError, match=ERR_SEG_SIG):
        byoc.signature_bytes("0x" + raw.hex()[:-2])  # 130 with the prefix: "0x" is not hex
    with pytest.raises(JobError, match=ERR_SEG_SIG):
        byoc.signature_bytes("abc")


def test_eth_address_header_signs_the_address_string():
    sender = byoc.job_sender(ADDRESS.lower(), _sign)
    assert sender.addr == ADDRESS
    parsed = byoc.parse_job_sender(base64.b64decode(sender.header()))
    assert byoc.verify_job_sender(parsed, verify_sig) == ADDRESS
    forged = byoc.JobSender("0x" + "33" * 20, sender.sig)
    with pytest.raises(JobError, match=ERR_SEG_SIG):
        byoc.verify_job_sender(forged, verify_sig)


def test_hex_to_address_is_lenient_like_go():
    assert byoc.hex_to_address("0x" + "ab" * 21).lower() == "0x" + "ab" * 20
    assert byoc.hex_to_address("1") == "0x" + "0" * 39 + "1"
    assert byoc.hex_to_address("not hex") == "0x" + "0" * 40


def test_job_parameters_and_details_must_be_json():
    params = byoc.parse_job_parameters('{"orchestrators":{"exclude":["http://a"],"include":["http://b"]},'
                                       '"enable_data_output":true}')
    assert params == JobParameters(("http://a",), ("http://b",), enable_data_output=True)
    assert byoc.parse_job_parameters("{}") == JobParameters()
    with pytest.raises(JobError, match="unexpected end of JSON input"):
        byoc.parse_job_parameters("")
    assert byoc.parse_job_details('{"stream_id":"s1"}') == "s1"
    with pytest.raises(JobError):
        byoc.parse_job_details("not json")


# ------------------------------------------------------------------------------- job tokens

def test_job_token_json_uses_gos_names_and_omits_empty_fields():
    params = TicketParams(ADDRESS, 1000, 2**255, b"\x07" * 32, 42, 99,
                          expiration_params=TicketExpirationParams(5, b"\x09" * 32))
    token = JobToken(byoc.JobSender(ADDRESS, "0xab"), params, 0, PriceInfo(10, 1), "https://o:8935", 3)
    doc = json.loads(token.to_json())
    assert "balance" not in doc and doc["LastNonce"] == 0 and doc["available_capacity"] == 3
    assert doc["price"] == {"pricePerUnit": 10, "pixelsPerUnit": 1}
    assert base64.b64decode(doc["ticket_params"]["face_value"]) == (1000).to_bytes(2, "big")
    assert doc["ticket_params"]["expiration_params"]["creation_round"] == 5
    back = byoc.parse_job_token(token.to_json())
    assert back.ticket_params == TicketParams(ADDRESS, 1000, 2**255, b"\x07" * 32, 42, 99, Fraction(10),
                                              TicketExpirationParams(5, b"\x09" * 32))
    assert back.price_per_second == 10 and back.recipient == ADDRESS and back.balance == 0
    offchain = byoc.parse_job_token(JobToken(price=PriceInfo(0, 1), service_addr="x", available_capacity=1).to_json())
    assert offchain.price_per_second == 0 and offchain.ticket_params is None


def test_token_balance_and_headers_round_as_go():
    assert byoc.token_balance(Fraction(-7, 2)) == -4  # big.Int.Div (Euclidean): floor
    assert byoc.token_balance(Fraction(1999, 2)) == 999
    assert byoc.token_balance(None) == 0 and byoc.token_balance(Fraction(2**70)) == 0
    assert byoc.balance_header(Fraction(5, 2)) == "3" and byoc.balance_header(Fraction(-5, 2)) == "-3"
    assert byoc.sse_balance_event(Fraction(2, 3)) == 'data: {"balance": 0.667}\n\n'
    assert byoc.float_string(Fraction(-1, 3), 3) == "-0.333"


# ------------------------------------------------------------------- registry and pricing

def test_registration_parses_gos_fields_and_scaling_zero_is_one():
    cap = byoc.parse_external_capability(json.dumps({"name": "sepia", "url": "http://w:9000", "capacity": 2,
                                                     "price_per_unit": 10, "price_scaling": 0, "token": "t"}))
    assert (cap.price_scaling, cap.capacity, cap.token) == (1, 2, "t")
    assert byoc.registered_price(cap) == 10
    assert byoc.registered_price(ExternalCapability("x", price_per_unit=10, price_scaling=3)) == Fraction(10, 3)
    eth = ExternalCapability("x", price_per_unit=1, price_scaling=10**9, currency="ETH")
    assert byoc.registered_price(eth) == 10**9
    usd = ExternalCapability("x", price_per_unit=3, price_scaling=1000, currency="USD")
    assert byoc.registered_price(usd, PriceFeed("ETH", "USD", Fraction(3000))) == 10**12  # 0.003 USD at 3000 USD/ETH
    with pytest.raises(JobError, match="ExternalCapability.capacity of type int"):
        byoc.parse_external_capability('{"name":"a","capacity":"2"}')


def test_registry_replaces_counts_load_and_removes():
    caps = ExternalCapabilities()
    caps.register(ExternalCapability("sepia", "http://w1", capacity=1))
    assert caps.available("sepia") == 1 and caps.url("sepia") == "http://w1"
    assert caps.reserve("sepia") and caps.reserve("sepia")  # capacity is not enforced (go)
    assert caps.available("sepia") == 0
    caps.register(ExternalCapability("sepia", "http://w2", capacity=4))  # re-register: load back to 0
    assert caps.available("sepia") == 4 and caps.url("sepia") == "http://w2"
    assert not caps.reserve("blur") and caps.available("blur") == 0 and caps.url("blur") == ""
    caps.free("sepia")  # a job of the replaced entry ends: load stays at 0 (go: -1)
    assert caps.available("sepia") == 4
    assert caps.remove("sepia") and not caps.remove("sepia") and "sepia" not in caps


def test_only_connection_errors_and_401_remove_a_capability():
    assert {o for o in WorkerOutcome if byoc.removes_capability(o)} == {
        WorkerOutcome.CONNECTION_ERROR, WorkerOutcome.UNAUTHORIZED}


def test_job_price_gets_the_redemption_overhead_then_whole_wei():
    table = PriceTable()
    table.set_job_price("sepia", Fraction(1000))
    assert byoc.job_price_info(table, ADDRESS, "sepia", tx_cost_multiplier=Fraction(10)) == PriceInfo(1100, 1)
    table.set_job_price("tiny", Fraction(10))  # 10 × 1.01 = 10.1: cut to 10 wei
    assert byoc.job_price_info(table, ADDRESS, "tiny", tx_cost_multiplier=Fraction(100)) == PriceInfo(10, 1)
    assert byoc.job_price_info(table, ADDRESS, "tiny", auto_adjust=False) == PriceInfo(10, 1)
    assert byoc.job_price_info(table, ADDRESS, "unknown") == PriceInfo(0, 1)
    assert byoc.job_price_info(None, ADDRESS, "sepia") == PriceInfo(0, 1)  # offchain


def test_worker_url_appends_the_sub_path():
    assert byoc.worker_url("http://w:9", "/process/request/filter/sepia") == "http://w:9/filter/sepia"
    assert byoc.worker_url("http://w:9", "/process/request/") == "http://w:9"
    assert byoc.worker_url("http://w:9", "/process/request") == "http://w:9//process/request"


# ------------------------------------------------------------------ charging and balances

def test_compute_is_charged_by_the_started_second():
    assert byoc.compute_charge(0.0, Fraction(10)) == 0
    assert byoc.compute_charge(0.2, Fraction(10)) == 10
    assert byoc.compute_charge(1.0, Fraction(10)) == 10
    assert byoc.compute_charge(1.01, Fraction(10)) == 20
    assert byoc.compute_charge(29.5, Fraction(7, 2)) == 105


def test_orchestrator_wants_a_minute_of_credit():
    assert byoc.has_minimum_balance(Fraction(600), Fraction(10))
    assert not byoc.has_minimum_balance(Fraction(5999, 10), Fraction(10))
    assert not byoc.has_minimum_balance(None, Fraction(10))
    assert byoc.has_minimum_balance(None, Fraction(0))


def test_ticket_count_for_cost_mirrors_go():
    assert byoc.ticket_count_for_cost(Fraction(300), Fraction(7), 30) == 43  # 42.86 rounded up
    assert byoc.ticket_count_for_cost(Fraction(300), Fraction(300), 30) == 1
    assert byoc.ticket_count_for_cost(Fraction(300), Fraction(0), 30) == 0
    assert byoc.ticket_count_for_cost(Fraction(0), Fraction(7), 30) == 0
    assert byoc.ticket_count_for_cost(Fraction(10**6), Fraction(1), 30) == 600  # pm.maxSenderNonces
    assert byoc.ticket_count_for_cost(Fraction(10**400), Fraction(1, 10**10), 30) == 30  # float overflow


def test_gateway_pays_the_whole_timeout_below_two_minutes_of_credit():
    price, ev = Fraction(10), Fraction(7)
    assert byoc.tickets_for_job(Fraction(1200), price, 30, ev) == 0
    assert byoc.tickets_for_job(Fraction(1199), price, 30, ev) == math.ceil(300 / 7)
    assert byoc.tickets_for_job(Fraction(0), Fraction(0), 30, ev) == 0  # free: 0 ≥ 0


def test_gateway_balance_follows_the_orchestrator_then_the_job():
    balances = Balances(clock=lambda: 0.0)
    o, cap = "0x" + "aa" * 20, "sepia"
    byoc.sync_gateway_balance(balances, o, cap, 500)
    assert balances.balance(o, cap) == 500
    byoc.sync_gateway_balance(balances, o, cap, 0)  # go would leave −500 here
    assert balances.balance(o, cap) == 0
    byoc.credit_tickets(balances, o, cap, 43, Fraction(7))
    assert byoc.charge_gateway(balances, o, cap, 2.5, Fraction(10)) == 301 - 30


def test_orchestrator_filter_keeps_the_seeded_order():
    urls = ["http://a", "http://b", "http://c", "http://d"]
    order = [2, 0, 3, 1]
    assert byoc.filter_orchestrators(urls, JobParameters(), order) == ["http://c", "http://a", "http://d", "http://b"]
    assert byoc.filter_orchestrators(urls, JobParameters(exclude=("http://a",)), order) == [
        "http://c", "http://d", "http://b"]
    assert byoc.filter_orchestrators(urls, JobParameters(include=("http://b", "http://a")), order) == [
        "http://a", "http://b"]


def test_sse_ends_a_priced_job_only_on_a_negative_balance():
    assert byoc.sse_out_of_credit(Fraction(3), Fraction(-1, 2))
    assert not byoc.sse_out_of_credit(Fraction(3), Fraction(0))
    assert not byoc.sse_out_of_credit(Fraction(3), None)  # no balance kept: go goes on
    assert not byoc.sse_out_of_credit(Fraction(0), Fraction(-5))  # free capability


def test_stream_swaps_follow_gos_run_stream_counting():
    swaps = byoc.StreamSwaps(now=100.0)
    assert not swaps.swapping
    # the first loss is not a swap; swaps 1..3 are allowed; the 5th loss within a minute ends it
    assert [swaps.lost(100.0 + t) for t in (1, 2, 3, 4)] == [False] * 4
    assert swaps.swapping
    assert swaps.lost(100.0 + 59)
    # go's lastSwap stays at the start: after the window, swaps go on without limit
    later = byoc.StreamSwaps(now=0.0)
    assert not any(later.lost(byoc.STREAM_SWAP_WINDOW + t) for t in range(10))


def test_stream_payment_constants_are_gos():
    assert (byoc.STREAM_PAYMENT_INTERVAL, byoc.STREAM_PAYMENT_SECONDS) == (50, 70)
    assert (byoc.STREAM_MAX_SWAPS, byoc.STREAM_SWAP_WINDOW) == (2, 60.0)
