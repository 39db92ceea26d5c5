"""The base an operator subclasses to sell a capability through BYOC (bring your own container).

A capability is a class with a name, a price per second and a `handle` coroutine:

    class Sepia(Capability):
        name = "sepia"
        description = "sepia-tone an image"
        capacity = 2                 # jobs at once the orchestrator advertises
        price_per_unit = 1000        # wei per second of compute (or `currency` units) ...
        price_scaling = 1            # ... divided by this

        async def handle(self, request: BatchRequest) -> BatchResponse:
            return BatchResponse(apply_sepia(request.body), "image/png")

The worker app (node.worker.byoc.app) serves it: the orchestrator forwards each paid
`POST /process/request/{path}` to `POST {worker url}/{path}` with the client's body and
Content-Type, and `Authorization: Bearer <token>` when the capability registered a token.
What `handle` answers goes back to the client as it is (status, body, Content-Type, X-Metadata);
an `EventStream` answer is proxied as server-sent events, and the orchestrator debits the
client every 5 s while it lasts. The orchestrator charges by the started second of the whole
request, so a handler should do its work and answer (it may raise `CapabilityError` for a 4xx).

Streaming capabilities (trickle channels, /stream/start) are served beside this by
node.worker.byoc.stream.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from node.core.byoc import ExternalCapability


class CapabilityError(Exception):
    """Raised by a handler for a request it refuses: answered with `status` and `message`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class BatchRequest:
    """One job as the worker receives it: the sub-path after /process/request/ ("" for none),
    the body, its Content-Type and the request headers."""

    path: str
    body: bytes
    content_type: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchResponse:
    """A finished job: the body, its Content-Type, the status, and optional X-Metadata (a short
    string the gateway hands back to the client as a header)."""

    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    metadata: str = ""


@dataclass(frozen=True)
class EventStream:
    """A job answered as server-sent events: each item is one event's data (a line of text; the
    app writes "data: <item>\\n\\n"), and the app ends with "data: [DONE]"."""

    events: AsyncIterator[str]
    metadata: str = ""


Result = BatchResponse | EventStream


class Capability:
    """Subclass and set the class attributes; override `handle` (and `load` for a slow start)."""

    name: str = ""
    description: str = ""
    capacity: int = 1
    price_per_unit: int = 0
    price_scaling: int = 1
    currency: str = ""  # "" / "wei", "eth", or a currency the orchestrator has a price feed for

    async def load(self) -> None:
        """Called once before the worker serves or registers (load a model here)."""

    async def handle(self, request: BatchRequest) -> Result:
        raise NotImplementedError

    def health(self) -> dict:
        """What GET /health answers while the worker serves."""
        return {"status": "OK"}

    def registration(self, url: str, token: str = "", *, name: str | None = None,
                     capacity: int | None = None, price_per_unit: int | None = None,
                     price_scaling: int | None = None, currency: str | None = None) -> ExternalCapability:
        """What the worker sends to POST /capability/register; keyword arguments override the
        class attributes (an operator's command-line flags)."""
        pick = lambda v, d: d if v is None else v
        return ExternalCapability(
            name=pick(name, self.name), url=url, description=self.description,
            capacity=pick(capacity, self.capacity), price_per_unit=pick(price_per_unit, self.price_per_unit),
            price_scaling=pick(price_scaling, self.price_scaling), currency=pick(currency, self.currency),
            token=token)
