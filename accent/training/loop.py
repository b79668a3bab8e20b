"""The one training loop of every neural path: pretrain, scratch, finetune of our network, and
finetune of a pretrained waveform backbone. CPU, CUDA or torchrun (DDP), in float32 or bfloat16 autocast
(``train.precision``, :func:`accent.devices.resolve_precision`).

Each path is a model plus a task (:mod:`accent.training.tasks`) plus a TrainConfig. The loop runs
AdamW with two parameter groups (body at ``lr * body_lr_mult``, head at ``lr``), a linear warm-up
and cosine decay of the learning rate, a head-only phase of ``freeze_epochs``, gradient clipping,
and early stopping that keeps the weights with the best recording-level validation balanced
accuracy (ties: lower validation loss) or, with ``select = "val_loss"``, the lowest validation
loss; optionally over a moving average of the weights (``ema``), and guarded by the starting
weights (``guard``: a transfer's linear probe is kept when no epoch beats its validation loss). The whole training state is saved after each epoch
(``train_state.pt``), so ``resume`` continues an interrupted run exactly where it stopped.

Several GPUs: every rank draws the same epoch plan and trains on its own slice of the crops; every
rank follows rank 0's early-stopping decision; rank 0 writes.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from accent.checkpoint import load_train_state, save_atomic
from accent.devices import autocast, init_distributed, resolve_device, resolve_precision, world
from accent.layout import TRAIN_STATE
from accent.metrics import balanced_accuracy_codes
from accent.metrics import softmax_rows
from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal
from accent.training.config import TrainConfig
from accent.training.rundir import network_checkpoint, network_fields, record_run


def lr_lambda(total_steps: int, warmup_steps: int):
    """Linear warm-up over ``warmup_steps``, then cosine decay to zero at ``total_steps``."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


def _set_body_trainable(model, trainable: bool) -> None:
    for p in model.body_parameters():
        p.requires_grad_(trainable)


