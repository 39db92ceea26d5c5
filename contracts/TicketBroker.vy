#pragma version ~=0.4.3
"""
@title TicketBroker
@notice Probabilistic micropayments (livepeer/protocol contracts/pm/TicketBroker.sol with its
        mixins MixinContractRegistry, MixinReserve, MixinTicketBrokerCore, MixinTicketProcessor
        and MixinWrappers; spec contracts.md §7).
        Broadcasters (senders) escrow ETH as a deposit, which pays winning tickets first, and a
        reserve, of which each active orchestrator may claim floor((funds + claimed) / poolSize)
        per round. Orchestrators (recipients) redeem winning tickets; the ETH stays in the Minter
        and is booked as fees in the BondingManager. Registered in the Controller as both
        "TicketBroker" and "JobsManager".
@dev    Vyper needs bounds where Solidity has none. Ticket auxData and signatures are accepted
        up to MAX_BYTES (1,024) bytes, and their lengths are then checked explicitly, so a
        wrong length gets the reference's revert string ("invalid length for ticket auxData:
        must be 64 bytes", "INVALID_SIGNATURE_LENGTH") and, inside batchRedeemWinningTickets,
        only that ticket is skipped, as in the reference. Remaining deviation: a ticket whose
        auxData or signature is longer than MAX_BYTES fails ABI decoding with a bare revert,
        and in a batch that reverts the whole batch. (The bound is not larger because Vyper
        lays memory out statically: the batch's arguments reserve MAX_BATCH * MAX_BYTES bytes
        twice, and every batch pays the memory expansion past them: about 14,000 gas more at
        1,024 than at 256, and it grows quadratically, about 160,000 more at 4,096.)
        batchRedeemWinningTickets takes at most MAX_BATCH (32) tickets.
        isLocked(address) is an extra view (internal in the reference).
"""


interface IController:
    def owner() -> address: view
    def paused() -> bool: view
    def getContract(_id: bytes32) -> address: view

interface IBondingManager:
    def updateTranscoderWithFees(_transcoder: address, _fees: uint256, _round: uint256): nonpayable
    def isActiveTranscoder(_transcoder: address) -> bool: view
    def getTranscoderPoolSize() -> uint256: view

interface IRoundsManager:
    def currentRound() -> uint256: view
    def currentRoundInitialized() -> bool: view
    def blockHashForRound(_round: uint256) -> bytes32: view

interface IMinter:
    def depositETH() -> bool: payable
    def trustedWithdrawETH(_to: address, _amount: uint256): nonpayable


MAX_BYTES: constant(uint256) = 1024
MAX_BATCH: constant(uint256) = 32
AUX_DATA_LENGTH: constant(uint256) = 64
SIGNATURE_LENGTH: constant(uint256) = 65
# OpenZeppelin ECDSA: s must be in the lower half of the secp256k1 order
SECP256K1_HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168  # 0x7FFF...681B20A0
REDEEM_METHOD_ID: constant(bytes4) = method_id(
    "redeemWinningTicket((address,address,uint256,uint256,uint256,bytes32,bytes),bytes,uint256)",
    output_type=bytes4,
)

BONDING_MANAGER_ID: constant(bytes32) = keccak256("BondingManager")
ROUNDS_MANAGER_ID: constant(bytes32) = keccak256("RoundsManager")
MINTER_ID: constant(bytes32) = keccak256("Minter")


struct Ticket:
    recipient: address
    sender: address
    faceValue: uint256
    winProb: uint256  # probability = winProb / (2**256 - 1)
    senderNonce: uint256
    recipientRandHash: bytes32  # keccak256(uint256 recipientRand)
    auxData: Bytes[MAX_BYTES]  # must be uint256 creationRound || bytes32 creationRoundBlockHash

struct Sender:
    deposit: uint256
    withdrawRound: uint256

struct ReserveInfo:
    fundsRemaining: uint256
    claimedInCurrentRound: uint256


event SetController:
    controller: address

event ParameterUpdate:
    param: String[32]

event DepositFunded:
    sender: indexed(address)
    amount: uint256

event WinningTicketRedeemed:
    sender: indexed(address)
    recipient: indexed(address)
    faceValue: uint256
    winProb: uint256
    senderNonce: uint256
    recipientRand: uint256
    auxData: Bytes[AUX_DATA_LENGTH]

event WinningTicketTransfer:
    sender: indexed(address)
    recipient: indexed(address)
    amount: uint256

event Unlock:
    sender: indexed(address)
    startRound: uint256
    endRound: uint256

