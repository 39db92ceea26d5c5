#pragma version ~=0.4.3
"""
@title LivepeerToken
@notice ERC20 "Livepeer Token" / "LPT" (18 decimals) with role-based mint and burn, modelled on the L2
        token on Arbitrum (livepeer/arbitrum-lpt-bridge contracts/L2/token/LivepeerToken.sol, copied into
        livepeer/protocol contracts/token/LivepeerToken.sol): OpenZeppelin 4.9 AccessControl + ERC20Burnable
        + ERC20Permit.
        - mint(to, amount): MINTER_ROLE; emits Transfer(0, to, amount) then Mint(to, amount).
        - burn(amount): BURNER_ROLE, burns the caller's balance; Transfer(caller, 0, amount) then Burn(caller, amount).
        - burnFrom(from, amount): BURNER_ROLE, spends allowance; Transfer(from, 0, amount) then Burn(from, amount).
        - AccessControl: DEFAULT_ADMIN_ROLE (0x00) granted to the deployer; every role's admin is
          DEFAULT_ADMIN_ROLE (the token never changes role admins). Missing-role reverts use the OZ 4.x string
          "AccessControl: account 0x<40 lowercase hex> is missing role 0x<64 lowercase hex>".
        - ERC20 revert strings and allowance semantics follow OZ 4.9 (transferFrom spends allowance first,
          an allowance of 2**256-1 is infinite and not decreased, spending emits Approval).
        - ERC20Permit (EIP-2612): permit, nonces, DOMAIN_SEPARATOR (name "Livepeer Token", version "1"),
          plus EIP-5267 eip712Domain().
"""


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event Mint:
    to: indexed(address)
    amount: uint256

event Burn:
    burner: indexed(address)
    amount: uint256

event RoleAdminChanged:
    role: indexed(bytes32)
    previousAdminRole: indexed(bytes32)
    newAdminRole: indexed(bytes32)

event RoleGranted:
    role: indexed(bytes32)
    account: indexed(address)
    sender: indexed(address)

event RoleRevoked:
    role: indexed(bytes32)
    account: indexed(address)
    sender: indexed(address)

event EIP712DomainChanged:
    pass


DEFAULT_ADMIN_ROLE: public(constant(bytes32)) = empty(bytes32)
MINTER_ROLE: constant(bytes32) = keccak256("MINTER_ROLE")
BURNER_ROLE: constant(bytes32) = keccak256("BURNER_ROLE")

name: public(constant(String[14])) = "Livepeer Token"
symbol: public(constant(String[3])) = "LPT"
decimals: public(constant(uint8)) = 18

EIP712_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
PERMIT_TYPEHASH: constant(bytes32) = keccak256(
    "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
)
HASHED_NAME: constant(bytes32) = keccak256("Livepeer Token")
HASHED_VERSION: constant(bytes32) = keccak256("1")
# secp256k1n / 2: OZ ECDSA rejects signatures with a larger s
MAX_S: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168

IACCESS_CONTROL_ID: constant(bytes4) = 0x7965db0b
IERC165_ID: constant(bytes4) = 0x01ffc9a7

HEX_DIGITS: constant(Bytes[16]) = b"0123456789abcdef"

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
nonces: public(HashMap[address, uint256])

_roles: HashMap[bytes32, HashMap[address, bool]]
_roleAdmin: HashMap[bytes32, bytes32]


@deploy
def __init__():
    self._grant_role(DEFAULT_ADMIN_ROLE, msg.sender)


# --- AccessControl -----------------------------------------------------------------------------

@internal
@pure
def _hex_word(_value: uint256, _nibbles: uint256) -> bytes32:
    """
    @dev ASCII lowercase hex of the low `_nibbles` (<= 32) nibbles of `_value`, left-aligned in a bytes32.
    """
    word: uint256 = 0
    for i: uint256 in range(32):
        if i >= _nibbles:
            break
        nibble: uint256 = (_value >> (4 * (_nibbles - 1 - i))) & 15
        char: uint256 = nibble + 48
        if nibble > 9:
            char = nibble + 87
        word = word | (char << (8 * (31 - i)))
    return convert(word, bytes32)


@internal
@pure
def _missing_role_message(_role: bytes32, _account: address) -> String[148]:
    # OZ 4.x: "AccessControl: account " + toHexString(account) + " is missing role " + toHexString(role, 32)
    acct: uint256 = convert(_account, uint256)
    role: uint256 = convert(_role, uint256)
    acct_hi: bytes32 = self._hex_word(acct >> 32, 32)
    acct_lo: bytes32 = self._hex_word(acct & 4294967295, 8)
    role_hi: bytes32 = self._hex_word(role >> 128, 32)
    role_lo: bytes32 = self._hex_word(role & convert(max_value(uint128), uint256), 32)
    msg_bytes: Bytes[148] = concat(
        b"AccessControl: account 0x", acct_hi, slice(acct_lo, 0, 8), b" is missing role 0x", role_hi, role_lo
    )
    return convert(msg_bytes, String[148])


@internal
@view
def _check_role(_role: bytes32, _account: address):
    if not self._roles[_role][_account]:
        raise self._missing_role_message(_role, _account)


@internal
def _grant_role(_role: bytes32, _account: address):
    if not self._roles[_role][_account]:
        self._roles[_role][_account] = True
        log RoleGranted(role=_role, account=_account, sender=msg.sender)


@internal
def _revoke_role(_role: bytes32, _account: address):
    if self._roles[_role][_account]:
        self._roles[_role][_account] = False
        log RoleRevoked(role=_role, account=_account, sender=msg.sender)


@external
@view
def hasRole(role: bytes32, account: address) -> bool:
    return self._roles[role][account]


