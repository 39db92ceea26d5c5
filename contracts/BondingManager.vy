#pragma version ~=0.4.3
#pragma optimize codesize
"""
@title BondingManager
@notice Bonding/delegation of LPT, transcoder (orchestrator) registration, active-set maintenance, reward
        minting and lazy (LIP-36 cumulative-factor) distribution of LPT rewards and ETH fees, unbonding
        locks and fee withdrawal. ABI-compatible re-implementation of livepeer/protocol
        contracts/bonding/BondingManager.sol (snapshot f225b10), see docs spec §4-§6, §8, §11.

        Scope notes (deliberate differences from the Solidity contract):
        - BondingVotes is left out: no checkpoint calls are made anywhere. `checkpointBondingState(address)`
          exists only for ABI compatibility and is a no-op.
        - slashTranscoder is implemented as in the reference (deprecated; the Verifier is unset on mainnet,
          so it is only reachable once an address is registered under "Verifier").
        - No proxy: deployed directly and registered under "BondingManager". `targetContractId()` exists for ABI
          parity with the deployed BondingManagerTarget and returns zero, as the target contract itself does
          (only a ManagerProxy's storage holds the id).
        - The transcoder pool (SortedDoublyLL) is inlined. All list walks are bounded loops, so the pool
          size is capped at MAX_POOL_SIZE (256; mainnet uses 100): setNumActiveTranscoders also rejects
          sizes above it with "new max size exceeds MAX_POOL_SIZE" (checked after the reference check).
        - The L2Migrator exemption is kept: the migrator is getContract(keccak256("L2Migrator")) (zero if
          unregistered).
        Percent divisors: rewardCut/feeShare use 1e6 (MathUtils); cumulative factors and the treasury cut rate
        use 1e27 (PreciseMathUtils).
"""

# ------------------------------------------------------------------------------------------------
# Interfaces (looked up through the Controller at call time, never cached)
# ------------------------------------------------------------------------------------------------

interface IController:
    def owner() -> address: view
    def paused() -> bool: view
    def getContract(_id: bytes32) -> address: view

interface IMinter:
    def createReward(_fracNum: uint256, _fracDenom: uint256) -> uint256: nonpayable
    def trustedTransferTokens(_to: address, _amount: uint256): nonpayable
    def trustedBurnTokens(_amount: uint256): nonpayable
    def trustedWithdrawETH(_to: address, _amount: uint256): nonpayable
    def currentMintableTokens() -> uint256: view
    def currentMintedTokens() -> uint256: view

interface IRoundsManager:
    def currentRound() -> uint256: view
    def currentRoundInitialized() -> bool: view
    def currentRoundLocked() -> bool: view

interface ILivepeerToken:
    def transferFrom(_from: address, _to: address, _amount: uint256) -> bool: nonpayable
    def balanceOf(_account: address) -> uint256: view

# ------------------------------------------------------------------------------------------------
# Events (IBondingManager.sol + Manager)
# ------------------------------------------------------------------------------------------------

event TranscoderUpdate:
    transcoder: indexed(address)
    rewardCut: uint256
    feeShare: uint256

event TranscoderActivated:
    transcoder: indexed(address)
    activationRound: uint256

event TranscoderDeactivated:
    transcoder: indexed(address)
    deactivationRound: uint256

event TranscoderSlashed:
    transcoder: indexed(address)
    finder: address
    penalty: uint256
    finderReward: uint256

event Reward:
    transcoder: indexed(address)
    amount: uint256

event TreasuryReward:
    transcoder: indexed(address)
    treasury: address
    amount: uint256

event Bond:
    newDelegate: indexed(address)
    oldDelegate: indexed(address)
    delegator: indexed(address)
    additionalAmount: uint256
    bondedAmount: uint256

event Unbond:
    delegate: indexed(address)
    delegator: indexed(address)
    unbondingLockId: uint256
    amount: uint256
    withdrawRound: uint256

event Rebond:
    delegate: indexed(address)
    delegator: indexed(address)
    unbondingLockId: uint256
    amount: uint256

event TransferBond:
    oldDelegator: indexed(address)
    newDelegator: indexed(address)
    oldUnbondingLockId: uint256
    newUnbondingLockId: uint256
    amount: uint256

event WithdrawStake:
    delegator: indexed(address)
    unbondingLockId: uint256
    amount: uint256
    withdrawRound: uint256

event WithdrawFees:
    delegator: indexed(address)
    recipient: address
    amount: uint256

event EarningsClaimed:
    delegate: indexed(address)
    delegator: indexed(address)
    rewards: uint256
    fees: uint256
    startRound: uint256
    endRound: uint256

event ParameterUpdate:
    param: String[64]

event SetController:
    controller: address

# ------------------------------------------------------------------------------------------------
# Constants
# ------------------------------------------------------------------------------------------------

PERC_DIVISOR: constant(uint256) = 10**6  # MathUtils (rewardCut, feeShare)
ONE: constant(uint256) = 10**27  # PreciseMathUtils (cumulative factors, treasury cut)
MAX_FUTURE_ROUND: constant(uint256) = max_value(uint256)
# Loop bound of the inlined SortedDoublyLL: the pool can never hold more nodes than this.
MAX_POOL_SIZE: constant(uint256) = 256

# DelegatorStatus enum values (Solidity enum -> uint8 in the ABI)
PENDING: constant(uint8) = 0
BONDED: constant(uint8) = 1
UNBONDED: constant(uint8) = 2

ID_MINTER: constant(bytes32) = keccak256("Minter")
ID_ROUNDS_MANAGER: constant(bytes32) = keccak256("RoundsManager")
ID_TOKEN: constant(bytes32) = keccak256("LivepeerToken")
ID_TICKET_BROKER: constant(bytes32) = keccak256("TicketBroker")
ID_TREASURY: constant(bytes32) = keccak256("Treasury")
ID_L2_MIGRATOR: constant(bytes32) = keccak256("L2Migrator")
ID_VERIFIER: constant(bytes32) = keccak256("Verifier")

# ------------------------------------------------------------------------------------------------
# Storage
# ------------------------------------------------------------------------------------------------

struct Delegator:
    bondedAmount: uint256
    fees: uint256
    delegateAddress: address
    delegatedAmount: uint256
    startRound: uint256
    lastClaimRound: uint256
    nextUnbondingLockId: uint256

struct UnbondingLock:
    amount: uint256
    withdrawRound: uint256

