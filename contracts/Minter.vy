#pragma version ~=0.4.3
"""
@title Minter
@notice Holds all bonded LPT and all protocol ETH; mints inflationary LPT each round and moves the
        per-round inflation rate toward a target bonding rate (livepeer/protocol contracts/token/Minter.sol).
        Percentages use the MathUtilsV2 divisor 1e9. Not proxied. Has no __default__: plain ETH
        transfers revert; ETH comes in through depositETH().
        getGlobalTotalSupply() = LPT.totalSupply() + L2LPTDataCache.l1CirculatingSupply(); if no
        L2LPTDataCache is registered (zero address) its term counts as 0.
"""


interface IController:
    def owner() -> address: view
    def paused() -> bool: view
    def getContract(_id: bytes32) -> address: view

interface ILivepeerToken:
    def totalSupply() -> uint256: view
    def balanceOf(_account: address) -> uint256: view
    def transfer(_to: address, _amount: uint256) -> bool: nonpayable
    def mint(_to: address, _amount: uint256): nonpayable
    def burn(_amount: uint256): nonpayable

interface IBondingManager:
    def getTotalBonded() -> uint256: view

interface IL2LPTDataCache:
    def l1CirculatingSupply() -> uint256: view

interface IMinter:
    def getController() -> address: view
    def depositETH() -> bool: payable


event SetController:
    controller: address

event ParameterUpdate:
    param: String[64]

event SetCurrentRewardTokens:
    currentMintableTokens: uint256
    currentInflation: uint256


PERC_DIVISOR: constant(uint256) = 1000000000

# Manager base
controller: public(address)

inflation: public(uint256)
inflationChange: public(uint256)
targetBondingRate: public(uint256)
currentMintableTokens: public(uint256)
currentMintedTokens: public(uint256)


@deploy
def __init__(_controller: address, _inflation: uint256, _inflationChange: uint256, _targetBondingRate: uint256):
    self.controller = _controller
    assert _inflation <= PERC_DIVISOR, "_inflation is invalid percentage"
    assert _inflationChange <= PERC_DIVISOR, "_inflationChange is invalid percentage"
    assert _targetBondingRate <= PERC_DIVISOR, "_targetBondingRate is invalid percentage"
    self.inflation = _inflation
    self.inflationChange = _inflationChange
    self.targetBondingRate = _targetBondingRate


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


# --- access guards --------------------------------------------------------------------------

@internal
@view
def _only_bonding_manager():
    assert msg.sender == self._get_contract("BondingManager"), "msg.sender not BondingManager"


@internal
@view
def _only_rounds_manager():
    assert msg.sender == self._get_contract("RoundsManager"), "msg.sender not RoundsManager"


@internal
@view
def _only_bonding_manager_or_jobs_manager():
    assert msg.sender == self._get_contract("BondingManager") or msg.sender == self._get_contract("JobsManager"), "msg.sender not BondingManager or JobsManager"


@internal
@view
def _only_minter_or_jobs_manager():
    assert msg.sender == self._get_contract("Minter") or msg.sender == self._get_contract("JobsManager"), "msg.sender not Minter or JobsManager"


# --- owner setters ---------------------------------------------------------------------------

@external
def setTargetBondingRate(_targetBondingRate: uint256):
    self._only_controller_owner()
    assert _targetBondingRate <= PERC_DIVISOR, "_targetBondingRate is invalid percentage"
    self.targetBondingRate = _targetBondingRate
    log ParameterUpdate(param="targetBondingRate")


@external
def setInflationChange(_inflationChange: uint256):
    self._only_controller_owner()
    assert _inflationChange <= PERC_DIVISOR, "_inflationChange is invalid percentage"
    self.inflationChange = _inflationChange
    log ParameterUpdate(param="inflationChange")


