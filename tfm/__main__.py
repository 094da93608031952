"""Command line: ``python -m tfm train ...`` and ``python -m tfm params ...``.

    python -m tfm train --task reverse               # encoder-decoder learns to reverse digits
    python -m tfm train --task numbers               # English -> German number words: exact match, BLEU
    python -m tfm train --task chars --steps 2000    # character-level GPT on Python's docs
    python -m tfm params --preset gpt3-175b          # where GPT-3's 175B parameters sit
    torchrun --standalone --nproc_per_node=2 -m tfm train --task chars   # 2 processes, data parallel

``train`` ends with exactly one JSON line on stdout (progress goes to stderr), so scripts
can read the result with ``json.loads(output.splitlines()[-1])``; ``--history PATH`` also
writes every step's loss and every evaluation to a JSON file, for plots.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from .tasks import SEQ2SEQ_TASKS

TASKS = SEQ2SEQ_TASKS + ("chars",)

# Per-task defaults; every one can be overridden on the command line. The seq2seq ones are
# a small post-LN encoder-decoder (2 + 2 layers, d_model 64, about 236k parameters): with
# them `--task reverse` reaches 100% exact match on 500 held-out sequences in 1500 steps, for
# seeds 0-4 and under both numeric back-ends of `make test` (500 steps gave 98.8-99.8%, 1000
# steps 99.0-100%: no margin over the promised 99%), in 40-60 s on one idle CPU core.
SEQ2SEQ_DEFAULTS = dict(d_model=64, layers=2, heads=4, d_ff=256, dropout=0.0, batch_size=64, lr=3e-3,
                        warmup=30, weight_decay=0.0, n_train=20000, n_val=500, eval_interval=100)
TASK_STEPS = {"copy": 400, "reverse": 1500, "sort": 500, "addition": 3000, "numbers": 2000, "chars": 1000}
# numbers: 0..9999 has 10000 distinct numbers: 8000 to train on, the other 2000 held out. With
# the defaults above, 2000 steps reach 99.95-100% exact match (BLEU 100.0) on the held-out 2000
# for seeds 0, 1, 2, in about 1.5 minutes on one core of an idle 2-core machine (more when it is
# shared; book/performance.md has the measurement). Most of it is reached by step 250.
TASK_OVERRIDES = {"numbers": dict(n_train=8000, n_val=2000, eval_interval=250)}
# nanoGPT's suggestion for a CPU (shakespeare_char): 4 layers, 4 heads, d_model 128, context 64, batch 12.
CHARS_DEFAULTS = dict(d_model=128, layers=4, heads=4, d_ff=None, dropout=0.0, batch_size=12, lr=2e-3,
                      warmup=100, weight_decay=0.1, block_size=64, eval_interval=250)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show "(default: X)" only where it says something: not for None, flags, or helps that explain it.
    In the description and epilog, indented lines (commands) are kept as they are."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or isinstance(action.default, bool) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = text.split("\n\n")
        return "\n\n".join("\n".join(indent + line for line in p.splitlines()) if p.startswith("  ")
                           else super(_HelpFormatter, self)._fill_text(p, width, indent) for p in paragraphs)


TRAIN_EPILOG = """examples:

  python -m tfm train --task numbers
  python -m tfm train --task chars --steps 2000 --eval-interval 100 --history runs/chars.json
  python -m tfm train --task chars --checkpoint runs/chars.pt     # Ctrl-C saves; --resume continues

Several processes, data parallel (torch.distributed DDP: gloo on CPUs, NCCL with one GPU per \
process), with torchrun (or 'python -m torch.distributed.run', the same program):

  torchrun --standalone --nproc_per_node=2 -m tfm train --task chars --checkpoint runs/chars.pt

