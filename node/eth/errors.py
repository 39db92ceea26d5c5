"""Errors raised by the chain layer, the same on every backend."""


class ChainError(Exception):
    """A chain-layer failure that is not a contract revert (bad address, unknown contract...)."""


class ChainUnavailable(ChainError):
    """The chain's JSON-RPC endpoint gave no usable answer: the connection was refused or reset,
    the answer did not come within the timeout, came with an HTTP error status, or was not
    JSON-RPC. `url` and `method` say what was asked; `maybe_delivered` is False only when the
    request certainly never reached the node (no connection was made), so a transaction sent in
    a request that timed out may still be mined."""

    def __init__(self, url: str, method: str, reason: str, *, maybe_delivered: bool = True):
        self.url, self.method, self.reason, self.maybe_delivered = url, method, reason, maybe_delivered
        super().__init__(f"chain RPC {url} ({method}): {reason}")


class TransactionFailed(ChainError):
    """A call or transaction reverted. `reason` is the contract's revert string ("" for a bare revert)."""

    def __init__(self, reason: str, function: str = ""):
        self.reason = reason
        self.function = function
        where = f"{function}: " if function else ""
        super().__init__(f"{where}execution reverted: {reason}" if reason else f"{where}execution reverted")


REVERT_PREFIX = "execution reverted"


def revert_reason(message: str) -> str | None:
    """The revert string inside a node's error message, or None when the message is not a revert.

    Nodes word it as 'execution reverted: <reason>' (geth, anvil, eth-tester); a bare
    `revert` gives 'execution reverted'.
    """
    idx = message.find(REVERT_PREFIX)
    if idx < 0:
        return None
    rest = message[idx + len(REVERT_PREFIX):]
    reason = rest[1:].strip() if rest.startswith(":") else ""
    return "" if reason in ("b''", "0x") else reason  # eth-tester words a bare revert as "b''"
