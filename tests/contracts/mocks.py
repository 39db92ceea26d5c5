"""Stand-in contracts for testing one protocol contract without the others."""
from node.eth.compiler import compile_source

# Records what RoundsManager/Minter ask of the BondingManager: the total it reports is set by
# the test (setPending then a round initialisation, or setTotalBonded directly).
MOCK_BONDING_MANAGER = """
#pragma version ~=0.4.3
pending: public(uint256)
totalBonded: public(uint256)
snapshots: public(uint256)

@external
def setPending(_x: uint256):
    self.pending = _x

@external
def setTotalBonded(_x: uint256):
    self.totalBonded = _x

@external
def setCurrentRoundTotalActiveStake():
    self.totalBonded = self.pending
    self.snapshots += 1

@external
@view
def getTotalBonded() -> uint256:
    return self.totalBonded
"""


def deploy_source(chain, name: str, source: str, *args, sender=None):
    return chain.deploy(compile_source(name, source), *args, sender=sender)
