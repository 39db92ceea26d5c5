#pragma version ~=0.4.3
"""
@title L2LPTDataCache (minimal stand-in)
@notice The real L2LPTDataCache (livepeer/arbitrum-lpt-bridge) caches the L1 circulating LPT
        supply relayed from L1. The Minter only reads l1CirculatingSupply(); this stand-in
        stores it and lets the Controller owner set it. Uses the Manager base
        (controller, setController, SetController, ParameterUpdate).
"""


interface IController:
    def owner() -> address: view
    def paused() -> bool: view


event SetController:
    controller: address

event ParameterUpdate:
    param: String[64]


# Manager base
controller: public(address)

l1CirculatingSupply: public(uint256)


@deploy
def __init__(_controller: address, _l1CirculatingSupply: uint256):
    self.controller = _controller
    self.l1CirculatingSupply = _l1CirculatingSupply


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


# --- owner setter ---------------------------------------------------------------------------

@external
def setL1CirculatingSupply(_l1CirculatingSupply: uint256):
    self._only_controller_owner()
    self.l1CirculatingSupply = _l1CirculatingSupply
    log ParameterUpdate(param="l1CirculatingSupply")