struct Transcoder:
    lastRewardRound: uint256
    rewardCut: uint256
    feeShare: uint256
    lastActiveStakeUpdateRound: uint256
    activationRound: uint256
    deactivationRound: uint256
    activeCumulativeRewards: uint256
    cumulativeRewards: uint256
    cumulativeFees: uint256
    lastFeeRound: uint256

struct EarningsPool:
    totalStake: uint256
    transcoderRewardCut: uint256
    transcoderFeeShare: uint256
    cumulativeRewardFactor: uint256
    cumulativeFeeFactor: uint256

struct Node:
    key: uint256
    nextId: address
    prevId: address

# Manager base
controller: public(address)
# ManagerProxyTarget storage slot: never set here (see the header)
targetContractId: public(bytes32)

unbondingPeriod: public(uint64)

delegators: HashMap[address, Delegator]
unbondingLocks: HashMap[address, HashMap[uint256, UnbondingLock]]
transcoders: HashMap[address, Transcoder]
earningsPools: HashMap[address, HashMap[uint256, EarningsPool]]

currentRoundTotalActiveStake: public(uint256)
nextRoundTotalActiveStake: public(uint256)

# transcoder pool (SortedDoublyLL, descending by key = delegated stake)
poolHead: address
poolTail: address
poolMaxSize: uint256
poolSize: uint256
poolNodes: HashMap[address, Node]

treasuryRewardCutRate: public(uint256)
nextRoundTreasuryRewardCutRate: public(uint256)
treasuryBalanceCeiling: public(uint256)


@deploy
def __init__(_controller: address):
    self.controller = _controller


# ------------------------------------------------------------------------------------------------
# Manager base / guards
# ------------------------------------------------------------------------------------------------

@external
def setController(_controller: address):
    assert msg.sender == self.controller, "caller must be Controller"
    self.controller = _controller
    log SetController(controller=_controller)


@internal
@view
def _get(_id: bytes32) -> address:
    return staticcall IController(self.controller).getContract(_id)


@internal
@view
def _currentRound() -> uint256:
    return staticcall IRoundsManager(self._get(ID_ROUNDS_MANAGER)).currentRound()


@internal
@view
def _onlyControllerOwner():
    assert msg.sender == staticcall IController(self.controller).owner(), "caller must be Controller owner"


@internal
@view
def _whenSystemNotPaused():
    assert not staticcall IController(self.controller).paused(), "system is paused"


@internal
@view
def _guard() -> uint256:
    # whenSystemNotPaused + currentRoundInitialized, in that order; returns the current round
    self._whenSystemNotPaused()
    rm: IRoundsManager = IRoundsManager(self._get(ID_ROUNDS_MANAGER))
    assert staticcall rm.currentRoundInitialized(), "current round is not initialized"
    return staticcall rm.currentRound()


@internal
@view
def _minter() -> IMinter:
    return IMinter(self._get(ID_MINTER))


# ------------------------------------------------------------------------------------------------
# Owner setters
# ------------------------------------------------------------------------------------------------

@external
def setUnbondingPeriod(_unbondingPeriod: uint64):
    self._onlyControllerOwner()
    self.unbondingPeriod = _unbondingPeriod
    log ParameterUpdate(param="unbondingPeriod")


@external
def setTreasuryRewardCutRate(_cutRate: uint256):
    self._onlyControllerOwner()
    self._setTreasuryRewardCutRate(_cutRate)


@external
def setTreasuryBalanceCeiling(_ceiling: uint256):
    self._onlyControllerOwner()
    self.treasuryBalanceCeiling = _ceiling
    log ParameterUpdate(param="treasuryBalanceCeiling")


@external
def setNumActiveTranscoders(_numActiveTranscoders: uint256):
    self._onlyControllerOwner()
    assert _numActiveTranscoders > self.poolMaxSize, "new max size must be greater than old max size"
    assert _numActiveTranscoders <= MAX_POOL_SIZE, "new max size exceeds MAX_POOL_SIZE"
    self.poolMaxSize = _numActiveTranscoders
    log ParameterUpdate(param="numActiveTranscoders")


@internal
def _setTreasuryRewardCutRate(_cutRate: uint256):
    assert _cutRate <= ONE, "_cutRate is invalid precise percentage"
    self.nextRoundTreasuryRewardCutRate = _cutRate
    log ParameterUpdate(param="nextRoundTreasuryRewardCutRate")


# ------------------------------------------------------------------------------------------------
# Round hook
# ------------------------------------------------------------------------------------------------

@external
def setCurrentRoundTotalActiveStake():
    assert msg.sender == self._get(ID_ROUNDS_MANAGER), "caller must be RoundsManager"
    self.currentRoundTotalActiveStake = self.nextRoundTotalActiveStake
    nextRate: uint256 = self.nextRoundTreasuryRewardCutRate
    if nextRate != self.treasuryRewardCutRate:
        self.treasuryRewardCutRate = nextRate
        log ParameterUpdate(param="treasuryRewardCutRate")
    # BondingVotes.checkpointTotalActiveStake is omitted (BondingVotes out of scope)


# ------------------------------------------------------------------------------------------------
# Transcoder registration
# ------------------------------------------------------------------------------------------------

@external
def transcoder(_rewardCut: uint256, _feeShare: uint256):
    self._transcoder(_rewardCut, _feeShare, empty(address), empty(address))


@external
def transcoderWithHint(_rewardCut: uint256, _feeShare: uint256, _newPosPrev: address, _newPosNext: address):
    self._transcoder(_rewardCut, _feeShare, _newPosPrev, _newPosNext)


@internal
def _transcoder(_rewardCut: uint256, _feeShare: uint256, _newPosPrev: address, _newPosNext: address):
    cr: uint256 = self._guard()
    locked: bool = staticcall IRoundsManager(self._get(ID_ROUNDS_MANAGER)).currentRoundLocked()
    assert not locked, "can't update transcoder params, current round is locked"
    assert _rewardCut <= PERC_DIVISOR, "invalid rewardCut percentage"
    assert _feeShare <= PERC_DIVISOR, "invalid feeShare percentage"
    assert self._isRegisteredTranscoder(msg.sender), "transcoder must be registered"
    assert (not self._isActiveTranscoder(msg.sender, cr)) or self.transcoders[msg.sender].lastRewardRound == cr, \
        "caller can't be active or must have already called reward for the current round"

    self.transcoders[msg.sender].rewardCut = _rewardCut
    self.transcoders[msg.sender].feeShare = _feeShare

    if not self._poolContains(msg.sender):
        self._tryToJoinActiveSet(msg.sender, self.delegators[msg.sender].delegatedAmount, cr + 1, _newPosPrev, _newPosNext)

    log TranscoderUpdate(transcoder=msg.sender, rewardCut=_rewardCut, feeShare=_feeShare)