event UnlockCancelled:
    sender: indexed(address)

event Withdrawal:
    sender: indexed(address)
    deposit: uint256
    reserve: uint256

event ReserveFunded:
    reserveHolder: indexed(address)
    amount: uint256

event ReserveClaimed:
    reserveHolder: indexed(address)
    claimant: address
    amount: uint256


# Manager base (ManagerProxyTarget layout: controller, targetContractId)
controller: public(address)
targetContractId: public(bytes32)

# MixinTicketBrokerCore
senders: HashMap[address, Sender]
unlockPeriod: public(uint256)
usedTickets: public(HashMap[bytes32, bool])

# MixinTicketProcessor
ticketValidityPeriod: public(uint256)

# MixinReserve: Reserve {funds, claimedForRound[round], claimedByAddress[round][claimant]}, flattened.
# withdraw() clears only the funds, as `delete` does in the reference.
reserveFunds: HashMap[address, uint256]
reserveClaimedForRound: HashMap[address, HashMap[uint256, uint256]]
reserveClaimedByAddress: HashMap[address, HashMap[uint256, HashMap[address, uint256]]]


@deploy
def __init__(_controller: address):
    self.controller = _controller


# ------------------------------------------------------------------------------------------
# Manager / contract registry


@internal
@view
def _when_system_not_paused():
    assert not staticcall IController(self.controller).paused(), "system is paused"


@internal
@view
def _only_controller_owner():
    assert msg.sender == staticcall IController(self.controller).owner(), "caller must be Controller owner"


@internal
@view
def _bonding_manager() -> address:
    return staticcall IController(self.controller).getContract(BONDING_MANAGER_ID)


@internal
@view
def _rounds_manager() -> address:
    return staticcall IController(self.controller).getContract(ROUNDS_MANAGER_ID)


@internal
@view
def _minter() -> address:
    return staticcall IController(self.controller).getContract(MINTER_ID)


@internal
@view
def _current_round() -> uint256:
    return staticcall IRoundsManager(self._rounds_manager()).currentRound()


@internal
@view
def _current_round_initialized():
    assert staticcall IRoundsManager(self._rounds_manager()).currentRoundInitialized(), "current round is not initialized"


@external
def setController(_controller: address):
    assert msg.sender == self.controller, "caller must be Controller"
    self.controller = _controller
    log SetController(controller=_controller)


@external
def setUnlockPeriod(_unlockPeriod: uint256):
    self._only_controller_owner()
    self.unlockPeriod = _unlockPeriod
    log ParameterUpdate(param="unlockPeriod")


@external
def setTicketValidityPeriod(_ticketValidityPeriod: uint256):
    self._only_controller_owner()
    assert _ticketValidityPeriod > 0, "ticketValidityPeriod must be greater than 0"
    self.ticketValidityPeriod = _ticketValidityPeriod
    log ParameterUpdate(param="ticketValidityPeriod")


# ------------------------------------------------------------------------------------------
# Funding (MixinTicketBrokerCore + MixinTicketProcessor.processFunding)


@internal
def _process_funding(_amount: uint256):
    # The Minter holds all protocol ETH; the return value is ignored as in the reference.
    extcall IMinter(self._minter()).depositETH(value=_amount)


@internal
def _cancel_unlock(_sender: address):
    assert self.senders[_sender].withdrawRound > 0, "no unlock request in progress"
    self.senders[_sender].withdrawRound = 0
    log UnlockCancelled(sender=_sender)


@internal
def _cancel_unlock_if_own(_sender: address):
    # Only the sender's own funding cancels its unlock (third-party top-ups must not: fix d153b78).
    if msg.sender == _sender and self.senders[_sender].withdrawRound > 0:
        self._cancel_unlock(_sender)


@internal
def _add_reserve(_holder: address, _amount: uint256):
    self.reserveFunds[_holder] += _amount
    log ReserveFunded(reserveHolder=_holder, amount=_amount)


@external
@payable
def fundDeposit():
    self._when_system_not_paused()
    self.senders[msg.sender].deposit += msg.value
    self._cancel_unlock_if_own(msg.sender)
    self._process_funding(msg.value)
    log DepositFunded(sender=msg.sender, amount=msg.value)


@external
@payable
def fundReserve():
    self._when_system_not_paused()
    self._add_reserve(msg.sender, msg.value)
    self._cancel_unlock_if_own(msg.sender)
    self._process_funding(msg.value)


