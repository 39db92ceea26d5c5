"""LivepeerToken: ERC20 + role-based mint/burn (L2 LivepeerToken, OpenZeppelin 4.9 semantics).

Transfer's fields are named (sender, receiver, value) because `from` is not a legal Vyper name;
the event signature/topic is the standard Transfer(address,address,uint256)."""
from __future__ import annotations

import pytest
from eth_abi import encode
from eth_account import Account as EthAccount
from eth_utils import keccak

from node.eth import LPT, TransactionFailed, compile_contract

ZERO = "0x" + "00" * 20
ADMIN = b"\x00" * 32
MINTER_ROLE = keccak(text="MINTER_ROLE")
BURNER_ROLE = keccak(text="BURNER_ROLE")
MAX = 2**256 - 1


def missing_role(account: str, role: bytes) -> str:
    return f"AccessControl: account {account.lower()} is missing role 0x{role.hex()}"


@pytest.fixture
def token(protocol):
    return protocol.LivepeerToken


@pytest.fixture
def minter_acct(token, protocol, accounts):
    """accounts[10] holds MINTER_ROLE and BURNER_ROLE."""
    acct = accounts[10]
    token.grantRole(MINTER_ROLE, acct.address, sender=protocol.owner)
    token.grantRole(BURNER_ROLE, acct.address, sender=protocol.owner)
    return acct


# --- metadata and initial state ----------------------------------------------------------------

def test_metadata(token):
    # `name` is shadowed by the binding's own Contract.name attribute; reach the ABI function directly
    assert token.name() == "Livepeer Token"
    assert token.symbol() == "LPT"
    assert token.decimals() == 18


def test_initial_supply_and_roles(token, protocol, accounts):
    # 1,000,000 LPT minted to each of the 20 chain accounts at deployment
    assert token.totalSupply() == 20 * 1_000_000 * LPT
    for a in accounts:
        assert token.balanceOf(a.address) == 1_000_000 * LPT
    minter = protocol.Minter.address
    assert token.DEFAULT_ADMIN_ROLE() == ADMIN
    assert token.hasRole(ADMIN, protocol.owner.address)
    assert token.hasRole(MINTER_ROLE, minter)
    assert token.hasRole(BURNER_ROLE, minter)
    # the deployer's temporary minter role was revoked
    assert not token.hasRole(MINTER_ROLE, protocol.owner.address)
    assert not token.hasRole(ADMIN, minter)
    for role in (ADMIN, MINTER_ROLE, BURNER_ROLE):
        assert token.getRoleAdmin(role) == ADMIN


def test_constructor_grants_admin_to_deployer(chain, protocol, accounts):
    fresh = chain.deploy(compile_contract("LivepeerToken"), sender=accounts[4])
    assert fresh.hasRole(ADMIN, accounts[4].address)
    assert not fresh.hasRole(ADMIN, accounts[0].address)
    assert fresh.totalSupply() == 0


def test_supports_interface(token):
    assert token.supportsInterface(bytes.fromhex("7965db0b"))  # IAccessControl
    assert token.supportsInterface(bytes.fromhex("01ffc9a7"))  # IERC165
    assert not token.supportsInterface(bytes.fromhex("ffffffff"))
    assert not token.supportsInterface(bytes.fromhex("36372b07"))  # IERC20 is not advertised (as in OZ)


# --- AccessControl ----------------------------------------------------------------------------------

def test_grant_role(token, protocol, accounts):
    r = token.grantRole(MINTER_ROLE, accounts[5].address, sender=protocol.owner)
    ev = r.event("RoleGranted")
    assert ev.args == {"role": MINTER_ROLE, "account": accounts[5].address, "sender": protocol.owner.address}
    assert token.hasRole(MINTER_ROLE, accounts[5].address)
    # granting again is a no-op without an event
    r = token.grantRole(MINTER_ROLE, accounts[5].address, sender=protocol.owner)
    assert r.events == []


def test_grant_role_requires_admin(token, accounts):
    with pytest.raises(TransactionFailed) as ei:
        token.grantRole(MINTER_ROLE, accounts[5].address, sender=accounts[5])
    assert ei.value.reason == missing_role(accounts[5].address, ADMIN)


