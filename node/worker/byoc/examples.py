"""Example capabilities shipped with the worker kit.

`ImageFilter` ("image-filter") does real work with Pillow: POST an image (PNG, JPEG, WebP …) as the
body to /process/request/{filter} with filter one of sepia, grayscale, blur, edges, invert; the
answer is the filtered PNG, and X-Metadata carries {"filter", "width", "height"} as JSON.
/process/request/stream/{filter} answers the same as server-sent events: one progress event per
filtered band of the image, then the PNG base64-encoded, then [DONE].
"""
from __future__ import annotations

import asyncio
import base64
import io
import json

from .capability import (
    BatchRequest,
    BatchResponse,
    Capability,
    CapabilityError,
    EventStream,
)
from .stream import StreamingCapability

FILTERS = ("sepia", "grayscale", "blur", "edges", "invert")
MAX_PIXELS = 4096 * 4096
STREAM_BANDS = 4


def apply_filter(data: bytes, name: str):
    """The filtered image (a Pillow Image); CapabilityError for an unknown filter or a body that
    is not an image."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    from PIL import ImageFilter as F

    if name not in FILTERS:
        raise CapabilityError(f"unknown filter {name!r}: use one of {', '.join(FILTERS)}", 404)
    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_PIXELS:
            raise CapabilityError(f"image too large: {img.width}x{img.height}", 413)
        img = img.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise CapabilityError(f"body is not a readable image: {exc}") from None
    if name == "grayscale":
        return ImageOps.grayscale(img)
    if name == "sepia":
        return ImageOps.colorize(ImageOps.grayscale(img), "#2e1a05", "#fff2d5", mid="#a5784a")
    if name == "blur":
        return img.filter(F.GaussianBlur(2))
    if name == "edges":
        return img.filter(F.FIND_EDGES)
    return ImageOps.invert(img)


def png_bytes(img) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


class ImageFilter(Capability):
    name = "image-filter"
    description = "image filters (sepia, grayscale, blur, edges, invert) with Pillow; body = image, answer = PNG"
    capacity = 4
    price_per_unit = 0  # set with --price-per-unit (wei per second)

    async def handle(self, request: BatchRequest):
        path = request.path.strip("/")
        if path.startswith("stream/"):
            return EventStream(self._stream(request.body, path[len("stream/"):]))
        img = await asyncio.to_thread(apply_filter, request.body, path)
        meta = json.dumps({"filter": path, "width": img.width, "height": img.height})
        return BatchResponse(await asyncio.to_thread(png_bytes, img), "image/png", metadata=meta)

    async def _stream(self, data: bytes, name: str):
        from PIL import Image

        try:
            img = await asyncio.to_thread(apply_filter, data, name)
        except CapabilityError as exc:
            yield json.dumps({"error": str(exc)})
            return
        # the bands are filtered already; the events report the image assembled band by band
        out = Image.new(img.mode, img.size)
        band = max(1, -(-img.height // STREAM_BANDS))
        for i, top in enumerate(range(0, img.height, band)):
            box = (0, top, img.width, min(img.height, top + band))
            out.paste(img.crop(box), box)
            yield json.dumps({"progress": (i + 1) / STREAM_BANDS, "rows": box[3]})
        yield json.dumps({"image": base64.b64encode(await asyncio.to_thread(png_bytes, out)).decode()})


class StreamingImageFilter(ImageFilter, StreamingCapability):
    """The image filter as a stream too: each input segment is one image (any Pillow format);
    each is filtered with params["filter"] (default grayscale; changed by /stream/params or the
    control channel), published as a PNG on the output channel when the job has video egress,
    and described on the data channel (one JSON line: seq, filter, size, mean RGB of the result)."""

    async def run_stream(self, stream) -> None:
        seq = 0
        async for data in stream.inputs():
            name = str(stream.params.get("filter", "grayscale"))
            try:
                img = await asyncio.to_thread(apply_filter, data, name)
            except CapabilityError as exc:
                line = {"seq": seq, "filter": name, "error": str(exc)}
                await stream.emit({"type": "error", "stream_id": stream.id, "message": str(exc)})
            else:
                if stream.url("publish_url"):
                    await stream.publish(await asyncio.to_thread(png_bytes, img), "image/png")
                line = {"seq": seq, "filter": name, "width": img.width, "height": img.height,
                        "mean": [round(m, 2) for m in _mean_rgb(img)]}
            if stream.url("data_url"):
                await stream.send_data(line)
            seq += 1


def _mean_rgb(img) -> list[float]:
    from PIL import ImageStat

    return ImageStat.Stat(img.convert("RGB")).mean