# ------------------------------------------------------------------------------------------------
# Bonding
# ------------------------------------------------------------------------------------------------

@external
def bond(_amount: uint256, _to: address):
    self._bondFor(_amount, msg.sender, _to, empty(address), empty(address), empty(address), empty(address))


@external
def bondWithHint(
    _amount: uint256,
    _to: address,
    _oldDelegateNewPosPrev: address,
    _oldDelegateNewPosNext: address,
    _currDelegateNewPosPrev: address,
    _currDelegateNewPosNext: address,
):
    self._bondFor(
        _amount, msg.sender, _to, _oldDelegateNewPosPrev, _oldDelegateNewPosNext, _currDelegateNewPosPrev, _currDelegateNewPosNext
    )


@external
def bondForWithHint(
    _amount: uint256,
    _owner: address,
    _to: address,
    _oldDelegateNewPosPrev: address,
    _oldDelegateNewPosNext: address,
    _currDelegateNewPosPrev: address,
    _currDelegateNewPosNext: address,
):
    self._bondFor(
        _amount, _owner, _to, _oldDelegateNewPosPrev, _oldDelegateNewPosNext, _currDelegateNewPosPrev, _currDelegateNewPosNext
    )


@internal
def _bondFor(
    _amount: uint256,
    _owner: address,
    _to: address,
    _oldPrev: address,
    _oldNext: address,
    _currPrev: address,
    _currNext: address,
):
    cr: uint256 = self._guard()
    self._authorizeClaimEarnings(_owner, cr)
    self._autoClaimEarnings(_owner, cr)

    delegationAmount: uint256 = _amount
    currentDelegate: address = self.delegators[_owner].delegateAddress
    currentBondedAmount: uint256 = self.delegators[_owner].bondedAmount
    unbonded: bool = currentBondedAmount == 0

    # Requirements for a third-party caller that is not the L2Migrator
    if msg.sender != _owner and msg.sender != self._get(ID_L2_MIGRATOR):
        assert _owner != empty(address), "INVALID_DELEGATOR"
        if unbonded:
            # no forced self-delegation
            assert _to != _owner, "INVALID_DELEGATE"
        else:
            # third parties can only top up the existing delegation
            assert currentDelegate == _to, "INVALID_DELEGATE_CHANGE"

    if unbonded:
        self.delegators[_owner].startRound = cr + 1
    elif currentDelegate != _to:
        # changing delegate (keyed on bondedAmount > 0, which holds here, not on delegate != 0)
        assert not self._isRegisteredTranscoder(_owner), "registered transcoders can't delegate towards other addresses"
        self.delegators[_owner].startRound = cr + 1
        delegationAmount += currentBondedAmount
        self._decreaseTotalStake(currentDelegate, currentBondedAmount, _oldPrev, _oldNext, cr)

    self._ensureInitializedCumulativeFactorsPool(_to, cr)

    assert delegationAmount > 0, "delegation amount must be greater than 0"
    self.delegators[_owner].delegateAddress = _to
    newBonded: uint256 = currentBondedAmount + _amount
    self.delegators[_owner].bondedAmount = newBonded

    self._increaseTotalStake(_to, delegationAmount, _currPrev, _currNext, cr)

    if _amount > 0:
        # the CALLER pays
        extcall ILivepeerToken(self._get(ID_TOKEN)).transferFrom(msg.sender, self._get(ID_MINTER), _amount)

    log Bond(newDelegate=_to, oldDelegate=currentDelegate, delegator=_owner, additionalAmount=_amount, bondedAmount=newBonded)


@external
def transferBond(
    _delegator: address,
    _amount: uint256,
    _oldDelegateNewPosPrev: address,
    _oldDelegateNewPosNext: address,
    _newDelegateNewPosPrev: address,
    _newDelegateNewPosNext: address,
):
    cr: uint256 = self._guard()
    self._authorizeClaimEarnings(_delegator, cr)
    self._autoClaimEarnings(msg.sender, cr)
    # cached before the unbond, which nulls the delegate on a full unbond
    oldDelDelegate: address = self.delegators[msg.sender].delegateAddress

    self._unbond(_amount, _oldDelegateNewPosPrev, _oldDelegateNewPosNext, cr)

    oldId: uint256 = self.delegators[msg.sender].nextUnbondingLockId - 1
    withdrawRound: uint256 = self.unbondingLocks[msg.sender][oldId].withdrawRound
    self.unbondingLocks[msg.sender][oldId] = empty(UnbondingLock)

    newId: uint256 = self.delegators[_delegator].nextUnbondingLockId
    self.unbondingLocks[_delegator][newId] = UnbondingLock(amount=_amount, withdrawRound=withdrawRound)
    self.delegators[_delegator].nextUnbondingLockId = newId + 1

    log TransferBond(
        oldDelegator=msg.sender, newDelegator=_delegator, oldUnbondingLockId=oldId, newUnbondingLockId=newId, amount=_amount
    )

    # claim the receiver's earnings before rebonding into it
    self._autoClaimEarnings(_delegator, cr)

    if self.delegators[_delegator].delegateAddress == empty(address) and self.delegators[_delegator].bondedAmount == 0:
        assert oldDelDelegate != _delegator, "INVALID_DELEGATOR"
        assert _delegator != empty(address), "INVALID_DELEGATOR"
        self.delegators[_delegator].delegateAddress = oldDelDelegate

    if self.delegators[_delegator].bondedAmount == 0:
        self.delegators[_delegator].startRound = cr + 1

    self._processRebond(_delegator, newId, _newDelegateNewPosPrev, _newDelegateNewPosNext, cr)


@external
def unbond(_amount: uint256):
    cr: uint256 = self._guard()
    self._unbond(_amount, empty(address), empty(address), cr)


@external
def unbondWithHint(_amount: uint256, _newPosPrev: address, _newPosNext: address):
    cr: uint256 = self._guard()
    self._unbond(_amount, _newPosPrev, _newPosNext, cr)