@internal
@payable
def _fund_deposit_and_reserve_for(_addr: address, _depositAmount: uint256, _reserveAmount: uint256):
    self._when_system_not_paused()
    assert msg.value == _depositAmount + _reserveAmount, "msg.value does not equal sum of deposit amount and reserve amount"
    # Event order as in the reference modifiers: [UnlockCancelled], ReserveFunded, DepositFunded
    self.senders[_addr].deposit += _depositAmount
    self._cancel_unlock_if_own(_addr)
    self._add_reserve(_addr, _reserveAmount)
    self._process_funding(msg.value)
    log DepositFunded(sender=_addr, amount=_depositAmount)


@external
@payable
def fundDepositAndReserve(_depositAmount: uint256, _reserveAmount: uint256):
    self._fund_deposit_and_reserve_for(msg.sender, _depositAmount, _reserveAmount)


@external
@payable
def fundDepositAndReserveFor(_addr: address, _depositAmount: uint256, _reserveAmount: uint256):
    self._fund_deposit_and_reserve_for(_addr, _depositAmount, _reserveAmount)


# ------------------------------------------------------------------------------------------
# Unlock / withdraw


@internal
@view
def _is_locked(_withdrawRound: uint256) -> bool:
    return _withdrawRound == 0 or self._current_round() < _withdrawRound


@external
def unlock():
    self._when_system_not_paused()
    sender: Sender = self.senders[msg.sender]
    assert sender.deposit > 0 or self.reserveFunds[msg.sender] > 0, "sender deposit and reserve are zero"
    assert sender.withdrawRound == 0, "unlock already initiated"
    current_round: uint256 = self._current_round()
    withdraw_round: uint256 = current_round + self.unlockPeriod
    self.senders[msg.sender].withdrawRound = withdraw_round
    log Unlock(sender=msg.sender, startRound=current_round, endRound=withdraw_round)


@external
def cancelUnlock():
    self._when_system_not_paused()
    self._cancel_unlock(msg.sender)


@external
def withdraw():
    self._when_system_not_paused()
    sender: Sender = self.senders[msg.sender]
    reserve: uint256 = self.reserveFunds[msg.sender]
    assert sender.deposit > 0 or reserve > 0, "sender deposit and reserve are zero"
    assert sender.withdrawRound > 0, "no unlock request in progress"
    assert not self._is_locked(sender.withdrawRound), "account is locked"
    # withdrawRound is kept: no reserve claims are possible from the withdraw round on, which is
    # what makes the uncleared per-round claimed counters harmless (MixinReserve.clearReserve).
    self.senders[msg.sender].deposit = 0
    self.reserveFunds[msg.sender] = 0
    extcall IMinter(self._minter()).trustedWithdrawETH(msg.sender, sender.deposit + reserve)
    log Withdrawal(sender=msg.sender, deposit=sender.deposit, reserve=reserve)


@external
@view
def isUnlockInProgress(_sender: address) -> bool:
    return self.senders[_sender].withdrawRound > 0


@external
@view
def isLocked(_sender: address) -> bool:
    """
    @notice Whether `_sender` is locked: no unlock requested, or its unlock period not over.
            A locked sender cannot withdraw; an unlocked one cannot pay tickets. (Extension: the
            reference keeps this internal.)
    """
    return self._is_locked(self.senders[_sender].withdrawRound)


# ------------------------------------------------------------------------------------------
# Reserve (MixinReserve)


@internal
@view
def _claimable_reserve(_holder: address, _claimant: address, _round: uint256) -> uint256:
    bm: address = self._bonding_manager()
    if not staticcall IBondingManager(bm).isActiveTranscoder(_claimant):
        return 0
    pool_size: uint256 = staticcall IBondingManager(bm).getTranscoderPoolSize()
    if pool_size == 0:
        return 0
    # Uses the live pool size; if the pool grows after a claim this round, the subtraction
    # underflows and reverts, as in the reference.
    total: uint256 = self.reserveFunds[_holder] + self.reserveClaimedForRound[_holder][_round]
    return total // pool_size - self.reserveClaimedByAddress[_holder][_round][_claimant]


@internal
def _claim_from_reserve(_holder: address, _claimant: address, _amount: uint256) -> uint256:
    current_round: uint256 = self._current_round()
    claim: uint256 = min(_amount, self._claimable_reserve(_holder, _claimant, current_round))
    if claim > 0:
        self.reserveClaimedForRound[_holder][current_round] += claim
        self.reserveClaimedByAddress[_holder][current_round][_claimant] += claim
        self.reserveFunds[_holder] -= claim
        log ReserveClaimed(reserveHolder=_holder, claimant=_claimant, amount=claim)
    return claim


