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


# ETH recipients with code, for the 2,300-gas stipend of Minter.trustedWithdrawETH (Solidity's
# address.transfer: the recipient gets 2,300 gas whether the value is zero or not).

# Logs what it received and the gas it was left with: a little work, well under 2,300 gas.
LOGGING_RECIPIENT = """
#pragma version ~=0.4.3
event Received:
    amount: uint256
    gas: uint256

@external
@payable
def __default__():
    log Received(amount=msg.value, gas=msg.gas)
"""

# Counts in storage: a storage write needs more than 2,300 gas, so every transfer to it fails.
STORING_RECIPIENT = """
#pragma version ~=0.4.3
received: public(uint256)

@external
@payable
def __default__():
    self.received += 1
"""

# Refuses ETH with a reason, which the transfer passes up.
REFUSING_RECIPIENT = """
#pragma version ~=0.4.3
@external
@payable
def __default__():
    raise "recipient refuses ETH"
"""
