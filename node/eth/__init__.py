"""Chain access: backends behind one interface, compiled contracts, deployment, bindings."""
import sys

import py_ecc  # noqa: F401 - imported now so that its import-time recursion limit is undone here

# py_ecc raises the recursion limit to 100,000 at import, which lets a deeply nested JSON body
# overflow the C stack (SIGSEGV) instead of raising; py-evm needs 1024 × 12 for the EVM's
# 1024-deep call stack, and that is all any chain backend needs.
sys.setrecursionlimit(1024 * 12)

from .abi import Event
from .chain import Account, Chain, EmbeddedChain, JsonRpcChain, Web3Chain, dev_accounts
from .compiler import compile_contract
from .contract import Contract, Receipt
from .deploy import LPT, Protocol, ProtocolParams, attach_protocol, contract_id, deploy_protocol
from .errors import ChainError, TransactionFailed
from .fast import FastChain
from .revm import RevmChain

__all__ = [
    "Account", "Chain", "ChainError", "Contract", "EmbeddedChain", "Event", "FastChain", "JsonRpcChain", "LPT",
    "Protocol", "ProtocolParams", "Receipt", "RevmChain", "TransactionFailed", "Web3Chain", "compile_contract",
    "attach_protocol", "contract_id", "deploy_protocol", "dev_accounts",
]
