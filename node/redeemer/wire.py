"""Winning tickets and max floats on the wire of net/redeemer.proto (go's protoTicket and pmTicket,
server/redeemer.go). Numbers are big-endian bytes without leading zeros (go's big.Int.Bytes())."""
from __future__ import annotations

from node.core.params import int_bytes
from node.core.redemption import SignedTicket
from node.core.ticket import Ticket
from node.net.proto import redeemer_pb2 as rpb
from node.net.wire import address_bytes, address_from_bytes, bytes_int, hash_from_bytes

SIGNATURE_LENGTH = 65


def ticket_to_proto(signed: SignedTicket) -> rpb.Ticket:
    t = signed.ticket
    msg = rpb.Ticket(sender=address_bytes(t.sender), recipient_rand=int_bytes(signed.recipient_rand))
    p = msg.ticket_params
    p.recipient, p.face_value, p.win_prob = address_bytes(t.recipient), int_bytes(t.face_value), int_bytes(t.win_prob)
    p.recipient_rand_hash, p.expiration_block = t.recipient_rand_hash, int_bytes(signed.expiration_block)
    msg.sender_params.sender_nonce, msg.sender_params.sig = t.sender_nonce, signed.sig
    msg.expiration_params.creation_round = t.creation_round
    msg.expiration_params.creation_round_block_hash = t.creation_round_block_hash
    return msg


def ticket_from_proto(msg: rpb.Ticket) -> SignedTicket:
    """A queued ticket as the core's SignedTicket; ValueError naming what is missing or malformed
    (go would dereference the missing sub-message and crash the handler)."""
    for name in ("ticket_params", "sender_params", "expiration_params"):
        if not msg.HasField(name):
            raise ValueError(f"ticket has no {name}")
    p = msg.ticket_params
    if not msg.sender or not p.recipient:
        raise ValueError("ticket has no " + ("sender" if not msg.sender else "recipient"))
    if len(msg.sender_params.sig) != SIGNATURE_LENGTH:
        raise ValueError(f"invalid ticket signature length {len(msg.sender_params.sig)}, expected {SIGNATURE_LENGTH}")
    if msg.expiration_params.creation_round < 0:
        raise ValueError("invalid ticket creation round")
    ticket = Ticket(address_from_bytes(p.recipient), address_from_bytes(msg.sender), bytes_int(p.face_value),
                    bytes_int(p.win_prob), msg.sender_params.sender_nonce, hash_from_bytes(p.recipient_rand_hash),
                    msg.expiration_params.creation_round,
                    hash_from_bytes(msg.expiration_params.creation_round_block_hash))
    return SignedTicket(ticket, bytes(msg.sender_params.sig), bytes_int(msg.recipient_rand),
                        bytes_int(p.expiration_block))


def max_float_bytes(value: int) -> bytes:
    """go sends big.Int.Bytes(), which drops the sign: a negative max float (a sender whose reserve
    this orchestrator over-claimed) would reach the orchestrator as a large positive one. Here it
    goes out as 0, which refuses the sender as the local monitor's negative value does."""
    return int_bytes(max(value, 0))


def max_float_from_bytes(data: bytes) -> int:
    return bytes_int(data)
