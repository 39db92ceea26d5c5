"""The node's CLI HTTP API (node/cli_api.py) against an in-process chain (the fast backend only):
go's routes, form fields, status codes and error bodies (server/handlers.go), and that each
transaction lands on the chain or comes back with its revert reason."""
from fractions import Fraction

import pytest
from starlette.testclient import TestClient

from node.cli_api import CliNode, create_cli_app, default_cli_addr, from_perc
from node.eth import LPT, FastChain, deploy_protocol
from node.orchestrator.node import OrchestratorConfig, OrchestratorNode

from ..conftest import TEST_PARAMS


@pytest.fixture(scope="module")
def _deployed():
    """One backend (the fast one): these tests are about the API, not the chain."""
    chain = FastChain(num_accounts=6)
    return deploy_protocol(chain, TEST_PARAMS)


@pytest.fixture
def protocol(_deployed):
    with _deployed.chain.reverting():
        yield _deployed


@pytest.fixture
def orch(protocol):
    account = protocol.chain.accounts[3]
    node = OrchestratorNode(OrchestratorConfig("http://127.0.0.1:8935", price_per_unit=Fraction(100)),
                            address=account.address, chain=object())  # chain: on-chain prices only
    api = CliNode("orchestrator", protocol=protocol, account=account, orchestrator=node)
    with TestClient(create_cli_app(api)) as client:
        yield client, protocol, account, node


def test_default_cli_addresses_follow_go():
    assert default_cli_addr(None, "orchestrator") == "127.0.0.1:7935"
    assert default_cli_addr("", "gateway") == "127.0.0.1:5935"
    assert default_cli_addr(":9000", "gateway") == "127.0.0.1:9000"
    assert default_cli_addr("0.0.0.0", "orchestrator") == "0.0.0.0:7935"


def test_reads_in_go_shapes(orch):
    client, p, account, _node = orch
    assert client.get("/ethAddr").text == account.address
    assert client.get("/currentRound").text == str(p.current_round())
    assert client.get("/tokenBalance").text == str(p.LivepeerToken.balanceOf(account.address))
    assert client.get("/ethBalance").text == str(p.chain.eth_balance(account.address))
    assert client.get("/IsOrchestrator").text == "true"
    params = client.get("/protocolParameters").json()
    assert params["RoundLength"] == 100 and params["UnbondingPeriod"] == 2 and params["Paused"] is False
    assert params["TotalBonded"] == p.BondingManager.getTotalBonded() and params["FinderFee"] is None
    status = client.get("/status").json()
    assert status["BroadcasterPrices"] == {"default": "100"} and status["OrchestratorPool"] == []
    d = client.get("/delegatorInfo").json()
    assert d["Status"] == "Unbonded" and d["BondedAmount"] == 0 and d["Address"] == account.address.lower()
    assert client.get("/senderInfo").json() == {"Deposit": 0, "WithdrawRound": 0,
                                                "Reserve": {"FundsRemaining": 0, "ClaimedInCurrentRound": 0}}
    assert client.get("/ticketBrokerParams").json() == {"UnlockPeriod": 2}


def test_bond_then_orchestrator_config_registers_it(orch):
    client, p, account, node = orch
    r = client.post("/bond", data={"amount": str(500 * LPT), "toAddr": account.address})
    assert r.status_code == 200, r.text
    assert p.BondingManager.getDelegator(account.address)[0] == 500 * LPT
    r = client.post("/setOrchestratorConfig", data={"pricePerUnit": "1200", "pixelsPerUnit": "3",
                                                    "blockRewardCut": "10", "feeShare": "95.5",
                                                    "serviceURI": "https://orch.example:8935"})
    assert r.status_code == 200, r.text
    _, cut, share, *_ = p.BondingManager.getTranscoder(account.address)
    assert (cut, share) == (from_perc(10), from_perc(95.5)) == (100_000, 955_000)
    assert p.ServiceRegistry.getServiceURI(account.address) == "https://orch.example:8935"
    assert node.prices.base_price("default") == 400
    r = client.post("/setPriceForBroadcaster", data={"pricePerUnit": "5", "pixelsPerUnit": "1",
                                                      "broadcasterEthAddr": "0x" + "ab" * 20})
    assert r.status_code == 200 and node.prices.base_price("0x" + "ab" * 20) == 5
    assert client.get("/status").json()["BroadcasterPrices"] == {"0x" + "ab" * 20: "5", "default": "400"}
    pool = client.get("/registeredOrchestrators").json()
    assert [o["Address"] for o in pool] == [account.address.lower()]
    assert pool[0]["Status"] == "Registered" and pool[0]["FeeShare"] == 955_000 and pool[0]["PricePerPixel"] == "0"
    assert client.get("/orchestratorInfo").json()["PriceInfo"] == "400"
    # the round after, it is active and may call reward
    p.next_round()
    assert client.post("/reward").status_code == 200
    assert p.BondingManager.getTranscoder(account.address)[0] == p.current_round()
    r = client.post("/reward")  # a second call in the round reverts; go passes the reason on
    assert r.status_code == 500 and r.text.startswith("Error calling reward: execution reverted")