@internal
@view
def _reserve_info(_holder: address) -> ReserveInfo:
    return ReserveInfo(
        fundsRemaining=self.reserveFunds[_holder],
        claimedInCurrentRound=self.reserveClaimedForRound[_holder][self._current_round()],
    )


@external
@view
def claimableReserve(_reserveHolder: address, _claimant: address) -> uint256:
    return self._claimable_reserve(_reserveHolder, _claimant, self._current_round())


@external
@view
def claimedReserve(_reserveHolder: address, _claimant: address) -> uint256:
    return self.reserveClaimedByAddress[_reserveHolder][self._current_round()][_claimant]


@external
@view
def getReserveInfo(_reserveHolder: address) -> ReserveInfo:
    return self._reserve_info(_reserveHolder)


@external
@view
def getSenderInfo(_sender: address) -> (Sender, ReserveInfo):
    return self.senders[_sender], self._reserve_info(_sender)


# ------------------------------------------------------------------------------------------
# Tickets
#
# The redemption path never hands a MAX_BYTES-sized value to an internal function: Vyper lays
# memory out statically, so each such parameter would reserve MAX_BYTES more memory below the
# external frame and every redemption would pay to expand past it. The lengths are checked
# first, then only the 64 auxData bytes and 65 signature bytes are copied on.


@internal
@pure
def _ticket_hash(
    _recipient: address,
    _sender: address,
    _faceValue: uint256,
    _winProb: uint256,
    _senderNonce: uint256,
    _recipientRandHash: bytes32,
    _auxData: Bytes[AUX_DATA_LENGTH],
) -> bytes32:
    # abi.encodePacked(recipient, sender, faceValue, winProb, senderNonce, recipientRandHash, auxData)
    return keccak256(
        concat(
            convert(_recipient, bytes20),
            convert(_sender, bytes20),
            convert(_faceValue, bytes32),
            convert(_winProb, bytes32),
            convert(_senderNonce, bytes32),
            _recipientRandHash,
            _auxData,
        )
    )


@external
@pure
def getTicketHash(_ticket: Ticket) -> bytes32:
    # Any auxData length, as in the reference (the same packing as _ticket_hash).
    return keccak256(
        concat(
            convert(_ticket.recipient, bytes20),
            convert(_ticket.sender, bytes20),
            convert(_ticket.faceValue, bytes32),
            convert(_ticket.winProb, bytes32),
            convert(_ticket.senderNonce, bytes32),
            _ticket.recipientRandHash,
            _ticket.auxData,
        )
    )


@internal
@view
def _require_valid_creation_round(_creationRound: uint256, _creationRoundBlockHash: bytes32):
    # MixinTicketProcessor.requireValidTicketAuxData after its length check
    rm: address = self._rounds_manager()
    block_hash: bytes32 = staticcall IRoundsManager(rm).blockHashForRound(_creationRound)
    assert block_hash != empty(bytes32), "ticket creationRound does not have a block hash"
    assert _creationRoundBlockHash == block_hash, "ticket creationRoundBlockHash invalid for creationRound"
    assert _creationRound + self.ticketValidityPeriod > staticcall IRoundsManager(rm).currentRound(), "ticket is expired"


@internal
@pure
def _recover_ticket_signer(_sig: Bytes[SIGNATURE_LENGTH], _ticketHash: bytes32) -> address:
    # OpenZeppelin 4.9 ECDSA.recover(ECDSA.toEthSignedMessageHash(hash), sig), after its
    # length check ("INVALID_SIGNATURE_LENGTH"), which the caller makes
    r: bytes32 = extract32(_sig, 0)
    s: bytes32 = extract32(_sig, 32)
    v: uint256 = convert(extract32(_sig, 33), uint256) & 255  # byte 64
    assert convert(s, uint256) <= SECP256K1_HALF_N, "ECDSA: invalid signature 's' value"
    digest: bytes32 = keccak256(concat(b"\x19Ethereum Signed Message:\n32", _ticketHash))
    signer: address = ecrecover(digest, v, r, s)
    assert signer != empty(address), "ECDSA: invalid signature"
    return signer


@internal
@pure
def _is_winning_ticket(_sig: Bytes[SIGNATURE_LENGTH], _recipientRand: uint256, _winProb: uint256) -> bool:
    return convert(keccak256(concat(_sig, convert(_recipientRand, bytes32))), uint256) < _winProb


