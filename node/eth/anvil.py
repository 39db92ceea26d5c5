"""anvil's state-editing JSON-RPC methods on the devchain (anvil_setBalance, impersonation, ...).

Each method takes the JSON-RPC params list and runs under the devchain's chain lock, as the
other control methods do."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .devchain import DevchainRpc


def anvil_methods(rpc: DevchainRpc) -> dict[str, Callable[[list], Any]]:
    """The methods to add to `rpc`'s control table, by JSON-RPC name."""
    return {}