def test_bad_input_gets_go_status_and_body(orch):
    client, _p, account, _node = orch
    r = client.post("/bond", data={"amount": "1"})
    assert (r.status_code, r.text) == (400, "missing form param: toAddr\n")
    # go's http.Error, byte for byte: these two headers and the message with a newline
    assert (r.headers["content-type"], r.headers["x-content-type-options"]) == ("text/plain; charset=utf-8", "nosniff")
    r = client.post("/bond", data={"amount": "1.5", "toAddr": account.address})
    assert (r.status_code, r.text) == (400, "failed to parse big integer\n")
    r = client.post("/withdrawStake", data={"unbondingLockId": "x"})
    assert (r.status_code, r.text) == (400, "Cannot convert unbondingLockId: failed to parse big integer\n")
    r = client.post("/fundDepositAndReserve", data={"depositAmount": "1", "reserveAmount": "-"})
    assert (r.status_code, r.text) == (400, "invalid reserveAmount: failed to parse big integer\n")
    r = client.post("/withdrawFees")
    assert (r.status_code, r.text) == (400, "missing form param: amount\n")
    r = client.post("/setOrchestratorConfig", data={"pricePerUnit": "-1", "pixelsPerUnit": "1"})
    assert (r.status_code, r.text) == (400, "price unit must be greater than or equal to 0, provided -1\n")
    r = client.post("/setOrchestratorConfig", data={"pricePerUnit": "1", "pixelsPerUnit": "1", "currency": "USD"})
    assert (r.status_code, r.text) == (400, "error converting price: PriceFeedWatcher is not initialized\n")
    r = client.post("/setOrchestratorConfig", data={"blockRewardCut": "ten", "feeShare": "1"})
    assert r.status_code == 400 and r.text == 'Cannot convert block reward cut: strconv.ParseFloat: parsing "ten": invalid syntax\n'
    r = client.post("/setOrchestratorConfig", data={"serviceURI": "orch.example"})
    assert (r.status_code, r.text) == (400, 'parse "orch.example": invalid URI for request\n')


def test_reverts_come_back_with_their_reason(orch):
    client, p, account, _node = orch
    r = client.post("/unbond", data={"amount": "1"})  # nothing bonded
    assert r.status_code == 500 and r.text.startswith("execution reverted"), r.text
    reason = r.text.removeprefix("execution reverted: ").strip()
    with pytest.raises(Exception) as exc:
        p.BondingManager.unbond(1, sender=account)
    assert getattr(exc.value, "reason", None) == reason  # the contract's own reason, not a paraphrase
    r = client.post("/withdraw")  # no deposit: TicketBroker refuses
    assert r.status_code == 500 and r.text.startswith("could not execute withdraw: execution reverted")


def test_ticket_broker_funding_unlock_and_withdraw(orch):
    client, p, account, _node = orch
    r = client.post("/fundDepositAndReserve", data={"depositAmount": str(10**18), "reserveAmount": str(2 * 10**18)})
    assert (r.status_code, r.text) == (200, "fundDepositAndReserve success")
    info = client.get("/senderInfo").json()
    assert info["Deposit"] == 10**18 and info["Reserve"]["FundsRemaining"] == 2 * 10**18
    assert client.post("/unlock").text == "unlock success"
    assert client.get("/senderInfo").json()["WithdrawRound"] == p.current_round() + 2
    assert client.post("/cancelUnlock").text == "cancelUnlock success"
    assert client.post("/unlock").text == "unlock success"
    p.advance_rounds(2)
    before = p.chain.eth_balance(account.address)
    assert client.post("/withdraw").text == "withdraw success"
    assert p.chain.eth_balance(account.address) > before
    assert client.get("/senderInfo").json()["Deposit"] == 0


def test_unbond_locks_rebond_and_withdraw_stake(orch):
    client, p, account, _node = orch
    other = p.chain.accounts[4].address
    assert client.post("/bond", data={"amount": "1000", "toAddr": other}).status_code == 200
    assert client.get("/delegatorInfo").json()["Status"] == "Pending"  # bonded from the next round
    p.next_round()
    assert client.post("/unbond", data={"amount": "400"}).status_code == 200
    assert client.post("/unbond", data={"amount": "100"}).status_code == 200
    locks = client.get("/unbondingLocks").json()
    assert [(lock["ID"], lock["Amount"]) for lock in locks] == [(0, 400), (1, 100)]
    assert client.get("/unbondingLocks?withdrawable=true").json() == []
    assert client.post("/rebond", data={"unbondingLockId": "1"}).status_code == 200
    assert p.BondingManager.getDelegator(account.address)[0] == 600
    p.advance_rounds(2)
    assert [lock["ID"] for lock in client.get("/unbondingLocks?withdrawable=true").json()] == [0]
    balance = p.LivepeerToken.balanceOf(account.address)
    assert client.post("/withdrawStake", data={"unbondingLockId": "0"}).status_code == 200
    assert p.LivepeerToken.balanceOf(account.address) == balance + 400


