"""Chain access: backends behind one interface, compiled contracts, deployment, bindings."""
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
