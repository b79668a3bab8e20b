"""Issue 23's measurements of a training step (docs/benchmarks.md, "Main job and suite time").

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_speed.py profile FEATDIR MODE OUT [SOURCE] [SIZE]
        one curve run (``run_transfer`` on one torch thread, as a curve worker) under cProfile:
        its CPU seconds, epochs and the 45 most expensive calls (cumulative)
    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_speed.py specaugment
        accent's SpecAugment against torchaudio's masking modules: the same output on 20 seeds, and
        the CPU milliseconds per batch of 32 x 64 x 300
    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_speed.py pooling
        statistics pooling's ``torch.std`` against a two-pass mean/variance, forward + backward
    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_speed.py precision FEATDIR OUT
        float32 against bfloat16 autocast (``train.precision``): the CPU milliseconds of a ``tdnn``
        training step on the store's own 3 s crops (batch 32), then a whole ``scratch`` run at
        ``all``, seed 0, in each precision (CPU seconds, epochs, seconds per epoch) under OUT
    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_speed.py optimizer
        AdamW's per-tensor loop (PyTorch's default on the CPU) against ``foreach=True``: the weights
        after 10 bfloat16 steps of the tdnn (two parameter groups, weight decay, clipping) must be
        equal bit for bit; then the CPU milliseconds per step of each, alternated three times
"""
from __future__ import annotations

import cProfile
import pstats
import sys
import time

import torch


def cpu_ms(fn, n: int = 50) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1000


def profile(features: str, mode: str, out: str, source: str = "", size: str = "all") -> None:
    from accent.transfer import run_transfer

    per_class = None if size == "all" else int(size)
    prof, start = cProfile.Profile(), time.process_time()
    prof.enable()
    run = run_transfer(features, mode, out, source=source or None, per_class=per_class, seed=0, progress=False)
    prof.disable()
    print(f"cpu {time.process_time() - start:.1f} s, epochs {run.get('epochs_run')}, best {run.get('best_epoch')}, "
          f"test balanced accuracy {run['metrics']['test']['balanced_accuracy']:.4f}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(45)


class TorchaudioMasks(torch.nn.Module):
    """SpecAugment as accent applied it before issue 23: torchaudio's modules, one pass per mask."""

    def __init__(self, freq: int, time_: int, n_masks: int):
        import torchaudio

        super().__init__()
        self.n_masks = n_masks
        self.freq = torchaudio.transforms.FrequencyMasking(freq, iid_masks=True)
        self.time = torchaudio.transforms.TimeMasking(time_, iid_masks=True)

    def forward(self, x):
        x = x.unsqueeze(1)
        for _ in range(self.n_masks):
            x = self.time(self.freq(x))
        return x.squeeze(1)


def specaugment() -> None:
    from accent.models.accentnet import SPECAUGMENT, SpecAugment

    old, new = TorchaudioMasks(*SPECAUGMENT.values()), SpecAugment(**SPECAUGMENT)
    x = torch.randn(32, 64, 300)
    for seed in range(20):
        torch.manual_seed(seed)
        a = old(x)
        torch.manual_seed(seed)
        assert torch.equal(a, new(x)), seed
    print("same output on 20 seeds")
    print(f"torchaudio {cpu_ms(lambda: old(x)):.2f} ms, accent {cpu_ms(lambda: new(x)):.2f} ms CPU per batch")


def pooling() -> None:
    h = torch.randn(32, 192, 150, requires_grad=True)

    def two_pass():
        d = h - h.mean(dim=2, keepdim=True)
        return (d.square().sum(2) / (h.shape[2] - 1)).sqrt()

    for name, fn in (("torch.std", lambda: h.std(dim=2)), ("two-pass", two_pass)):
        print(f"{name}: {cpu_ms(lambda: fn().sum().backward()):.2f} ms CPU forward + backward")


def precision(features: str, out: str) -> None:
    import numpy as np
    from torch import nn

    from accent.devices import autocast
    from accent.models.accentnet import build_model, model_config
    from accent.store import FeatureStore, crop_at
    from accent.transfer import run_transfer

    store = FeatureStore.open(features)
    rng = np.random.default_rng(0)
    crops = np.stack([crop_at(store.frames(int(r)), 0, 300) for r in rng.integers(0, len(store.index), 32)])
    x, y = torch.from_numpy(crops.astype(np.float32)), torch.from_numpy(rng.integers(0, 5, 32))
    model = build_model(model_config("tdnn", store.n_mels, 5))
    model.set_normalization(store.mean, store.std)
    optimizer, loss_fn = torch.optim.AdamW(model.parameters(), 1e-3), nn.CrossEntropyLoss(label_smoothing=0.1)
    model.train()
    for name in ("float32", "bfloat16"):
        def step():
            with autocast(torch.device("cpu"), name):
                loss = loss_fn(model(x).float(), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        cpu_ms(step, 5)
        print(f"{name}: {cpu_ms(step, 40):.1f} ms CPU per training step")
    for name in ("float32", "bfloat16"):
        start = time.process_time()
        run = run_transfer(features, "scratch", f"{out}/{name}", seed=0, progress=False,
                           recipe={"train": {"precision": name}})
        cpu = time.process_time() - start
        print(f"{name}: scratch at all, seed 0: {cpu:.1f} CPU s, {run['epochs_run']} epochs, "
              f"{run['train_seconds'] / run['epochs_run']:.2f} s per epoch, "
              f"test balanced accuracy {run['metrics']['test']['balanced_accuracy']:.3f}")


def optimizer() -> None:
    from torch import nn

    from accent.devices import autocast
    from accent.models.accentnet import build_model, model_config

    def trainer(foreach: bool):
        torch.manual_seed(0)
        model = build_model(model_config("tdnn", 64, 5))
        model.train()
        head = {id(p) for p in model.head.parameters()}
        opt = torch.optim.AdamW([{"params": [p for p in model.parameters() if id(p) not in head], "lr": 3e-4},
                                 {"params": list(model.head.parameters()), "lr": 3e-3}],
                                weight_decay=0.05, foreach=foreach)
        gen = torch.Generator().manual_seed(1)
        batches = [(torch.randn(32, 300, 64, generator=gen), torch.randint(0, 5, (32,), generator=gen))
                   for _ in range(10)]
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

        def step(k=[0]):
            x, y = batches[k[0] % len(batches)]
            k[0] += 1
            with autocast(torch.device("cpu"), "bfloat16"):
                loss = loss_fn(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
        return model, step

    weights = {}
    for foreach in (False, True):
        model, step = trainer(foreach)
        for _ in range(10):
            step()
        weights[foreach] = [p.detach().clone() for p in model.parameters()]
    same = all(torch.equal(a, b) for a, b in zip(weights[False], weights[True]))
    print(f"weights after 10 steps equal bit for bit: {same}")
    steps = {foreach: trainer(foreach)[1] for foreach in (False, True)}
    for foreach, step in steps.items():
        cpu_ms(step, 4)
    for _ in range(3):
        print("  ".join(f"foreach={f}: {cpu_ms(steps[f], 25):.1f} ms" for f in (False, True)))


if __name__ == "__main__":
    torch.set_num_threads(1)
    command, *rest = sys.argv[1:] or ["specaugment"]
    {"profile": profile, "specaugment": specaugment, "pooling": pooling, "precision": precision,
     "optimizer": optimizer}[command](*rest)
