"""The chain id is asked of a JSON-RPC chain once (go reads it once at start), not per use: an
orchestrator's start-up read it four times and each transaction once more."""
from node.eth.chain import JsonRpcChain


class _CountingEth:
    def __init__(self) -> None:
        self.asked = 0

    @property
    def chain_id(self) -> int:
        self.asked += 1
        return 42161


class _W3:
    def __init__(self) -> None:
        self.eth = _CountingEth()


def test_json_rpc_chain_reads_its_chain_id_once():
    chain = JsonRpcChain("http://127.0.0.1:9", accounts=[])
    chain.w3 = _W3()
    assert [chain.chain_id for _ in range(5)] == [42161] * 5
    assert chain.w3.eth.asked == 1