def test_gateway_broadcast_config_and_offchain_refusals():
    from node.gateway.node import GatewayNode

    gw = GatewayNode(["http://127.0.0.1:1"])
    with TestClient(create_cli_app(CliNode("gateway", gateway=gw, transcoding_options="P240p30fps16x9"))) as client:
        assert client.get("/getBroadcastConfig").json() == {"MaxPrice": None, "TranscodingOptions": "P240p30fps16x9"}
        r = client.post("/setBroadcastConfig", data={"maxPricePerUnit": "10"})
        assert (r.status_code, r.text) == (
            400, "missing form params (maxPricePerUnit AND pixelsPerUnit) or transcodingOptions\n")
        r = client.post("/setBroadcastConfig", data={"maxPricePerUnit": "10", "pixelsPerUnit": "4"})
        assert r.status_code == 200 and gw.max_price == Fraction(5, 2)
        assert client.get("/getBroadcastConfig").json()["MaxPrice"] == "5/2"
        r = client.post("/setBroadcastConfig", data={"maxPricePerUnit": "x", "pixelsPerUnit": "4"})
        assert (r.status_code, r.text) == (400, "Error parsing pricePerUnit value: x\n")
        assert client.post("/setBroadcastConfig", data={"maxPricePerUnit": "0", "pixelsPerUnit": "1"}).status_code == 200
        assert gw.max_price is None  # go: a price of 0 means any
        # go's mux: unknown paths, and a trailing slash, are 404 "404 page not found"
        for path in ("/nope", "/status/"):
            r = client.get(path, follow_redirects=False)
            assert (r.status_code, r.text) == (404, "404 page not found\n")
        assert client.get("/status").json()["OrchestratorPool"] == ["http://127.0.0.1:1"]
        assert client.get("/IsOrchestrator").text == "false"
        # offchain: go's mustHaveClient / mustHaveDb answers
        assert (client.post("/reward").status_code, client.post("/reward").text) == (500, "missing ETH client\n")
        assert client.get("/protocolParameters").text == "missing database\n"
        # mustHaveFormParams comes first
        assert client.post("/bond").text == "missing form param: amount\n"
        r = client.post("/setPriceForBroadcaster", data={"pricePerUnit": "1", "pixelsPerUnit": "1",
                                                          "broadcasterEthAddr": "default"})
        assert (r.status_code, r.text) == (400, "Node must be orchestrator node to set price for broadcaster\n")


def test_status_lists_remote_transcoders():
    from node.orchestrator.remote import RemoteTranscoder, RemoteTranscoders

    remote = RemoteTranscoders("secret", "http://127.0.0.1:8935")
    node = OrchestratorNode(OrchestratorConfig("http://127.0.0.1:8935"))
    with TestClient(create_cli_app(CliNode("orchestrator", orchestrator=node, remote=remote))) as client:
        assert client.get("/status").json()["LocalTranscoding"] is False
        remote.transcoders.append(RemoteTranscoder("10.0.0.2:40000", 3))
        status = client.get("/status").json()
        assert status["RegisteredTranscodersNumber"] == 1
        assert status["RegisteredTranscoders"] == [{"Address": "10.0.0.2:40000", "Capacity": 3}]


def test_activate_orchestrator_in_one_call(orch):
    client, p, account, node = orch
    form = {"blockRewardCut": "5", "feeShare": "90", "pricePerUnit": "10", "pixelsPerUnit": "2",
            "serviceURI": "https://a.example:8935", "amount": str(10 * LPT)}
    r = client.post("/activateOrchestrator", data={k: v for k, v in form.items() if k != "serviceURI"})
    assert (r.status_code, r.text) == (400, "missing form param: serviceURI\n")
    r = client.post("/activateOrchestrator", data=form)
    assert r.status_code == 200, r.text
    assert p.BondingManager.transcoderStatus(account.address) == 1
    assert p.BondingManager.getDelegator(account.address)[0] == 10 * LPT
    assert p.BondingManager.getTranscoder(account.address)[1:3] == (50_000, 900_000)
    assert p.ServiceRegistry.getServiceURI(account.address) == "https://a.example:8935"
    assert node.prices.base_price("default") == 5
    r = client.post("/activateOrchestrator", data=form)
    assert (r.status_code, r.text) == (400, "orchestrator already registered\n")


def test_a_chain_that_does_not_answer_is_go_s_500():
    from node.eth.errors import ChainUnavailable

    class Unreachable:  # every contract read fails as a dead JSON-RPC endpoint does
        def __getattr__(self, name):
            raise ChainUnavailable("http://127.0.0.1:1", "eth_call", "connection refused", maybe_delivered=False)

    class Account:
        address = "0x" + "11" * 20

    with TestClient(create_cli_app(CliNode("gateway", protocol=Unreachable(), account=Account()))) as client:
        r = client.get("/currentRound")
        assert (r.status_code, r.text) == (
            500, "could not query current round: chain RPC http://127.0.0.1:1 (eth_call): connection refused\n")
        assert client.get("/delegatorInfo").status_code == 500
        assert client.get("/status").status_code == 200  # the node's own state needs no chain
