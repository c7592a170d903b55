#!/usr/bin/env python3
"""Peer measurements for scripts/gpu-check.sh, at the shapes of csrc/bench/bench_cuda_ops.cu:
torch F.linear (cuBLAS) in bf16 at the GEMM shapes, torch SDPA (scale=1.0, causal for prefill) in
bf16 and fp32 at the attention shapes, and Hugging Face GPTNeoForCausalLM eager greedy decode
(random weights from GPTNeoConfig, no download) at batch 1, 64 new tokens, bf16.
Each section is independent: a failure is recorded in the JSON and the next section runs.
Timing: CUDA events, warm-up, median of repeats; random (never zero) inputs.

  python3 scripts/gpu_peers.py --json OUT.json [--quick] [--skip-hf]
"""
import argparse
import json
import time
import traceback

import torch
import torch.nn.functional as F

MODELS = {
    "125M": dict(hidden=768, qkv=2304, mlp=3072, vocab=50257, heads=12, head_dim=64, layers=12),
    "1.3B": dict(hidden=2048, qkv=6144, mlp=8192, vocab=50257, heads=16, head_dim=128, layers=24),
}


def median_ms(fn, warmup=3, reps=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    events = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        events.append((start, end))
    torch.cuda.synchronize()
    times = sorted(s.elapsed_time(e) for s, e in events)
    return times[len(times) // 2]


def gemm_section(results, quick):
    dev = "cuda"
    m_list = [512] if quick else [512, 2048, 4096]
    for name, s in MODELS.items():
        lins = [("qkv", s["qkv"], s["hidden"]), ("out_proj", s["hidden"], s["hidden"]),
                ("c_fc", s["mlp"], s["hidden"]), ("c_proj", s["hidden"], s["mlp"]),
                ("lm_head", s["vocab"], s["hidden"])]
        for lin, n, k in lins:
            w = torch.randn(n, k, device=dev, dtype=torch.bfloat16) * 0.05
            b = torch.randn(n, device=dev, dtype=torch.bfloat16)
            for m in m_list:
                x = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
                ms = median_ms(lambda: F.linear(x, w, b))
                results[f"gemm/{name}/{lin}/m={m}"] = dict(ms=ms, value=2.0 * m * n * k / (ms * 1e-3) / 1e12,
                                                           unit="TFLOP/s", note="torch bf16 in/out")
            for m in (1, 8, 32):  # decode batches: GB/s of the weight bytes
                xm = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
                ms = median_ms(lambda: F.linear(xm, w, b), warmup=5, reps=20)
                results[f"gemv/{name}/{lin}/m={m}"] = dict(ms=ms, value=n * k * 2 / (ms * 1e-3) / 1e9, unit="GB/s",
                                                           note="torch bf16 decode batch")
            del w, b
        if quick:
            break
    torch.cuda.empty_cache()


def attention_section(results, quick):
    dev = "cuda"
    for name, s in MODELS.items():
        h, d = s["heads"], s["head_dim"]
        cases = [(1, ctx, ctx) for ctx in (512, 2048)] + [(b, ctx, 1) for ctx in (128, 2048) for b in (1, 8)]
        for seqs, ctx, new in cases:
            kind = "attn_prefill" if new > 1 else "attn_decode"
            entry = {}
            for dtype, tag in ((torch.bfloat16, "bf16"), (torch.float32, "f32")):
                q = torch.randn(seqs, h, new, d, device=dev, dtype=dtype) * 0.2
                k = torch.randn(seqs, h, ctx, d, device=dev, dtype=dtype)
                v = torch.randn(seqs, h, ctx, d, device=dev, dtype=dtype)
                causal = new > 1  # decode: the single query sees every key
                ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=1.0))
                if new > 1:
                    pairs = sum(ctx - new + i + 1 for i in range(new))
                    value, unit = 4.0 * pairs * seqs * h * d / (ms * 1e-3) / 1e12, "TFLOP/s"
                else:
                    value, unit = 2.0 * seqs * ctx * h * d * q.element_size() / (ms * 1e-3) / 1e9, "GB/s"
                entry[tag] = dict(ms=ms, value=value, unit=unit)
                del q, k, v
            results[f"{kind}/{name}/seqs={seqs}/ctx={ctx}"] = entry
        if quick:
            break
    torch.cuda.empty_cache()


def copy_section(results):
    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device="cuda").random_(0, 255)
    b = torch.empty_like(a)
    ms = median_ms(lambda: b.copy_(a))
    results["copy"] = dict(ms=ms, value=2.0 * n / (ms * 1e-3) / 1e9, unit="GB/s", note="torch copy_ 1 GiB")
    del a, b
    torch.cuda.empty_cache()


def hf_section(results, quick):
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    for name, s in MODELS.items():
        cfg_kwargs = dict(vocab_size=s["vocab"], max_position_embeddings=2048, hidden_size=s["hidden"],
                          num_layers=s["layers"], num_heads=s["heads"],
                          attention_types=[[["global", "local"], s["layers"] // 2]], window_size=256)
        try:
            cfg = GPTNeoConfig(attn_implementation="eager", **cfg_kwargs)
        except TypeError:
            cfg = GPTNeoConfig(**cfg_kwargs)
        try:
            cfg._attn_implementation = "eager"
        except Exception:  # noqa: BLE001 - read-only in some versions; the kwarg above covers it
            pass
        torch.manual_seed(0)
        with torch.device("cuda"):
            model = GPTNeoForCausalLM(cfg)
        model = model.to(torch.bfloat16).eval()
        ids = torch.randint(0, s["vocab"], (1, 16), device="cuda")
        new = 64
        with torch.no_grad():
            model.generate(ids, max_new_tokens=8, min_new_tokens=8, do_sample=False, pad_token_id=0)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
            torch.cuda.synchronize()
            dt = time.perf_counter() - t0
        produced = out.shape[1] - ids.shape[1]
        params = sum(p.numel() for p in model.parameters())
        results[f"hf_decode/{name}"] = dict(ms=dt * 1e3 / produced, value=produced / dt, unit="tok/s",
                                            params=params, weight_bytes=params * 2,
                                            note="HF eager generate, batch 1, bf16, 16-token prompt")
        del model
        torch.cuda.empty_cache()
        if quick:
            break


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--gemm-only", action="store_true", help="copy and GEMM peers only (scripts/gpu-wgmma-check.sh)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("SKIP: torch sees no CUDA device")
        json.dump({"skipped": "no CUDA device"}, open(args.json, "w"))
        return
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "results": {}, "errors": {}}
    sections = [("copy", lambda r: copy_section(r)), ("gemm", lambda r: gemm_section(r, args.quick))]
    if not args.gemm_only:
        sections.append(("attention", lambda r: attention_section(r, args.quick)))
    if not args.skip_hf and not args.gemm_only:
        sections.append(("hf", lambda r: hf_section(r, args.quick)))
    for name, fn in sections:
        t0 = time.time()
        try:
            fn(report["results"])
            print(f"{name}: ok ({time.time() - t0:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001 - one failing peer must not hide the others
            report["errors"][name] = f"{type(e).__name__}: {e}"
            traceback.print_exc()
            print(f"{name}: FAILED ({e})", flush=True)
        with open(args.json, "w") as f:  # rewrite after every section: a timeout keeps what finished
            json.dump(report, f, indent=1)
    for key, r in report["results"].items():
        print(key, json.dumps(r))


if __name__ == "__main__":
    main()
