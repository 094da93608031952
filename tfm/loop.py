"""The steps of :func:`tfm.train.train`, as one object that holds the run's state.

Each method is one part of a run: :meth:`Loop.resume` (or a fresh start), :meth:`Loop.step` (one
update, reading nothing back from the device), :meth:`Loop.flush` (the one read-back of the
losses, every ``log_interval`` steps), :meth:`Loop.evaluate`, :meth:`Loop.save` and :meth:`Loop.run`.
"""
from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm.auto import tqdm

from .checkpoint import get_rng_state, load_checkpoint, make_checkpoint, model_kind, save_checkpoint, set_rng_state
from .device import to_device
from .distributed import DistInfo, any_process, cpu_group, gather_objects, shard_batch, wrap_ddp
from .embedding import trusted_ids
from .losses import Batch, check_batch_ids, count_targets, default_loss_fn
from .metrics import estimate_loss
from .train import (
    GetBatch, LossFn, TrainConfig, TrainResult, configure_optimizer, delayed_interrupt, lr_at, peak_flops_for,
    use_bf16,
)


class Loop:
    """One training run: the model, its optimizer, the batch generator and the history so far."""

    def __init__(self, model: nn.Module, get_batch: GetBatch, cfg: TrainConfig, info: DistInfo,
                 device: torch.device, *, loss_fn: LossFn | None, meta: dict | None, peak_flops: float | None,
                 get_val_batch: GetBatch | None, evaluate: Callable[[nn.Module], dict] | None) -> None:
        self.model, self.get_batch, self.cfg, self.info, self.device = model.to(device), get_batch, cfg, info, device
        self.get_val_batch, self.evaluate_fn, self.meta = get_val_batch, evaluate, meta
        self.d_model = model.config.d_model
        self.check_ids = loss_fn is None  # the default loss reads the batch as check_batch_ids does
        self.loss_fn = loss_fn or default_loss_fn(model, cfg.label_smoothing)
        self.optimizer = configure_optimizer(model, lr_at(1, cfg, self.d_model), cfg.weight_decay, cfg.betas,
                                             cfg.eps, cfg.fused)
        self.generator = torch.Generator()  # the batches' random numbers: ours, so checkpoints can save them
        self.result = TrainResult(world_size=info.world_size)
        self.pending: list[Tensor] = []  # losses of the steps since the last flush, still on the device
        self.bf16 = use_bf16(cfg, device)
        self.peak = peak_flops or peak_flops_for(device)
        self.n_params = sum(p.numel() for p in model.parameters())
        self.show = cfg.progress and info.is_main
        self.group = cpu_group(device) if info.enabled else None  # for agreeing on Ctrl-C without a GPU wait
        self.train_seconds = 0.0
        self.lr = 0.0

    # ---- start ----

    def resume(self, resume: bool | str | Path) -> None:
        """Continue from a checkpoint (see :func:`tfm.train.train`), or seed a fresh run."""
        cfg, info = self.cfg, self.info
        path = Path(cfg.checkpoint) if resume is True and cfg.checkpoint else (Path(resume) if resume else None)
        if path is None or (resume is True and not path.exists()):
            torch.manual_seed(cfg.seed + info.rank)  # dropout: a different stream in each process
            self.generator.manual_seed(cfg.seed)  # batches: the same global batch in every process
            return
        ckpt = load_checkpoint(path)  # on the CPU: load_state_dict copies to the model's device
        if ckpt["model_kind"] != model_kind(self.model) or ckpt["model_config"] != self.model.config.to_dict():
            raise ValueError(f"{path} holds a {ckpt['model_kind']} with config {ckpt['model_config']}, "
                             f"which does not match the model being trained")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        rank_rngs = ckpt.get("rank_rngs")
        if info.enabled and rank_rngs is not None and len(rank_rngs) == info.world_size:
            set_rng_state(rank_rngs[info.rank], self.generator)  # each process's own dropout stream
        else:
            set_rng_state(ckpt["rng"], self.generator)
            if info.rank > 0:  # saved by another number of processes: a new dropout stream for this one
                torch.manual_seed(cfg.seed + 1_000_003 * info.rank + ckpt["step"])
        self.result.losses, self.result.evals = list(ckpt["losses"]), list(ckpt["evals"])
        self.result.step = self.result.start_step = ckpt["step"]

    # ---- one step ----

    def step(self, step: int) -> None:
        """One optimizer update. Reads no value back from the device: its loss joins ``pending``."""
        cfg, info, model = self.cfg, self.info, self.model
        self.lr = lr_at(step, cfg, self.d_model)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        batch = self.get_batch(step, self.generator)  # the global batch (the same in every process), on the CPU
        if self.check_ids:
            check_batch_ids(model, batch)  # where the ids enter: on the CPU, before the device sees them
        n_targets = count_targets(model, batch[-1])
        rows, share = batch, 1.0
        if info.enabled:
            rows = shard_batch(batch, info)
            share = count_targets(model, rows[-1]) / max(1, n_targets)
        rows = to_device(rows, self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16), self._trusted():
            loss = self.loss_fn(self.run_model, rows)  # the mean over this process's targets
        self.optimizer.zero_grad(set_to_none=True)
        if info.enabled:
            # DDP averages the W gradients; weighting each by W * share makes the average the gradient
            # of the global batch's mean loss (the shards may hold different numbers of real targets).
            (loss * (info.world_size * share)).backward()
        else:
            loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        # float64, as the loss was read back before: the shares of all processes sum to the global mean
        self.pending.append(loss.detach().double() * share if info.enabled else loss.detach())
        self.result.step = step
        self.result.tokens += n_targets

    def _trusted(self):
        return trusted_ids() if self.check_ids else nullcontext()

    def flush(self, reduce: bool = True) -> None:
        """Read the pending losses back from the device: the one wait for the GPU between logs.

        Several processes: their shares are summed (``reduce``), giving the global batch's mean loss.
        """
        if not self.pending:
            return
        values = torch.stack(self.pending)
        if self.info.enabled and reduce:
            dist.all_reduce(values)
        self.result.losses.extend(values.tolist())
        self.pending.clear()

    # ---- evaluation, checkpoints, progress ----

    def evaluate(self) -> None:
        """Validation loss and extra metrics; the training's random numbers are left alone."""
        cfg, device = self.cfg, self.device
        metrics: dict = {"step": self.result.step}
        cuda = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda), \
                torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.bf16):
            if self.get_val_batch is not None and cfg.eval_batches > 0:
                with self._trusted():
                    metrics["val_loss"] = estimate_loss(self.compiled, self._val_batch, cfg.eval_batches,
                                                        self.loss_fn, seed=cfg.seed + 1, device=device)
            if self.evaluate_fn is not None:
                metrics.update(self.evaluate_fn(self.model))
        self.result.evals.append(metrics)
        if self.show:
            tqdm.write(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                for k, v in metrics.items()), file=sys.stderr)

    def _val_batch(self, i: int, g: torch.Generator) -> Batch:
        batch = self.get_val_batch(i, g)
        if self.check_ids:
            check_batch_ids(self.model, batch)
        return batch

    def save(self, collective: bool = True) -> None:
        """Write a checkpoint of the last completed step (rank 0 writes; under torchrun every process
        calls this, ``collective``, so that each one's random state goes in)."""
        if not self.cfg.checkpoint:
            return
        r = self.result
        rng = get_rng_state(self.generator)  # between steps: exactly where the next step starts
        rank_rngs = gather_objects(rng, self.group) if self.info.enabled and collective else None
        if self.info.is_main:
            save_checkpoint(self.cfg.checkpoint, make_checkpoint(
                self.model, self.optimizer, r.step, self.cfg, r.losses, r.evals, rng, self.meta, rank_rngs))

    def mfu(self, tokens_per_s: float) -> float | None:
        """6 N FLOPs per token (forward + backward), per GPU, over the GPU's peak."""
        return 6 * self.n_params * tokens_per_s / (self.peak * self.info.world_size) if self.peak else None

    def _progress(self, bar: tqdm) -> None:
        tokens_per_s = self.result.tokens / max(self.train_seconds, 1e-9)
        postfix = {"loss": f"{self.result.losses[-1]:.4f}", "lr": f"{self.lr:.2e}", "tok/s": f"{tokens_per_s:,.0f}"}
        if self.peak:
            postfix["mfu"] = f"{100 * self.mfu(tokens_per_s):.1f}%"
        bar.set_postfix(postfix)

    # ---- the run ----

    def run(self) -> TrainResult:
        """Steps from the last completed one to ``cfg.steps``; Ctrl-C saves and re-raises."""
        cfg, info = self.cfg, self.info
        self.compiled = torch.compile(self.model) if cfg.compile else self.model  # state_dict() from self.model
        self.run_model = wrap_ddp(self.compiled, self.device) if info.enabled else self.compiled
        t_start = time.perf_counter()
        self.model.train()
        bar = tqdm(range(self.result.step + 1, cfg.steps + 1), initial=self.result.step, total=cfg.steps,
                   disable=not self.show, file=sys.stderr, dynamic_ncols=True)
        # Several processes: a Ctrl-C (which may reach only some of them) is held back for the
        # whole run; after each step they agree (on the CPU) whether to stop, so all stop together.
        agreed = [False]
        try:
            with delayed_interrupt() if info.enabled else nullcontext([]) as interrupts:
                self._steps(bar, interrupts, agreed)
                interrupts.clear()  # a Ctrl-C during the last evaluation: the run is finished anyway
        except KeyboardInterrupt:  # Ctrl-C: keep the work done so far, then stop as asked
            bar.close()
            self._interrupted(agreed[0])
            raise
        bar.close()
        self._finish(t_start)
        return self.result

    def _steps(self, bar: tqdm, interrupts: list[int], agreed: list[bool]) -> None:
        cfg, info = self.cfg, self.info
        for step in bar:
            t0 = time.perf_counter()
            with nullcontext() if info.enabled else delayed_interrupt():  # the step finishes first
                self.step(step)
            agreed[0] = info.enabled and any_process(bool(interrupts), self.group)
            evaluate = (cfg.eval_interval and step % cfg.eval_interval == 0) or step == cfg.steps
            save = cfg.checkpoint_interval and step % cfg.checkpoint_interval == 0 and step != cfg.steps
            if agreed[0] or evaluate or save or step % cfg.log_interval == 0:
                self.flush()
                if step % cfg.log_interval == 0 or step == cfg.steps:
                    self._progress(bar)
            self.train_seconds += time.perf_counter() - t0
            if agreed[0]:
                interrupts.clear()  # handled here: the processes stop together
                raise KeyboardInterrupt
            if evaluate:
                self.evaluate()
            if save:
                self.save()

    def _interrupted(self, agreed: bool) -> None:
        together = agreed or not self.info.enabled
        self.flush(reduce=together)
        if self.cfg.checkpoint:
            self.save(collective=agreed)
            if self.info.is_main:
                print(f"\ninterrupted: checkpoint of step {self.result.step} saved to {self.cfg.checkpoint}",
                      file=sys.stderr)
        if agreed:
            dist.barrier()  # the others wait until rank 0's checkpoint is on disk

    def _finish(self, t_start: float) -> None:
        cfg, info, r = self.cfg, self.info, self.result
        self.flush()
        need = r.step > r.start_step or not (cfg.checkpoint and Path(cfg.checkpoint).exists())
        if info.enabled:
            need = any_process(need and info.is_main, self.group)  # rank 0's file decides, for everyone
        if need:
            self.save()
        if info.enabled:
            dist.barrier()  # return once the final checkpoint is written
        r.seconds = time.perf_counter() - t_start
        r.tokens_per_s = r.tokens / self.train_seconds if self.train_seconds > 0 else 0.0
        if r.tokens_per_s:
            r.mfu = self.mfu(r.tokens_per_s)
        if self.show:
            mfu_text = f", MFU {100 * r.mfu:.1f}%" if r.mfu is not None else ""
            procs = f" on {info.world_size} processes" if info.enabled else ""
            print(f"{r.step} steps in {r.seconds:.1f}s{procs}, {r.tokens_per_s:,.0f} tokens/s{mfu_text}",
                  file=sys.stderr)
