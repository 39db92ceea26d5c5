"""The GPU smoke run a CI job with a GPU runs in one go (well under 10 minutes on one GPU):

    python benchmarks/gpu_smoke.py [--out gpu-smoke.json]

1. `pytest -m gpu tests/worker_ai/test_gpu.py`: every real pipeline in float16 on CUDA, NVENC, the
   /hardware routes, a `mode: real` sample;
2. scenarios/gpu-smoke.yaml: a short simulation whose orchestrators run the real pipelines on the
   GPU (NVENC transcoding when the GPU has an encoder) and charge their measured times;
3. 512×512 text-to-image latency with a real-size (Stable Diffusion 1.5-shaped, 860 M-parameter
   UNet) architecture with random weights in float16, 25 steps, after a warm-up;
4. NVENC against libx264: 2 s 720p segments into 360p + 240p per second.

Writes a JSON of what ran, what was skipped and why, and the timings; prints a summary. On a
machine without CUDA every step is recorded as skipped with the reason, and it exits 0.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def gpu_tests() -> dict:
    """The gpu-marked tests in a child pytest (the checkout), read back from its JUnit XML."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests/worker_ai/test_gpu.py",
             "-p", "no:cacheprovider", f"--junitxml={xml}", "-o", "junit_family=xunit2"],
            cwd=REPO, capture_output=True, text=True)
        tests = []
        if xml.is_file():
            for case in ET.parse(xml).iter("testcase"):
                outcome, detail = "passed", ""
                for tag in ("failure", "error", "skipped"):
                    node = case.find(tag)
                    if node is not None:
                        outcome = {"failure": "failed", "error": "error"}.get(tag, tag)
                        detail = node.get("message", "")
                        break
                tests.append({"test": case.get("name"), "outcome": outcome,
                              "seconds": float(case.get("time", 0)), "detail": detail})
    return {"exit_code": proc.returncode, "seconds": round(time.perf_counter() - t0, 2),
            "tests": tests, "output_tail": proc.stdout[-3000:] if proc.returncode else ""}


def scenario_run(nvenc: bool) -> dict:
    from lpsim import metric_names as m
    from lpsim.engine import Simulation
    from lpsim.scenario import load_scenario

    if nvenc:
        os.environ.setdefault("LPSIM_NVIDIA", "0")
    t0 = time.perf_counter()
    sim = Simulation(load_scenario(REPO / "scenarios" / "gpu-smoke.yaml"))
    sim.run()
    wall = time.perf_counter() - t0
    per_pipeline: dict[str, dict] = {}
    for row in sim.rec.job_rows:  # (job, gateway, orchestrator, workload, pipeline, submitted, finished, status, ...)
        entry = per_pipeline.setdefault(row[4], {"completed": 0, "other": 0, "latency_s": []})
        if row[7] == m.COMPLETED:
            entry["completed"] += 1
            entry["latency_s"].append(row[6] - row[5])
        else:
            entry["other"] += 1
    for entry in per_pipeline.values():
        lat = entry.pop("latency_s")
        entry["p50_latency_s"] = round(statistics.median(lat), 4) if lat else None
    return {"wall_seconds": round(wall, 2), "transcoding": "nvenc" if nvenc else "libx264",
            "pipelines": per_pipeline}


def real_size_text_to_image(steps: int = 25, size: int = 512, runs: int = 3,
                            device: str = "cuda") -> dict:
    """A Stable Diffusion 1.5-shaped pipeline (UNet 320/640/1280/1280, CLIP ViT-L text encoder,
    4-block VAE) with random weights in float16 on CUDA; seconds per 512×512 image."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from node.worker.ai.tiny_models import tiny_clip_tokenizer

    tokenizer = tiny_clip_tokenizer()
    t0 = time.perf_counter()
    dtype = torch.float16 if device == "cuda" else torch.float32
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    with torch.device(device):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(sample_size=size // 8, cross_attention_dim=768)
        vae = AutoencoderKL(block_out_channels=[128, 256, 512, 512], layers_per_block=2,
                            down_block_types=["DownEncoderBlock2D"] * 4,
                            up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4,
                            sample_size=size)
        text = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072,
                                            num_attention_heads=12, num_hidden_layers=12,
                                            projection_dim=768, vocab_size=49408))
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text, tokenizer=tokenizer,
                                   scheduler=DDIMScheduler(), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe = pipe.to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    build = time.perf_counter() - t0
    params = sum(p.numel() for p in unet.parameters())

    def one() -> float:
        sync()
        t = time.perf_counter()
        pipe("a cat", height=size, width=size, num_inference_steps=steps,
             generator=torch.Generator(device).manual_seed(1))
        sync()
        return time.perf_counter() - t

    one()  # warm-up: cuDNN autotuning, allocator
    times = [one() for _ in range(runs)]
    return {"unet_parameters": params, "build_seconds": round(build, 2), "steps": steps,
            "size": size, "seconds_per_image": [round(t, 3) for t in times],
            "p50_seconds": round(statistics.median(times), 3)}


def transcode_rates(n: int = 8) -> dict:
    from node.worker.media import synthetic_segment
    from node.worker.transcode import nvenc_available, transcode

    segment = synthetic_segment(2.0, 1280, 720)
    profiles = ["P360p30fps16x9", "P240p30fps16x9"]
    out = {}
    for name, kw in (("libx264", {"preset": "veryfast"}), ("nvenc", {"accel": "nvidia", "device": 0})):
        if name == "nvenc" and not nvenc_available(0):
            out[name] = {"skipped": "this GPU has no NVENC engine or no driver for it"}
            continue
        transcode(segment, profiles, **kw)  # warm-up
        t0 = time.perf_counter()
        for _ in range(n):
            transcode(segment, profiles, **kw)
        out[name] = {"segments_per_second": round(n / (time.perf_counter() - t0), 2)}
    if "segments_per_second" in out.get("nvenc", {}):
        out["nvenc_over_libx264"] = round(out["nvenc"]["segments_per_second"]
                                          / out["libx264"]["segments_per_second"], 2)
    return out


def step(report: dict, name: str, fn, *args) -> None:
    t0 = time.perf_counter()
    try:
        report[name] = fn(*args)
    except Exception as exc:  # noqa: BLE001 - the JSON records what failed and goes on
        report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        report["ok"] = False
    print(f"{name}: {time.perf_counter() - t0:.1f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="gpu-smoke.json")
    args = ap.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    report: dict = {"ok": True, "python": platform.python_version(), "torch": torch.__version__,
                    "cuda": cuda, "gpu": torch.cuda.get_device_name(0) if cuda else None}
    step(report, "gpu_tests", gpu_tests)
    if report["gpu_tests"].get("exit_code") not in (0, None):
        report["ok"] = False
    if not cuda:
        reason = "no CUDA device (torch.cuda.is_available() is False)"
        for name in ("scenario", "real_size_text_to_image", "transcoding"):
            report[name] = {"skipped": reason}
        report["skipped"] = reason
    else:
        from node.worker.transcode import nvenc_available

        step(report, "scenario", scenario_run, nvenc_available(0))
        step(report, "real_size_text_to_image", real_size_text_to_image)
        step(report, "transcoding", transcode_rates)
    Path(args.out).write_text(json.dumps(report, indent=2))
    outcomes = [t["outcome"] for t in report["gpu_tests"].get("tests", [])]
    print(f"gpu tests: {', '.join(f'{outcomes.count(o)} {o}' for o in sorted(set(outcomes)))}")
    if not cuda:
        print(f"skipped: {report['skipped']}")
    print(f"wrote {args.out}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
