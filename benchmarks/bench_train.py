"""Training throughput per model preset on this machine's CPU (or a GPU with --device cuda).

    .venv/bin/python benchmarks/bench_train.py [--features FEATDIR] [--presets tdnn,cnn2d] [--steps 10]
        [--device cuda] [--batch 256] [--compile]

On a GPU (bf16 autocast and channels-last come with --device cuda) the real loop should reach at
least 70 % of pure compute; `benchmarks/gpu_check.sh` runs the whole comparison in one go.

Two numbers per preset: pure compute (forward + backward + AdamW on random tensors) and the real
training loop (``accent.training.loop.run_epoch``: crops read from the memory-mapped store, SpecAugment,
class-balanced sampling). Reported as seconds per step (batch 32, 3 s crops) and segments/s.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from accent.models import build_model, model_config
from accent.devices import autocast as _autocast, resolve_device
from accent.splits import splits_from_index
from accent.training import config
from accent.training.loop import run_epoch
from accent.training.tasks import LogmelTask

CROP_FRAMES = 300
WARMUP_STEPS = 3  # torch.compile and cuDNN autotuning happen in the first steps


def pure_compute(preset: str, n_mels: int, steps: int, device: torch.device, batch: int, compile: bool) -> float:
    model = build_model(model_config(preset, n_mels, 12)).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    forward = torch.compile(model) if compile else model
    x = torch.randn(batch, CROP_FRAMES, n_mels, device=device)
    y = torch.randint(0, 12, (batch,), device=device)
    times = []
    for _ in range(steps + WARMUP_STEPS):
        t0 = time.perf_counter()
        with _autocast(device):
            loss = torch.nn.functional.cross_entropy(forward(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[WARMUP_STEPS:]))


def real_loop(preset: str, features: str, steps: int, device: torch.device, batch: int, compile: bool) -> float:
    from accent.store import FeatureStore

    store = FeatureStore.open(features)
    data = splits_from_index(store.index, features)
    model = build_model(model_config(preset, store.n_mels, len(data.labels))).to(device)
    model.set_normalization(store.mean, store.std)
    cfg = config.train_config(config.resolve("pretrain"), device=str(device), batch_size=batch)
    opt = torch.optim.AdamW(model.parameters(), cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    task = LogmelTask(store, data, CROP_FRAMES / store.config.frames_per_second)
    rng = np.random.default_rng(0)
    forward = torch.compile(model) if compile else model
    run_epoch(model, forward, opt, sched, task, WARMUP_STEPS, cfg, rng, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    run_epoch(model, forward, opt, sched, task, steps, cfg, rng, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", help="FEATDIR for the real-loop number (omit for pure compute only)")
    parser.add_argument("--presets", default="tdnn,cnn2d")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32, help="segments per step (32 on the CPU; 256+ on a GPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (GPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print("| preset | params | compute s/step | compute segments/s | real loop s/step | real loop segments/s |")
    print("|---|---|---|---|---|---|")
    for preset in args.presets.split(","):
        params = sum(p.numel() for p in build_model(model_config(preset, 64, 12)).parameters())
        compute = pure_compute(preset, 64, args.steps, device, args.batch, args.compile)
        real = (real_loop(preset, args.features, args.steps, device, args.batch, args.compile)
                if args.features else float("nan"))
        print(f"| {preset} | {params / 1e3:.0f}k | {compute:.3f} | {args.batch / compute:.0f} | {real:.3f} | "
              f"{args.batch / real:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
