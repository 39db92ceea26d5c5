"""The devchain's answers in geth's JSON shapes, built from py-evm's own objects.

eth-tester's serialisers differ from geth in ways clients notice (snake_case keys in a block's
full transactions, the bloom as a number, receipts without a bloom but with a `state_root`, a
log index counted per transaction instead of per block), so blocks' transactions, receipts,
logs and fee history are built here from py-evm's blocks, transactions and receipts. Numbers
are JSON-RPC quantities (hex, no leading zeros); hashes and data are 0x-prefixed hex.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from eth_utils import to_checksum_address

LEGACY, ACCESS_LIST, DYNAMIC_FEE, BLOB, SET_CODE = 0, 1, 2, 3, 4
ELASTICITY = 2  # EIP-1559: the gas target is half the gas limit
BASE_FEE_CHANGE_DENOMINATOR = 8
MAX_FEE_HISTORY = 1024  # geth clamps eth_feeHistory's block count to this


@lru_cache(maxsize=65536)
def checksum(address: bytes | str) -> str:
    """to_checksum_address, cached (it hashes the address every time)."""
    return to_checksum_address(address)


def q(value: int) -> str:
    return hex(value)


def h(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def tx_type(tx) -> int:
    return getattr(tx, "type_id", None) or LEGACY


def effective_gas_price(tx, base_fee: int | None) -> int:
    """What the sender paid per gas: a legacy price, or min(fee cap, base fee + tip)."""
    if base_fee is None or tx_type(tx) in (LEGACY, ACCESS_LIST):
        return tx.max_fee_per_gas  # py-evm gives legacy transactions their gas price here
    return min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas)


def transaction_json(tx, block=None, index: int | None = None) -> dict:
    """geth's RPCTransaction: mined (`block` and `index` given) or pending (both null)."""
    kind = tx_type(tx)
    base_fee = getattr(block.header, "base_fee_per_gas", None) if block is not None else None
    out: dict[str, Any] = {
        "blockHash": h(block.hash) if block is not None else None,
        "blockNumber": q(block.number) if block is not None else None,
        "from": checksum(tx.sender),
        "gas": q(tx.gas),
        "gasPrice": q(effective_gas_price(tx, base_fee) if block is not None else tx.max_fee_per_gas),
        "hash": h(tx.hash),
        "input": h(tx.data),
        "nonce": q(tx.nonce),
        "to": checksum(tx.to) if tx.to else None,
        "transactionIndex": q(index) if index is not None else None,
        "value": q(tx.value),
        "type": q(kind),
    }
    if kind != LEGACY:
        out["chainId"] = q(tx.chain_id)
        out["accessList"] = [{"address": checksum(address), "storageKeys": [h(k.to_bytes(32, "big"))
                                                                                       for k in keys]}
                             for address, keys in tx.access_list]
    if kind in (DYNAMIC_FEE, BLOB, SET_CODE):
        out["maxFeePerGas"] = q(tx.max_fee_per_gas)
        out["maxPriorityFeePerGas"] = q(tx.max_priority_fee_per_gas)
    if kind == BLOB:
        out["maxFeePerBlobGas"] = q(tx.max_fee_per_blob_gas)
        out["blobVersionedHashes"] = [h(v) for v in tx.blob_versioned_hashes]
    if kind == SET_CODE:
        out["authorizationList"] = [{"chainId": q(a.chain_id), "address": checksum(a.address),
                                     "nonce": q(a.nonce), "yParity": q(a.y_parity), "r": q(a.r), "s": q(a.s)}
                                    for a in tx.authorization_list]
    if kind == LEGACY:
        out["v"] = q(tx.v)
        chain_id = (tx.v - 35) // 2 if tx.v >= 35 else None  # EIP-155
        if chain_id is not None:
            out["chainId"] = q(chain_id)
    else:
        out["v"] = q(tx.y_parity)
        out["yParity"] = q(tx.y_parity)
    out["r"] = q(tx.r)
    out["s"] = q(tx.s)
    return out


