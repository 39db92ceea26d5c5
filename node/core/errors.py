"""Payment errors, with go-livepeer's messages and its fatal / non-fatal split (pm/errors.go,
pm/recipient.go, pm/sender.go).

On the orchestrator a *fatal* receive error (sender unlocking, wrong recipient, zero sender, a
recipientRand that does not match its hash) rejects the whole payment at once; a non-fatal one
(bad signature, replayed or excess nonce, expired params) stops crediting EV from that ticket on
but a winning ticket is still queued (spec node.md §2.5). Callers answer either with HTTP 400.
"""
from __future__ import annotations


class PaymentError(Exception):
    """Base class of every error the payment rules raise or return; `str(e)` is go's message."""

    fatal = False


class FatalReceiveError(PaymentError):
    """A ticket error that rejects the rest of the payment (go's FatalReceiveErr)."""

    fatal = True


class TicketParamsExpired(PaymentError):
    """Params whose expiration block has passed (go's ErrTicketParamsExpired); non-fatal."""

    def __init__(self, message: str = "TicketParams expired") -> None:
        super().__init__(message)


class SenderValidationError(PaymentError):
    """The gateway's own deposit/reserve cannot back tickets (go's ErrSenderValidation)."""


class InsufficientSenderReserve(PaymentError):
    """The sender's max float cannot cover a ticket worth issuing (go's errInsufficientSenderReserve)."""

    def __init__(self, message: str = "insufficient sender reserve") -> None:
        super().__init__(message)


class RedemptionError(PaymentError):
    """A winning ticket that could not be redeemed now; `retryable` says whether to try again."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
