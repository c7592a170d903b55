#!/usr/bin/env python3
"""Prints the comparison table of scripts/gpu-check.sh: our kernels (bench_cuda_ops.json) beside
the peers measured in the same run (peers.json), matched by key.  Usage: gpu_summary.py OUT_DIR"""
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(v):
    return f"{'-':>8}" if v is None else (f"{v:8.1f}" if v >= 10 else f"{v:8.3f}")


def main():
    out = sys.argv[1]
    ours_doc = load(os.path.join(out, "bench_cuda_ops.json")) or {}
    peers_doc = load(os.path.join(out, "peers.json")) or {}
    ours = {r["key"]: r for r in ours_doc.get("results", [])}
    peers = peers_doc.get("results", {})
    if not ours and not peers:
        print("  (no benchmark JSON to compare)")
        return
    print(f"  device: {ours_doc.get('device') or peers_doc.get('device')}")
    if ours_doc and ours_doc.get("complete") is False:
        print(f"  NOTE: bench_cuda_ops stopped early (timeout or a failed kernel): {len(ours)} rows, see its log")
    for name, err in peers_doc.get("errors", {}).items():
        print(f"  peer section {name} failed: {err[:160]}")
    print(f"  {'key':38} {'ours':>8} {'peer':>8} {'unit':8} {'speed':>9}  peer   (speed = ours/peer rate, >1: ours faster)")

    def row(key, ours_v, peer_v, unit, peer_name):
        if ours_v and peer_v:
            ratio = f"{(peer_v / ours_v if unit == 'ms' else ours_v / peer_v):9.2f}"
        else:
            ratio = f"{'-':>9}"
        print(f"  {key:38} {fmt(ours_v)} {fmt(peer_v)} {unit:8} {ratio}  {peer_name}")

    copy_bw = (peers.get("copy") or {}).get("value") or (ours.get("copy") or {}).get("value")
    if "copy" in ours or "copy" in peers:
        row("copy (bandwidth bound)", (ours.get("copy") or {}).get("value"), (peers.get("copy") or {}).get("value"),
            "GB/s", "torch copy_")
    keys = sorted(set(ours) | set(peers))
    prefill_m = "m=2048" if any(k.endswith("m=2048") for k in keys) else "m=512"
    for prefix, peer_name in (("gemm/", "torch bf16 linear"), ("gemv/", "torch bf16 decode batch")):
        for k in keys:
            if not k.startswith(prefix):
                continue
            if prefix == "gemm/" and not k.endswith(prefill_m):
                continue
            if prefix == "gemv/" and k.endswith(("/m=4", "/m=8")):
                continue  # m=1 and m=32 bracket it; all sizes are in the JSON  # one prefill size keeps the table short; all sizes are in the JSON
            o, p = ours.get(k, {}), peers.get(k, {})
            alt = ours.get("gemm_alt/" + k[len("gemm/"):]) if prefix == "gemm/" else None
            alt_name = (alt.get("shape") or "[other tile,").split("[")[-1].split(",")[0] if alt else ""
            note = f"{peer_name}; {alt_name} {alt['value']:.0f}" if alt else peer_name
            row(k, o.get("value"), p.get("value"), o.get("unit") or p.get("unit") or "", note)
    # The Hopper wgmma GEMM forced (the default where it runs) beside cuBLAS and the mma.sync kernel.
    for k in keys:
        if k.startswith("gemm/") and k.endswith(prefill_m):
            rest = k[len("gemm/"):]
            wg, o, p = ours.get("gemm_wgmma/" + rest), ours.get(k, {}), peers.get(k, {})
            if not wg:
                continue
            tc = ours.get("gemm_alt/" + rest) if "[wgmma" in (o.get("shape") or "") else o
            note = f"cuBLAS (torch bf16 linear); mma.sync {tc['value']:.0f}" if tc else "cuBLAS (torch bf16 linear)"
            rx = ours.get("gemm_round_x/" + rest)
            if rx and rx.get("ms") and wg.get("ms") and wg["ms"] > rx["ms"]:
                # the kernel alone: the FLOPs over the time without the x rounding pass
                kernel_only = wg["value"] * wg["ms"] / (wg["ms"] - rx["ms"])
                note += f"; x rounding {rx['ms'] * 1e3:.0f} us, kernel alone ~{kernel_only:.0f}"
            row("wgmma/" + rest, wg.get("value"), p.get("value"), "TFLOP/s", note)
            for tag in ("wgmma_tma", "wgmma_tma_persistent", "wgmma_tma_cluster"):
                tma = ours.get(f"gemm_{tag}/" + rest)
                if tma:
                    row(f"{tag}/" + rest, tma.get("value"), p.get("value"), "TFLOP/s",
                        f"cuBLAS (torch bf16 linear); wgmma (cp.async) {wg.get('value') or 0:.0f}")
    # The prompt MLP block with 16-bit activations between its ops (GPTNEO_CUDA_X16=1) beside fp32 ones.
    for k in keys:
        if k.startswith("mlp/"):
            o16, o32 = ours.get("mlp_x16/" + k[len("mlp/"):], {}), ours.get(k, {})
            row("mlp_x16/" + k[len("mlp/"):] + " ms", o16.get("ms"), o32.get("ms"), "ms", "our fp32-activation MLP block")
    for k in keys:
        if k.startswith("attn_"):
            # Rows of a forced kernel carry its name ("/tensor-core_1.3B/"), rows of a half cache its type
            # ("/tensor-core_bf16cache_1.3B/"); the peer's key has neither.
            kernel = next((t for t in ("tensor-core", "wgmma-pipelined", "wgmma", "tiled") if f"/{t}_" in k), None)
            cache = next((c for c in ("bf16", "f16") if f"{c}cache_" in k), "fp32")
            peer_key = k.replace(f"/{kernel}_", "/") if kernel else k
            peer_key = peer_key.replace(f"/{cache}cache_", "/").replace("/keys8_", "/").replace("/waves_", "/")
            o, p = ours.get(k, {}), peers.get(peer_key, {})
            ours_what = (f"bf16 tensor cores, paged {cache} cache" if kernel == "tensor-core"
                         else f"bf16 {kernel}, paged {cache} cache" if kernel and kernel.startswith("wgmma")
                         else f"fp32 paged {cache} cache")
            for tag in ("bf16", "f32"):
                pv = (p.get(tag) or {}).get("ms")
                row(k + " ms", o.get("ms"), pv, "ms", f"SDPA {tag} (ours: {ours_what})")
    # The decode kernel with 8 keys in flight for a bf16 cache (GPTNEO_CUDA_DECODE_KEYS16=8) beside 4.
    for k in keys:
        if k.startswith("attn_decode/bf16cache_keys8_"):
            four = ours.get(k.replace("bf16cache_keys8_", "bf16cache_"), {})
            row(k + " GB/s", ours[k].get("value"), four.get("value"), "GB/s", "4 keys in flight (the default)")
    # The decode kernel's wave-aware split plan (GPTNEO_CUDA_DECODE_SPLIT=waves) beside the fill plan.
    for k in keys:
        if k.startswith(("attn_decode/", "b2b/attn_decode/")) and "waves_" in k:
            fill = ours.get(k.replace("waves_", ""), {})
            row(k + " GB/s", ours[k].get("value"), fill.get("value"), "GB/s", "the fill plan (the default)")
    # The streaming GEMV (back to back, with and without programmatic dependent launch) beside the
    # GEMV on the same shapes; the last column is the fraction of the measured copy bandwidth.
    for k in keys:
        if k.startswith("b2b_stream/"):
            rest = k[len("b2b_stream/"):]
            o, nopdl, gemv = ours.get(k, {}), ours.get("b2b_stream_nopdl/" + rest, {}), ours.get("b2b_gemv/" + rest, {})
            frac = f"; {o['value'] / copy_bw:.0%} of copy" if copy_bw and o.get("value") else ""
            nopdl_note = f"; without pdl {nopdl['value']:.0f}" if nopdl.get("value") else ""
            row("stream/" + rest, o.get("value"), gemv.get("value"), "GB/s", f"our gemv{nopdl_note}{frac}")
    # The clustered decode GEMM (forced, back to back; GN_BENCH_DECODE_TC_CLUSTER=1) beside what the
    # dispatcher runs at the same batch, with the unsplit decode tensor-core kernel forced where it is
    # not the selected one, and the fraction of the copy bandwidth.
    for k in keys:
        if k.startswith("b2b_dtc_cluster/"):
            rest = k[len("b2b_dtc_cluster/"):]
            o, sel = ours.get(k, {}), ours.get("b2b/" + rest, {})
            dtc, pdl = ours.get("b2b_dtc/" + rest, {}), ours.get("b2b_dtc_cluster_pdl/" + rest, {})
            notes = ["our selected " + (sel.get("shape") or "[?]").split("[")[-1].rstrip("]")]
            if dtc.get("value"):
                notes.append(f"decode-tc forced {dtc['value']:.0f}")
            if pdl.get("value"):
                notes.append(f"with pdl {pdl['value']:.0f}")
            if copy_bw and o.get("value"):
                notes.append(f"{o['value'] / copy_bw:.0%} of copy")
            row("dtc_cluster/" + rest, o.get("value"), sel.get("value"), "GB/s", "; ".join(notes))
    # The decode layers again with GPTNEO_CUDA_DECODE_TC=cluster (bench_cuda_ops --decode-only in a process
    # of its own: the switch is read once), beside the same rows without it.
    cluster_doc = load(os.path.join(out, "bench_decode_tc_cluster.json")) or {}
    for r in cluster_doc.get("results", []):
        k = r["key"]
        if k.startswith("graph/decode_layer/") and "/seqs=8/" in k:
            row(k[len("graph/"):] + " dtc-cluster", r.get("ms"), (ours.get(k) or {}).get("ms"), "ms",
                "the same graph without the switch")
    # One decoder layer at decode, per layer: as launches, as a CUDA graph, with the layer norms folded
    # into the GEMVs, on the streaming GEMV, and both (the "peer" column is the plain graph: >1 means
    # the variant helps).
    variants = ("/pdl", "/fused_ln", "/fused_ln/pdl", "/stream", "/stream/pdl", "/fused_ln/stream",
                "/fused_ln/stream/pdl", "/stream/pdl/fused_kv", "/fused_ln/stream/pdl/fused_kv",
                "/stream/pdl/l2_prefetch", "/fused_ln/stream/pdl/fused_kv/l2_prefetch",
                "/fused_ln/stream/fused_kv/persistent", "/fused_ln/stream/pdl/fused_kv/persistent")
    for k in keys:
        if k.startswith("graph/decode_layer/") and not k.endswith(variants):
            launch, graph = ours.get(k[len("graph/"):], {}), ours.get(k, {})
            row(k[len("graph/"):] + " launch", launch.get("ms"), graph.get("ms"), "ms", "our graph replay of it")
            for v in variants:
                other = ours.get(k + v, {})
                if other:
                    row(k[len("graph/"):] + " " + v[1:].replace("/", "+"), other.get("ms"), graph.get("ms"), "ms",
                        "our plain graph")
    # The sampling kernels per step (rows x 50257 logits): the device draw beside the prefilter's candidates.
    for k in keys:
        if k.startswith("draw/"):
            o, cand = ours.get(k, {}), ours.get("candidates/" + k[len("draw/"):], {})
            row(k + " ms", o.get("ms"), cand.get("ms"), "ms", "our select_candidates, same rows")
    # The nucleus draw (top-p 0.9 on the same rows) against the temperature draw.
    for k in keys:
        if k.startswith("draw_nucleus/"):
            o, plain = ours.get(k, {}), ours.get("draw/" + k[len("draw_nucleus/"):], {})
            row(k + " ms", o.get("ms"), plain.get("ms"), "ms", "our temperature draw, same rows")
        if k.startswith("draw_nucleus_minp/"):
            o, plain = ours.get(k, {}), ours.get("draw_nucleus/" + k[len("draw_nucleus_minp/"):], {})
            row(k + " ms", o.get("ms"), plain.get("ms"), "ms", "our nucleus draw without min-p, same rows")
    # The sampling kernels with the row staged in shared memory (GPTNEO_CUDA_ROW_STAGE) against the default.
    for kind in ("candidates", "draw", "draw_nucleus"):
        for rows in (1, 8, 64):
            staged, plain = ours.get(f"{kind}_staged/{rows}", {}), ours.get(f"{kind}/{rows}", {})
            if staged and plain:
                row(f"{kind}_staged/{rows} ms", staged.get("ms"), plain.get("ms"), "ms", f"{kind}/{rows}, row read each pass")
    for k in keys:
        if k.startswith("hf_decode/"):
            p = peers[k]
            bound = copy_bw * 1e9 / p["weight_bytes"] if copy_bw and p.get("weight_bytes") else None
            row(k, None, p.get("value"), "tok/s", f"HF eager bf16; bandwidth bound {fmt(bound).strip()} tok/s")


if __name__ == "__main__":
    main()