--batch-size is the global batch: every process draws the same batch and trains on its \
batch-size / nproc_per_node rows of it, so the losses are those of one process with that batch. \
Only rank 0 prints and writes the checkpoint, the history and the JSON line; the checkpoint \
resumes in one process or in several."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfm",
        description="tfm: the Transformer, built one stage at a time. Train small models on CPU or GPU, "
                    "or count the parameters of published ones.",
        epilog="Run 'python -m tfm COMMAND --help' for the options of a command. Several processes (data "
               "parallel): torchrun --standalone --nproc_per_node=2 -m tfm train --task chars (details in "
               "'python -m tfm train --help').")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train_command(sub)
    p = sub.add_parser("params", help="print where a published model's parameters sit",
                       description="Count the learnable parameters of a published model size, step by step, "
                                   "without building it.")
    p.add_argument("--preset", required=True, metavar="NAME", help="one of: " + ", ".join(_preset_names()))
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    p.add_argument("--short", action="store_true", help="leave out the 'what is learned' column")
    p.set_defaults(run=cmd_params, subparser=p)
    return parser


def _add_train_command(sub) -> None:
    t = sub.add_parser(
        "train", help="train a model on a toy task or on text",
        formatter_class=_HelpFormatter,
        description="Train an encoder-decoder Transformer on a seq2seq task (reverse, copy, sort, "
                    "addition, numbers) or a character-level GPT (chars). Prints progress on stderr and "
                    "ends with one JSON line of results on stdout (task, steps, val_loss, train_loss, "
                    "exact_match and bleu for seq2seq, seconds, params, tokens_per_s, ...). Defaults marked "
                    "'task' depend on --task.",
        epilog=TRAIN_EPILOG)
    t.add_argument("--task", required=True, choices=TASKS,
                   help="seq2seq task for the encoder-decoder, or 'chars' for a character GPT")
    _add_training_options(t.add_argument_group("training"))
    _add_model_and_data_options(t.add_argument_group("model"), t.add_argument_group("data"))
    _add_run_options(t.add_argument_group("run"))
    t.set_defaults(run=cmd_train, subparser=t)


def _add_training_options(g) -> None:
    g.add_argument("--steps", type=int, default=None, help="optimizer updates (default: task: "
                   + ", ".join(f"{k} {v}" for k, v in TASK_STEPS.items()) + ")")
    g.add_argument("--batch-size", type=int, default=None, help="examples per step (default: task)")
    g.add_argument("--lr", type=float, default=None, help="peak learning rate (default: task); with --schedule "
                   "noam the factor in front of the paper's formula (1 = the paper; default: the factor that "
                   "peaks at the task's lr)")
    g.add_argument("--schedule", choices=("cosine", "noam", "constant"), default="cosine",
                   help="learning-rate schedule after the warm-up")
    g.add_argument("--warmup", type=int, default=None, help="warm-up steps (default: task)")
    g.add_argument("--min-lr", type=float, default=None, help="final lr of the cosine schedule (default: lr / 10)")
    g.add_argument("--weight-decay", type=float, default=None, help="AdamW weight decay (default: task)")
    g.add_argument("--label-smoothing", type=float, default=0.0, help="the paper uses 0.1")
    g.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm; 0 turns clipping off")
    g.add_argument("--seed", type=int, default=0, help="seed for the data, the weights and dropout")
    g.add_argument("--eval-interval", type=int, default=None, help="evaluate every N steps (default: task)")
    g.add_argument("--eval-batches", type=int, default=10, help="batches averaged for val_loss")


def _add_model_and_data_options(m, d) -> None:
    m.add_argument("--d-model", type=int, default=None, help="width of the model (default: task)")
    m.add_argument("--layers", type=int, default=None, help="layers (encoder and decoder each; default: task)")
    m.add_argument("--heads", type=int, default=None, help="attention heads (default: task)")
    m.add_argument("--d-ff", type=int, default=None, help="feed-forward width (default: task; GPT: 4 d_model)")
    m.add_argument("--dropout", type=float, default=None, help="dropout rate (default: task)")
    m.add_argument("--pre-ln", action="store_true", help="encoder-decoder: pre-LN instead of the paper's post-LN")
    d.add_argument("--n-train", type=int, default=None, help="seq2seq: training examples (default: task)")
    d.add_argument("--n-val", type=int, default=None, help="seq2seq: held-out examples for exact match (default: task)")
    d.add_argument("--text", metavar="PATH", default=None, help="chars: train on this UTF-8 file instead of the "
                   "built-in corpus")
    d.add_argument("--block-size", type=int, default=None, help="chars: context length (default: task)")
    d.add_argument("--sample-len", type=int, default=300, help="chars: characters to sample at the end")
    d.add_argument("--prompt", default="The ", help="chars: text the sample continues (default: 'The ')")