def test_revoke_role(token, protocol, accounts, minter_acct):
    r = token.revokeRole(MINTER_ROLE, minter_acct.address, sender=protocol.owner)
    ev = r.event("RoleRevoked")
    assert ev.args == {"role": MINTER_ROLE, "account": minter_acct.address, "sender": protocol.owner.address}
    assert not token.hasRole(MINTER_ROLE, minter_acct.address)
    r = token.revokeRole(MINTER_ROLE, minter_acct.address, sender=protocol.owner)
    assert r.events == []


def test_revoke_role_requires_admin(token, accounts, minter_acct):
    with pytest.raises(TransactionFailed) as ei:
        token.revokeRole(MINTER_ROLE, minter_acct.address, sender=minter_acct)
    assert ei.value.reason == missing_role(minter_acct.address, ADMIN)


def test_admin_can_be_granted_to_others(token, protocol, accounts):
    token.grantRole(ADMIN, accounts[6].address, sender=protocol.owner)
    token.grantRole(BURNER_ROLE, accounts[7].address, sender=accounts[6])
    assert token.hasRole(BURNER_ROLE, accounts[7].address)


def test_renounce_role(token, accounts, minter_acct):
    r = token.renounceRole(MINTER_ROLE, minter_acct.address, sender=minter_acct)
    assert r.event("RoleRevoked").args == {
        "role": MINTER_ROLE, "account": minter_acct.address, "sender": minter_acct.address}
    assert not token.hasRole(MINTER_ROLE, minter_acct.address)


def test_renounce_role_only_for_self(token, protocol, minter_acct):
    with pytest.raises(TransactionFailed, match="AccessControl: can only renounce roles for self"):
        token.renounceRole(MINTER_ROLE, minter_acct.address, sender=protocol.owner)


# --- mint -----------------------------------------------------------------------------------------

def test_mint(token, accounts, minter_acct):
    supply = token.totalSupply()
    r = token.mint(accounts[5].address, 123, sender=minter_acct)
    assert [e.name for e in r.events] == ["Transfer", "Mint"]
    assert r.event("Transfer").args == {"sender": ZERO, "receiver": accounts[5].address, "value": 123}
    assert r.event("Mint").args == {"to": accounts[5].address, "amount": 123}
    assert token.totalSupply() == supply + 123
    assert token.balanceOf(accounts[5].address) == 1_000_000 * LPT + 123


def test_mint_requires_minter_role(token, protocol, accounts):
    for who in (accounts[5], protocol.owner):
        with pytest.raises(TransactionFailed) as ei:
            token.mint(who.address, 1, sender=who)
        assert ei.value.reason == missing_role(who.address, MINTER_ROLE)
    # exact OZ text for a fixed account and role
    assert missing_role(accounts[5].address, MINTER_ROLE).startswith("AccessControl: account 0x")
    assert len(missing_role(accounts[5].address, MINTER_ROLE)) == len("AccessControl: account ") + 42 + len(
        " is missing role ") + 66


def test_mint_to_zero_address(token, minter_acct):
    with pytest.raises(TransactionFailed, match="ERC20: mint to the zero address"):
        token.mint(ZERO, 1, sender=minter_acct)


# --- burn / burnFrom ------------------------------------------------------------------------------

def test_burn(token, minter_acct):
    supply = token.totalSupply()
    r = token.burn(400 * LPT, sender=minter_acct)
    assert [e.name for e in r.events] == ["Transfer", "Burn"]
    assert r.event("Transfer").args == {"sender": minter_acct.address, "receiver": ZERO, "value": 400 * LPT}
    assert r.event("Burn").args == {"burner": minter_acct.address, "amount": 400 * LPT}
    assert token.totalSupply() == supply - 400 * LPT
    assert token.balanceOf(minter_acct.address) == 999_600 * LPT


def test_burn_exceeds_balance(token, minter_acct):
    with pytest.raises(TransactionFailed, match="ERC20: burn amount exceeds balance"):
        token.burn(1_000_000 * LPT + 1, sender=minter_acct)


def test_burn_requires_burner_role(token, accounts):
    with pytest.raises(TransactionFailed) as ei:
        token.burn(1, sender=accounts[5])
    assert ei.value.reason == missing_role(accounts[5].address, BURNER_ROLE)


def test_burn_from(token, accounts, minter_acct):
    holder = accounts[5]
    token.approve(minter_acct.address, 1000, sender=holder)
    supply = token.totalSupply()
    r = token.burnFrom(holder.address, 600, sender=minter_acct)
    assert [e.name for e in r.events] == ["Approval", "Transfer", "Burn"]
    assert r.event("Approval").args == {"owner": holder.address, "spender": minter_acct.address, "value": 400}
    assert r.event("Burn").args == {"burner": holder.address, "amount": 600}
    assert token.allowance(holder.address, minter_acct.address) == 400
    assert token.totalSupply() == supply - 600
    assert token.balanceOf(holder.address) == 1_000_000 * LPT - 600