@external
def migrateToNewMinter(_newMinter: address):
    """
    @notice Move the whole LPT and ETH balance to a new Minter (allowed while paused).
    """
    self._only_controller_owner()
    assert _newMinter != self, "new Minter cannot be current Minter"
    assert _newMinter != empty(address), "new Minter cannot be null address"
    new_minter_controller: address = staticcall IMinter(_newMinter).getController()
    assert new_minter_controller == self.controller, "new Minter Controller must be current Controller"
    assert staticcall IController(new_minter_controller).getContract(keccak256("Minter")) == self, "new Minter must be registered"
    token: ILivepeerToken = ILivepeerToken(self._get_contract("LivepeerToken"))
    extcall token.transfer(_newMinter, staticcall token.balanceOf(self))
    extcall IMinter(_newMinter).depositETH(value=self.balance)


# --- hooks -----------------------------------------------------------------------------------

@external
def createReward(_fracNum: uint256, _fracDenom: uint256) -> uint256:
    self._only_bonding_manager()
    self._when_system_not_paused()
    # MathUtilsV2.percOf(a, num, den): two floors, ratio first
    mint_amount: uint256 = self.currentMintableTokens * (_fracNum * PERC_DIVISOR // _fracDenom) // PERC_DIVISOR
    minted: uint256 = self.currentMintedTokens + mint_amount
    self.currentMintedTokens = minted
    assert minted <= self.currentMintableTokens, "minted tokens cannot exceed mintable tokens"
    extcall ILivepeerToken(self._get_contract("LivepeerToken")).mint(self, mint_amount)
    return mint_amount


@external
def trustedTransferTokens(_to: address, _amount: uint256):
    self._only_bonding_manager()
    self._when_system_not_paused()
    extcall ILivepeerToken(self._get_contract("LivepeerToken")).transfer(_to, _amount)


@external
def trustedBurnTokens(_amount: uint256):
    self._only_bonding_manager()
    self._when_system_not_paused()
    extcall ILivepeerToken(self._get_contract("LivepeerToken")).burn(_amount)


@external
def trustedWithdrawETH(_to: address, _amount: uint256):
    self._only_bonding_manager_or_jobs_manager()
    self._when_system_not_paused()
    # Solidity's address.transfer: the recipient always gets 2,300 gas. For a non-zero value the
    # EVM adds that stipend to the 0 gas passed; for a zero value no stipend is added, so 2,300
    # is passed explicitly (Vyper's send() would pass 0, and any recipient with code would run
    # out of gas). A failure reverts, bubbling up the recipient's revert data as transfer does.
    stipend: uint256 = 0
    if _amount == 0:
        stipend = 2300
    raw_call(_to, b"", value=_amount, gas=stipend)


@external
@payable
def depositETH() -> bool:
    self._only_minter_or_jobs_manager()
    return True


@external
def setCurrentRewardTokens():
    self._only_rounds_manager()
    self._when_system_not_paused()
    self._set_inflation()
    mintable: uint256 = self._global_total_supply() * self.inflation // PERC_DIVISOR
    self.currentMintableTokens = mintable
    self.currentMintedTokens = 0
    log SetCurrentRewardTokens(currentMintableTokens=mintable, currentInflation=self.inflation)


# --- views / internals -----------------------------------------------------------------------

@internal
@view
def _global_total_supply() -> uint256:
    supply: uint256 = staticcall ILivepeerToken(self._get_contract("LivepeerToken")).totalSupply()
    cache: address = self._get_contract("L2LPTDataCache")
    if cache != empty(address):
        supply += staticcall IL2LPTDataCache(cache).l1CirculatingSupply()
    return supply


@internal
def _set_inflation():
    current_bonding_rate: uint256 = 0
    total_supply: uint256 = self._global_total_supply()
    if total_supply > 0:
        total_bonded: uint256 = staticcall IBondingManager(self._get_contract("BondingManager")).getTotalBonded()
        current_bonding_rate = total_bonded * PERC_DIVISOR // total_supply

    target: uint256 = self.targetBondingRate
    if current_bonding_rate < target:
        self.inflation += self.inflationChange
    elif current_bonding_rate > target:
        if self.inflationChange > self.inflation:
            self.inflation = 0
        else:
            self.inflation -= self.inflationChange


@external
@view
def getController() -> address:
    return self.controller


@external
@view
def getGlobalTotalSupply() -> uint256:
    return self._global_total_supply()