@external
@view
def getRoleAdmin(role: bytes32) -> bytes32:
    return self._roleAdmin[role]


@external
def grantRole(role: bytes32, account: address):
    self._check_role(self._roleAdmin[role], msg.sender)
    self._grant_role(role, account)


@external
def revokeRole(role: bytes32, account: address):
    self._check_role(self._roleAdmin[role], msg.sender)
    self._revoke_role(role, account)


@external
def renounceRole(role: bytes32, account: address):
    assert account == msg.sender, "AccessControl: can only renounce roles for self"
    self._revoke_role(role, account)


@external
@view
def supportsInterface(interfaceId: bytes4) -> bool:
    return interfaceId == IACCESS_CONTROL_ID or interfaceId == IERC165_ID


# --- ERC20 -------------------------------------------------------------------------------------

@internal
def _transfer(_from: address, _to: address, _amount: uint256):
    assert _from != empty(address), "ERC20: transfer from the zero address"
    assert _to != empty(address), "ERC20: transfer to the zero address"
    from_balance: uint256 = self.balanceOf[_from]
    assert from_balance >= _amount, "ERC20: transfer amount exceeds balance"
    self.balanceOf[_from] = from_balance - _amount
    self.balanceOf[_to] += _amount
    log Transfer(sender=_from, receiver=_to, value=_amount)


@internal
def _approve(_owner: address, _spender: address, _amount: uint256):
    assert _owner != empty(address), "ERC20: approve from the zero address"
    assert _spender != empty(address), "ERC20: approve to the zero address"
    self.allowance[_owner][_spender] = _amount
    log Approval(owner=_owner, spender=_spender, value=_amount)


@internal
def _spend_allowance(_owner: address, _spender: address, _amount: uint256):
    current: uint256 = self.allowance[_owner][_spender]
    if current != max_value(uint256):
        assert current >= _amount, "ERC20: insufficient allowance"
        self._approve(_owner, _spender, current - _amount)


@internal
def _mint(_to: address, _amount: uint256):
    assert _to != empty(address), "ERC20: mint to the zero address"
    self.totalSupply += _amount
    self.balanceOf[_to] += _amount
    log Transfer(sender=empty(address), receiver=_to, value=_amount)


@internal
def _burn(_from: address, _amount: uint256):
    assert _from != empty(address), "ERC20: burn from the zero address"
    from_balance: uint256 = self.balanceOf[_from]
    assert from_balance >= _amount, "ERC20: burn amount exceeds balance"
    self.balanceOf[_from] = from_balance - _amount
    self.totalSupply -= _amount
    log Transfer(sender=_from, receiver=empty(address), value=_amount)


@external
def transfer(to: address, amount: uint256) -> bool:
    self._transfer(msg.sender, to, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self._approve(msg.sender, spender, amount)
    return True


@external
def transferFrom(sender: address, recipient: address, amount: uint256) -> bool:
    self._spend_allowance(sender, msg.sender, amount)
    self._transfer(sender, recipient, amount)
    return True


@external
def increaseAllowance(spender: address, addedValue: uint256) -> bool:
    self._approve(msg.sender, spender, self.allowance[msg.sender][spender] + addedValue)
    return True


@external
def decreaseAllowance(spender: address, subtractedValue: uint256) -> bool:
    current: uint256 = self.allowance[msg.sender][spender]
    assert current >= subtractedValue, "ERC20: decreased allowance below zero"
    self._approve(msg.sender, spender, current - subtractedValue)
    return True


# --- mint / burn -------------------------------------------------------------------------------

@external
def mint(_to: address, _amount: uint256):
    self._check_role(MINTER_ROLE, msg.sender)
    self._mint(_to, _amount)
    log Mint(to=_to, amount=_amount)


@external
def burn(_amount: uint256):
    self._check_role(BURNER_ROLE, msg.sender)
    self._burn(msg.sender, _amount)
    log Burn(burner=msg.sender, amount=_amount)


@external
def burnFrom(_from: address, _amount: uint256):
    self._check_role(BURNER_ROLE, msg.sender)
    self._spend_allowance(_from, msg.sender, _amount)
    self._burn(_from, _amount)
    log Burn(burner=_from, amount=_amount)


# --- ERC20Permit (EIP-2612) -------------------------------------------------------------------

@internal
@view
def _domain_separator() -> bytes32:
    return keccak256(abi_encode(EIP712_TYPEHASH, HASHED_NAME, HASHED_VERSION, chain.id, self))


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    return self._domain_separator()


@external
@view
def eip712Domain() -> (bytes1, String[14], String[1], uint256, address, bytes32, DynArray[uint256, 1]):
    return 0x0f, "Livepeer Token", "1", chain.id, self, empty(bytes32), []


@external
def permit(owner: address, spender: address, _value: uint256, deadline: uint256, v: uint8, r: bytes32, s: bytes32):
    assert block.timestamp <= deadline, "ERC20Permit: expired deadline"
    nonce: uint256 = self.nonces[owner]
    struct_hash: bytes32 = keccak256(abi_encode(PERMIT_TYPEHASH, owner, spender, _value, nonce, deadline))
    digest: bytes32 = keccak256(concat(b"\x19\x01", self._domain_separator(), struct_hash))
    # OZ 4.9 ECDSA.recover checks
    assert convert(s, uint256) <= MAX_S, "ECDSA: invalid signature 's' value"
    signer: address = ecrecover(digest, v, r, s)
    assert signer != empty(address), "ECDSA: invalid signature"
    assert signer == owner, "ERC20Permit: invalid signature"
    self.nonces[owner] = nonce + 1
    self._approve(owner, spender, _value)
