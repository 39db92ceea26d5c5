"""Images the AI runner tests send and read back."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageChops

from node.worker.ai.media import decode_data_url


def png(size=(64, 64), seed=0) -> bytes:
    """A PNG of seeded RGB noise, size (width, height)."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def decode(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(decode_data_url(url))).convert("RGB")


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None
