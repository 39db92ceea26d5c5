#pragma version ~=0.4.3
"""
@title ServiceRegistry
@notice Maps an address (orchestrator) to its service URI (livepeer/protocol contracts/ServiceRegistry.sol).
        Service URIs are bounded to MAX_URI_LENGTH = 1024 bytes (Vyper strings need a bound;
        a longer string fails ABI decoding and reverts). As in the reference source,
        setServiceURI has no pause guard.
"""


event SetController:
    controller: address

event ParameterUpdate:
    param: String[64]

event ServiceURIUpdate:
    addr: indexed(address)
    serviceURI: String[1024]


# Manager base (ManagerProxyTarget layout: controller, targetContractId)
controller: public(address)
targetContractId: public(bytes32)

records: HashMap[address, String[1024]]


@deploy
def __init__(_controller: address):
    self.controller = _controller


@external
def setController(_controller: address):
    assert msg.sender == self.controller, "caller must be Controller"
    self.controller = _controller
    log SetController(controller=_controller)


@external
def setServiceURI(_serviceURI: String[1024]):
    self.records[msg.sender] = _serviceURI
    log ServiceURIUpdate(addr=msg.sender, serviceURI=_serviceURI)


@external
@view
def getServiceURI(_addr: address) -> String[1024]:
    return self.records[_addr]
