#!/usr/bin/env python3
"""Measures Hugging Face transformers generate() on the local NVIDIA GPU, for kvsim's independent validation.

A Llama-architecture model is built from a config (the shapes of a kvsim catalog model; random weights, so nothing is
downloaded) and generate() runs over a grid of batch x prompt x output tokens for each KV cache implementation
(dynamic, static, offloaded). The output length is forced with min_new_tokens = max_new_tokens, since random
weights stop anywhere. Per point it records:
  ttft_ms      time of generate(max_new_tokens=1): the prefill and the first token
  tpot_ms      (time of generate(N) - ttft) / (N - 1)
  total_ms     time of generate(N)
  peak_bytes   torch.cuda.max_memory_allocated during generate(N)
and, on every row, the GPU, driver, CUDA, PyTorch and transformers versions and whether the decode step was compiled.
Timing: torch.cuda.synchronize around each call; per point, one warm-up call of each timed shape (generate(1) and
generate(N): a static cache is sized prompt + new tokens, so the two are different shapes), then the median of
--repeats calls. Recent transformers compile the decode step by themselves when the cache is static; that
compilation takes minutes, recompiles per shape and falls back to eager after a few, so it is disabled
(generation_config.disable_compile) unless --compile asks for it; the `compiled` column says which ran ("no", "yes",
or "auto" where this transformers cannot disable it).

  python3 validation/gpu/hf_runs.py --model llama-3.1-8b --out validation/measured/<gpu>/hf_runs.csv
  python3 validation/gpu/hf_runs.py --dry-run --out plan.csv      # no PyTorch needed: writes the grid it would run

validation/gpu/cases_from_hf_csv.py turns the CSV into validation cases (engine.version: hf) that `kvsim validate`
runs like for like.
"""
import argparse
import csv
import json
import statistics
import os
import subprocess
import sys
import time

# Shapes of kvsim catalog models (models/catalog/*.yaml, from their Hugging Face config.json).
MODELS = {
    "llama-3.1-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                         num_key_value_heads=8, vocab_size=128256, max_position_embeddings=131072,
                         rope_theta=500000.0),
    "llama-2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096, rope_theta=10000.0),
    "mistral-7b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=8, vocab_size=32000, max_position_embeddings=32768, rope_theta=1000000.0),
}

GRIDS = {
    "smoke": dict(batch=[1], prompt=[128], output=[8]),
    "quick": dict(batch=[1, 8], prompt=[512, 2048], output=[32]),
    "full": dict(batch=[1, 4, 16, 32], prompt=[128, 512, 2048, 8192], output=[32, 256]),
}

CACHES = ["dynamic", "static", "offloaded"]

COLUMNS = ["model", "layers", "cache", "batch", "prompt_tokens", "output_tokens", "ttft_ms", "tpot_ms", "total_ms",
           "peak_bytes", "status", "compiled", "gpu", "driver", "cuda", "torch", "transformers"]


def parameter_count(cfg):
    """Parameters of a Llama-architecture model with untied embeddings (as LlamaForCausalLM builds it)."""
    h, i, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    head_dim = h // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * head_dim
    attention = h * h * 2 + h * kv * 2  # q, o; k, v
    mlp = 3 * h * i
    return layers * (attention + mlp + 2 * h) + 2 * cfg["vocab_size"] * h + h


def grid_points(grid, caches):
    for cache in caches:
        for batch in grid["batch"]:
            for prompt in grid["prompt"]:
                for output in grid["output"]:
                    yield cache, batch, prompt, output


def driver_version():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else "unknown"
    except Exception:
        return "unknown"


def measure(args, cfg, points, writer):
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    if not torch.cuda.is_available():
        raise SystemExit("hf_runs.py: no CUDA device (use --dry-run to check the grid without one)")
    torch.manual_seed(0)
    dtype = torch.bfloat16
    config = LlamaConfig(**cfg, torch_dtype=dtype)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(dtype).eval()
    env = dict(gpu=torch.cuda.get_device_name(0), driver=driver_version(), cuda=torch.version.cuda,
               torch=torch.__version__, transformers=transformers.__version__)

    from transformers import GenerationConfig
    can_disable = hasattr(GenerationConfig(), "disable_compile")
    compiled = "yes" if args.compile else ("no" if can_disable else "auto")

    def timed(ids, mask, new_tokens, cache):
        kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
        if cache != "dynamic":
            kwargs["cache_implementation"] = cache
        if can_disable:
            kwargs["disable_compile"] = not args.compile
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        torch.cuda.synchronize()
        return (time.perf_counter() - start) * 1e3

    for cache, batch, prompt, output in points:
        row = dict(model=args.model, layers=cfg["num_hidden_layers"], cache=cache, batch=batch, prompt_tokens=prompt,
                   output_tokens=output, compiled=compiled if cache == "static" else "no", **env)
        try:
            ids = torch.randint(1, cfg["vocab_size"], (batch, prompt), device="cuda")
            mask = torch.ones_like(ids)
            # Warm-up with exactly the shapes timed below: allocator, kernels, each static cache size.
            timed(ids, mask, 1, cache)
            timed(ids, mask, output, cache)
            ttft = statistics.median(timed(ids, mask, 1, cache) for _ in range(args.repeats))
            torch.cuda.reset_peak_memory_stats()
            total = statistics.median(timed(ids, mask, output, cache) for _ in range(args.repeats))
            row.update(ttft_ms=f"{ttft:.3f}", tpot_ms=f"{(total - ttft) / max(1, output - 1):.3f}",
                       total_ms=f"{total:.3f}", peak_bytes=torch.cuda.max_memory_allocated(), status="ok")
        except torch.cuda.OutOfMemoryError:
            row.update(status="oom")
            torch.cuda.empty_cache()
        except Exception as e:  # an unsupported cache implementation in this transformers version, ...
            row.update(status=f"error: {type(e).__name__}: {e}"[:200])
        writer.writerow(row)
        print(json.dumps(row), flush=True)


def main():
    # Nothing is downloaded (the model is built from a config): never wait on a network the GPU machine lacks.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="llama-3.1-8b", choices=sorted(MODELS))
    parser.add_argument("--layers", type=int, default=0, help="fewer decoder layers (0 = the model's)")
    parser.add_argument("--grid", default="quick", choices=sorted(GRIDS))
    parser.add_argument("--caches", default=",".join(CACHES), help="comma-separated: " + ", ".join(CACHES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", required=True, help="CSV to write")
    parser.add_argument("--compile", action="store_true",
                        help="let transformers compile the static-cache decode step (recorded in the compiled column)")
    parser.add_argument("--dry-run", action="store_true", help="write the grid without running (no PyTorch needed)")
    args = parser.parse_args()
    caches = [c for c in args.caches.split(",") if c]
    for c in caches:
        if c not in CACHES:
            parser.error(f"--caches: unknown cache '{c}' (expected {', '.join(CACHES)})")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    cfg = dict(MODELS[args.model])
    if args.layers:
        cfg["num_hidden_layers"] = args.layers
    points = list(grid_points(GRIDS[args.grid], caches))
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        if args.dry_run:
            for cache, batch, prompt, output in points:
                writer.writerow(dict(model=args.model, layers=cfg["num_hidden_layers"], cache=cache, batch=batch,
                                     prompt_tokens=prompt, output_tokens=output, status="dry-run"))
            print(json.dumps(dict(dry_run=True, points=len(points), parameters=parameter_count(cfg))))
            return 0
        measure(args, cfg, points, writer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
