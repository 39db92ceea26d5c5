"""GPU facts for /hardware/info and /hardware/stats.

NVML (the `pynvml` module of nvidia-ml-py) when it is installed, as ai-runner does; otherwise
torch.cuda when torch is already loaded by a real pipeline (utilisation then reads 0); otherwise no
GPU: an empty dict, which is also the runner's answer when NVML is missing.
"""
from __future__ import annotations

import functools
import logging
import sys
from typing import Dict

from .models import GPUComputeInfo, GPUUtilizationInfo

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _nvml():
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception as e:  # no driver, no device
        log.debug("NVML unavailable: %s", e)
        return None
    return pynvml


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _torch_cuda():
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        return torch.cuda if torch.cuda.is_available() else None
    except Exception:
        return None


def _base(i: int) -> Dict | None:
    nvml = _nvml()
    if nvml is not None:
        h = nvml.nvmlDeviceGetHandleByIndex(i)
        mem = nvml.nvmlDeviceGetMemoryInfo(h)
        return {"h": h, "nvml": nvml, "id": _text(nvml.nvmlDeviceGetUUID(h)),
                "name": _text(nvml.nvmlDeviceGetName(h)),
                "memory_total": int(mem.total), "memory_free": int(mem.free)}
    cuda = _torch_cuda()
    props = cuda.get_device_properties(i)
    free, total = cuda.mem_get_info(i)
    return {"props": props, "id": str(getattr(props, "uuid", f"cuda:{i}")), "name": props.name,
            "memory_total": int(total), "memory_free": int(free)}


def _count() -> int:
    nvml = _nvml()
    if nvml is not None:
        return int(nvml.nvmlDeviceGetCount())
    cuda = _torch_cuda()
    return int(cuda.device_count()) if cuda is not None else 0


def gpu_compute_info() -> Dict[int, GPUComputeInfo]:
    out: Dict[int, GPUComputeInfo] = {}
    try:
        for i in range(_count()):
            b = _base(i)
            if "nvml" in b:
                major, minor = b["nvml"].nvmlDeviceGetCudaComputeCapability(b["h"])
            else:
                major, minor = b["props"].major, b["props"].minor
            out[i] = GPUComputeInfo(id=b["id"], name=b["name"], memory_total=b["memory_total"],
                                    memory_free=b["memory_free"], major=major, minor=minor)
    except Exception as e:
        log.warning("GPU info unavailable: %s", e)
    return out


def gpu_utilization_stats() -> Dict[int, GPUUtilizationInfo]:
    out: Dict[int, GPUUtilizationInfo] = {}
    try:
        for i in range(_count()):
            b = _base(i)
            gpu = mem = 0
            if "nvml" in b:
                u = b["nvml"].nvmlDeviceGetUtilizationRates(b["h"])
                gpu, mem = int(u.gpu), int(u.memory)
            out[i] = GPUUtilizationInfo(id=b["id"], name=b["name"], memory_total=b["memory_total"],
                                        memory_free=b["memory_free"], utilization_compute=gpu,
                                        utilization_memory=mem)
    except Exception as e:
        log.warning("GPU stats unavailable: %s", e)
    return out
