#!/usr/bin/env python3
"""Times PyTorch's fused flash attention (scaled_dot_product_attention, FLASH_ATTENTION backend) at causal prefill
shapes, so `kvsim calibrate` can calibrate prefill attention from a production kernel (DESIGN.md, "Kernels and
calibration targets"). Prints one JSON object per line: a sample
  {"suite": "attention", "series": "prefill/sdpa-flash", "params": {"tokens": T, "heads": H, "head_dim": D},
   "value": FLOP/s, "unit": "flops_per_s"}
or, when it cannot run (no PyTorch, no CUDA, no flash backend), one line {"skip": "<reason>"}. Exit code 0 either way.
Timing: CUDA events, warm-up, median of repeats; FLOPs of causal attention = 4 * H * D * T (T + 1) / 2.
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
    device = torch.device("cuda", args.device)
    tokens_list = [512, 2048, 8192] if args.quick else [256, 512, 1024, 2048, 4096, 8192, 16384, 32768]
    repeats, warmup = (3, 1) if args.quick else (9, 2)
    for tokens in tokens_list:
        shape_q = (1, args.heads, tokens, args.head_dim)
        shape_kv = (1, args.kv_heads, tokens, args.head_dim)
        try:
            q = torch.randn(shape_q, device=device, dtype=torch.bfloat16)
            k = torch.randn(shape_kv, device=device, dtype=torch.bfloat16)
            v = torch.randn(shape_kv, device=device, dtype=torch.bfloat16)
            times = []
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                for i in range(warmup + repeats):
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                    end.record()
                    torch.cuda.synchronize()
                    if i >= warmup:
                        times.append(start.elapsed_time(end) / 1e3)
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