@external
def redeemWinningTicket(_ticket: Ticket, _sig: Bytes[MAX_BYTES], _recipientRand: uint256):
    """
    @notice Redeem a winning ticket signed by `_ticket.sender`, revealing the recipientRand
            committed to by `_ticket.recipientRandHash`. Callable by anyone; pays the recipient
            from the sender's deposit, then from its share of the sender's reserve.
    """
    self._when_system_not_paused()
    self._current_round_initialized()

    # MixinTicketBrokerCore.requireValidWinningTicket, in its order. The reference hashes the
    # ticket first; hashing after the auxData length check gives the same hash whenever it is
    # used (a ticket with other auxData lengths fails before the hash is looked at).
    assert _ticket.recipient != empty(address), "ticket recipient is null address"
    assert _ticket.sender != empty(address), "ticket sender is null address"
    assert len(_ticket.auxData) == AUX_DATA_LENGTH, "invalid length for ticket auxData: must be 64 bytes"
    aux_data: Bytes[AUX_DATA_LENGTH] = slice(_ticket.auxData, 0, AUX_DATA_LENGTH)
    creation_round: uint256 = convert(extract32(aux_data, 0), uint256)
    self._require_valid_creation_round(creation_round, extract32(aux_data, 32))
    assert keccak256(convert(_recipientRand, bytes32)) == _ticket.recipientRandHash, "recipientRand does not match recipientRandHash"
    ticket_hash: bytes32 = self._ticket_hash(
        _ticket.recipient,
        _ticket.sender,
        _ticket.faceValue,
        _ticket.winProb,
        _ticket.senderNonce,
        _ticket.recipientRandHash,
        aux_data,
    )
    assert not self.usedTickets[ticket_hash], "ticket is used"
    assert len(_sig) == SIGNATURE_LENGTH, "INVALID_SIGNATURE_LENGTH"
    sig: Bytes[SIGNATURE_LENGTH] = slice(_sig, 0, SIGNATURE_LENGTH)
    assert self._recover_ticket_signer(sig, ticket_hash) == _ticket.sender, "invalid signature over ticket hash"
    assert self._is_winning_ticket(sig, _recipientRand, _ticket.winProb), "ticket did not win"

    sender: Sender = self.senders[_ticket.sender]
    assert self._is_locked(sender.withdrawRound), "sender is unlocked"
    assert sender.deposit > 0 or self.reserveFunds[_ticket.sender] > 0, "sender deposit and reserve are zero"

    # Replay protection is keyed on the ticket hash (hence exactly-65-byte signatures).
    self.usedTickets[ticket_hash] = True

    amount: uint256 = 0
    if _ticket.faceValue > sender.deposit:
        amount = sender.deposit + self._claim_from_reserve(_ticket.sender, _ticket.recipient, _ticket.faceValue - sender.deposit)
        self.senders[_ticket.sender].deposit = 0
    else:
        amount = _ticket.faceValue
        self.senders[_ticket.sender].deposit = sender.deposit - _ticket.faceValue

    if amount > 0:
        # The ETH stays in the Minter; the BondingManager books it as the recipient's fees.
        extcall IBondingManager(self._bonding_manager()).updateTranscoderWithFees(_ticket.recipient, amount, creation_round)
        log WinningTicketTransfer(sender=_ticket.sender, recipient=_ticket.recipient, amount=amount)

    log WinningTicketRedeemed(
        sender=_ticket.sender,
        recipient=_ticket.recipient,
        faceValue=_ticket.faceValue,
        winProb=_ticket.winProb,
        senderNonce=_ticket.senderNonce,
        recipientRand=_recipientRand,
        auxData=aux_data,
    )


# ------------------------------------------------------------------------------------------
# Wrappers (MixinWrappers)


@external
def batchRedeemWinningTickets(
    _tickets: DynArray[Ticket, MAX_BATCH],
    _sigs: DynArray[Bytes[MAX_BYTES], MAX_BATCH],
    _recipientRands: DynArray[uint256, MAX_BATCH],
):
    """
    @notice Redeem several winning tickets; a ticket whose redemption fails is skipped without
            reverting the batch. `_sigs[i]` and `_recipientRands[i]` belong to `_tickets[i]`.
    """
    self._when_system_not_paused()
    self._current_round_initialized()
    for i: uint256 in range(len(_tickets), bound=MAX_BATCH):
        # External self-call so that a failing redemption reverts only its own state changes.
        success: bool = raw_call(
            self,
            abi_encode(_tickets[i], _sigs[i], _recipientRands[i], method_id=REDEEM_METHOD_ID),
            revert_on_failure=False,
        )
