#!/usr/bin/env python3
"""Fit vLLM V1's engine-level terms on measured serving runs; report the held-out error.

The operator model's parameters come from Vidur's A100 profiles (models/operator_model.h). What the kernels cannot
say is fitted here, on the measured vLLM H100 runs of validation/cases/measured-*: the engine core's CPU time per
iteration and per sequence, the share of an isolated kernel's floor that a kernel replayed from a CUDA graph still
pays, the decode-attention kernel of the engine against the profiled one, and the API server's time before the
queue. Fit set: the Llama-2-7B (TP 1) runs below capacity (--fit GLOB); held out: every other measured case.
Loss: squared log ratio of mean E2E and mean TTFT, predicted vs measured.

  scripts/fit-engine-terms.py [--kvsim build/release/apps/kvsim] [--fit 'measured-vllm-h100-llama2-7b-*']

Prints the fitted values (to copy into sim/scenario_engine.cc) and each case's errors with them. Needs python3 with
PyYAML, NumPy and SciPy (Debian: python3-yaml python3-numpy python3-scipy).
"""
import argparse
import fnmatch
import glob
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import yaml
from scipy.optimize import minimize

TERMS = [  # (engine key, start, lower, upper)
    ("cpu_iteration_us", 600.0, 0.0, 5000.0),
    ("cpu_per_seq_us", 4.0, 0.0, 200.0),
    ("graph_floor_share", 0.5, 0.0, 1.0),
    ("decode_attention_scale", 1.0, 0.5, 2.0),
    ("frontend_preprocess_ms", 9.0, 0.0, 50.0),
]


def run_case(kvsim, case, values, tmp):
    scenario = dict(case["scenario"])
    path = os.path.join(tmp, case["name"] + ".yaml")
    with open(path, "w") as f:
        yaml.safe_dump(scenario, f)
    sets = []
    for (key, *_), v in zip(TERMS, values):
        sets += ["--set", f"engine.{key}={v:.6g}"]
    out = subprocess.run([kvsim, "run", path, "--format", "json"] + sets, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{case['name']}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def expected(case):
    return {e["metric"]: e["value"] for e in case["expect"]}


def loss(kvsim, cases, values, tmp):
    total = 0.0
    for case in cases:
        got, want = run_case(kvsim, case, values, tmp), expected(case)
        for m in ("mean_e2el_ms", "mean_ttft_ms"):
            if m in want:
                total += math.log(got[m] / want[m]) ** 2
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kvsim", default="build/release/apps/kvsim")
    ap.add_argument("--cases", default="validation/cases")
    ap.add_argument("--fit", default="measured-vllm-h100-llama2-7b-*")
    args = ap.parse_args()
    cases = []
    for f in sorted(glob.glob(os.path.join(args.cases, "measured-*.yaml"))):
        with open(f) as fh:
            cases.append(yaml.safe_load(fh))
    fit = [c for c in cases if fnmatch.fnmatch(c["name"], args.fit) and "mean_e2el_ms" in expected(c)]
    lo = np.array([t[2] for t in TERMS])
    hi = np.array([t[3] for t in TERMS])
    with tempfile.TemporaryDirectory() as tmp:
        # Nelder-Mead on the unit cube (clipped): the loss is a step function of the terms at fine scales.
        def f(x):
            return loss(args.kvsim, fit, lo + np.clip(x, 0, 1) * (hi - lo), tmp)
        x0 = (np.array([t[1] for t in TERMS]) - lo) / (hi - lo)
        res = minimize(f, x0, method="Nelder-Mead", options={"maxfev": 400, "xatol": 1e-3, "fatol": 1e-5})
        best = lo + np.clip(res.x, 0, 1) * (hi - lo)
        print(f"fitted on {len(fit)} cases ({args.fit}), loss {res.fun:.5f}:")
        for (key, *_), v in zip(TERMS, best):
            print(f"  engine.{key} = {v:.4g}")
        print(f"\n{'case':<55} {'metric':<14} {'measured':>10} {'kvsim':>10} {'error':>8}  set")
        for case in cases:
            got, want = run_case(args.kvsim, case, best, tmp), expected(case)
            for m in ("request_throughput", "mean_e2el_ms", "mean_ttft_ms"):
                if m in want:
                    err = got[m] / want[m] - 1
                    tag = "fit" if case in fit else "held out"
                    print(f"{case['name']:<55} {m:<14} {want[m]:>10.4g} {got[m]:>10.4g} {100 * err:>7.1f} %  {tag}")


if __name__ == "__main__":
    main()