@internal
def _unbond(_amount: uint256, _newPosPrev: address, _newPosNext: address, cr: uint256):
    self._autoClaimEarnings(msg.sender, cr)
    assert self._delegatorStatus(msg.sender, cr) == BONDED, "caller must be bonded"
    assert _amount > 0, "unbond amount must be greater than 0"
    bonded: uint256 = self.delegators[msg.sender].bondedAmount
    assert _amount <= bonded, "amount is greater than bonded amount"

    currentDelegate: address = self.delegators[msg.sender].delegateAddress
    withdrawRound: uint256 = cr + convert(self.unbondingPeriod, uint256)
    lockId: uint256 = self.delegators[msg.sender].nextUnbondingLockId

    self.unbondingLocks[msg.sender][lockId] = UnbondingLock(amount=_amount, withdrawRound=withdrawRound)
    self.delegators[msg.sender].nextUnbondingLockId = lockId + 1
    bonded -= _amount
    self.delegators[msg.sender].bondedAmount = bonded

    if bonded == 0:
        self.delegators[msg.sender].delegateAddress = empty(address)
        self.delegators[msg.sender].startRound = 0
        if self._poolContains(msg.sender):
            self._resignTranscoder(msg.sender, cr)

    # if the caller was resigned this only decreases its delegatedAmount
    self._decreaseTotalStake(currentDelegate, _amount, _newPosPrev, _newPosNext, cr)

    log Unbond(delegate=currentDelegate, delegator=msg.sender, unbondingLockId=lockId, amount=_amount, withdrawRound=withdrawRound)


@external
def rebond(_unbondingLockId: uint256):
    self._rebond(_unbondingLockId, empty(address), empty(address))


@external
def rebondWithHint(_unbondingLockId: uint256, _newPosPrev: address, _newPosNext: address):
    self._rebond(_unbondingLockId, _newPosPrev, _newPosNext)


@internal
def _rebond(_unbondingLockId: uint256, _newPosPrev: address, _newPosNext: address):
    cr: uint256 = self._guard()
    self._autoClaimEarnings(msg.sender, cr)
    assert self.delegators[msg.sender].bondedAmount != 0, "caller must be bonded"
    self._processRebond(msg.sender, _unbondingLockId, _newPosPrev, _newPosNext, cr)


@external
def rebondFromUnbonded(_to: address, _unbondingLockId: uint256):
    self._rebondFromUnbonded(_to, _unbondingLockId, empty(address), empty(address))


@external
def rebondFromUnbondedWithHint(_to: address, _unbondingLockId: uint256, _newPosPrev: address, _newPosNext: address):
    self._rebondFromUnbonded(_to, _unbondingLockId, _newPosPrev, _newPosNext)


@internal
def _rebondFromUnbonded(_to: address, _unbondingLockId: uint256, _newPosPrev: address, _newPosNext: address):
    cr: uint256 = self._guard()
    self._autoClaimEarnings(msg.sender, cr)
    assert self.delegators[msg.sender].bondedAmount == 0, "caller must be unbonded"
    # security-critical (spec §11.2 item 2): start pool of `to` must carry its latest factors
    self._ensureInitializedCumulativeFactorsPool(_to, cr)
    self.delegators[msg.sender].startRound = cr + 1
    self.delegators[msg.sender].delegateAddress = _to
    self._processRebond(msg.sender, _unbondingLockId, _newPosPrev, _newPosNext, cr)


@internal
def _processRebond(_delegator: address, _unbondingLockId: uint256, _newPosPrev: address, _newPosNext: address, cr: uint256):
    lock: UnbondingLock = self.unbondingLocks[_delegator][_unbondingLockId]
    assert lock.withdrawRound > 0, "invalid unbonding lock ID"
    self.delegators[_delegator].bondedAmount += lock.amount
    self.unbondingLocks[_delegator][_unbondingLockId] = empty(UnbondingLock)
    delegate: address = self.delegators[_delegator].delegateAddress
    self._increaseTotalStake(delegate, lock.amount, _newPosPrev, _newPosNext, cr)
    log Rebond(delegate=delegate, delegator=_delegator, unbondingLockId=_unbondingLockId, amount=lock.amount)


@external
def withdrawStake(_unbondingLockId: uint256):
    cr: uint256 = self._guard()
    lock: UnbondingLock = self.unbondingLocks[msg.sender][_unbondingLockId]
    assert lock.withdrawRound > 0, "invalid unbonding lock ID"
    assert lock.withdrawRound <= cr, "withdraw round must be before or equal to the current round"
    self.unbondingLocks[msg.sender][_unbondingLockId] = empty(UnbondingLock)
    extcall self._minter().trustedTransferTokens(msg.sender, lock.amount)
    log WithdrawStake(delegator=msg.sender, unbondingLockId=_unbondingLockId, amount=lock.amount, withdrawRound=lock.withdrawRound)


@external
def withdrawFees(_recipient: address, _amount: uint256):
    cr: uint256 = self._guard()
    self._autoClaimEarnings(msg.sender, cr)
    assert _recipient != empty(address), "invalid recipient"
    fees: uint256 = self.delegators[msg.sender].fees
    assert fees >= _amount, "insufficient fees to withdraw"
    self.delegators[msg.sender].fees = fees - _amount
    extcall self._minter().trustedWithdrawETH(_recipient, _amount)
    log WithdrawFees(delegator=msg.sender, recipient=_recipient, amount=_amount)


@external
def claimEarnings(_endRound: uint256):
    # _endRound is ignored: earnings are always claimed through the current round
    cr: uint256 = self._guard()
    self._autoClaimEarnings(msg.sender, cr)


@external
def checkpointBondingState(_account: address):
    # No-op: BondingVotes is out of scope for this testbed; kept for ABI compatibility.
    pass


# ------------------------------------------------------------------------------------------------
# Rewards and fees
# ------------------------------------------------------------------------------------------------

@external
def reward():
    self._reward(empty(address), empty(address))


@external
def rewardWithHint(_newPosPrev: address, _newPosNext: address):
    self._reward(_newPosPrev, _newPosNext)


