"""The devchain's WebSocket endpoint (same port as HTTP): ordinary JSON-RPC, and eth_subscribe's
newHeads and logs, announced however a block is mined. An in-process server on port 0."""
from __future__ import annotations

import asyncio
import json
import threading

import pytest
import requests
from eth_utils import to_checksum_address
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from node.eth.devchain import DevchainRpc
from node.eth.devchain_server import MAX_BODY_BYTES, make_server

from .devchain_process import BACKENDS, chain_on

TOPIC_A, TOPIC_B = "0x" + "a0" * 32, "0x" + "b0" * 32
EMIT_A = to_checksum_address("0x" + "ea" * 20)
EMIT_B = to_checksum_address("0x" + "eb" * 20)


def emitter(topic: str) -> str:
    """Code that logs one event with `topic` and no data: PUSH32 topic, PUSH1 0, PUSH1 0, LOG1."""
    return "0x7f" + topic[2:] + "6000" + "6000" + "a1" + "00"


@pytest.fixture(scope="module", params=BACKENDS)
def server(request):
    rpc = DevchainRpc(chain_on(request.param, 2))
    srv = make_server(rpc, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    port = srv.server_address[1]
    http = f"http://127.0.0.1:{port}"
    for address, topic in ((EMIT_A, TOPIC_A), (EMIT_B, TOPIC_B)):
        assert "error" not in post(http, "anvil_setCode", address, emitter(topic))
    yield rpc, http, f"ws://127.0.0.1:{port}"
    srv.shutdown()
    srv.server_close()


def post(url, method, *params):
    return requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                         timeout=10).json()


class Client:
    def __init__(self, ws):
        self.ws, self.next_id, self.notes = ws, 100, []

    def call(self, method, *params):
        self.next_id += 1
        self.ws.send(json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": list(params)}))
        while True:
            message = json.loads(self.ws.recv(timeout=10))
            if message.get("method") == "eth_subscription":
                self.notes.append(message)
            elif message.get("id") == self.next_id:
                return message

    def note(self):
        if self.notes:
            return self.notes.pop(0)
        return json.loads(self.ws.recv(timeout=10))


def test_ordinary_calls_and_batches_over_websocket(server):
    _, http, ws_url = server
    with connect(ws_url) as ws:
        client = Client(ws)
        assert client.call("eth_chainId")["result"] == post(http, "eth_chainId")["result"]
        ws.send(json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"},
                            {"jsonrpc": "2.0", "id": 2, "method": "no_such_method"}]))
        first, second = json.loads(ws.recv(timeout=10))
        assert first["result"] == post(http, "eth_blockNumber")["result"]
        assert second["error"]["code"] == -32601
        ws.send("[" * 10_000)
        assert json.loads(ws.recv(timeout=10))["error"]["code"] == -32700
        assert client.call("eth_subscribe", "bogus")["error"]["code"] == -32602
        assert client.call("eth_subscribe", "logs", {"topics": ["0x12"]})["error"]["code"] == -32602
        assert client.call("eth_subscribe", "logs", {"address": 5})["error"]["code"] == -32602
        assert client.call("eth_unsubscribe", "0x1234")["result"] is False
    assert post(http, "eth_subscribe", "newHeads")["error"]["code"] == -32601  # no notifications over HTTP


def test_new_heads_from_every_way_of_mining(server):
    rpc, http, ws_url = server
    sender = rpc.chain.accounts[0].address
    with connect(ws_url) as ws:
        client = Client(ws)
        sub = client.call("eth_subscribe", "newHeads")["result"]
        start = int(post(http, "eth_blockNumber")["result"], 16)
        post(http, "evm_mine")  # from another client, over HTTP
        client.call("anvil_mine", "0x2")
        client.call("eth_sendTransaction", {"from": sender, "to": EMIT_A})  # automine
        heads = [client.note() for _ in range(4)]
        assert all(h["method"] == "eth_subscription" and h["params"]["subscription"] == sub for h in heads)
        numbers = [int(h["params"]["result"]["number"], 16) for h in heads]
        assert numbers == [start + 1, start + 2, start + 3, start + 4]
        head = heads[-1]["params"]["result"]
        block = post(http, "eth_getBlockByNumber", hex(start + 4), False)["result"]
        assert head["hash"] == block["hash"] and head["parentHash"] == heads[-2]["params"]["result"]["hash"]
        assert "transactions" not in head and head["stateRoot"] == block["stateRoot"]
        client.call("anvil_setIntervalMining", 0.05)  # interval mining
        try:
            assert int(client.note()["params"]["result"]["number"], 16) == start + 5
        finally:
            client.call("evm_setAutomine", True)
        assert client.call("eth_unsubscribe", sub)["result"] is True
        client.notes.clear()
        client.call("evm_mine")
        assert client.call("eth_blockNumber")["result"] and client.notes == []