def _topic(topic: Any) -> bytes:
    return topic.to_bytes(32, "big") if isinstance(topic, int) else bytes(topic)


def log_json(log, block, tx, tx_index: int, log_index: int) -> dict:
    return {
        "address": checksum(log.address),
        "topics": [h(_topic(t)) for t in log.topics],
        "data": h(log.data),
        "blockNumber": q(block.number),
        "transactionHash": h(tx.hash),
        "transactionIndex": q(tx_index),
        "blockHash": h(block.hash),
        "logIndex": q(log_index),
        "removed": False,
    }


def block_receipts_json(block, receipts) -> list[dict]:
    """geth's receipts of every transaction in `block` (eth_getBlockReceipts): logIndex counts
    logs across the block, gasUsed is the difference of cumulative gas."""
    from eth._utils.address import generate_contract_address

    out, log_index, cumulative = [], 0, 0
    base_fee = getattr(block.header, "base_fee_per_gas", None)
    for index, (tx, receipt) in enumerate(zip(block.transactions, receipts)):
        logs = []
        for log in receipt.logs:
            logs.append(log_json(log, block, tx, index, log_index))
            log_index += 1
        created = checksum(generate_contract_address(tx.sender, tx.nonce)) if tx.to == b"" else None
        out.append({
            "blockHash": h(block.hash),
            "blockNumber": q(block.number),
            "contractAddress": created,
            "cumulativeGasUsed": q(receipt.gas_used),
            "effectiveGasPrice": q(effective_gas_price(tx, base_fee)),
            "from": checksum(tx.sender),
            "gasUsed": q(receipt.gas_used - cumulative),
            "logs": logs,
            "logsBloom": h(receipt.bloom.to_bytes(256, "big")),
            "status": q(1 if receipt.state_root == b"\x01" else 0),
            "to": checksum(tx.to) if tx.to else None,
            "transactionHash": h(tx.hash),
            "transactionIndex": q(index),
            "type": q(tx_type(tx)),
        })
        if tx_type(tx) == BLOB:
            from eth.vm.forks.cancun.constants import GAS_PER_BLOB

            out[-1]["blobGasUsed"] = q(GAS_PER_BLOB * len(tx.blob_versioned_hashes))
        cumulative = receipt.gas_used
    return out


