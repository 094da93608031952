"""The benchmark scripts run: tiny sizes, 2 rounds each, one thread. No speed is asserted
(speed depends on the machine); only that each main() returns its numbers, positive and finite."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

import run_all  # noqa: E402

EXPECTED = {
    "gpt_vs_hf": ["train_ratio", "train_ratio_paired", "gen_ratio", "gen_ratio_paired", "gen_loop_ratio",
                  "train_tfm_ms", "train_hf_ms", "gen_tfm_ms", "gen_hf_ms", "gen_hf_loop_ms"],
    "transformer_vs_torch": ["train_ratio", "train_ratio_paired", "train_tfm_ms", "train_torch_ms"],
    "cache": ["cache_speedup", "cache_speedup_paired", "gen_cached_ms", "gen_uncached_ms", "attn_didactic_ms",
              "attn_fused_causal_ms", "attn_fused_mask_ms", "attn_didactic_over_fused_causal",
              "attn_didactic_over_fused_mask", "attn_saved_bytes_didactic", "attn_saved_bytes_fused_causal",
              "attn_memory_ratio"],
}
# the two implementations compute the same function (tfm takes the peer's weights through tfm.interop)
MAX_DIFF_KEYS = {"gpt_vs_hf": "max_logit_diff", "transformer_vs_torch": "max_logit_diff", "cache": "attn_max_diff"}


@pytest.fixture(autouse=True)
def restore_torch_state():
    """The benchmarks set the thread count and the seed: give the other tests theirs back."""
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    yield
    torch.set_num_threads(threads)
    torch.set_rng_state(rng)


def quick_args(name: str) -> list[str]:
    return ["--threads", "1", *run_all.QUICK_ARGS[name]]


@pytest.mark.parametrize("name", list(run_all.BENCHMARKS))
def test_benchmark_main_returns_positive_finite_numbers(name, capsys):
    result = run_all.BENCHMARKS[name](quick_args(name))
    for key in EXPECTED[name]:
        value = result[key]
        assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (key, value)
    assert 0.0 <= result[MAX_DIFF_KEYS[name]] < 1e-3  # same weights, same function
    if "same_tokens" in result:
        assert result["same_tokens"] is True
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last_line)["benchmark"] == name  # the final line is the JSON record


def test_run_all_writes_results_only_when_asked(tmp_path, capsys):
    out_file = tmp_path / "results.json"
    out = run_all.main(["--quick", "--threads", "1", "--only", "cache", "--output", str(out_file)])
    assert not out_file.exists()
    assert [row["metric"] for row in out["summary"]] == [key for bench, key, *_ in run_all.SUMMARY if bench == "cache"]
    run_all.main(["--quick", "--threads", "1", "--only", "cache", "--write", "--output", str(out_file)])
    saved = json.loads(out_file.read_text())
    assert saved["results"]["cache"]["cache_speedup"] > 0
    assert "summary" in capsys.readouterr().out


def test_shakespeare_benchmark_runs_the_recipe_on_any_text(tmp_path, capsys):
    """The nanoGPT comparison on a small generated text (the real one is not part of the course):
    it trains through tfm.train, and tfm and its nanoGPT-style peer compute the same function."""
    import bench_shakespeare
    from tfm.data import char_corpus

    text = tmp_path / "text.txt"
    text.write_text(char_corpus()[:20000])
    out = bench_shakespeare.main(["--text", str(text), "--steps", "6", "--warmup", "2", "--eval-iters", "2",
                                  "--peer-rounds", "2", "--peer-budget", "5", "--threads", "1"])
    for key in ("val_loss", "val_loss_sd_20_batches", "train_loss", "step_ms", "step_cpu_ms", "matmul_floor_ms", "matmul_gflops_per_s",
                "peer_tfm_ms", "peer_nanogpt_ms", "peer_step_ratio"):
        assert math.isfinite(out[key]) and out[key] > 0, (key, out[key])
    assert out["steps"] == 6 and out["peer_max_logit_diff"] < 1e-4
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["benchmark"] == "shakespeare"


def test_shakespeare_benchmark_says_when_the_text_is_missing(tmp_path, capsys):
    import bench_shakespeare

    out = bench_shakespeare.main(["--text", str(tmp_path / "missing.txt")])
    assert "skipped" in out and "not found" in capsys.readouterr().out


def test_report_rewrites_only_the_generated_part_of_the_page(tmp_path):
    """`make bench` in small: results, plot and page from one run; the page's prose is kept."""
    import report

    page = tmp_path / "performance.md"
    page.write_text(f"# Title\n\nprose before\n\n{report.BEGIN}\nold table\n{report.END}\n\nprose after\n")
    results, plot = tmp_path / "results.json", tmp_path / "ratios.png"
    report.main(["--quick", "--no-shakespeare", "--threads", "1",
                 "--results", str(results), "--page", str(page), "--plot", str(plot)])
    text = page.read_text()
    assert text.startswith("# Title\n\nprose before\n") and text.endswith("\nprose after\n")
    assert "old table" not in text and "| KV cache speedup" in text and "Shakespeare: not run" in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(results.read_text())
    assert saved["shakespeare"] == {"skipped": "--no-shakespeare"} and saved["summary"]


def test_gpu_check_runs_on_the_cpu_and_says_what_it_skipped(tmp_path, capsys):
    """benchmarks/gpu_check.py --quick: every check that can run on the CPU passes, the CUDA-only
    ones say why they skip, and the JSON summary is written where asked."""
    import gpu_check

    out = tmp_path / "gpu.json"
    report = gpu_check.main(["--quick", "--output", str(out)])
    checks = report["checks"]
    assert json.loads(out.read_text())["checks"].keys() == checks.keys() == set(gpu_check.CHECKS)
    assert not [name for name, r in checks.items() if r["status"] == "failed"], checks
    printed = capsys.readouterr().out
    if not torch.cuda.is_available():
        assert {"tests", "flash"} <= set(report["skipped"]) and all("CUDA" in why for why in report["skipped"].values())
        assert "no CUDA" in printed and "skipped" in printed
    assert checks["char_gpt"]["tokens_per_s"] > 0
    assert checks["ctrl_c"]["stopped_after_step"] == 5 and checks["ctrl_c"]["bitwise_equal"] in (True, False)
    assert checks["generation"]["same_tokens"] is True
    assert 0.0 <= checks["seq2seq"]["exact_match"] <= 1.0