def test_logs_filtered_by_address_and_topics(server):
    rpc, http, ws_url = server
    sender = rpc.chain.accounts[1].address
    with connect(ws_url) as ws:
        client = Client(ws)
        by_address = client.call("eth_subscribe", "logs", {"address": EMIT_B})["result"]
        by_topic = client.call("eth_subscribe", "logs", {"topics": [[TOPIC_A, "0x" + "00" * 32]]})["result"]
        everything = client.call("eth_subscribe", "logs", {})["result"]
        heads = client.call("eth_subscribe", "newHeads")["result"]
        tx_a = client.call("eth_sendTransaction", {"from": sender, "to": EMIT_A})["result"]
        tx_b = client.call("eth_sendTransaction", {"from": sender, "to": EMIT_B})["result"]
        seen = [client.note()["params"] for _ in range(2 * 3)]  # per block: its head, then two logs
    by_sub: dict = {}
    for note in seen:
        by_sub.setdefault(note["subscription"], []).append(note["result"])
    assert [log["transactionHash"] for log in by_sub[by_topic]] == [tx_a]
    assert [log["transactionHash"] for log in by_sub[by_address]] == [tx_b]
    assert [log["transactionHash"] for log in by_sub[everything]] == [tx_a, tx_b]
    assert len(by_sub[heads]) == 2
    log_b = by_sub[by_address][0]
    assert log_b["address"].lower() == EMIT_B.lower() and log_b["topics"] == [TOPIC_B] and log_b["removed"] is False
    receipt = post(http, "eth_getTransactionReceipt", tx_b)["result"]
    assert log_b["blockHash"] == receipt["blockHash"] and log_b["logIndex"] == receipt["logs"][0]["logIndex"]


def test_null_among_topic_alternatives_is_a_wildcard_as_in_eth_get_logs(server):
    """One matcher for subscriptions and filters, geth's: null at a position matches any topic
    there, alone or among alternatives; a position past the log's topics matches nothing."""
    rpc, http, ws_url = server
    sender = rpc.chain.accounts[1].address
    criteria = {"wild": {"topics": [[TOPIC_B, None]]}, "b": {"topics": [TOPIC_B]},
                "too_long": {"topics": [None, None]}}
    with connect(ws_url) as ws:
        client = Client(ws)
        subs = {name: client.call("eth_subscribe", "logs", c)["result"] for name, c in criteria.items()}
        heads = client.call("eth_subscribe", "newHeads")["result"]
        txs = [client.call("eth_sendTransaction", {"from": sender, "to": to})["result"] for to in (EMIT_A, EMIT_B)]
        seen = [client.note()["params"] for _ in range(2 + 3)]  # two heads; wild: two logs, b: one
    by_sub: dict = {}
    for note in seen:
        by_sub.setdefault(note["subscription"], []).append(note["result"]["transactionHash"]
                                                            if note["subscription"] != heads else None)
    assert by_sub[subs["wild"]] == txs and by_sub[subs["b"]] == [txs[1]] and subs["too_long"] not in by_sub
    block = post(http, "eth_getTransactionReceipt", txs[1])["result"]["blockNumber"]
    first = post(http, "eth_getTransactionReceipt", txs[0])["result"]["blockNumber"]
    for name, want in (("wild", txs), ("b", [txs[1]]), ("too_long", [])):
        logs = post(http, "eth_getLogs", {"fromBlock": first, "toBlock": block, **criteria[name]})["result"]
        assert [log["transactionHash"] for log in logs] == want, name


def test_pending_transactions_as_hashes_or_whole(server):
    rpc, http, _ = server
    sender = rpc.chain.accounts[0].address
    with connect(server[2]) as ws:
        client = Client(ws)
        hashes = client.call("eth_subscribe", "newPendingTransactions")["result"]
        whole = client.call("eth_subscribe", "newPendingTransactions", True)["result"]
        client.call("evm_setAutomine", False)
        try:
            tx = post(http, "eth_sendTransaction", {"from": sender, "to": EMIT_B, "value": "0x3"})["result"]
            notes = {n["params"]["subscription"]: n["params"]["result"] for n in (client.note(), client.note())}
        finally:
            client.call("evm_setAutomine", True)  # mines what waited
    assert notes[hashes] == tx
    assert notes[whole]["hash"] == tx and notes[whole]["blockNumber"] is None and notes[whole]["value"] == "0x3"
    assert post(http, "eth_getTransactionReceipt", tx)["result"]["status"] == "0x1"


def test_oversized_message_closes_the_connection_and_the_server_stays_up(server):
    _, http, ws_url = server
    with pytest.raises(ConnectionClosedError) as closed, connect(ws_url, max_size=None) as ws:
        ws.send("x" * (MAX_BODY_BYTES + 1))
        ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1009  # "message too big"
    assert "result" in post(http, "eth_blockNumber")
    response = requests.get(http, timeout=10)  # a GET without the upgrade
    assert response.status_code == 501
    bad_key = requests.get(http, headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                          "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "short"}, timeout=10)
    assert bad_key.status_code == 400 and bad_key.headers["Sec-WebSocket-Version"] == "13"


def test_web3_websocket_provider_subscribes(server):
    from web3 import AsyncWeb3, WebSocketProvider

    ws_url = server[2]

    async def run() -> tuple[int, int]:
        async with AsyncWeb3(WebSocketProvider(ws_url)) as w3:
            await w3.eth.subscribe("newHeads")
            number = await w3.eth.block_number
            await w3.provider.make_request("evm_mine", [])
            async for payload in w3.socket.process_subscriptions():
                return number, payload["result"]["number"]
        raise AssertionError("no notification")

    before, announced = asyncio.run(asyncio.wait_for(run(), 30))
    assert announced == before + 1


def test_http_connections_are_kept_alive(server):
    """Two requests on one connection (HTTP/1.1 keep-alive, as geth and anvil serve), and a
    refused request closes it."""
    import http.client

    _, http_url, _ = server
    conn = http.client.HTTPConnection(http_url.split("//")[1], timeout=10)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    answers = []
    for _ in range(2):
        conn.request("POST", "/", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        answers.append((response.version, json.loads(response.read())["result"], conn.sock))
    assert answers[0][0] == 11 and answers[0][1] == answers[1][1] and answers[0][2] is answers[1][2] is not None
    conn.request("POST", "/", body, {"Content-Type": "text/plain"})
    response = conn.getresponse()
    assert response.status == 415 and response.getheader("Connection") == "close"
    response.read()
    conn.close()