def _add_run_options(r) -> None:
    r.add_argument("--device", default=None, help="cpu, cuda, cuda:1 or mps (default: the best available)")
    r.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto",
                   help="bf16 autocast; auto: on CUDA only")
    r.add_argument("--compile", action="store_true", help="torch.compile the model")
    r.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: 1 for the seq2seq tasks, whose tiny matrices gain nothing "
                        "from more; for chars torch's choice, but 1 where that is 2 or fewer: on a small busy "
                        "machine a second thread mostly waits and can make training 10x slower)")
    r.add_argument("--checkpoint", metavar="PATH", default=None, help="save checkpoints here (atomically)")
    r.add_argument("--checkpoint-interval", type=int, default=0, help="save every N steps; 0: at the end and on Ctrl-C")
    r.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    r.add_argument("--history", metavar="PATH", default=None, help="write the training loss of every step and "
                   "every evaluation (val_loss, exact_match, bleu) to this JSON file, for plots")
    r.add_argument("--no-progress", action="store_true", help="no progress bar or eval lines on stderr")


def _preset_names() -> list[str]:
    try:
        from .params import PRESETS
    except ImportError:
        return []
    return list(PRESETS)


def _option(args: argparse.Namespace, name: str, defaults: dict):
    value = getattr(args, name)
    return defaults.get(name) if value is None else value


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in ("steps", "batch_size", "d_model", "layers", "heads", "d_ff", "n_train", "block_size", "threads"):
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    for name in ("warmup", "n_val", "eval_interval", "eval_batches", "checkpoint_interval", "sample_len"):
        value = getattr(args, name, None)
        if value is not None and value < 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0, got {value}")
    if args.lr is not None and args.lr <= 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    if args.dropout is not None and not 0 <= args.dropout < 1:
        parser.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.resume and not args.checkpoint:
        parser.error("--resume needs --checkpoint PATH")
    if args.text and args.task != "chars":
        parser.error("--text is only for --task chars")
    from .device import get_device
    try:
        get_device(args.device)
    except ValueError as e:
        parser.error(str(e))


def _train_config(args: argparse.Namespace, defaults: dict, steps: int, betas: tuple[float, float], d_model: int):
    from .train import TrainConfig, fused_adamw_available

    lr = _option(args, "lr", defaults)
    warmup = _option(args, "warmup", defaults)
    if args.schedule == "noam" and args.lr is None and warmup > 0:
        lr = lr * (d_model * warmup) ** 0.5  # the factor whose peak (at the end of warm-up) is the default lr
    return TrainConfig(
        steps=steps, batch_size=_option(args, "batch_size", defaults), lr=lr, schedule=args.schedule,
        warmup_steps=warmup, min_lr=lr / 10 if args.min_lr is None else args.min_lr,
        weight_decay=_option(args, "weight_decay", defaults), betas=betas, label_smoothing=args.label_smoothing,
        grad_clip=args.grad_clip or None, eval_interval=_option(args, "eval_interval", defaults),
        eval_batches=args.eval_batches, checkpoint=args.checkpoint, checkpoint_interval=args.checkpoint_interval,
        seed=args.seed, device=args.device, amp=args.amp, compile=args.compile,
        fused=True if fused_adamw_available("cpu") else None,  # None: fused on CUDA only (torch < 2.4)
        progress=not args.no_progress)


