#pragma version ~=0.4.3
"""
@title Controller
@notice Owner-controlled registry of protocol contracts plus a global pause switch
        (livepeer/protocol contracts/Controller.sol = Ownable + Pausable + registry).
        The system starts paused; the owner must unpause() before anything works.
        Owner checks and pause-state checks are bare reverts (no reason string), as in
        the reference zeppelin/Ownable.sol and zeppelin/Pausable.sol.
"""


interface IManager:
    def setController(_controller: address): nonpayable


struct ContractInfo:
    contractAddress: address
    gitCommitHash: bytes20


event SetContractInfo:
    id: bytes32
    contractAddress: address
    gitCommitHash: bytes20

event Pause:
    pass

event Unpause:
    pass

event OwnershipTransferred:
    previousOwner: indexed(address)
    newOwner: indexed(address)


owner: public(address)
paused: public(bool)
registry: HashMap[bytes32, ContractInfo]


@deploy
def __init__():
    self.owner = msg.sender
    self.paused = True


@internal
@view
def _only_owner():
    assert msg.sender == self.owner


@external
def setContractInfo(_id: bytes32, _contractAddress: address, _gitCommitHash: bytes20):
    self._only_owner()
    self.registry[_id] = ContractInfo(contractAddress=_contractAddress, gitCommitHash=_gitCommitHash)
    log SetContractInfo(id=_id, contractAddress=_contractAddress, gitCommitHash=_gitCommitHash)


@external
def updateController(_id: bytes32, _controller: address):
    """
    @notice Point the contract registered under `_id` at a new Controller.
            Reverts if nothing (or a non-contract) is registered under `_id`.
    """
    self._only_owner()
    extcall IManager(self.registry[_id].contractAddress).setController(_controller)


@external
@view
def getContractInfo(_id: bytes32) -> (address, bytes20):
    info: ContractInfo = self.registry[_id]
    return info.contractAddress, info.gitCommitHash


@external
@view
def getContract(_id: bytes32) -> address:
    return self.registry[_id].contractAddress


@external
def pause():
    self._only_owner()
    assert not self.paused
    self.paused = True
    log Pause()


@external
def unpause():
    self._only_owner()
    assert self.paused
    self.paused = False
    log Unpause()


@external
def transferOwnership(newOwner: address):
    self._only_owner()
    assert newOwner != empty(address)
    log OwnershipTransferred(previousOwner=self.owner, newOwner=newOwner)
    self.owner = newOwner