def next_base_fee(header) -> int:
    """EIP-1559: the base fee of the block after `header`."""
    base, target = header.base_fee_per_gas, header.gas_limit // ELASTICITY
    if header.gas_used == target:
        return base
    if header.gas_used > target:
        return base + max(1, base * (header.gas_used - target) // target // BASE_FEE_CHANGE_DENOMINATOR)
    return max(0, base - base * (target - header.gas_used) // target // BASE_FEE_CHANGE_DENOMINATOR)


def rewards(block, receipts, percentiles: list[float]) -> list[str]:
    """geth's eth_feeHistory rewards for one block: for each percentile, the effective tip of
    the transaction at which that share of the block's gas is reached, tips sorted ascending
    and weighted by gas used; zeros for an empty block."""
    if not block.transactions:
        return [q(0)] * len(percentiles)
    base = block.header.base_fee_per_gas
    used, previous = [], 0
    for receipt in receipts:
        used.append(receipt.gas_used - previous)
        previous = receipt.gas_used
    tips = sorted((min(tx.max_priority_fee_per_gas, tx.max_fee_per_gas - base), gas)
                  for tx, gas in zip(block.transactions, used))
    out, index, sum_gas = [], 0, tips[0][1]
    for p in percentiles:
        threshold = int(block.header.gas_used * p / 100)  # geth truncates to a uint64
        while sum_gas < threshold and index < len(tips) - 1:
            index += 1
            sum_gas += tips[index][1]
        out.append(q(tips[index][0]))
    return out


def fee_history_json(chain, count: int, newest: int, percentiles: list[float]) -> dict:
    """geth's eth_feeHistory over canonical blocks `newest - count + 1 .. newest` (py-evm
    `chain`): count + 1 base fees (the last for the block after `newest`), gas used ratios,
    and rewards when percentiles are asked; blob fees likewise."""
    if count == 0:
        return {"oldestBlock": q(0)}  # geth answers an empty window so
    count = min(count, MAX_FEE_HISTORY, newest + 1)
    oldest = newest - count + 1
    base_fees, ratios, blob_fees, blob_ratios, reward = [], [], [], [], []
    header = None
    for number in range(oldest, newest + 1):
        block = chain.get_canonical_block_by_number(number)
        header = block.header
        base_fees.append(q(header.base_fee_per_gas))
        ratios.append(header.gas_used / header.gas_limit)
        blob_fees.append(q(_blob_base_fee(header.excess_blob_gas)))
        blob_ratios.append(header.blob_gas_used / MAX_BLOB_GAS_PER_BLOCK)
        if percentiles:
            reward.append(rewards(block, block.get_receipts(chain.chaindb), percentiles))
    base_fees.append(q(next_base_fee(header)))
    blob_fees.append(q(_blob_base_fee(_next_excess_blob_gas(header))))
    out = {"oldestBlock": q(oldest), "baseFeePerGas": base_fees, "gasUsedRatio": ratios,
           "baseFeePerBlobGas": blob_fees, "blobGasUsedRatio": blob_ratios}
    if percentiles:
        out["reward"] = reward
    return out


# EIP-4844 with Prague's (EIP-7691) blob schedule: target 6, max 9 blobs a block
GAS_PER_BLOB = 2**17
TARGET_BLOB_GAS_PER_BLOCK = 6 * GAS_PER_BLOB
MAX_BLOB_GAS_PER_BLOCK = 9 * GAS_PER_BLOB
BLOB_BASE_FEE_UPDATE_FRACTION = 5_007_716


def _blob_base_fee(excess: int) -> int:
    """EIP-4844's fake_exponential(1, excess, fraction)."""
    i, output, accum = 1, 0, BLOB_BASE_FEE_UPDATE_FRACTION
    while accum > 0:
        output += accum
        accum = accum * excess // (BLOB_BASE_FEE_UPDATE_FRACTION * i)
        i += 1
    return output // BLOB_BASE_FEE_UPDATE_FRACTION


def _next_excess_blob_gas(header) -> int:
    return max(0, header.excess_blob_gas + header.blob_gas_used - TARGET_BLOB_GAS_PER_BLOCK)


def check_percentiles(percentiles: Any) -> list[float]:
    """geth's checks on eth_feeHistory's reward percentiles: numbers from 0 to 100, ascending."""
    if percentiles is None:
        return []
    if not isinstance(percentiles, list) or len(percentiles) > 100:
        raise ValueError("invalid reward percentiles")
    out: list[float] = []
    for p in percentiles:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 100:
            raise ValueError(f"invalid reward percentile: {p!r}")
        if out and p < out[-1]:
            raise ValueError(f"invalid reward percentile: #{len(out) - 1}:{out[-1]} > #{len(out)}:{p}")
        out.append(float(p))
    return out


# --- logs and log filters (eth_getLogs, eth_newFilter) ----------------------------------------
def log_criteria(criteria: Any) -> tuple[set[bytes], list[set[bytes] | None]]:
    """A filter's addresses (a string or a list; empty: any) and topics (per position: null for
    any, a topic, or a list of alternatives), as raw bytes; ValueError when malformed."""
    if not isinstance(criteria, dict):
        raise ValueError("a log filter must be an object")  # noqa: TRY004 - callers answer ValueError as -32602
    address = criteria.get("address")
    if address is None:
        addresses: list = []
    elif isinstance(address, str):
        addresses = [address]
    elif isinstance(address, list):
        addresses = address
    else:
        raise ValueError(f"invalid address: {str(address)[:60]}")
    wanted = {hex_bytes(a, 20, "address") for a in addresses}
    topics = criteria.get("topics") or []
    if not isinstance(topics, list) or len(topics) > 4:
        raise ValueError("exceed max topics")  # geth's errExceedMaxTopics: at most 4 positions
    positions: list[set[bytes] | None] = []
    for position in topics:
        if position is None:
            positions.append(None)
        elif isinstance(position, str):
            positions.append({hex_bytes(position, 32, "topic")})
        elif isinstance(position, list):
            alternatives = [t for t in position if t is not None]
            # a null among the alternatives matches anything, as in geth
            positions.append(None if len(alternatives) < len(position) or not position
                             else {hex_bytes(t, 32, "topic") for t in alternatives})
        else:
            raise ValueError(f"invalid topic: {str(position)[:80]}")
    return wanted, positions


def hex_bytes(value: Any, size: int, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 2 + 2 * size:
        raise ValueError(f"invalid {what}: {str(value)[:80]}")
    return bytes.fromhex(value[2:])


def may_match(header, addresses: set[bytes], topics: list[set[bytes] | None]) -> bool:
    """The header's bloom filter rules the block out, as geth's does (no false negatives)."""
    if header.bloom == 0:
        return False
    from eth_bloom import BloomFilter

    bloom = BloomFilter(header.bloom)
    if addresses and not any(a in bloom for a in addresses):
        return False
    return all(position is None or any(t in bloom for t in position) for position in topics)


def block_logs(chain, block, addresses: set[bytes], topics: list[set[bytes] | None]) -> list[dict]:
    """The logs of `block` (py-evm) that match, with block-wide log indexes."""
    if not may_match(block.header, addresses, topics):
        return []
    out, log_index = [], 0
    for tx_index, (tx, receipt) in enumerate(zip(block.transactions, block.get_receipts(chain.chaindb))):
        for log in receipt.logs:
            if log_matches(bytes(log.address), [_topic(t) for t in log.topics], addresses, topics):
                out.append(log_json(log, block, tx, tx_index, log_index))
            log_index += 1
    return out


def log_matches(address: bytes, log_topics: list[bytes], addresses: set[bytes], topics: list[set[bytes] | None]) -> bool:
    """geth's filter rule (log_criteria's filter): the address among `addresses` (empty: any),
    and each topic position None (any) or holding the log's topic at that position."""
    if addresses and address not in addresses:
        return False
    if len(topics) > len(log_topics):
        return False
    return all(position is None or t in position for position, t in zip(topics, log_topics))


def block_json(block) -> dict:
    """A block in the keys and order eth-tester answers (the py-evm devchain's), from a block
    whose header is py-evm's (node.eth.revm_devchain's store); transactions as hashes."""
    import rlp

    header = block.header
    size = len(rlp.encode(header)) + sum(len(tx.encode()) for tx in block.transactions) + 3
    return {
        "number": q(header.block_number), "hash": h(header.hash), "parentHash": h(header.parent_hash),
        "nonce": h(header.nonce), "sha3Uncles": h(header.uncles_hash), "logsBloom": h(header.bloom.to_bytes(256, "big")),
        "transactionsRoot": h(header.transaction_root), "receiptsRoot": h(header.receipt_root),
        "stateRoot": h(header.state_root), "miner": checksum(header.coinbase), "difficulty": q(0),
        "totalDifficulty": q(0), "mixHash": h(header.mix_hash), "size": q(size), "extraData": h(header.extra_data),
        "gasLimit": q(header.gas_limit), "gasUsed": q(header.gas_used), "timestamp": q(header.timestamp),
        "transactions": [h(tx.hash) for tx in block.transactions], "uncles": [],
        "baseFeePerGas": q(header.base_fee_per_gas), "withdrawals": [], "withdrawalsRoot": h(header.withdrawals_root),
        "parentBeaconBlockRoot": h(header.parent_beacon_block_root), "blobGasUsed": q(header.blob_gas_used),
        "excessBlobGas": q(header.excess_blob_gas), "requestsHash": h(header.requests_hash),
    }
