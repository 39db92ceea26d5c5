"""node.core.discovery: GetOrchestrators as a state machine, and the pool parsers."""
import random
from collections import Counter
from fractions import Fraction

import pytest

from node.core.discovery import (
    CUTOFF_TIMEOUT,
    SCORE_TRUSTED,
    Discovery,
    OrchestratorDescriptor,
    OrchestratorInfo,
    OrchestratorLocalInfo,
    cap_num_orchestrators,
    db_pool_predicate,
    parse_orch_addrs,
    parse_orch_blocklist,
    parse_webhook_body,
    shuffled,
)

URLS = [f"https://o{i}:8935" for i in range(5)]
ADDR = "0x" + "Ab" * 20


def info(url, address=ADDR, caps="caps", **kw):
    """An answer whose transcoder URI is the queried URL (any non-empty URI would do)."""
    return OrchestratorInfo(transcoder=url, address=address, capabilities=caps, **kw)


def discovery(n=5, candidates=URLS, seed=1, **kw):
    return Discovery(candidates, n, random.Random(seed), **kw)


def urls(result):
    return [d.url for d in result]


# --- query order ---------------------------------------------------------------------------

def test_shuffled_is_a_seeded_permutation():
    assert sorted(shuffled(URLS, random.Random(1))) == URLS
    assert shuffled(URLS, random.Random(1)) == shuffled(URLS, random.Random(1))
    assert shuffled([], random.Random(1)) == []


def test_shuffled_is_about_uniform():
    rng = random.Random(5)
    firsts = Counter(shuffled("abcd", rng)[0] for _ in range(8000))
    assert all(abs(firsts[c] / 8000 - 0.25) < 0.02 for c in "abcd")


def test_queries_every_candidate_in_a_seeded_random_order():
    d = discovery(n=2)
    assert sorted(d.to_query) == URLS
    assert d.to_query == discovery(n=2).to_query
    assert any(discovery(n=2, seed=s).to_query != d.to_query for s in range(2, 6))
    assert d.deadline == 0.5 and not d.done


# --- acceptance and ordering ---------------------------------------------------------------

def test_accepted_sorted_by_latency_and_stops_at_n():
    d = discovery(n=3)
    for url, latency in [(URLS[0], 0.3), (URLS[1], 0.1)]:
        assert d.response(url, info(url), latency) == []
        assert not d.done
    d.error(URLS[2])
    assert not d.done
    d.response(URLS[3], info(URLS[3]), 0.2)
    assert d.done and not d.timed_out
    assert urls(d.result()) == [URLS[1], URLS[3], URLS[0]]
    assert d.result()[0] == OrchestratorDescriptor(URLS[1], info(URLS[1]), 0.1)
    d.response(URLS[4], info(URLS[4]), 0.0)  # late answers are ignored
    assert urls(d.result()) == [URLS[1], URLS[3], URLS[0]]


def test_done_when_every_candidate_answered():
    d = discovery(n=5)
    for url in URLS[:4]:
        d.error(url)
    assert not d.done
    d.response(URLS[4], info(URLS[4]), 0.4)
    assert d.done and urls(d.result()) == [URLS[4]]


@pytest.mark.parametrize("entry", [ADDR, ADDR.lower(), ADDR.upper().replace("0X", "0x"),
                                   ADDR[2:], ADDR[2:].upper()])
def test_blocklist_compares_hex_case_insensitively(entry):
    d = discovery(n=2, candidates=URLS[:2], blocklist=[entry])
    d.response(URLS[0], info(URLS[0]), 0.1)
    d.response(URLS[1], info(URLS[1], address="0x" + "11" * 20), 0.2)
    assert urls(d.result()) == [URLS[1]]


def test_predicate_and_capabilities_decide_acceptance():
    d = discovery(n=5, predicate=lambda i: i.price_info is not None,
                  compatible=lambda caps: caps == "good", legacy_only=False)
    d.response(URLS[0], info(URLS[0], caps="good", price_info=Fraction(1)), 0.1)
    d.response(URLS[1], info(URLS[1], caps="good"), 0.1)  # predicate fails
    d.response(URLS[2], info(URLS[2], caps="bad", price_info=Fraction(1)), 0.1)
    d.response(URLS[3], info(URLS[3], caps=None, price_info=Fraction(1)), 0.1)  # job not legacy
    d.response(URLS[4], OrchestratorInfo(transcoder="", address=ADDR, capabilities="good",
                                         price_info=Fraction(1)), 0.1)  # no transcoder
    assert d.done and urls(d.result()) == [URLS[0]]