@internal
def _reward(_newPosPrev: address, _newPosNext: address):
    cr: uint256 = self._guard()
    assert self._isActiveTranscoder(msg.sender, cr), "caller must be an active transcoder"
    t: Transcoder = self.transcoders[msg.sender]
    assert t.lastRewardRound != cr, "caller has already called reward for the current round"

    # snapshot commission rates (and stake, if not written since) into the current round's pool
    self.earningsPools[msg.sender][cr].transcoderRewardCut = t.rewardCut
    self.earningsPools[msg.sender][cr].transcoderFeeShare = t.feeShare
    if t.lastActiveStakeUpdateRound < cr:
        self.earningsPools[msg.sender][cr].totalStake = self.earningsPools[msg.sender][t.lastActiveStakeUpdateRound].totalStake

    # treasury ceiling: stop contributions from the next round on
    ceiling: uint256 = self.treasuryBalanceCeiling
    if ceiling > 0:
        treasuryBalance: uint256 = staticcall ILivepeerToken(self._get(ID_TOKEN)).balanceOf(self._get(ID_TREASURY))
        if treasuryBalance >= ceiling and self.nextRoundTreasuryRewardCutRate > 0:
            self._setTreasuryRewardCutRate(0)

    mtr: IMinter = self._minter()
    totalRewardTokens: uint256 = extcall mtr.createReward(
        self.earningsPools[msg.sender][cr].totalStake, self.currentRoundTotalActiveStake
    )
    treasuryRewards: uint256 = totalRewardTokens * self.treasuryRewardCutRate // ONE
    if treasuryRewards > 0:
        trsry: address = self._get(ID_TREASURY)
        extcall mtr.trustedTransferTokens(trsry, treasuryRewards)
        log TreasuryReward(transcoder=msg.sender, treasury=trsry, amount=treasuryRewards)

    transcoderRewards: uint256 = totalRewardTokens - treasuryRewards

    self._updateTranscoderWithRewards(msg.sender, transcoderRewards, cr, _newPosPrev, _newPosNext)

    self.transcoders[msg.sender].lastRewardRound = cr
    log Reward(transcoder=msg.sender, amount=transcoderRewards)


@internal
def _updateTranscoderWithRewards(_transcoder: address, _rewards: uint256, cr: uint256, _newPosPrev: address, _newPosNext: address):
    prevCRF: uint256 = self.earningsPools[_transcoder][self.transcoders[_transcoder].lastRewardRound].cumulativeRewardFactor
    acr: uint256 = self.transcoders[_transcoder].cumulativeRewards
    self.transcoders[_transcoder].activeCumulativeRewards = acr

    totalStake: uint256 = self.earningsPools[_transcoder][cr].totalStake
    commission: uint256 = _rewards * self.earningsPools[_transcoder][cr].transcoderRewardCut // PERC_DIVISOR
    delegatorsRewards: uint256 = _rewards - commission
    # rewards earned by the transcoder's own unclaimed (compounding) rewards
    rewardStakeRewards: uint256 = self._ppOf(delegatorsRewards, acr, totalStake)
    self.transcoders[_transcoder].cumulativeRewards = acr + rewardStakeRewards + commission

    if prevCRF == 0:
        prevCRF = ONE
    self.earningsPools[_transcoder][cr].cumulativeRewardFactor = prevCRF + self._ppOf(prevCRF, delegatorsRewards, totalStake)

    self._increaseTotalStake(_transcoder, _rewards, _newPosPrev, _newPosNext, cr)


@external
def updateTranscoderWithFees(_transcoder: address, _fees: uint256, _round: uint256):
    # _round is ignored (LIP-36): fees are always booked in the current round
    self._whenSystemNotPaused()
    assert msg.sender == self._get(ID_TICKET_BROKER), "caller must be TicketBroker"
    assert self._isRegisteredTranscoder(_transcoder), "transcoder must be registered"

    cr: uint256 = self._currentRound()
    t: Transcoder = self.transcoders[_transcoder]
    acr: uint256 = t.activeCumulativeRewards

    prevCRF: uint256 = 0
    prevCFF: uint256 = 0
    prevCRF, prevCFF = self._latestCumulativeFactors(_transcoder, cr - 1)

    if cr > t.lastRewardRound:
        # reward() not called yet this round: snapshot commission rates and stake now
        self.earningsPools[_transcoder][cr].transcoderRewardCut = t.rewardCut
        self.earningsPools[_transcoder][cr].transcoderFeeShare = t.feeShare
        if t.lastActiveStakeUpdateRound < cr:
            self.earningsPools[_transcoder][cr].totalStake = self.earningsPools[_transcoder][t.lastActiveStakeUpdateRound].totalStake
        acr = t.cumulativeRewards

    pool: EarningsPool = self.earningsPools[_transcoder][cr]

    if prevCRF == 0 and t.lastRewardRound == cr:
        # reward() called this round but no earlier factor visible: reconstruct the previous CRF
        mtr: IMinter = self._minter()
        rewards: uint256 = self._ppOf(
            staticcall mtr.currentMintableTokens() + staticcall mtr.currentMintedTokens(),
            pool.totalStake,
            self.currentRoundTotalActiveStake,
        )
        rewards -= rewards * self.treasuryRewardCutRate // ONE  # 1e27 divisor (audit H-01)
        dr: uint256 = rewards - rewards * pool.transcoderRewardCut // PERC_DIVISOR
        prevCRF = self._ppOf(pool.cumulativeRewardFactor, pool.totalStake, dr + pool.totalStake)

    delegatorsFees: uint256 = _fees * pool.transcoderFeeShare // PERC_DIVISOR
    commissionFees: uint256 = _fees - delegatorsFees
    rewardStakeFees: uint256 = self._ppOf(delegatorsFees, acr, pool.totalStake)
    self.transcoders[_transcoder].cumulativeFees = t.cumulativeFees + rewardStakeFees + commissionFees

    if prevCRF == 0:
        prevCRF = ONE
    term: uint256 = self._ppOf(prevCRF, delegatorsFees, pool.totalStake)
    if pool.cumulativeFeeFactor == 0:
        self.earningsPools[_transcoder][cr].cumulativeFeeFactor = prevCFF + term
    else:
        self.earningsPools[_transcoder][cr].cumulativeFeeFactor = pool.cumulativeFeeFactor + term

    self.transcoders[_transcoder].lastFeeRound = cr


