#pragma version ~=0.4.3
"""
@title RoundsManager
@notice Protocol clock (livepeer/protocol contracts/rounds/RoundsManager.sol). A round is
        roundLength blocks; each round must be initialized once (initializeRound) which stores the
        previous block's hash for the round, snapshots the active stake
        (BondingManager.setCurrentRoundTotalActiveStake) and sets the Minter's mintable tokens
        (Minter.setCurrentRewardTokens). roundLockAmount uses the 1e6 percentage divisor.
"""


interface IController:
    def owner() -> address: view
    def paused() -> bool: view
    def getContract(_id: bytes32) -> address: view

interface IBondingManager:
    def setCurrentRoundTotalActiveStake(): nonpayable

interface IMinter:
    def setCurrentRewardTokens(): nonpayable


event SetController:
    controller: address

event ParameterUpdate:
    param: String[64]

event NewRound:
    round: indexed(uint256)
    blockHash: bytes32


PERC_DIVISOR: constant(uint256) = 1000000

# Manager base (ManagerProxyTarget layout: controller, targetContractId)
controller: public(address)
targetContractId: public(bytes32)

roundLength: public(uint256)
roundLockAmount: public(uint256)
lastInitializedRound: public(uint256)
lastRoundLengthUpdateRound: public(uint256)
lastRoundLengthUpdateStartBlock: public(uint256)
_blockHashForRound: HashMap[uint256, bytes32]
lipUpgradeRound: public(HashMap[uint256, uint256])


@deploy
def __init__(_controller: address):
    self.controller = _controller


# --- Manager base -------------------------------------------------------------------------

@external
def setController(_controller: address):
    assert msg.sender == self.controller, "caller must be Controller"
    self.controller = _controller
    log SetController(controller=_controller)


@internal
@view
def _only_controller_owner():
    assert msg.sender == staticcall IController(self.controller).owner(), "caller must be Controller owner"


@internal
@view
def _when_system_not_paused():
    assert not staticcall IController(self.controller).paused(), "system is paused"


@internal
@view
def _get_contract(_name: String[32]) -> address:
    return staticcall IController(self.controller).getContract(keccak256(_name))


# --- owner setters ---------------------------------------------------------------------------

@external
def setRoundLength(_roundLength: uint256):
    self._only_controller_owner()
    assert _roundLength > 0, "round length cannot be 0"
    if self.roundLength == 0:
        # first time: set the length first, then anchor to floor(block / length)
        self.roundLength = _roundLength
        self.lastRoundLengthUpdateRound = self._current_round()
        self.lastRoundLengthUpdateStartBlock = self._current_round_start_block()
    else:
        # later change: anchor with the OLD length, then switch
        self.lastRoundLengthUpdateRound = self._current_round()
        self.lastRoundLengthUpdateStartBlock = self._current_round_start_block()
        self.roundLength = _roundLength
    log ParameterUpdate(param="roundLength")


@external
def setRoundLockAmount(_roundLockAmount: uint256):
    self._only_controller_owner()
    assert _roundLockAmount <= PERC_DIVISOR, "round lock amount must be a valid percentage"
    self.roundLockAmount = _roundLockAmount
    log ParameterUpdate(param="roundLockAmount")


@external
def setLIPUpgradeRound(_lip: uint256, _round: uint256):
    self._only_controller_owner()
    assert self.lipUpgradeRound[_lip] == 0, "LIP upgrade round already set"
    self.lipUpgradeRound[_lip] = _round


# --- round initialization ------------------------------------------------------------------

@external
def initializeRound():
    self._when_system_not_paused()
    curr_round: uint256 = self._current_round()
    assert self.lastInitializedRound < curr_round, "round already initialized"
    self.lastInitializedRound = curr_round
    round_block_hash: bytes32 = self._block_hash(block.number - 1)
    self._blockHashForRound[curr_round] = round_block_hash
    # the BondingManager snapshot must come first: the Minter reads getTotalBonded()
    extcall IBondingManager(self._get_contract("BondingManager")).setCurrentRoundTotalActiveStake()
    extcall IMinter(self._get_contract("Minter")).setCurrentRewardTokens()
    log NewRound(round=curr_round, blockHash=round_block_hash)


# --- views -----------------------------------------------------------------------------------

@internal
@view
def _block_hash(_block: uint256) -> bytes32:
    current_block: uint256 = block.number
    assert _block < current_block, "can only retrieve past block hashes"
    assert current_block < 256 or _block >= current_block - 256, "can only retrieve hashes for last 256 blocks"
    return blockhash(_block)


@internal
@view
def _current_round() -> uint256:
    rounds_since_update: uint256 = (block.number - self.lastRoundLengthUpdateStartBlock) // self.roundLength
    return self.lastRoundLengthUpdateRound + rounds_since_update


@internal
@view
def _current_round_start_block() -> uint256:
    rounds_since_update: uint256 = (block.number - self.lastRoundLengthUpdateStartBlock) // self.roundLength
    return self.lastRoundLengthUpdateStartBlock + rounds_since_update * self.roundLength


@external
@view
def blockNum() -> uint256:
    return block.number


@external
@view
def blockHash(_block: uint256) -> bytes32:
    return self._block_hash(_block)


@external
@view
def blockHashForRound(_round: uint256) -> bytes32:
    return self._blockHashForRound[_round]


@external
@view
def currentRound() -> uint256:
    return self._current_round()


@external
@view
def currentRoundStartBlock() -> uint256:
    return self._current_round_start_block()


@external
@view
def currentRoundInitialized() -> bool:
    return self.lastInitializedRound == self._current_round()


@external
@view
def currentRoundLocked() -> bool:
    round_length: uint256 = self.roundLength
    locked_blocks: uint256 = round_length * self.roundLockAmount // PERC_DIVISOR
    return block.number - self._current_round_start_block() >= round_length - locked_blocks
