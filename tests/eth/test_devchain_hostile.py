"""Hostile input to `lpnode devchain`'s JSON-RPC port: nothing sent to it can crash the process
or keep it from answering other clients. Each hostile request is followed by an honest
eth_blockNumber; the devchain_process context checks, when the module ends, that the process
is still alive and stops cleanly.

The in-process part (an EmbeddedChain without the protocol, served on loopback) covers what
needs the server's limits turned down: the read watchdog and the connection cap."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from node.eth import devchain as dc
from node.eth import devchain_server as http_server

from .devchain_process import BACKENDS, chain_on, devchain_process

JSON = {"Content-Type": "application/json"}


def call(url, method, *params, timeout=10):
    return requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                         timeout=timeout).json()


def post(url, data, headers=JSON, timeout=10):
    return requests.post(url, data=data, headers=headers, timeout=timeout)


def block_number(url) -> int:
    return int(call(url, "eth_blockNumber")["result"], 16)


def raw_exchange(url, data: bytes, timeout=10.0) -> bytes:
    """Send `data` on a fresh connection, shut our side, read the whole answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        out = b""
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before all was sent: read what it said
            pass
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except ConnectionResetError:  # the server closed with our data unread
            pass
    return out


# --------------------------------------------------------------------------- the process

@pytest.fixture(scope="module", params=BACKENDS)
def url(tmp_path_factory, request):
    with devchain_process(tmp_path_factory.mktemp("hostile"), backend=request.param) as (url, _):
        yield url