@external
def slashTranscoder(_transcoder: address, _finder: address, _slashAmount: uint256, _finderFee: uint256):
    # deprecated in the reference (Verifier unset on mainnet); kept for completeness
    self._whenSystemNotPaused()
    assert msg.sender == self._get(ID_VERIFIER), "caller must be Verifier"
    cr: uint256 = self._currentRound()
    self._autoClaimEarnings(_transcoder, cr)

    bonded: uint256 = self.delegators[_transcoder].bondedAmount
    if bonded == 0:
        log TranscoderSlashed(transcoder=_transcoder, finder=_finder, penalty=0, finderReward=0)
        return

    penalty: uint256 = bonded * _slashAmount // PERC_DIVISOR
    if self._poolContains(_transcoder):
        self._resignTranscoder(_transcoder, cr)
    self.delegators[_transcoder].bondedAmount = bonded - penalty
    if self._delegatorStatus(_transcoder, cr) == BONDED:
        delegate: address = self.delegators[_transcoder].delegateAddress
        self.delegators[delegate].delegatedAmount -= penalty

    mtr: IMinter = self._minter()
    finderAmount: uint256 = 0
    if _finder != empty(address):
        finderAmount = penalty * _finderFee // PERC_DIVISOR
        extcall mtr.trustedTransferTokens(_finder, finderAmount)
    extcall mtr.trustedBurnTokens(penalty - finderAmount)
    log TranscoderSlashed(transcoder=_transcoder, finder=_finder, penalty=penalty, finderReward=finderAmount)


# ------------------------------------------------------------------------------------------------
# Earnings (LIP-36)
# ------------------------------------------------------------------------------------------------

