"""The gateway's on-chain orchestrator pool: the active set, ServiceRegistry URIs and go's stake
units, re-read when the round changes."""
from node.eth import LPT
from node.eth.orchestrator_pool import ChainOrchestratorPool, RegisteredOrchestrator, active_orchestrators, stake_units


def _register(protocol, account, stake_lpt: int, uri: str | None) -> None:
    protocol.approve_and_bond(account, stake_lpt * LPT, account.address)
    protocol.BondingManager.transcoder(0, 1_000_000, sender=account)
    if uri:
        protocol.ServiceRegistry.setServiceURI(uri, sender=account)


def test_stake_units_are_go_db_units():
    # go's orchestrator watcher test: 5,000 LPT is stored as 500,000,000 (LPT x 10^5)
    assert stake_units(5000 * 10**18) == 500_000_000
    assert stake_units(10**13 - 1) == 0


def test_active_orchestrators_with_uris_and_stakes(protocol, accounts):
    a, b, c = accounts[1:4]
    _register(protocol, a, 1000, "http://127.0.0.1:9001")
    _register(protocol, b, 2000, "http://127.0.0.1:9002")
    _register(protocol, c, 3000, None)  # bonded and in the pool, but no service URI: not discoverable
    assert active_orchestrators(protocol) == []  # they join the active set next round
    protocol.next_round()
    assert active_orchestrators(protocol) == [  # pool order: highest stake first
        RegisteredOrchestrator(b.address, "http://127.0.0.1:9002", 200_000_000),
        RegisteredOrchestrator(a.address, "http://127.0.0.1:9001", 100_000_000),
    ]


def test_pool_is_reread_when_the_round_changes(protocol, accounts):
    a, b = accounts[1:3]
    _register(protocol, a, 1000, "http://127.0.0.1:9001")
    protocol.next_round()
    pool = ChainOrchestratorPool(protocol)
    assert [m.address for m in pool.orchestrators()] == [a.address]
    _register(protocol, b, 500, "http://127.0.0.1:9002")  # joins during the round
    protocol.approve_and_bond(accounts[4], 500 * LPT, a.address)  # a delegator adds to a's stake
    assert [m.address for m in pool.orchestrators()] == [a.address]  # cached for the round
    protocol.next_round()
    members = pool.orchestrators()
    assert [(m.address, m.stake) for m in members] == [(a.address, 150_000_000), (b.address, 50_000_000)]


class _ReorderingPool:
    """A BondingManager whose list is re-sorted (b overtakes a) after the first hop of a walk."""

    def __init__(self):
        self.walks = 0
        self.order = ["0xA", "0xB", "0xC"]

    def getTranscoderPoolSize(self):
        return 3

    def getFirstTranscoderInPool(self):
        self.walks += 1
        return self.order[0]

    def getNextTranscoderInPool(self, address):
        if self.walks == 1 and address == "0xA":
            self.order = ["0xB", "0xA", "0xC"]  # a reward re-sorted the pool mid-walk
        i = self.order.index(address) + 1
        return self.order[i] if i < len(self.order) else ZERO


ZERO = "0x" + "00" * 20


def test_a_walk_spoiled_by_a_resort_is_done_again():
    from node.eth.orchestrator_pool import pool_members

    bm = _ReorderingPool()
    assert pool_members(bm) == ["0xB", "0xA", "0xC"]  # the first walk skipped 0xB and was redone
    assert bm.walks == 2