def test_o_without_capabilities_is_accepted_for_legacy_jobs():
    d = discovery(n=1, candidates=URLS[:1], compatible=lambda caps: False, legacy_only=True)
    d.response(URLS[0], info(URLS[0], caps=None), 0.1)
    assert urls(d.result()) == [URLS[0]]


def test_suspended_come_last_by_ascending_penalty():
    penalties = {URLS[0]: 3, URLS[1]: 1, URLS[3]: 2}
    d = discovery(n=4, suspended=lambda uri: penalties.get(uri, 0))
    for url, latency in zip(URLS, [0.1, 0.2, 0.5, 0.3, 0.4]):
        d.response(url, info(url), latency)
    assert d.done
    assert urls(d.result()) == [URLS[4], URLS[2], URLS[1], URLS[3]]


def test_suspended_ties_keep_arrival_order():
    d = discovery(n=3, candidates=URLS[:3], suspended=lambda uri: 1)
    for url in (URLS[2], URLS[0], URLS[1]):
        d.response(url, info(url), 0.1)
    assert urls(d.result()) == [URLS[2], URLS[0], URLS[1]]


def test_suspension_is_keyed_by_the_transcoder_uri():
    d = discovery(n=2, candidates=URLS[:2], suspended=lambda uri: int(uri == "https://t:1"))
    d.response(URLS[0], OrchestratorInfo(transcoder="https://t:1", capabilities="c"), 0.1)
    d.response(URLS[1], info(URLS[1]), 0.5)
    assert urls(d.result()) == [URLS[1], URLS[0]]


def test_suspended_do_not_count_toward_n():
    d = discovery(n=1, candidates=URLS[:2], suspended=lambda uri: 5)
    d.response(URLS[0], info(URLS[0]), 0.1)
    assert not d.done
    d.timer_fired()  # only a suspended O so far: keep waiting
    assert not d.done


# --- timers --------------------------------------------------------------------------------

def test_timer_doubles_the_wait_until_the_cutoff():
    d = discovery(n=2)
    deadlines = [d.deadline]
    while not d.done:
        d.timer_fired()
        deadlines.append(d.deadline)
    assert deadlines == [0.5, 1.0, 2.0, 4.0, CUTOFF_TIMEOUT, CUTOFF_TIMEOUT]
    assert d.timed_out and d.result() == []


def test_timer_stops_once_something_was_accepted():
    d = discovery(n=3)
    d.timer_fired()
    assert not d.done and d.deadline == 1.0
    d.response(URLS[0], info(URLS[0]), 0.7)
    d.timer_fired()
    assert d.done and d.timed_out and urls(d.result()) == [URLS[0]]


def test_timer_with_long_discovery_timeout_is_cut_off():
    d = discovery(n=2, timeout=4.0)
    d.timer_fired()
    assert d.deadline == CUTOFF_TIMEOUT
    d.timer_fired()
    assert d.done


def test_timeout_fills_missing_with_suspended():
    d = discovery(n=3, suspended=lambda uri: 2 if uri == URLS[1] else 0)
    d.response(URLS[0], info(URLS[0]), 0.2)
    d.response(URLS[1], info(URLS[1]), 0.1)
    d.timer_fired()
    assert d.done and urls(d.result()) == [URLS[0], URLS[1]]


# --- extra nodes ---------------------------------------------------------------------------

def test_extra_nodes_from_first_level_answers_only():
    d = discovery(n=10, candidates=URLS[:2], extra_nodes=1)
    assert d.num_orchestrators == 4
    node_a, node_b = "https://n1:8935", "https://n2:8935"
    assert d.response(URLS[0], info(URLS[0], nodes=(node_a, node_b)), 0.1) == [node_a]
    assert d.response(URLS[1], info(URLS[1], nodes=(node_a, node_b)), 0.2) == []  # a seen
    assert d.response(node_a, info(node_a, nodes=("https://n3:8935",)), 0.05) == []  # level 1
    assert not d.done  # go waits for |candidates| × (E+1) = 4 answers
    d.timer_fired()
    assert urls(d.result()) == [node_a, URLS[0], URLS[1]]


def test_extra_nodes_skip_candidates_and_bad_urls():
    d = discovery(n=10, candidates=URLS[:2], extra_nodes=2)
    nodes = (URLS[1], "https://bad host", "https://n9:1")
    assert d.response(URLS[0], info(URLS[0], nodes=nodes), 0.1) == []  # only the first E=2 looked at


