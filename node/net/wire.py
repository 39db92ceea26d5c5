"""The core's values as `net` protobuf messages and back (go-livepeer net/lp_rpc.proto; the
conversions of core/orchestrator.go `TicketParams` / `ProcessPayment`, server/rpc.go
`pmTicketParams` / `orchestratorInfoWithCaps`, server/segment_rpc.go `genPayment`,
core/capabilities.go `ToNetCapabilities` / `CapabilitiesFromNetCapabilities`, common/util.go
`RatPriceInfo`; spec node.md §1.5, §1.6, §20).

Encodings, exactly as go's:
- integers in TicketParams (face value, win probability, seed, expiration block) are minimal
  big-endian bytes, zero as empty bytes (big.Int.Bytes); reading them back is SetBytes;
- addresses are 20 raw bytes (checksum strings here); a hash is 32 raw bytes. Reading is go's
  BytesToAddress / BytesToHash: the last 20 / 32 bytes, left-padded with zeros;
- an absent sub-message is None here; an empty Payment sender is None (go's nil sender);
- the Payment's ticket params never carry expiration params (the Payment has its own);
  the orchestrator's offer in OrchestratorInfo does;
- Capabilities always carry a Constraints message, as go's ToNetCapabilities does.

`OrchestratorInfo` here is the whole GetOrchestrator answer; `discovery_info()` gives the part the
core's discovery reads (node.core.discovery.OrchestratorInfo). OrchestratorInfo.storage (an
object store the orchestrator offers) is not carried: this node offers none.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any, Mapping, Optional

from eth_utils import to_canonical_address, to_checksum_address

from node.core import discovery
from node.core.capabilities import Capabilities, ModelConstraint
from node.core.params import TicketExpirationParams, TicketParams, TicketSenderParams, int_bytes
from node.core.payment import Payment
from node.core.pricing import PriceInfo

from .auth import AuthToken
from .proto import lp_rpc_pb2 as pb

__all__ = [
    "pb", "int_bytes", "bytes_int", "address_bytes", "address_from_bytes", "hash_from_bytes",
    "optional", "price_info_to_proto", "price_info_from_proto", "expiration_params_to_proto",
    "expiration_params_from_proto", "ticket_params_to_proto", "ticket_params_from_proto",
    "payment_to_proto", "payment_from_proto", "capabilities_to_proto", "capabilities_from_proto",
    "auth_token_to_proto", "auth_token_from_proto", "GPUComputeInfo", "HardwareInformation",
    "hardware_to_proto", "hardware_from_proto", "OrchestratorInfo", "orchestrator_info_to_proto",
    "orchestrator_info_from_proto", "price_per_pixel",
]

# ------------------------------------------------------------------------ integers, addresses

def bytes_int(data: bytes) -> int:
    """Big-endian unsigned bytes as an integer (go's big.Int SetBytes); b"" is 0."""
    return int.from_bytes(data, "big")


@lru_cache(maxsize=4096)
def address_bytes(address: str | bytes) -> bytes:
    """An address as its 20 raw bytes (eth_utils' conversion costs ~60 µs; a node sees few addresses)."""
    return to_canonical_address(address)


@lru_cache(maxsize=4096)
def address_from_bytes(data: bytes) -> str:
    """20 raw bytes as a checksum address, go's BytesToAddress (last 20 bytes, zero-padded)."""
    return to_checksum_address(bytes(data)[-20:].rjust(20, b"\x00"))


def hash_from_bytes(data: bytes) -> bytes:
    """go's BytesToHash: the last 32 bytes, left-padded with zeros."""
    return bytes(data)[-32:].rjust(32, b"\x00")


def optional(msg: Any, name: str) -> Any:
    """A sub-message field, or None where the message does not carry it."""
    return getattr(msg, name) if msg.HasField(name) else None


def price_per_pixel(info: Optional[PriceInfo]) -> Optional[Fraction]:
    """The wei-per-unit price of a PriceInfo, None when absent or unusable (0 pixels per unit)."""
    if info is None or info.pixels_per_unit == 0:
        return None
    return Fraction(info.price_per_unit, info.pixels_per_unit)


# -------------------------------------------------------------------------------------- prices

def price_info_to_proto(info: Any) -> Optional[pb.PriceInfo]:
    """A PriceInfo (or anything with price_per_unit and pixels_per_unit) as net.PriceInfo."""
    if info is None:
        return None
    return pb.PriceInfo(pricePerUnit=info.price_per_unit, pixelsPerUnit=info.pixels_per_unit,
                        capability=getattr(info, "capability", 0), constraint=getattr(info, "constraint", ""))


def price_info_from_proto(msg: Optional[pb.PriceInfo]) -> Optional[PriceInfo]:
    if msg is None:
        return None
    return PriceInfo(msg.pricePerUnit, msg.pixelsPerUnit, msg.capability, msg.constraint)


# ------------------------------------------------------------------------------ ticket params

def expiration_params_to_proto(params: Optional[TicketExpirationParams]) -> Optional[pb.TicketExpirationParams]:
    if params is None:
        return None
    return pb.TicketExpirationParams(creation_round=params.creation_round,
                                     creation_round_block_hash=params.creation_round_block_hash)


def expiration_params_from_proto(msg: Optional[pb.TicketExpirationParams]) -> Optional[TicketExpirationParams]:
    if msg is None:
        return None
    return TicketExpirationParams(msg.creation_round, hash_from_bytes(msg.creation_round_block_hash))


def ticket_params_to_proto(params: Optional[TicketParams], *, with_expiration: bool = True) -> Optional[pb.TicketParams]:
    """An offer as net.TicketParams; `with_expiration=False` for the copy inside a Payment.
    The price it was made at is not on the wire (the Payment's expected price carries it)."""
    if params is None:
        return None
    msg = pb.TicketParams(
        recipient=address_bytes(params.recipient),
        face_value=int_bytes(params.face_value),
        win_prob=int_bytes(params.win_prob),
        recipient_rand_hash=params.recipient_rand_hash,
        seed=int_bytes(params.seed),
        expiration_block=int_bytes(params.expiration_block),
    )
    if with_expiration and params.expiration_params is not None:
        msg.expiration_params.CopyFrom(expiration_params_to_proto(params.expiration_params))
    return msg


def ticket_params_from_proto(msg: Optional[pb.TicketParams], price: Optional[Fraction] = None) -> Optional[TicketParams]:
    """net.TicketParams as the core's offer, with the price per pixel it was made at if known."""
    if msg is None:
        return None
    return TicketParams(
        recipient=address_from_bytes(msg.recipient),
        face_value=bytes_int(msg.face_value),
        win_prob=bytes_int(msg.win_prob),
        recipient_rand_hash=hash_from_bytes(msg.recipient_rand_hash),
        seed=bytes_int(msg.seed),
        expiration_block=bytes_int(msg.expiration_block),
        price_per_pixel=price,
        expiration_params=expiration_params_from_proto(optional(msg, "expiration_params")),
    )


# ------------------------------------------------------------------------------------ payment

def payment_to_proto(payment: Payment) -> pb.Payment:
    """go's genPayment: sender and expected price always; ticket params, expiration params and
    one (nonce, sig) per ticket when the payment carries tickets."""
    msg = pb.Payment()
    if payment.sender:
        msg.sender = address_bytes(payment.sender)
    if payment.expected_price is not None:
        msg.expected_price.CopyFrom(price_info_to_proto(payment.expected_price))
    if payment.ticket_params is not None:
        msg.ticket_params.CopyFrom(ticket_params_to_proto(payment.ticket_params, with_expiration=False))
    if payment.expiration_params is not None:
        msg.expiration_params.CopyFrom(expiration_params_to_proto(payment.expiration_params))
    msg.ticket_sender_params.extend(pb.TicketSenderParams(sender_nonce=sp.sender_nonce, sig=sp.sig)
                                    for sp in payment.ticket_sender_params)
    return msg


def payment_from_proto(msg: pb.Payment) -> Payment:
    """net.Payment as the core's Payment; the offer gets the expected price as its price."""
    expected = price_info_from_proto(optional(msg, "expected_price"))
    return Payment(
        sender=address_from_bytes(msg.sender) if msg.sender else None,
        ticket_params=ticket_params_from_proto(optional(msg, "ticket_params"), price_per_pixel(expected)),
        expiration_params=expiration_params_from_proto(optional(msg, "expiration_params")),
        ticket_sender_params=tuple(TicketSenderParams(sp.sender_nonce, bytes(sp.sig))
                                   for sp in msg.ticket_sender_params),
        expected_price=expected,
    )


# ------------------------------------------------------------------------------- capabilities

def capabilities_to_proto(caps: Optional[Capabilities]) -> Optional[pb.Capabilities]:
    """go's ToNetCapabilities (plus each model's capacity in use, which go fills in for live AI)."""
    if caps is None:
        return None
    msg = pb.Capabilities(bitstring=caps.bitstring.words, mandatories=caps.mandatories.words,
                          version=caps.version, capacities=caps.capacities)
    msg.constraints.minVersion = caps.min_version
    msg.constraints.SetInParent()  # present even when empty
    for cap, models in caps.constraints.items():
        per_cap = msg.constraints.PerCapability[cap]  # indexing creates the entry
        for model_id, m in models.items():
            per_cap.models[model_id].CopyFrom(pb.Capabilities.CapabilityConstraints.ModelConstraint(
                warm=m.warm, capacity=m.capacity, runnerVersion=m.runner_version,
                capacityInUse=m.capacity_in_use))
    return msg


def capabilities_from_proto(msg: Optional[pb.Capabilities]) -> Optional[Capabilities]:
    """go's CapabilitiesFromNetCapabilities: no capacities ⇒ capacity 1 per set bit."""
    if msg is None:
        return None
    constraints = {
        cap: {model_id: ModelConstraint(warm=m.warm, capacity=m.capacity, capacity_in_use=m.capacityInUse,
                                        runner_version=m.runnerVersion)
              for model_id, m in per_cap.models.items()}
        for cap, per_cap in msg.constraints.PerCapability.items()
    }
    return Capabilities.from_wire(msg.bitstring, msg.mandatories, msg.version, msg.constraints.minVersion,
                                  constraints, dict(msg.capacities))


# --------------------------------------------------------------------------------- auth token

def auth_token_to_proto(token: Optional[AuthToken]) -> Optional[pb.AuthToken]:
    if token is None:
        return None
    return pb.AuthToken(token=token.token, session_id=token.session_id, expiration=token.expiration)


def auth_token_from_proto(msg: Optional[pb.AuthToken]) -> Optional[AuthToken]:
    if msg is None:
        return None
    return AuthToken(bytes(msg.token), msg.session_id, msg.expiration)


# ----------------------------------------------------------------------------------- hardware

@dataclass(frozen=True, slots=True)
class GPUComputeInfo:
    """One GPU of a worker (net.GPUComputeInfo; the runner's /hardware/info entry)."""

    id: str = ""
    name: str = ""
    major: int = 0
    minor: int = 0
    memory_free: int = 0
    memory_total: int = 0


@dataclass(frozen=True, slots=True)
class HardwareInformation:
    """The GPUs serving one (pipeline, model), keyed by GPU index as a string."""

    pipeline: str = ""
    model_id: str = ""
    gpu_info: Mapping[str, GPUComputeInfo] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> HardwareInformation:
        """From the AI runner's JSON ({"pipeline", "model_id", "gpu_info": {index: {...}}})."""
        gpus = {str(k): GPUComputeInfo(**{f: v[f] for f in GPUComputeInfo.__slots__ if f in v})
                for k, v in (body.get("gpu_info") or {}).items()}
        return cls(body.get("pipeline", ""), body.get("model_id", ""), gpus)

    def to_json(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "model_id": self.model_id,
                "gpu_info": {k: {f: getattr(g, f) for f in GPUComputeInfo.__slots__}
                             for k, g in self.gpu_info.items()}}


def hardware_to_proto(hw: HardwareInformation) -> pb.HardwareInformation:
    msg = pb.HardwareInformation(pipeline=hw.pipeline, model_id=hw.model_id)
    for key, g in hw.gpu_info.items():
        msg.gpu_info[key].CopyFrom(pb.GPUComputeInfo(id=g.id, name=g.name, major=g.major, minor=g.minor,
                                                     memory_free=g.memory_free, memory_total=g.memory_total))
    return msg


def hardware_from_proto(msg: pb.HardwareInformation) -> HardwareInformation:
    return HardwareInformation(msg.pipeline, msg.model_id, {
        key: GPUComputeInfo(g.id, g.name, g.major, g.minor, g.memory_free, g.memory_total)
        for key, g in msg.gpu_info.items()})


# --------------------------------------------------------------------------- orchestrator info

@dataclass(frozen=True, slots=True)
class OrchestratorInfo:
    """net.OrchestratorInfo: the service URI ("" = does no work), the orchestrator's address
    (checksum; "" if none), its ticket offer, base price, capabilities, the session's auth token,
    worker hardware and per-capability prices (both only when the request named no
    capabilities) and the URIs of its other nodes."""

    transcoder: str = ""
    address: str = ""
    ticket_params: Optional[TicketParams] = None
    price_info: Optional[PriceInfo] = None
    capabilities: Optional[Capabilities] = None
    auth_token: Optional[AuthToken] = None
    hardware: tuple[HardwareInformation, ...] = ()
    capabilities_prices: tuple[PriceInfo, ...] = ()
    nodes: tuple[str, ...] = ()

    def discovery_info(self) -> discovery.OrchestratorInfo:
        """What the core's discovery and selection read: the price as wei per pixel (None if
        absent or with 0 pixels per unit)."""
        return discovery.OrchestratorInfo(self.transcoder, self.address, self.ticket_params,
                                          price_per_pixel(self.price_info), self.capabilities, self.nodes)


def orchestrator_info_to_proto(info: OrchestratorInfo) -> pb.OrchestratorInfo:
    msg = pb.OrchestratorInfo(transcoder=info.transcoder, nodes=info.nodes,
                              capabilities_prices=[price_info_to_proto(p) for p in info.capabilities_prices],
                              hardware=[hardware_to_proto(h) for h in info.hardware])
    if info.address:
        msg.address = address_bytes(info.address)
    for name, value in (("ticket_params", ticket_params_to_proto(info.ticket_params)),
                        ("price_info", price_info_to_proto(info.price_info)),
                        ("capabilities", capabilities_to_proto(info.capabilities)),
                        ("auth_token", auth_token_to_proto(info.auth_token))):
        if value is not None:
            getattr(msg, name).CopyFrom(value)
    return msg


def orchestrator_info_from_proto(msg: pb.OrchestratorInfo) -> OrchestratorInfo:
    """The offer gets the base price as the price it was made at (go's orchestrator makes it at
    that price)."""
    price_info = price_info_from_proto(optional(msg, "price_info"))
    return OrchestratorInfo(
        transcoder=msg.transcoder,
        address=address_from_bytes(msg.address) if msg.address else "",
        ticket_params=ticket_params_from_proto(optional(msg, "ticket_params"), price_per_pixel(price_info)),
        price_info=price_info,
        capabilities=capabilities_from_proto(optional(msg, "capabilities")),
        auth_token=auth_token_from_proto(optional(msg, "auth_token")),
        hardware=tuple(hardware_from_proto(h) for h in msg.hardware),
        capabilities_prices=tuple(price_info_from_proto(p) for p in msg.capabilities_prices),
        nodes=tuple(msg.nodes),
    )
