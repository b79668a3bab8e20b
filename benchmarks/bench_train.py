"""Training throughput per model preset on this machine's CPU (or a GPU with --device cuda).

    .venv/bin/python benchmarks/bench_train.py [--features FEATDIR] [--presets tdnn,cnn2d] [--steps 10]

Two numbers per preset: pure compute (forward + backward + AdamW on random tensors) and the real
training loop (``accent.train.run_epoch``: crops read from the memory-mapped store, SpecAugment,
class-balanced sampling). Reported as seconds per step (batch 32, 3 s crops) and segments/s.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from accent.models import build_model, model_config
from accent.train import TrainConfig, _autocast, resolve_device, run_epoch, splits_from_index

BATCH = 32
CROP_FRAMES = 300


def pure_compute(preset: str, n_mels: int, steps: int, device: torch.device) -> float:
    model = build_model(model_config(preset, n_mels, 12)).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(BATCH, CROP_FRAMES, n_mels, device=device)
    y = torch.randint(0, 12, (BATCH,), device=device)
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        with _autocast(device):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]))


def real_loop(preset: str, features: str, steps: int, device: torch.device) -> float:
    from accent.store import FeatureStore

    store = FeatureStore.open(features)
    data = splits_from_index(store.index, features)
    model = build_model(model_config(preset, store.n_mels, len(data.labels))).to(device)
    model.set_normalization(store.mean, store.std)
    cfg = TrainConfig(device=str(device))
    opt = torch.optim.AdamW(model.parameters(), cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    y = data.codes(store.index, data.train)
    rng = np.random.default_rng(0)
    run_epoch(model, model, opt, sched, store, data.train, y, CROP_FRAMES, 1, cfg, rng, device)  # warm-up
    t0 = time.perf_counter()
    run_epoch(model, model, opt, sched, store, data.train, y, CROP_FRAMES, steps, cfg, rng, device)
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print("| preset | params | compute s/step | compute segments/s | real loop s/step | real loop segments/s |")
    print("|---|---|---|---|---|---|")
    for preset in args.presets.split(","):
        params = sum(p.numel() for p in build_model(model_config(preset, 64, 12)).parameters())
        compute = pure_compute(preset, 64, args.steps, device)
        real = real_loop(preset, args.features, args.steps, device) if args.features else float("nan")
        print(f"| {preset} | {params / 1e3:.0f}k | {compute:.3f} | {BATCH / compute:.0f} | {real:.3f} | {BATCH / real:.0f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