def run_epoch(model, ddp_model, optimizer, scheduler, task, n_steps: int, cfg: TrainConfig,
              rng: np.random.Generator, device: torch.device, precision: str) -> float:
    """One epoch of the task's batches; returns the mean training loss (this rank)."""
    rank, size = world()
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    model.train()
    total = 0.0
    for batch, labels in task.batches(n_steps, cfg, rng, rank, size):
        x = torch.from_numpy(batch).to(device, non_blocking=True)
        y = torch.from_numpy(labels).to(device)
        with autocast(device, precision):
            loss = loss_fn(ddp_model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        total += float(loss.detach())
    return total / n_steps


def _state_copy(model) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _update_ema(ema: dict | None, model, decay: float) -> dict:
    """The exponential moving average of the weights, updated once per epoch: ``ema = decay * ema +
    (1 - decay) * weights`` for floating-point tensors (integer buffers follow the model)."""
    current = _state_copy(model)
    if ema is None:
        return current
    return {k: ema[k] * decay + v * (1 - decay) if v.is_floating_point() else v for k, v in current.items()}


def _validate(model, task, device, precision: str, size: int) -> tuple[float, float, float]:
    """(val_bacc, val_loss, val_acc) of the recording-level validation; rank 0's on every rank."""
    logp, val_y = task.validate(model, device, precision)
    val_pred = logp.argmax(1)
    val_loss = float(-logp[np.arange(len(val_y)), val_y].mean())
    val_acc = float((val_pred == val_y).mean())
    val_bacc = balanced_accuracy_codes(val_pred, val_y)
    if size > 1:  # every rank follows rank 0's early-stopping decision
        t = torch.tensor([val_bacc, val_loss, val_acc], device=device)
        torch.distributed.broadcast(t, 0)
        val_bacc, val_loss, val_acc = (float(v) for v in t)
    return val_bacc, val_loss, val_acc


def _improves(select: str, bacc: float, loss: float, best: dict) -> bool:
    """Whether an epoch beats the best so far: lower val loss (``select="val_loss"``), or higher val
    balanced accuracy with ties broken by lower loss. On a validation set of a few recordings per
    class balanced accuracy jumps between epochs; the loss moves smoothly."""
    if select == "val_loss":
        return loss < best["loss"]
    return bacc > best["bacc"] + 1e-9 or (abs(bacc - best["bacc"]) <= 1e-9 and loss < best["loss"])


def fit(model, task, cfg: TrainConfig, out: Path, *, resume: bool = False, progress: bool = True,
        description: str = "train") -> dict:
    """Train ``model`` on ``task`` with early stopping on recording-level validation (``cfg.select``).

    With ``cfg.ema`` the validated and kept weights are a per-epoch moving average of the trained
    ones. With ``cfg.guard`` the starting weights are validated first and kept (``kept_start``)
    unless a later epoch has a lower validation loss: fine-tuning then cannot end below its linear
    probe on validation.

    Returns {"best_epoch", "epochs_run", "history", "train_seconds", "kept_start", "precision"}; ``model`` ends on
    the CPU with the best weights. ``out/train_state.pt`` holds everything needed to resume after each epoch.
    """
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    init_distributed(device)
    rank, size = world()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model.to(device)

    head_ids = {id(p) for p in model.head.parameters()}
    optimizer = torch.optim.AdamW(
        [{"params": list(model.body_parameters()), "lr": cfg.lr * cfg.body_lr_mult},
         {"params": [p for p in model.parameters() if id(p) in head_ids], "lr": cfg.lr}],
        weight_decay=cfg.weight_decay)
    n_steps = task.steps_per_epoch(cfg, size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(cfg.max_epochs * n_steps, max(1, int(cfg.warmup_epochs * n_steps))))

    state_path = out / TRAIN_STATE
    history: list[dict] = []
    best = {"epoch": 0, "bacc": -1.0, "loss": math.inf, "state": None}
    start = None  # the guard's starting point: {"loss", "state"}
    ema = None
    start_epoch, bad_epochs, elapsed = 1, 0, 0.0
    if resume and state_path.is_file():
        st = load_train_state(state_path)
        model.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
        if st.get("scheduler") is not None:  # absent in the state of a waveform run before the schedule
            scheduler.load_state_dict(st["scheduler"])
        rng.bit_generator.state = st["numpy_rng"]
        torch.set_rng_state(st["torch_rng"])
        history, best, bad_epochs, elapsed = st["history"], st["best"], st["bad_epochs"], st["elapsed"]
        start, ema = st.get("start"), st.get("ema")
        start_epoch = st["epoch"] + 1
    elif cfg.guard:
        val_bacc, val_loss, _ = _validate(model, task, device, precision, size)
        start = {"loss": val_loss, "bacc": val_bacc, "state": _state_copy(model)}

    ddp_model = model
    if size > 1:
        ddp_model = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if cfg.compile:
        ddp_model = torch.compile(ddp_model)

    bar = tqdm(total=cfg.max_epochs, initial=start_epoch - 1, desc=description, unit="epoch",
               disable=not progress or rank != 0, leave=False)
    for epoch in range(start_epoch, cfg.max_epochs + 1):
        if bad_epochs >= cfg.patience:
            break
        t0 = time.perf_counter()
        _set_body_trainable(model, epoch > cfg.freeze_epochs)
        train_loss = run_epoch(model, ddp_model, optimizer, scheduler, task, n_steps, cfg, rng, device, precision)
        if cfg.ema > 0:
            ema = _update_ema(ema, model, cfg.ema)
            trained = _state_copy(model)
            model.load_state_dict(ema)
        val_bacc, val_loss, val_acc = _validate(model, task, device, precision, size)
        elapsed += time.perf_counter() - t0
        history.append({"epoch": epoch, "train_loss": round(train_loss, 5), "val_loss": round(val_loss, 5),
                        "val_acc": round(val_acc, 5), "val_bacc": round(val_bacc, 5),
                        "seconds": round(elapsed, 2)})
        if _improves(cfg.select, val_bacc, val_loss, best):
            best = {"epoch": epoch, "bacc": val_bacc, "loss": val_loss, "state": _state_copy(model)}
            bad_epochs = 0
        else:
            bad_epochs += 1
        if cfg.ema > 0:
            model.load_state_dict(trained)
        if rank == 0:
            save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(),
                         "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                         "history": history, "best": best, "bad_epochs": bad_epochs, "elapsed": elapsed,
                         "epoch": epoch, "start": start, "ema": ema}, state_path)
        bar.update(1)
        bar.set_postfix(loss=f"{train_loss:.3f}", val_bacc=f"{val_bacc:.3f}")
    bar.close()
    kept_start = start is not None and not best["loss"] < start["loss"]
    model.load_state_dict(start["state"] if kept_start else best["state"])
    model.to("cpu").eval()
    return {"best_epoch": 0 if kept_start else best["epoch"], "epochs_run": len(history), "history": history,
            "train_seconds": round(elapsed, 2), "kept_start": kept_start, "precision": precision}


def train_and_record(model, task, cfg: TrainConfig, out: Path, *, mode: str, info: dict, resume: bool,
                     progress: bool, recipe: dict | None = None) -> dict:
    """fit, then score the val and test recordings and write the run directory (rank 0)."""
    out.mkdir(parents=True, exist_ok=True)
    fit_result = fit(model, task, cfg, out, resume=resume, progress=progress, description=mode)
    task.release_training_audio()
    data, index = task.data, task.store.index
    rows = np.concatenate([data.val, data.test])
    probs = softmax_rows(task.logprobs(model, rows))
    task_fields = task.checkpoint_fields(model)
    ckpt = network_checkpoint(model, mode, data.labels, task.store.config, task_fields["norm"], cfg, fit_result,
                              task_fields["crop_frames"], backbone=task_fields["backbone"])
    rank, world_size = world()
    fields = network_fields(fit_result, cfg, model.config, recipe)
    if world_size > 1:  # torchrun: how many processes trained it
        fields["world_size"] = world_size
    return record_run(out, mode=mode, labels=data.labels, index=index, rows=rows, probs=probs, train_rows=data.train,
                      info=info, fields=fields, ckpt=ckpt, write=rank == 0)