def test_rejected_answers_still_advertise_nodes():
    d = discovery(n=10, candidates=URLS[:1], extra_nodes=1, blocklist=[ADDR])
    assert d.response(URLS[0], info(URLS[0], nodes=("https://n1:1",)), 0.1) == ["https://n1:1"]
    d.response("https://n1:1", info("https://n1:1", address="0x" + "22" * 20), 0.1)
    assert d.done and urls(d.result()) == ["https://n1:1"]


def test_no_extra_nodes_by_default():
    d = discovery(n=10)
    assert d.response(URLS[0], info(URLS[0], nodes=("https://n1:1",)), 0.1) == []


# --- N caps --------------------------------------------------------------------------------

def test_cap_num_orchestrators():
    assert cap_num_orchestrators(10, 3) == 3
    assert cap_num_orchestrators(10, 3, extra_nodes=2) == 9
    assert cap_num_orchestrators(2, 3, extra_nodes=2) == 2


@pytest.mark.parametrize("n, candidates", [(0, URLS), (-1, URLS), (3, [])])
def test_nothing_to_find_is_done_at_once(n, candidates):
    d = discovery(n=n, candidates=candidates)
    assert d.done and d.to_query == [] and d.result() == []


# --- predicates and parsers ----------------------------------------------------------------

def test_db_pool_predicate():
    def validate(params):
        if params == "bad":
            raise ValueError("ticket faceValue higher than max faceValue")

    pred = db_pool_predicate(validate)
    good = dict(transcoder="https://o:1", address=ADDR, ticket_params="ok", price_info=Fraction(1))
    assert pred(OrchestratorInfo(**good))
    assert pred(OrchestratorInfo(**{**good, "price_info": Fraction(0)}))
    assert not pred(OrchestratorInfo(**{**good, "address": ""}))
    assert not pred(OrchestratorInfo(**{**good, "ticket_params": "bad"}))
    assert not pred(OrchestratorInfo(**{**good, "price_info": None}))
    assert not pred(OrchestratorInfo(**{**good, "price_info": Fraction(-1)}))


def test_parse_orch_addrs():
    pool = parse_orch_addrs("o1, o2:9000,https://o3,http://o4:1,:7000,httpbin.org")
    assert pool == [OrchestratorLocalInfo(u, SCORE_TRUSTED) for u in [
        "https://o1:8935", "https://o2:9000", "https://o3", "http://o4:1",
        "https://127.0.0.1:7000", "https://httpbin.org:8935"]]


def test_parse_orch_addrs_skips_unparsable_and_maps_empty_entries_to_localhost():
    assert parse_orch_addrs("") == []
    assert [o.url for o in parse_orch_addrs("o 1,o2:port,o3,")] == [
        "https://o3:8935", "https://127.0.0.1:8935"]


def test_parse_webhook_body():
    body = b"""[{"address": "https://o1:8935", "score": 1, "region": "eu"},
                {"address": "", "score": 0.5},
                {"score": 0.5},
                null,
                {"address": "1.2.3.4:8935"},
                {"Address": "https://o2:1", "SCORE": 0.25},
                {"address": "/relative"}]"""
    assert parse_webhook_body(body) == [
        OrchestratorLocalInfo("https://o1:8935", 1.0),
        OrchestratorLocalInfo("https://o2:1", 0.25),
        OrchestratorLocalInfo("/relative", 0.0),
    ]
    assert parse_webhook_body("null") == []
    assert parse_webhook_body("[]") == []


@pytest.mark.parametrize("body", [b'{"address": "https://o1"}', b'"https://o1"', b"42",
                                  b"not json", b"", b'[{"address": 5}]', b'[{"score": "1"}]',
                                  b'[{"score": true}]', b"[1]"])
def test_parse_webhook_body_rejects_what_is_not_an_array_of_entries(body):
    with pytest.raises(ValueError, match="Unable to unmarshal JSON"):
        parse_webhook_body(body)


def test_parse_orch_blocklist():
    assert parse_orch_blocklist(None) == frozenset()
    assert parse_orch_blocklist("") == frozenset()
    assert parse_orch_blocklist("0xAB12, cd34,,0XEF") == {"ab12", "cd34", "ef"}


def test_orchestrator_info_is_frozen():
    with pytest.raises(AttributeError):
        info(URLS[0]).transcoder = "x"