def test_burn_from_insufficient_allowance(token, accounts, minter_acct):
    token.approve(minter_acct.address, 10, sender=accounts[5])
    with pytest.raises(TransactionFailed, match="ERC20: insufficient allowance"):
        token.burnFrom(accounts[5].address, 11, sender=minter_acct)


def test_burn_from_requires_burner_role(token, accounts):
    token.approve(accounts[6].address, 10, sender=accounts[5])
    with pytest.raises(TransactionFailed) as ei:
        token.burnFrom(accounts[5].address, 1, sender=accounts[6])
    assert ei.value.reason == missing_role(accounts[6].address, BURNER_ROLE)


# --- ERC20 ------------------------------------------------------------------------------------------

def test_transfer(token, accounts):
    a, b = accounts[5], accounts[6]
    r = token.transfer(b.address, 250, sender=a)
    assert r.event("Transfer").args == {"sender": a.address, "receiver": b.address, "value": 250}
    assert token.balanceOf(a.address) == 1_000_000 * LPT - 250
    assert token.balanceOf(b.address) == 1_000_000 * LPT + 250
    assert token.transfer.call(b.address, 1, sender=a) is True
    # zero-value and self transfers are fine
    token.transfer(b.address, 0, sender=a)
    token.transfer(a.address, 5, sender=a)
    assert token.balanceOf(a.address) == 1_000_000 * LPT - 250


def test_transfer_exceeds_balance(token, accounts):
    with pytest.raises(TransactionFailed, match="ERC20: transfer amount exceeds balance"):
        token.transfer(accounts[6].address, 1_000_000 * LPT + 1, sender=accounts[5])


def test_transfer_to_zero_address(token, accounts):
    with pytest.raises(TransactionFailed, match="ERC20: transfer to the zero address"):
        token.transfer(ZERO, 1, sender=accounts[5])


def test_approve(token, accounts):
    r = token.approve(accounts[6].address, 77, sender=accounts[5])
    assert r.event("Approval").args == {"owner": accounts[5].address, "spender": accounts[6].address, "value": 77}
    assert token.allowance(accounts[5].address, accounts[6].address) == 77
    token.approve(accounts[6].address, 3, sender=accounts[5])
    assert token.allowance(accounts[5].address, accounts[6].address) == 3


def test_approve_zero_spender(token, accounts):
    with pytest.raises(TransactionFailed, match="ERC20: approve to the zero address"):
        token.approve(ZERO, 1, sender=accounts[5])


def test_transfer_from(token, accounts):
    owner, spender, to = accounts[5], accounts[6], accounts[7]
    token.approve(spender.address, 1000, sender=owner)
    r = token.transferFrom(owner.address, to.address, 300, sender=spender)
    # OZ 4.9: allowance spent first (Approval), then the transfer
    assert [e.name for e in r.events] == ["Approval", "Transfer"]
    assert r.event("Approval").args == {"owner": owner.address, "spender": spender.address, "value": 700}
    assert r.event("Transfer").args == {"sender": owner.address, "receiver": to.address, "value": 300}
    assert token.allowance(owner.address, spender.address) == 700
    assert token.balanceOf(to.address) == 1_000_000 * LPT + 300
    assert token.balanceOf(owner.address) == 1_000_000 * LPT - 300


def test_transfer_from_infinite_allowance_not_spent(token, accounts):
    owner, spender = accounts[5], accounts[6]
    token.approve(spender.address, MAX, sender=owner)
    r = token.transferFrom(owner.address, spender.address, 300, sender=spender)
    assert [e.name for e in r.events] == ["Transfer"]
    assert token.allowance(owner.address, spender.address) == MAX


def test_transfer_from_insufficient_allowance(token, accounts):
    token.approve(accounts[6].address, 299, sender=accounts[5])
    with pytest.raises(TransactionFailed, match="ERC20: insufficient allowance"):
        token.transferFrom(accounts[5].address, accounts[7].address, 300, sender=accounts[6])


