"""node.core.ticket: hash layout, signatures and the winning rule, checked without a chain."""
from fractions import Fraction

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from node.core.ticket import (
    MAX_WIN_PROB,
    SECP256K1_HALF_N,
    SECP256K1_N,
    InvalidSignature,
    Ticket,
    is_winning,
    recipient_rand_hash,
    recover_signer,
    sign_ticket,
    signed_message_digest,
)

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
SENDER = Account.from_key(KEY).address
RECIPIENT = "0x" + "ab" * 20
BLOCK_HASH = bytes(range(32))


def make_ticket(**overrides) -> Ticket:
    fields = dict(
        recipient=RECIPIENT,
        sender=SENDER,
        face_value=1000,
        win_prob=MAX_WIN_PROB // 2,
        sender_nonce=7,
        recipient_rand_hash=recipient_rand_hash(42),
        creation_round=5,
        creation_round_block_hash=BLOCK_HASH,
    )
    fields.update(overrides)
    return Ticket(**fields)


def test_aux_data_is_creation_round_then_block_hash():
    t = make_ticket(creation_round=0x0102)
    assert t.aux_data == b"\x00" * 30 + b"\x01\x02" + BLOCK_HASH
    assert len(t.aux_data) == 64


def test_aux_data_is_empty_for_round_zero_and_zero_hash_as_in_go_livepeer():
    assert make_ticket(creation_round=0, creation_round_block_hash=b"\x00" * 32).aux_data == b""
    assert len(make_ticket(creation_round=0).aux_data) == 64  # a non-zero hash keeps it


def test_hash_is_keccak_of_the_packed_encoding():
    t = make_ticket()
    packed = (
        bytes.fromhex("ab" * 20)                           # recipient, 20 bytes
        + bytes.fromhex(SENDER[2:])                        # sender, 20 bytes
        + (1000).to_bytes(32, "big")                       # faceValue
        + (MAX_WIN_PROB // 2).to_bytes(32, "big")          # winProb
        + (7).to_bytes(32, "big")                          # senderNonce
        + keccak((42).to_bytes(32, "big"))                 # recipientRandHash
        + (5).to_bytes(32, "big") + BLOCK_HASH             # auxData
    )
    assert len(packed) == 232
    assert t.hash() == keccak(packed)


def test_hash_changes_with_every_field():
    base = make_ticket().hash()
    for change in (
        dict(recipient="0x" + "cd" * 20),
        dict(sender="0x" + "cd" * 20),
        dict(face_value=1001),
        dict(win_prob=1),
        dict(sender_nonce=8),
        dict(recipient_rand_hash=recipient_rand_hash(43)),
        dict(creation_round=6),
        dict(creation_round_block_hash=b"\x01" * 32),
    ):
        assert make_ticket(**change).hash() != base, change


def test_abi_tuple_round_trips():
    t = make_ticket()
    tup = t.as_abi_tuple()
    assert tup == (t.recipient, SENDER, 1000, MAX_WIN_PROB // 2, 7, recipient_rand_hash(42), t.aux_data)
    assert Ticket.from_abi_tuple(tup) == t
    with pytest.raises(ValueError):
        Ticket.from_abi_tuple(tup[:-1] + (b"\x00" * 63,))


def test_addresses_are_normalised_and_fields_validated():
    t = make_ticket(recipient=bytes.fromhex("ab" * 20), sender=SENDER.lower())
    assert t.recipient == "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
    assert t.sender == SENDER
    with pytest.raises(ValueError):
        make_ticket(face_value=-1)
    with pytest.raises(ValueError):
        make_ticket(win_prob=2**256)
    with pytest.raises(ValueError):
        make_ticket(recipient_rand_hash=b"\x00" * 31)


def test_recipient_rand_hash_is_keccak_of_uint256():
    assert recipient_rand_hash(1) == keccak(b"\x00" * 31 + b"\x01")
    with pytest.raises(ValueError):
        recipient_rand_hash(2**256)


def test_expected_value_is_exact():
    t = make_ticket(face_value=3, win_prob=MAX_WIN_PROB)
    assert t.expected_value() == 3
    assert make_ticket(face_value=10, win_prob=MAX_WIN_PROB // 2).expected_value() == Fraction(10 * (MAX_WIN_PROB // 2), MAX_WIN_PROB)


def test_signature_is_65_bytes_low_s_v27_28_and_matches_eth_account():
    t = make_ticket()
    sig = sign_ticket(t, KEY)
    assert len(sig) == 65
    assert sig[64] in (27, 28)
    assert int.from_bytes(sig[32:64], "big") <= SECP256K1_HALF_N
    # personal_sign over the 32-byte hash, exactly what eth_account signs for the raw hash
    expected = Account.sign_message(encode_defunct(primitive=t.hash()), KEY).signature
    assert sig == bytes(expected)
    assert signed_message_digest(t) == keccak(b"\x19Ethereum Signed Message:\n32" + t.hash())


def test_sign_accepts_hash_and_hex_key():
    t = make_ticket()
    assert sign_ticket(t.hash(), "0x" + KEY.hex()) == sign_ticket(t, KEY)


def test_sign_recover_round_trip():
    for nonce in range(5):
        t = make_ticket(sender_nonce=nonce)
        sig = sign_ticket(t, KEY)
        assert recover_signer(t, sig) == SENDER
        assert recover_signer(t.hash(), sig) == SENDER
    other = make_ticket(sender_nonce=99)
    assert recover_signer(other, sign_ticket(make_ticket(), KEY)) != SENDER


def test_recover_rejects_what_the_contract_rejects():
    t = make_ticket()
    sig = sign_ticket(t, KEY)
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    with pytest.raises(InvalidSignature, match="INVALID_SIGNATURE_LENGTH"):
        recover_signer(t, sig[:64])
    with pytest.raises(InvalidSignature, match="INVALID_SIGNATURE_LENGTH"):
        recover_signer(t, sig + b"\x00")
    # the malleable twin (n - s, flipped v) is a valid secp256k1 signature but rejected
    high = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    with pytest.raises(InvalidSignature, match="'s' value"):
        recover_signer(t, high)
    with pytest.raises(InvalidSignature, match="ECDSA: invalid signature"):
        recover_signer(t, sig[:64] + b"\x00")
    # a flipped v recovers some other address
    assert recover_signer(t, sig[:64] + bytes([55 - v])) != SENDER


def test_winning_rule():
    sig = sign_ticket(make_ticket(), KEY)
    draw = int.from_bytes(keccak(sig + (42).to_bytes(32, "big")), "big")
    assert is_winning(sig, 42, draw + 1)
    assert not is_winning(sig, 42, draw)
    assert is_winning(sig, 42, MAX_WIN_PROB) == (draw < MAX_WIN_PROB)
    assert not is_winning(sig, 42, 0)


def test_win_rate_matches_win_prob_statistically():
    t = make_ticket(win_prob=MAX_WIN_PROB // 4)
    sig = sign_ticket(t, KEY)
    wins = sum(is_winning(sig, rand, t.win_prob) for rand in range(4000))
    assert 850 < wins < 1150  # mean 1000, sd ~27