@pytest.mark.devchain
class TestDevchainProcess:
    @pytest.fixture(autouse=True)
    def honest_call_still_answered(self, url):
        yield
        assert isinstance(block_number(url), int)

    @pytest.mark.parametrize("body", [b"[" * 200_000, b'{"a":' * 100_000, b'[{"a":[' * 30_000,
                                      b'{"jsonrpc":"2.0","id":1,"method":"eth_call","params":' + b"[" * 150_000])
    def test_nesting_bomb_is_a_parse_error(self, url, body):
        resp = post(url, body)
        assert resp.status_code == 200
        assert resp.json()["error"]["code"] == -32700
        assert "nested deeper" in resp.json()["error"]["message"]

    def test_brackets_inside_strings_are_not_nesting(self, url):
        resp = call(url, "eth_noSuchMethod", "[" * 10_000, '\\"{' * 1000)
        assert resp["error"]["code"] == -32601

    def test_oversize_body_is_413(self, url):
        resp = post(url, b" " * (http_server.MAX_BODY_BYTES + 1))
        assert resp.status_code == 413
        limit = http_server.MAX_BODY_BYTES
        assert resp.json()["error"]["message"] == f"content length too large ({limit + 1}>{limit})"

    def test_claimed_huge_length_is_refused_unread(self, url):
        start = time.monotonic()
        answer = raw_exchange(url, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: 1000000000000\r\n\r\n[")
        assert answer.startswith(b"HTTP/1.1 413")
        assert time.monotonic() - start < 5

    def test_body_at_the_limit_is_read(self, url):
        body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "eth_blockNumber", "params": [],
                           "pad": "x" * (http_server.MAX_BODY_BYTES - 200)}).encode()
        assert len(body) <= http_server.MAX_BODY_BYTES
        assert post(url, body, timeout=30).json()["id"] == 7

    @pytest.mark.parametrize("body", [bytes(range(256)) * 40, b"\x00" * 1000, b"\xff\xfe[\x00]\x00",
                                      b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber\xff"}',
                                      b'{"jsonrpc":"2.0","id":1,"method":"anvil_mine","params":[NaN]}',
                                      b'{"jsonrpc":"2.0","id":1,"method":"anvil_mine","params":[' + b"9" * 5000 + b"]}",
                                      b"{not json", b'{"a":"\\ud800', b'"' + b"\\" * 10_000])
    def test_garbage_is_a_parse_error(self, url, body):
        resp = post(url, body)
        assert resp.status_code == 200
        assert resp.json()["error"]["code"] == -32700

    @pytest.mark.parametrize("body", [b"null", b"1", b'"eth_blockNumber"', b"{}", b'{"method": 5}', b"[[[]]]",
                                      b"[1, 2]"])
    def test_not_a_request_is_invalid_request(self, url, body):
        resp = post(url, body).json()
        answers = resp if isinstance(resp, list) else [resp]
        assert answers and all(a["error"]["code"] == -32600 for a in answers)

    def test_params_not_an_array(self, url):
        resp = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": {"a": 1}},
                             timeout=10).json()
        assert resp["error"] == {"code": -32602, "message": "non-array args"}

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
    def test_wrong_content_type_is_415(self, url, content_type):
        resp = post(url, b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}', headers={"Content-Type": content_type})
        assert resp.status_code == 415

    def test_json_content_type_with_charset_is_accepted(self, url):
        resp = post(url, b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}',
                     headers={"Content-Type": "application/json; charset=utf-8"})
        assert resp.status_code == 200 and "result" in resp.json()

    @pytest.mark.parametrize("request_line", [b"GET / HTTP/1.1", b"PUT / HTTP/1.1", b"\x16\x03\x01\x02\x00\x01\x00",
                                              b"POST /" + b"a" * 70_000 + b" HTTP/1.1"])
    def test_odd_http_is_answered_not_fatal(self, url, request_line):
        answer = raw_exchange(url, request_line + b"\r\nHost: x\r\n\r\n")
        assert not answer or any(b"Error code: %d" % code in answer for code in (400, 414, 501))

    def test_bad_content_length(self, url):
        for length in (b"-5", b"abc"):
            answer = raw_exchange(url, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}")
            assert answer.startswith(b"HTTP/1.1 400"), answer[:100]

    def test_batch_over_the_limit_is_refused_whole(self, url):
        batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"} for i in range(dc.MAX_BATCH_ITEMS + 1)]
        resp = requests.post(url, json=batch, timeout=10).json()
        assert resp == {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batch too large"}}

    def test_batch_at_the_limit_is_answered(self, url):
        batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"} for i in range(dc.MAX_BATCH_ITEMS)]
        resp = requests.post(url, json=batch, timeout=60).json()
        assert [a["id"] for a in resp] == list(range(dc.MAX_BATCH_ITEMS))

    def test_empty_batch(self, url):
        assert post(url, b"[]").json()["error"] == {"code": -32600, "message": "empty batch"}

    @pytest.mark.parametrize("params", [["0x3b9aca00"], [10**9], [2**300], ["0x" + "f" * 10_000], [-1], ["zz"], [1.5],
                                        [True], [1e308]])
    def test_anvil_mine_count_is_bounded(self, url, params):
        before = block_number(url)
        start = time.monotonic()
        resp = call(url, "anvil_mine", *params)
        assert resp["error"]["code"] == -32602, resp
        assert time.monotonic() - start < 2
        assert block_number(url) == before

    def test_evm_mine_blocks_is_bounded(self, url):
        resp = call(url, "evm_mine", {"blocks": 10**9})
        assert resp["error"]["code"] == -32602
        assert "over the limit of 10000" in resp["error"]["message"]

    @pytest.mark.parametrize("method, params", [
        ("evm_increaseTime", [2**70]), ("evm_increaseTime", [-5]), ("evm_increaseTime", ["x"]),
        ("evm_setNextBlockTimestamp", [2**64]), ("evm_mine", [2**64]),
        ("anvil_setIntervalMining", [1e-9]), ("anvil_setIntervalMining", [-1]), ("anvil_setIntervalMining", [1e300]),
        ("anvil_setIntervalMining", ["0x" + "f" * 40]), ("anvil_setIntervalMining", [[1]]),
        ("evm_revert", [[[]]]), ("evm_setAutomine", [{}]), ("eth_getTransactionByHash", [{"a": 1}]),
    ])
    def test_control_methods_refuse_bad_values(self, url, method, params):
        resp = call(url, method, *params)
        assert resp["error"]["code"] in (-32602, -32000), resp

    def test_oversized_raw_transaction_is_refused_by_the_pool(self, url):
        assert call(url, "evm_setAutomine", False)["result"] is None
        try:
            resp = call(url, "eth_sendRawTransaction", "0x" + "00" * (dc.MAX_RAW_TX_BYTES + 1))
            assert resp["error"] == {"code": -32000, "message": "oversized data"}
        finally:
            call(url, "evm_setAutomine", True)

    def test_others_are_served_while_a_long_mine_runs(self, url):
        before = block_number(url)
        done: dict = {}

        def mine():
            done["resp"] = call(url, "anvil_mine", hex(2000), timeout=120)

        miner = threading.Thread(target=mine)
        miner.start()
        try:
            time.sleep(0.3)
            waits = []
            for _ in range(5):
                start = time.monotonic()
                block_number(url)
                waits.append(time.monotonic() - start)
        finally:
            miner.join(timeout=120)
        assert done["resp"]["result"] is None
        assert block_number(url) >= before + 2000
        assert max(waits) < 2.0, waits

    def test_a_slow_client_does_not_block_others(self, url):
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as slow:
            slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[")  # and nothing more
            start = time.monotonic()
            assert block_number(url) >= 0
            assert time.monotonic() - start < 2

    def test_many_hostile_requests_at_once(self, url):
        bodies = [b"[" * 100_000, bytes(range(256)),
                  b'{"jsonrpc":"2.0","id":1,"method":"anvil_mine","params":["0xffffffff"]}',
                  json.dumps([{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"} for i in range(1001)]).encode()]
        errors: list = []

        def send(body):
            try:
                post(url, body, timeout=30)
            except requests.RequestException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(bodies[i % len(bodies)],)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors


# --------------------------------------------------------------------------- in process

@pytest.fixture(scope="module", params=BACKENDS)
def embedded_rpc(request):
    return dc.DevchainRpc(chain_on(request.param, 2))


@pytest.fixture
def serve(embedded_rpc):
    servers = []

    def start(**kwargs) -> str:
        server = http_server.make_server(embedded_rpc, "127.0.0.1", 0, **kwargs)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_read_watchdog_drops_a_slow_client(serve, monkeypatch):
    monkeypatch.setattr(http_server, "READ_TIMEOUT", 0.5)
    url = serve()
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as slow:
        slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[")
        start = time.monotonic()
        try:
            assert slow.recv(1000) == b""  # closed without an answer
        except ConnectionResetError:
            pass
        assert time.monotonic() - start < 5
    assert block_number(url) >= 0


def test_connections_over_the_cap_get_503(serve):
    url = serve(max_connections=2)
    host, port = url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(2)]
    try:
        time.sleep(0.2)
        answer = raw_exchange(url, b"POST / HTTP/1.0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 503")
        assert b"too many connections" in answer
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while True:  # the slots come back once the idle connections are gone
        try:
            assert block_number(url) >= 0
            break
        except (requests.RequestException, ValueError, KeyError):  # 503 until the slots are back
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_batch_past_its_deadline_answers_timed_out(embedded_rpc):
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"} for i in range(3)]
    answers = embedded_rpc.handle(batch, deadline=time.monotonic() - 1)
    assert [a["error"] for a in answers] == [{"code": -32002, "message": "request timed out"}] * 3


def test_batch_response_size_is_bounded(embedded_rpc, monkeypatch):
    monkeypatch.setattr(dc, "MAX_BATCH_RESPONSE_BYTES", 100)
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"} for i in range(5)]
    answers = embedded_rpc.handle(batch)
    assert "result" in answers[0]
    assert answers[-1]["error"] == {"code": -32003, "message": "response too large"}


LOOP_FOREVER = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP: runs until the gas is gone (~10 s of py-evm for 30M gas)


@pytest.mark.parametrize("method", ["eth_call", "eth_estimateGas"])
def test_endless_execution_is_aborted(embedded_rpc, monkeypatch, method):
    monkeypatch.setattr(dc, "EVM_TIMEOUT", 0.5)
    sender = embedded_rpc.chain.accounts[0].address
    params = [{"from": sender, "data": LOOP_FOREVER}] + (["latest"] if method == "eth_call" else [])
    start = time.monotonic()
    answer = embedded_rpc.handle({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    if embedded_rpc.revm:  # revm burns the 30M gas in milliseconds: geth's answer for running out of it
        words = "out of gas" if method == "eth_call" else "gas required exceeds allowance (30029122)"
        assert answer["error"] == {"code": -32000, "message": words}
    else:
        assert answer["error"] == {"code": -32000, "message": "execution aborted (timeout = 0.5s)"}
    assert time.monotonic() - start < 3
    # the chain is untouched and still works, transactions included
    before = embedded_rpc.chain.block_number
    sent = embedded_rpc.handle({"jsonrpc": "2.0", "id": 2, "method": "eth_sendTransaction",
                                "params": [{"from": sender, "to": sender, "value": "0x1"}]})
    assert "result" in sent and embedded_rpc.chain.block_number == before + 1


def test_aborts_never_leak_into_other_calls(embedded_rpc, monkeypatch):
    """Aborts landing at every moment of a call's life (timeouts around the call's own length)
    are all answered as errors of that call; honest calls in between are unaffected."""
    import random

    sender = embedded_rpc.chain.accounts[0].address
    rng = random.Random(7)
    for _ in range(60):
        monkeypatch.setattr(dc, "EVM_TIMEOUT", rng.uniform(0.001, 0.02))
        gas = rng.choice([30_000, 80_000, 200_000])
        answer = embedded_rpc.handle({"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                                      "params": [{"from": sender, "data": LOOP_FOREVER, "gas": hex(gas)}, "latest"]})
        assert "error" in answer
        assert "result" in embedded_rpc.handle({"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []})
    assert not [t for t in threading.enumerate() if t.name == "devchain-call"]