def _train_seq2seq(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    import torch

    from .data import make_task, sample_batch
    from .model import Transformer, TransformerConfig
    from .train import dist_info, seq2seq_metrics, train

    defaults = {**SEQ2SEQ_DEFAULTS, **TASK_OVERRIDES.get(args.task, {})}
    task = make_task(args.task, _option(args, "n_train", defaults), _option(args, "n_val", defaults), seed=args.seed)
    torch.manual_seed(args.seed)
    layers = _option(args, "layers", defaults)
    try:
        config = TransformerConfig(
            src_vocab_size=len(task.src_vocab), tgt_vocab_size=len(task.tgt_vocab),
            d_model=_option(args, "d_model", defaults), n_heads=_option(args, "heads", defaults),
            d_ff=_option(args, "d_ff", defaults), n_encoder_layers=layers, n_decoder_layers=layers,
            dropout=_option(args, "dropout", defaults), max_len=max(64, task.max_len + 2), norm_first=args.pre_ln)
        cfg = _train_config(args, defaults, args.steps or TASK_STEPS[args.task], (0.9, 0.98), config.d_model)
    except ValueError as e:
        parser.error(str(e))
    model = Transformer(config)
    bs = cfg.batch_size
    meta = {"task": args.task, "src_itos": task.src_vocab.itos, "tgt_itos": task.tgt_vocab.itos,
            "tgt_sep": task.tgt_vocab.sep}
    result = train(model, lambda step, g: sample_batch(task.train, bs, g), cfg,
                   get_val_batch=(lambda i, g: sample_batch(task.val, bs, g)) if task.val else None,
                   evaluate=(lambda m: seq2seq_metrics(m, task.val, task.tgt_vocab.decode)) if task.val else None,
                   resume=args.resume, meta=meta)
    metrics = result.evals[-1] if result.evals and "exact_match" in result.evals[-1] else {}
    if not metrics and task.val:  # resumed at the last step: nothing was evaluated
        metrics = seq2seq_metrics(model, task.val, task.tgt_vocab.decode)
    if not args.no_progress and dist_info().is_main:  # show a few held-out examples
        from .generate import greedy_decode
        device = next(model.parameters()).device
        for src, tgt in task.val[:3]:
            out = greedy_decode(model, torch.tensor([src], device=device), len(tgt) + 1)
            print(f"  {task.src_vocab.sep.join(task.src_vocab.tokens(src))} -> {task.tgt_vocab.decode(out[0, 1:])}"
                  f"  (reference: {task.tgt_vocab.decode(tgt)})", file=sys.stderr)
    return {"exact_match": metrics.get("exact_match"), "bleu": metrics.get("bleu"), "n_val": len(task.val),
            "result": result, "model": model, "cfg": cfg}


def _train_chars(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    import torch

    from .data import char_corpus, get_lm_batch, load_text, split_text
    from .model import GPT, GPTConfig
    from .tokenizer import CharTokenizer
    from .train import dist_info, train

    defaults = CHARS_DEFAULTS
    text = load_text(args.text) if args.text else char_corpus()
    tok = CharTokenizer.train(text)
    data = torch.tensor(tok.encode(text), dtype=torch.long)
    train_data, val_data = split_text(data, 0.1)
    block = _option(args, "block_size", defaults)
    if len(val_data) < block + 1:
        parser.error(f"the text is too short for --block-size {block}: its validation part has {len(val_data)} tokens")
    torch.manual_seed(args.seed)
    try:
        config = GPTConfig(vocab_size=tok.vocab_size, max_len=block, n_layers=_option(args, "layers", defaults),
                           d_model=_option(args, "d_model", defaults), n_heads=_option(args, "heads", defaults),
                           d_ff=_option(args, "d_ff", defaults), dropout=_option(args, "dropout", defaults))
        cfg = _train_config(args, defaults, args.steps or TASK_STEPS["chars"], (0.9, 0.95), config.d_model)
    except ValueError as e:
        parser.error(str(e))
    model = GPT(config)
    bs = cfg.batch_size
    meta = {"task": "chars", "chars": tok.chars, "special_tokens": tok.special_tokens}
    result = train(model, lambda step, g: get_lm_batch(train_data, block, bs, g), cfg,
                   get_val_batch=lambda i, g: get_lm_batch(val_data, block, bs, g), resume=args.resume, meta=meta)
    sample = ""
    if args.sample_len > 0 and dist_info().is_main:
        device = next(model.parameters()).device
        prompt = tok.encode(args.prompt) or [tok.stoi.get("\n", tok.unk_id)]
        idx = torch.tensor([prompt], dtype=torch.long, device=device)
        gen = torch.Generator(device=device).manual_seed(args.seed)
        out = model.generate(idx, args.sample_len, do_sample=True, temperature=0.8, generator=gen)
        sample = tok.decode(out[0].tolist())
        print(f"--- sample ---\n{sample}\n---")
    return {"sample": sample, "result": result, "model": model, "cfg": cfg}


def cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    _check_args(parser, args)
    import torch

    from .train import dist_info  # under torchrun: which process this is

    threads_before = torch.get_num_threads()
    threads = args.threads or (1 if args.task in SEQ2SEQ_TASKS or threads_before <= 2 else None)
    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        out = _train_chars(args, parser) if args.task == "chars" else _train_seq2seq(args, parser)
    except KeyboardInterrupt:
        where = f"; resume with --checkpoint {args.checkpoint} --resume" if args.checkpoint else ""
        if dist_info().is_main:  # under torchrun every process stops; one says so
            print(f"tfm train: interrupted{where}", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as e:
        print(f"tfm train: error: {e}", file=sys.stderr)
        return 1
    finally:
        torch.set_num_threads(threads_before)  # for callers of main() in the same process
    result, model, cfg = out.pop("result"), out.pop("model"), out.pop("cfg")
    if not dist_info().is_main:
        return 0  # under torchrun, rank 0 reports for everyone
    if args.history:
        history = {"task": args.task, "model_config": model.config.to_dict(), "train_config": cfg.to_dict(),
                   **result.to_dict()}
        Path(args.history).parent.mkdir(parents=True, exist_ok=True)
        Path(args.history).write_text(json.dumps(history) + "\n")
    recent = result.losses[-20:]
    line = {
        "task": args.task,
        "steps": result.step,
        "val_loss": result.val_loss,
        "train_loss": sum(recent) / len(recent) if recent else None,  # mean of the last 20 steps
        **({"exact_match": out["exact_match"], "bleu": out["bleu"], "n_val": out["n_val"]}
           if args.task != "chars" else {}),
        "seconds": round(time.perf_counter() - start, 3),
        "params": sum(p.numel() for p in model.parameters()),
        "tokens_per_s": round(result.tokens_per_s, 1),
        "device": str(next(model.parameters()).device),
        "seed": args.seed,
        "resumed_from_step": result.start_step,
        **({"mfu": result.mfu} if result.mfu is not None else {}),
        **({"world_size": result.world_size} if result.world_size > 1 else {}),
        **({"checkpoint": args.checkpoint} if args.checkpoint else {}),
        **({"history": args.history} if args.history else {}),
        **({"sample": out["sample"]} if args.task == "chars" else {}),
    }
    print(json.dumps(line))
    return 0


def cmd_params(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .params import format_table, get_preset, parameter_table

    try:
        config = get_preset(args.preset)
    except ValueError as e:
        parser.error(str(e))
    rows = parameter_table(config)
    if args.json:
        print(json.dumps({"preset": args.preset, "config": asdict(config),
                          "rows": [{**asdict(r), "total": r.total} for r in rows], "total": rows[-1].total}))
    else:
        kind = type(config).__name__
        print(f"{args.preset} ({kind}: " + ", ".join(f"{k}={v}" for k, v in asdict(config).items()) + ")\n")
        print(format_table(rows, learned=not args.short))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.run(args, args.subparser)  # the subparser reports errors as "python -m tfm train: error: ..."


if __name__ == "__main__":
    sys.exit(main())