@internal
@pure
def _ppOf(_a: uint256, _num: uint256, _den: uint256) -> uint256:
    # PreciseMathUtils.percOf(a, num, den): ratio floored first, then applied
    return _a * (_num * ONE // _den) // ONE


@internal
@view
def _latestCumulativeFactors(_transcoder: address, _round: uint256) -> (uint256, uint256):
    crf: uint256 = self.earningsPools[_transcoder][_round].cumulativeRewardFactor
    cff: uint256 = self.earningsPools[_transcoder][_round].cumulativeFeeFactor
    lastRewardRound: uint256 = self.transcoders[_transcoder].lastRewardRound
    if crf == 0 and lastRewardRound < _round:
        crf = self.earningsPools[_transcoder][lastRewardRound].cumulativeRewardFactor
    lastFeeRound: uint256 = self.transcoders[_transcoder].lastFeeRound
    if cff == 0 and lastFeeRound < _round:
        cff = self.earningsPools[_transcoder][lastFeeRound].cumulativeFeeFactor
    return crf, cff


@internal
def _ensureInitializedCumulativeFactorsPool(_transcoder: address, _round: uint256):
    if self.earningsPools[_transcoder][_round].cumulativeRewardFactor == 0:
        lastRewardRound: uint256 = self.transcoders[_transcoder].lastRewardRound
        if lastRewardRound < _round:
            self.earningsPools[_transcoder][_round].cumulativeRewardFactor = self.earningsPools[_transcoder][lastRewardRound].cumulativeRewardFactor
    if self.earningsPools[_transcoder][_round].cumulativeFeeFactor == 0:
        lastFeeRound: uint256 = self.transcoders[_transcoder].lastFeeRound
        if lastFeeRound < _round:
            self.earningsPools[_transcoder][_round].cumulativeFeeFactor = self.earningsPools[_transcoder][lastFeeRound].cumulativeFeeFactor


@internal
@view
def _pendingStakeAndFees(_delegator: address, _endRound: uint256) -> (uint256, uint256):
    d: Delegator = self.delegators[_delegator]
    stake: uint256 = d.bondedAmount
    fees: uint256 = d.fees

    if d.lastClaimRound + 1 <= _endRound:
        startCRF: uint256 = self.earningsPools[d.delegateAddress][d.lastClaimRound].cumulativeRewardFactor
        startCFF: uint256 = self.earningsPools[d.delegateAddress][d.lastClaimRound].cumulativeFeeFactor
        endCRF: uint256 = 0
        endCFF: uint256 = 0
        endCRF, endCFF = self._latestCumulativeFactors(d.delegateAddress, _endRound)
        if startCRF == 0:
            startCRF = ONE
        if endCRF == 0:
            endCRF = ONE
        stake = self._ppOf(d.bondedAmount, endCRF, startCRF)
        fees = d.fees + self._ppOf(d.bondedAmount, endCFF - startCFF, startCRF)

    if _delegator == d.delegateAddress:
        stake += self.transcoders[_delegator].cumulativeRewards
        fees += self.transcoders[_delegator].cumulativeFees

    return stake, fees


@internal
def _autoClaimEarnings(_delegator: address, cr: uint256):
    lastClaimRound: uint256 = self.delegators[_delegator].lastClaimRound
    if lastClaimRound < cr:
        self._updateDelegatorWithEarnings(_delegator, cr, lastClaimRound)


@internal
def _updateDelegatorWithEarnings(_delegator: address, _endRound: uint256, _lastClaimRound: uint256):
    delegate: address = self.delegators[_delegator].delegateAddress
    oldBonded: uint256 = self.delegators[_delegator].bondedAmount
    oldFees: uint256 = self.delegators[_delegator].fees
    newBonded: uint256 = oldBonded
    newFees: uint256 = oldFees

    if delegate != empty(address):
        newBonded, newFees = self._pendingStakeAndFees(_delegator, _endRound)
        self._ensureInitializedCumulativeFactorsPool(delegate, _endRound)
        if delegate == _delegator:
            self.transcoders[delegate].cumulativeFees = 0
            self.transcoders[delegate].cumulativeRewards = 0
            # activeCumulativeRewards is left alone: the next reward() resets it

    log EarningsClaimed(
        delegate=delegate,
        delegator=_delegator,
        rewards=newBonded - oldBonded,
        fees=newFees - oldFees,
        startRound=_lastClaimRound + 1,
        endRound=_endRound,
    )

    self.delegators[_delegator].lastClaimRound = _endRound
    self.delegators[_delegator].bondedAmount = newBonded
    self.delegators[_delegator].fees = newFees


@internal
@view
def _authorizeClaimEarnings(_owner: address, cr: uint256):
    # third-party claim guard (rewards griefing fix)
    if msg.sender == _owner or self.delegators[_owner].bondedAmount == 0:
        return
    if msg.sender == self._get(ID_L2_MIGRATOR):
        return
    delegate: address = self.delegators[_owner].delegateAddress
    if not self._isActiveTranscoder(delegate, cr):
        return
    assert self.transcoders[delegate].lastRewardRound == cr or self.delegators[_owner].lastClaimRound == cr, \
        "ILLEGAL_CLAIM_EARNINGS"


# ------------------------------------------------------------------------------------------------
# Stake accounting / active set
# ------------------------------------------------------------------------------------------------

@internal
def _increaseTotalStake(_delegate: address, _amount: uint256, _newPosPrev: address, _newPosNext: address, cr: uint256):
    currStake: uint256 = self.delegators[_delegate].delegatedAmount
    newStake: uint256 = currStake + _amount

    if self._isRegisteredTranscoder(_delegate):
        if self._poolContains(_delegate):
            self._poolUpdateKey(_delegate, newStake, _newPosPrev, _newPosNext)
            self.nextRoundTotalActiveStake += _amount
            self._writeActiveStake(_delegate, currStake, newStake, cr)
        else:
            self._tryToJoinActiveSet(_delegate, newStake, cr + 1, _newPosPrev, _newPosNext)

    self.delegators[_delegate].delegatedAmount = newStake


@internal
def _decreaseTotalStake(_delegate: address, _amount: uint256, _newPosPrev: address, _newPosNext: address, cr: uint256):
    currStake: uint256 = self.delegators[_delegate].delegatedAmount
    newStake: uint256 = currStake - _amount

    if self._poolContains(_delegate):
        self._poolUpdateKey(_delegate, newStake, _newPosPrev, _newPosNext)
        self.nextRoundTotalActiveStake -= _amount
        self._writeActiveStake(_delegate, currStake, newStake, cr)

    self.delegators[_delegate].delegatedAmount = newStake


@internal
def _writeActiveStake(_delegate: address, _currStake: uint256, _newStake: uint256, cr: uint256):
    # freeze the current round's active stake, record the next round's one
    if self.transcoders[_delegate].lastActiveStakeUpdateRound < cr:
        self.earningsPools[_delegate][cr].totalStake = _currStake
    self.earningsPools[_delegate][cr + 1].totalStake = _newStake
    self.transcoders[_delegate].lastActiveStakeUpdateRound = cr + 1


@internal
def _tryToJoinActiveSet(_transcoder: address, _totalStake: uint256, _activationRound: uint256, _newPosPrev: address, _newPosNext: address):
    pendingNextRoundTotalActiveStake: uint256 = self.nextRoundTotalActiveStake

    if self.poolSize == self.poolMaxSize:
        lastTranscoder: address = self.poolTail
        lastStake: uint256 = self.delegators[lastTranscoder].delegatedAmount
        # must strictly out-stake the tail to join a full pool
        if _totalStake <= lastStake:
            return
        self._poolRemove(lastTranscoder)
        self.transcoders[lastTranscoder].deactivationRound = _activationRound
        pendingNextRoundTotalActiveStake -= lastStake
        log TranscoderDeactivated(transcoder=lastTranscoder, deactivationRound=_activationRound)

    self._poolInsert(_transcoder, _totalStake, _newPosPrev, _newPosNext)
    self.transcoders[_transcoder].lastActiveStakeUpdateRound = _activationRound
    self.transcoders[_transcoder].activationRound = _activationRound
    self.transcoders[_transcoder].deactivationRound = MAX_FUTURE_ROUND
    self.earningsPools[_transcoder][_activationRound].totalStake = _totalStake
    self.nextRoundTotalActiveStake = pendingNextRoundTotalActiveStake + _totalStake
    log TranscoderActivated(transcoder=_transcoder, activationRound=_activationRound)


@internal
def _resignTranscoder(_transcoder: address, cr: uint256):
    self._poolRemove(_transcoder)
    self.nextRoundTotalActiveStake -= self.delegators[_transcoder].delegatedAmount
    self.transcoders[_transcoder].deactivationRound = cr + 1
    log TranscoderDeactivated(transcoder=_transcoder, deactivationRound=cr + 1)


# ------------------------------------------------------------------------------------------------
# SortedDoublyLL (inlined; descending by key; bounded walks)
# ------------------------------------------------------------------------------------------------

@internal
@view
def _poolContains(_id: address) -> bool:
    return self.poolNodes[_id].key > 0


@internal
@view
def _poolValidInsertPosition(_key: uint256, _prevId: address, _nextId: address) -> bool:
    if _prevId == empty(address) and _nextId == empty(address):
        return self.poolSize == 0
    elif _prevId == empty(address):
        return self.poolHead == _nextId and _key >= self.poolNodes[_nextId].key
    elif _nextId == empty(address):
        return self.poolTail == _prevId and _key <= self.poolNodes[_prevId].key
    return self.poolNodes[_prevId].nextId == _nextId and self.poolNodes[_prevId].key >= _key and _key >= self.poolNodes[_nextId].key


@internal
@view
def _poolDescend(_key: uint256, _startId: address) -> (address, address):
    if self.poolHead == _startId and _key >= self.poolNodes[_startId].key:
        return empty(address), _startId
    prevId: address = _startId
    nextId: address = self.poolNodes[prevId].nextId
    for i: uint256 in range(MAX_POOL_SIZE + 1):
        if prevId == empty(address) or self._poolValidInsertPosition(_key, prevId, nextId):
            break
        prevId = nextId
        nextId = self.poolNodes[prevId].nextId
    return prevId, nextId


@internal
@view
def _poolAscend(_key: uint256, _startId: address) -> (address, address):
    if self.poolTail == _startId and _key <= self.poolNodes[_startId].key:
        return _startId, empty(address)
    nextId: address = _startId
    prevId: address = self.poolNodes[nextId].prevId
    for i: uint256 in range(MAX_POOL_SIZE + 1):
        if nextId == empty(address) or self._poolValidInsertPosition(_key, prevId, nextId):
            break
        nextId = prevId
        prevId = self.poolNodes[nextId].prevId
    return prevId, nextId


@internal
def _poolInsert(_id: address, _key: uint256, _hintPrev: address, _hintNext: address):
    assert self.poolSize != self.poolMaxSize, "list is full"
    assert not self._poolContains(_id), "node already in list"
    assert _id != empty(address), "node id is null"
    assert _key > 0, "key is zero"

    prevId: address = _hintPrev
    nextId: address = _hintNext
    if not self._poolValidInsertPosition(_key, prevId, nextId):
        # repair the hint (findInsertPosition)
        if prevId != empty(address):
            if not self._poolContains(prevId) or _key > self.poolNodes[prevId].key:
                prevId = empty(address)
        if nextId != empty(address):
            if not self._poolContains(nextId) or _key < self.poolNodes[nextId].key:
                nextId = empty(address)
        if prevId == empty(address) and nextId == empty(address):
            prevId, nextId = self._poolDescend(_key, self.poolHead)
        elif prevId == empty(address):
            prevId, nextId = self._poolAscend(_key, nextId)
        else:
            prevId, nextId = self._poolDescend(_key, prevId)

    self.poolNodes[_id].key = _key
    if prevId == empty(address) and nextId == empty(address):
        self.poolHead = _id
        self.poolTail = _id
    elif prevId == empty(address):
        head: address = self.poolHead
        self.poolNodes[_id].nextId = head
        self.poolNodes[head].prevId = _id
        self.poolHead = _id
    elif nextId == empty(address):
        tail: address = self.poolTail
        self.poolNodes[_id].prevId = tail
        self.poolNodes[tail].nextId = _id
        self.poolTail = _id
    else:
        self.poolNodes[_id].nextId = nextId
        self.poolNodes[_id].prevId = prevId
        self.poolNodes[prevId].nextId = _id
        self.poolNodes[nextId].prevId = _id
    self.poolSize += 1


@internal
def _poolRemove(_id: address):
    assert self._poolContains(_id), "node not in list"
    node: Node = self.poolNodes[_id]
    if self.poolSize > 1:
        if _id == self.poolHead:
            self.poolHead = node.nextId
            self.poolNodes[node.nextId].prevId = empty(address)
        elif _id == self.poolTail:
            self.poolTail = node.prevId
            self.poolNodes[node.prevId].nextId = empty(address)
        else:
            self.poolNodes[node.prevId].nextId = node.nextId
            self.poolNodes[node.nextId].prevId = node.prevId
    else:
        self.poolHead = empty(address)
        self.poolTail = empty(address)
    self.poolNodes[_id] = empty(Node)
    self.poolSize -= 1


@internal
def _poolUpdateKey(_id: address, _newKey: uint256, _prevId: address, _nextId: address):
    # the containment check ("node not in list") is done by _poolRemove
    self._poolRemove(_id)
    if _newKey > 0:
        self._poolInsert(_id, _newKey, _prevId, _nextId)


# ------------------------------------------------------------------------------------------------
# Status helpers
# ------------------------------------------------------------------------------------------------

@internal
@view
def _isRegisteredTranscoder(_transcoder: address) -> bool:
    return self.delegators[_transcoder].delegateAddress == _transcoder and self.delegators[_transcoder].bondedAmount > 0


@internal
@view
def _isActiveTranscoder(_transcoder: address, cr: uint256) -> bool:
    return self.transcoders[_transcoder].activationRound <= cr and cr < self.transcoders[_transcoder].deactivationRound


@internal
@view
def _delegatorStatus(_delegator: address, cr: uint256) -> uint8:
    if self.delegators[_delegator].bondedAmount == 0:
        return UNBONDED
    elif self.delegators[_delegator].startRound > cr:
        return PENDING
    return BONDED


# ------------------------------------------------------------------------------------------------
# Views
# ------------------------------------------------------------------------------------------------

@external
@view
def pendingStake(_delegator: address, _endRound: uint256) -> uint256:
    # _endRound is ignored: always evaluated through the current round
    stake: uint256 = 0
    fees: uint256 = 0
    stake, fees = self._pendingStakeAndFees(_delegator, self._currentRound())
    return stake


@external
@view
def pendingFees(_delegator: address, _endRound: uint256) -> uint256:
    # _endRound is ignored: always evaluated through the current round
    stake: uint256 = 0
    fees: uint256 = 0
    stake, fees = self._pendingStakeAndFees(_delegator, self._currentRound())
    return fees


@external
@view
def transcoderTotalStake(_transcoder: address) -> uint256:
    return self.delegators[_transcoder].delegatedAmount


@external
@view
def transcoderStatus(_transcoder: address) -> uint8:
    if self._isRegisteredTranscoder(_transcoder):
        return 1
    return 0


@external
@view
def delegatorStatus(_delegator: address) -> uint8:
    return self._delegatorStatus(_delegator, self._currentRound())


@external
@view
def getTranscoder(_transcoder: address) -> (uint256, uint256, uint256, uint256, uint256, uint256, uint256, uint256, uint256, uint256):
    t: Transcoder = self.transcoders[_transcoder]
    return (
        t.lastRewardRound,
        t.rewardCut,
        t.feeShare,
        t.lastActiveStakeUpdateRound,
        t.activationRound,
        t.deactivationRound,
        t.activeCumulativeRewards,
        t.cumulativeRewards,
        t.cumulativeFees,
        t.lastFeeRound,
    )


@external
@view
def getTranscoderEarningsPoolForRound(_transcoder: address, _round: uint256) -> (uint256, uint256, uint256, uint256, uint256):
    p: EarningsPool = self.earningsPools[_transcoder][_round]
    return p.totalStake, p.transcoderRewardCut, p.transcoderFeeShare, p.cumulativeRewardFactor, p.cumulativeFeeFactor


@external
@view
def getDelegator(_delegator: address) -> (uint256, uint256, address, uint256, uint256, uint256, uint256):
    d: Delegator = self.delegators[_delegator]
    return d.bondedAmount, d.fees, d.delegateAddress, d.delegatedAmount, d.startRound, d.lastClaimRound, d.nextUnbondingLockId


@external
@view
def getDelegatorUnbondingLock(_delegator: address, _unbondingLockId: uint256) -> (uint256, uint256):
    lock: UnbondingLock = self.unbondingLocks[_delegator][_unbondingLockId]
    return lock.amount, lock.withdrawRound


@external
@view
def getTranscoderPoolMaxSize() -> uint256:
    return self.poolMaxSize


@external
@view
def getTranscoderPoolSize() -> uint256:
    return self.poolSize


@external
@view
def getFirstTranscoderInPool() -> address:
    return self.poolHead


@external
@view
def getNextTranscoderInPool(_transcoder: address) -> address:
    return self.poolNodes[_transcoder].nextId


@external
@view
def getTotalBonded() -> uint256:
    return self.currentRoundTotalActiveStake


@external
@view
def isActiveTranscoder(_transcoder: address) -> bool:
    return self._isActiveTranscoder(_transcoder, self._currentRound())


@external
@view
def isRegisteredTranscoder(_transcoder: address) -> bool:
    return self._isRegisteredTranscoder(_transcoder)


@external
@view
def isValidUnbondingLock(_delegator: address, _unbondingLockId: uint256) -> bool:
    return self.unbondingLocks[_delegator][_unbondingLockId].withdrawRound > 0
