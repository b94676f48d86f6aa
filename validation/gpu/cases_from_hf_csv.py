#!/usr/bin/env python3
"""Turns the CSV of validation/gpu/hf_runs.py into kvsim validation cases (kind: measured), one per measured point,
each predicting the run like for like: engine.version hf (static batch padded to its longest prompt, returned when
the longest output ends, eager kernels and Python per step), engine.hf_cache dynamic or static, the batch arriving
at once. The offloaded cache is not modelled by kvsim's hf engine: its rows become known-gap cases.

  python3 validation/gpu/cases_from_hf_csv.py --csv validation/measured/h100/hf_runs.csv \\
      --hardware h100-sxm5-80gb --out validation/cases/measured/h100 [--tolerance 0.25]
"""
import argparse
import csv
import os
import re
import sys

# hf_runs.py's full-size models, by the catalog names kvsim knows them under.
FULL_LAYERS = {"llama-3.1-8b": 32, "llama-2-7b": 32, "mistral-7b": 32}


def slug(text):
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-")


def case_text(row, hardware, tolerance, csv_name):
    cache = row["cache"]
    batch, prompt, output = int(row["batch"]), int(row["prompt_tokens"]), int(row["output_tokens"])
    name = f"measured-hf-{slug(row['gpu'])}-{cache}-b{batch}-p{prompt}-o{output}"
    hf_cache = "static" if cache == "static" else "dynamic"
    layout = "reserve" if cache == "static" else "paged"
    lines = [
        f"name: {name}",
        f"source: \"{csv_name}: Hugging Face transformers {row['transformers']} generate() with a {cache} cache on "
        f"{row['gpu']} (driver {row['driver']}, CUDA {row['cuda']}, PyTorch {row['torch']}), {row['model']} "
        f"random weights, batch {batch} x prompt {prompt} x output {output}\"",
        "kind: measured",
        "command: run",
        "scenario:",
        f"  model: {row['model']}",
        f"  hardware: {hardware}",
        "  dtype: bf16",
        f"  engine: {{version: hf, hf_cache: {hf_cache}, max_num_seqs: {batch}, max_model_len: {prompt + output}, "
        f"max_num_batched_tokens: {batch * prompt}}}",
        f"  cache: {{policy: hf-transformers, layout: {layout}}}",
        f"  workload: {{requests: {batch}, arrival: {{process: all-at-once}}, prompt_tokens: {prompt}, "
        f"output_tokens: {output}}}",
    ]
    if cache == "offloaded":
        lines += ["status: known-gap",
                  "reason: kvsim's hf engine models the dynamic and static caches; the offloaded cache's per-layer "
                  "prefetch from host memory is not modelled"]
    lines += ["expect:",
              f"  - {{metric: mean_ttft_ms, value: {float(row['ttft_ms'])}, tolerance: {tolerance}}}",
              f"  - {{metric: mean_tpot_ms, value: {float(row['tpot_ms'])}, tolerance: {tolerance}}}"]
    return name, "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--hardware", required=True, help="kvsim hardware (catalog name or profile YAML)")
    parser.add_argument("--out", required=True, help="folder for the case files")
    parser.add_argument("--tolerance", type=float, default=0.25)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    written = skipped = 0
    with open(args.csv, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("status") != "ok" or int(row["layers"]) != FULL_LAYERS.get(row["model"], -1):
                skipped += 1  # not measured, or a shrunk model the catalog does not have
                continue
            if row.get("compiled", "no") not in ("", "no"):
                skipped += 1  # a compiled decode step is not the eager engine `engine.version: hf` models
                continue
            name, text = case_text(row, args.hardware, args.tolerance, os.path.basename(args.csv))
            with open(os.path.join(args.out, name + ".yaml"), "w") as out:
                out.write(text)
            written += 1
    print(f"wrote {written} cases to {args.out}, skipped {skipped} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
