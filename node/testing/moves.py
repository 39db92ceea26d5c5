"""The protocol moves tests make most, over a deployed protocol on any backend: each is the
transactions a node or a user would send, through node.eth's bindings and node.core's tickets."""
from __future__ import annotations

import itertools

from node.core.ticket import MAX_WIN_PROB, Ticket, recipient_rand_hash, sign_ticket
from node.eth import LPT, Protocol
from node.eth.chain import Account
from node.eth.contract import Receipt
from node.eth.payments import ProtocolBroker

ETH = 10**18


class ProtocolMoves:
    """`lp` in the pytest plugin: bond, register an orchestrator, reward, next round, fund a
    gateway, and sign and redeem winning tickets, on `protocol`."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self._nonces = itertools.count(1)

    @property
    def accounts(self) -> list[Account]:
        return self.protocol.chain.accounts

    def bond(self, account: Account, amount: int, to: Account | str | None = None) -> Receipt:
        """Approve and bond `amount` LPT wei from `account` to `to` (default: itself)."""
        to = getattr(to, "address", to) or account.address
        return self.protocol.approve_and_bond(account, amount, to)

    def register_orchestrator(self, account: Account, stake: int = 1000 * LPT, *, reward_cut: int = 0,
                              fee_share: int = 1_000_000, service_uri: str | None = None) -> Account:
        """Self-bond `stake`, declare reward cut and fee share (1e6 units) and, if given, the service
        URI. The orchestrator joins the active set at the next round (`next_round()`)."""
        self.bond(account, stake)
        self.protocol.BondingManager.transcoder(reward_cut, fee_share, sender=account)
        if service_uri is not None:
            self.protocol.ServiceRegistry.setServiceURI(service_uri, sender=account)
        return account

    def next_round(self, rounds: int = 1) -> int:
        """Mine to the next round and initialise it, `rounds` times; the new round number."""
        return self.protocol.advance_rounds(rounds)

    def reward(self, orchestrator: Account) -> Receipt:
        return self.protocol.BondingManager.reward(sender=orchestrator)

    def fund(self, gateway: Account, deposit: int = ETH, reserve: int = ETH) -> Receipt:
        """TicketBroker.fundDepositAndReserve for `gateway` (ETH wei), as the gateway node does."""
        return ProtocolBroker(self.protocol, gateway).fund_deposit_and_reserve(deposit, reserve)

    def winning_ticket(self, sender: Account, recipient: Account | str, face_value: int, *,
                       recipient_rand: int | None = None) -> tuple[Ticket, bytes, int]:
        """A ticket from `sender` to `recipient` that always wins (win probability 1), in the
        current round, signed by the sender: (ticket, signature, recipient_rand)."""
        nonce = next(self._nonces)
        rand = nonce if recipient_rand is None else recipient_rand
        rnd = self.protocol.current_round()
        ticket = Ticket(getattr(recipient, "address", recipient), sender.address, face_value, MAX_WIN_PROB, nonce,
                        recipient_rand_hash(rand), rnd, self.protocol.RoundsManager.blockHashForRound(rnd))
        return ticket, sign_ticket(ticket, sender.key), rand

    def redeem(self, recipient: Account, ticket: Ticket, sig: bytes, recipient_rand: int) -> Receipt:
        return self.protocol.TicketBroker.redeemWinningTicket(ticket.as_abi_tuple(), sig, recipient_rand,
                                                              sender=recipient)

    def pay(self, sender: Account, recipient: Account, face_value: int) -> Receipt:
        """Sign a winning ticket of `face_value` and redeem it: the fee moves from the sender's
        deposit to the recipient's pending fees."""
        return self.redeem(recipient, *self.winning_ticket(sender, recipient, face_value))
