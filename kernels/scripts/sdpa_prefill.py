#!/usr/bin/env python3
"""Times PyTorch's fused flash attention (scaled_dot_product_attention, FLASH_ATTENTION backend) at causal prefill
shapes, so `kvsim calibrate` can calibrate prefill attention from a production kernel (DESIGN.md, "Kernels and
calibration targets"). Prints one JSON object per line: a sample
  {"suite": "attention", "series": "prefill/sdpa-flash", "params": {"tokens": T, "heads": H, "head_dim": D},
   "value": FLOP/s, "unit": "flops_per_s"}
or, when it cannot run (no PyTorch, no CUDA, no flash backend), one line {"skip": "<reason>"}. Exit code 0 either way.
Timing: on --device (made current, so the CUDA events and the kernels are on the same GPU), after warm-up calls,
each repeat brackets enough back-to-back calls to last >= 2 ms (0.5 ms with --quick) between two CUDA events, so
Python's per-call dispatch (tens of microseconds) overlaps the GPU's work instead of being counted; the median of the
repeats is reported. FLOPs of causal attention = 4 * H * D * T (T + 1) / 2.
"""
import argparse
import json
import statistics
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--heads", type=int, default=32)     # llama-3.1-8b query heads
    parser.add_argument("--kv-heads", type=int, default=8)   # its KV heads (GQA)
    parser.add_argument("--head-dim", type=int, default=128)
    args = parser.parse_args()
    try:
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except Exception as e:  # no PyTorch, or one too old for torch.nn.attention
        print(json.dumps({"skip": f"PyTorch with torch.nn.attention unavailable: {e}"}))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"skip": "PyTorch sees no CUDA device"}))
        return 0
    if args.device < 0 or args.device >= torch.cuda.device_count():
        print(json.dumps({"skip": f"no CUDA device {args.device} (PyTorch sees {torch.cuda.device_count()})"}))
        return 0
    torch.cuda.set_device(args.device)
    device = torch.device("cuda", args.device)
    tokens_list = [512, 2048, 8192] if args.quick else [256, 512, 1024, 2048, 4096, 8192, 16384, 32768]
    repeats, warmup = (5, 2) if args.quick else (9, 3)
    min_run_s = 0.5e-3 if args.quick else 2e-3
    for tokens in tokens_list:
        shape_q = (1, args.heads, tokens, args.head_dim)
        shape_kv = (1, args.kv_heads, tokens, args.head_dim)
        try:
            q = torch.randn(shape_q, device=device, dtype=torch.bfloat16)
            k = torch.randn(shape_kv, device=device, dtype=torch.bfloat16)
            v = torch.randn(shape_kv, device=device, dtype=torch.bfloat16)

            def call():
                torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

            def timed(calls):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(calls):
                    call()
                end.record()
                end.synchronize()
                return start.elapsed_time(end) / 1e3 / calls

            times = []
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                for _ in range(warmup):
                    call()
                torch.cuda.synchronize(device)
                inner = max(1, min(1000, int(min_run_s / max(timed(1), 1e-7))))
                for _ in range(repeats):
                    times.append(timed(inner))
        except Exception as e:  # out of memory at this size, or no flash kernel for this GPU/dtype
            print(json.dumps({"skip": f"tokens={tokens}: {e}"}))
            continue
        seconds = statistics.median(times)
        flops = 4.0 * args.heads * args.head_dim * tokens * (tokens + 1) / 2
        print(json.dumps({"suite": "attention", "series": "prefill/sdpa-flash",
                          "params": {"tokens": tokens, "heads": args.heads, "head_dim": args.head_dim},
                          "value": flops / seconds, "unit": "flops_per_s"}))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
