"""JsonRpcChain against a chain that is down, frozen or answering garbage: every call fails
within its timeout with ChainUnavailable (a ChainError), never hangs and never leaks a
requests/urllib3 exception; a signed transaction whose sending timed out is not forgotten.

The chains here are fake servers on loopback."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from node.eth import Account, ChainError, JsonRpcChain, dev_accounts
from node.eth.chain import _method_missing
from node.eth.errors import ChainUnavailable
from node.eth.rpc_http import DEFAULT_RPC_TIMEOUT

TIMEOUT = 1.0


@contextmanager
def fake_chain(answer: Callable[[socket.socket], None] | None) -> Iterator[str]:
    """A TCP server on loopback; `answer(conn)` handles each connection (None: accept and never
    answer, a frozen chain). Yields its URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)
            if answer is not None:
                try:
                    answer(conn)
                except OSError:
                    pass
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def reply(raw: bytes) -> Callable[[socket.socket], None]:
    def answer(conn: socket.socket) -> None:
        conn.settimeout(2)
        conn.recv(65536)
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):  # until the client is done, so closing does not reset it
            pass
    return answer


def http(status: str, body: bytes) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body


ACCOUNT = dev_accounts(1)[0]


def client(url: str) -> JsonRpcChain:
    return JsonRpcChain(url, accounts=[ACCOUNT], timeout=TIMEOUT)


def test_default_timeout_is_short():
    assert DEFAULT_RPC_TIMEOUT == 10.0
    assert issubclass(ChainUnavailable, ChainError)


def test_frozen_chain_times_out_with_chain_unavailable():
    with fake_chain(None) as url:
        chain = client(url)
        start = time.monotonic()
        with pytest.raises(ChainUnavailable, match=r"timed out after 1 s") as info:
            chain.block_number
        assert time.monotonic() - start < TIMEOUT + 2  # once: no retries
        assert info.value.url == url and info.value.method == "eth_blockNumber"
        assert info.value.maybe_delivered


def test_frozen_chain_fails_the_constructor_too():
    with fake_chain(None) as url:
        start = time.monotonic()
        with pytest.raises(ChainUnavailable, match="eth_accounts"):
            JsonRpcChain(url, timeout=TIMEOUT)
        assert time.monotonic() - start < TIMEOUT + 2


def test_closed_port_is_chain_unavailable_at_once():
    url = closed_port_url()
    chain = client(url)
    start = time.monotonic()
    with pytest.raises(ChainUnavailable, match="connection refused") as info:
        chain.eth_balance(ACCOUNT.address)
    assert time.monotonic() - start < 1.0
    assert not info.value.maybe_delivered
    assert str(info.value) == f"chain RPC {url} (eth_getBalance): connection refused"


@pytest.mark.parametrize("raw, words", [
    (http("500 Internal Server Error", b"Traceback (most recent call last): ..."), "HTTP 500"),
    (http("503 Service Unavailable", b""), "HTTP 503"),
    (http("413 Request Entity Too Large", b"content length too large"), "HTTP 413"),
    (http("200 OK", b"<html>not json</html>"), "not JSON"),
    (http("200 OK", b"[" * 200_000), "not JSON"),
    (b"garbage\r\n\r\n", "connection lost"),
    (b"", "closed the connection without answering"),
])
def test_broken_answers_are_chain_unavailable(raw, words):
    with fake_chain(reply(raw)) as url:
        with pytest.raises(ChainUnavailable, match=words):
            client(url).block_number


def test_oversized_answer_is_refused():
    from node.eth.rpc_http import ChainHTTPProvider

    body = b'{"jsonrpc":"2.0","id":0,"result":"' + b"a" * 200_000 + b'"}'
    with fake_chain(reply(http("200 OK", body))) as url:
        provider = ChainHTTPProvider(url, timeout=TIMEOUT, max_response_bytes=100_000)
        with pytest.raises(ChainUnavailable, match="over 100000 bytes"):
            provider.make_request("eth_blockNumber", [])


def test_trickling_answer_is_cut_at_the_timeout():
    def trickle(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(40):  # a byte every 0.1 s: each read is in time, the whole is not
            conn.sendall(b" ")
            time.sleep(0.1)

    with fake_chain(trickle) as url:
        start = time.monotonic()
        with pytest.raises(ChainUnavailable, match="took over 1 s"):
            client(url).block_number
        assert time.monotonic() - start < TIMEOUT + 2


def tx_for(chain_id: int = 1337) -> dict:
    return {"to": ACCOUNT.address, "value": 1, "data": b"", "gas": 21_000, "nonce": 0, "chainId": chain_id,
            "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9}


def test_signed_transaction_timing_out_is_not_forgotten():
    """The node may have it: broadcast returns its hash for the transaction manager to wait on."""
    from eth_account import Account as EthAccount

    tx = tx_for()
    expected = bytes(EthAccount.sign_transaction(tx, ACCOUNT.key).hash)
    with fake_chain(None) as url:
        assert client(url).broadcast(tx, ACCOUNT) == expected


def test_signed_transaction_not_delivered_raises():
    with pytest.raises(ChainUnavailable, match="connection refused"):
        client(closed_port_url()).broadcast(tx_for(), ACCOUNT)


def test_unsigned_transaction_timing_out_raises():
    keyless = Account(ACCOUNT.address)
    with fake_chain(None) as url:
        with pytest.raises(ChainUnavailable, match="timed out"):
            client(url).broadcast(tx_for(), keyless)


def test_method_missing():
    assert _method_missing({"code": -32601, "message": "whatever"})
    assert _method_missing({"code": -32000, "message": "Method anvil_mine not found"})
    assert not _method_missing({"code": -32602, "message": "anvil_mine: block count 5000 is over the limit of 1000"})