def test_transfer_from_exceeds_balance(token, accounts):
    token.approve(accounts[6].address, MAX, sender=accounts[5])
    with pytest.raises(TransactionFailed, match="ERC20: transfer amount exceeds balance"):
        token.transferFrom(accounts[5].address, accounts[7].address, 1_000_000 * LPT + 1, sender=accounts[6])


def test_transfer_from_to_zero(token, accounts):
    token.approve(accounts[6].address, 10, sender=accounts[5])
    with pytest.raises(TransactionFailed, match="ERC20: transfer to the zero address"):
        token.transferFrom(accounts[5].address, ZERO, 1, sender=accounts[6])


def test_increase_and_decrease_allowance(token, accounts):
    owner, spender = accounts[5], accounts[6]
    r = token.increaseAllowance(spender.address, 50, sender=owner)
    assert r.event("Approval").args["value"] == 50
    token.increaseAllowance(spender.address, 25, sender=owner)
    assert token.allowance(owner.address, spender.address) == 75
    r = token.decreaseAllowance(spender.address, 70, sender=owner)
    assert r.event("Approval").args["value"] == 5
    assert token.allowance(owner.address, spender.address) == 5
    with pytest.raises(TransactionFailed, match="ERC20: decreased allowance below zero"):
        token.decreaseAllowance(spender.address, 6, sender=owner)


# --- ERC20Permit --------------------------------------------------------------------------------------

def _domain_separator(chain_id: int, address: str) -> bytes:
    typehash = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    return keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"],
                         [typehash, keccak(text="Livepeer Token"), keccak(text="1"), chain_id, address]))


def _sign_permit(token, owner, spender: str, value: int, nonce: int, deadline: int):
    _, _, _, chain_id, _, _, _ = token.eip712Domain()
    typehash = keccak(text="Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)")
    struct_hash = keccak(encode(["bytes32", "address", "address", "uint256", "uint256", "uint256"],
                                [typehash, owner.address, spender, value, nonce, deadline]))
    digest = keccak(b"\x19\x01" + _domain_separator(chain_id, token.address) + struct_hash)
    sig = EthAccount.unsafe_sign_hash(digest, owner.key)
    return sig.v, sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")


def test_domain_separator_and_eip712_domain(token):
    fields, name, version, chain_id, verifying, salt, extensions = token.eip712Domain()
    assert (fields, name, version, verifying, salt, extensions) == (
        b"\x0f", "Livepeer Token", "1", token.address, b"\x00" * 32, [])
    assert token.DOMAIN_SEPARATOR() == _domain_separator(chain_id, token.address)


def test_permit(token, accounts):
    owner, spender = accounts[5], accounts[6]
    assert token.nonces(owner.address) == 0
    v, r_, s = _sign_permit(token, owner, spender.address, 500, 0, MAX)
    rc = token.permit(owner.address, spender.address, 500, MAX, v, r_, s, sender=accounts[8])
    assert rc.event("Approval").args == {"owner": owner.address, "spender": spender.address, "value": 500}
    assert token.allowance(owner.address, spender.address) == 500
    assert token.nonces(owner.address) == 1
    # replaying the same signature fails (nonce moved)
    with pytest.raises(TransactionFailed, match="ERC20Permit: invalid signature"):
        token.permit(owner.address, spender.address, 500, MAX, v, r_, s, sender=accounts[8])


def test_permit_wrong_signer(token, accounts):
    v, r_, s = _sign_permit(token, accounts[7], accounts[6].address, 500, 0, MAX)
    with pytest.raises(TransactionFailed, match="ERC20Permit: invalid signature"):
        token.permit(accounts[5].address, accounts[6].address, 500, MAX, v, r_, s, sender=accounts[8])


def test_permit_expired(token, accounts):
    v, r_, s = _sign_permit(token, accounts[5], accounts[6].address, 500, 0, 1)
    with pytest.raises(TransactionFailed, match="ERC20Permit: expired deadline"):
        token.permit(accounts[5].address, accounts[6].address, 500, 1, v, r_, s, sender=accounts[8])


def test_permit_high_s_rejected(token, accounts):
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    v, r_, s = _sign_permit(token, accounts[5], accounts[6].address, 500, 0, MAX)
    s_high = (n - int.from_bytes(s, "big")).to_bytes(32, "big")
    v_flip = 55 - v  # 27 <-> 28
    with pytest.raises(TransactionFailed, match="ECDSA: invalid signature 's' value"):
        token.permit(accounts[5].address, accounts[6].address, 500, MAX, v_flip, r_, s_high, sender=accounts[8])
