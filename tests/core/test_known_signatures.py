"""KnownSignatures: the simulator's look-up of who signed a ticket gives recover_signer's answers."""
import pytest

from node.core.ticket import (InvalidSignature, KnownSignatures, Ticket, address_of_key, recipient_rand_hash,
                              recover_signer, sign_ticket)

KEY = bytes([7]) * 32
OTHER = bytes([8]) * 32


def _ticket(nonce: int = 1) -> Ticket:
    return Ticket("0x" + "11" * 20, address_of_key(KEY), 10**15, 2**200, nonce, recipient_rand_hash(5), 10,
                  b"\x0a" * 32)


def test_signatures_are_sign_tickets_and_recover_to_their_signer():
    known, ticket = KnownSignatures(), _ticket()
    sig = known.sign(ticket.hash(), KEY)
    assert sig == sign_ticket(ticket, KEY)
    assert known.recover(ticket, sig) == recover_signer(ticket, sig) == address_of_key(KEY) == ticket.sender
    assert len(known) == 0 and known.looked_up == 1  # looked up once, then forgotten:
    assert known.recover(ticket, sig) == ticket.sender  # a replay is recovered as usual
    assert known.looked_up == 1


def test_a_signature_not_made_here_or_over_another_ticket_is_recovered():
    known = KnownSignatures()
    sig = known.sign(_ticket(1), KEY)
    assert known.recover(_ticket(2), sig) == recover_signer(_ticket(2), sig) != address_of_key(KEY)
    foreign = sign_ticket(_ticket(3), OTHER)
    assert known.recover(_ticket(3), foreign) == address_of_key(OTHER)
    with pytest.raises(InvalidSignature):
        known.recover(_ticket(1), sig[:64])


def test_at_most_size_signatures_are_kept_oldest_forgotten_first():
    known = KnownSignatures(size=2)
    sigs = [known.sign(_ticket(n), KEY) for n in (1, 2, 3)]
    assert len(known) == 2
    assert [known.recover(_ticket(n), s) for n, s in zip((1, 2, 3), sigs)] == [address_of_key(KEY)] * 3
