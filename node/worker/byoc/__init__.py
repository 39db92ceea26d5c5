"""The BYOC worker kit: subclass `Capability`, serve it with `create_app`/`serve` (or
`lpnode byoc-worker --capability module:Class`), and it registers with an orchestrator and takes
paid jobs from gateways (docs/byoc.md). `examples.ImageFilter` is a shipped capability."""
from .capability import (
    BatchRequest,
    BatchResponse,
    Capability,
    CapabilityError,
    EventStream,
)

__all__ = ["BatchRequest", "BatchResponse", "Capability", "CapabilityError", "EventStream"]
