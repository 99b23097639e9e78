#!/usr/bin/env python3
"""PyTorch reference of a hiss model, side by side with hiss (issue 5).

Loads a hiss model file (docs/model-format.md) and runs the same recurrence in PyTorch float32:

  * eager step: one sample for B streams per call;
  * graph step: 64 such steps captured in one torch.cuda.CUDAGraph (one graph = one 64-sample block);
  * whole-sequence forward of one stream: everything but the scan batched over time; the scan is
    chunked (a sequential loop over the Lc steps of a chunk, batched over all chunks from a zero
    state; a log-depth scan of the chunk-end states over chunks; a batched correction that adds
    each chunk's incoming state, decayed, to its outputs).

Checks: step (eager and graph) vs whole-sequence, and both vs an independent float64 per-sample
implementation of the equations in docs/model-format.md. Then times them (CUDA events, medians).

Conditioning inputs, if the model has any, are held at 0.

    python3 tools/bench/torch_ref.py -m model.safetensors [--json out.json]
"""
import argparse
import json
import math
import statistics
import struct
import sys
import time

import torch
import torch.nn.functional as F

BLOCK = 64  # samples per graph, as hiss's block

# ------------------------------------------------------------------------------------------------
# model file


def load_safetensors(path):
    """Returns ({name: float32 CPU tensor}, metadata). F32, F16 and BF16, as hiss accepts."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    tensors = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        dt = dtypes[info["dtype"]]
        buf = bytearray(raw[base + b:base + e])
        t = torch.frombuffer(buf, dtype=dt) if len(buf) else torch.empty(0, dtype=dt)
        tensors[name] = t.reshape(info["shape"]).to(torch.float32).clone()
    return tensors, meta


class Layer:
    pass


class Model:
    def __init__(self, path, device, dtype=torch.float32):
        t, meta = load_safetensors(path)
        g = lambda k: t[k].to(device=device, dtype=dtype)
        self.meta = meta
        self.eps = float(meta.get("rms_eps", "1e-5"))
        self.skip = meta.get("hiss.skip", "0") == "1"
        self.W_ip = g("input_proj.weight")  # [dm, n_in]
        self.b_ip = g("input_proj.bias")
        self.d_model, self.n_in = self.W_ip.shape
        self.layers = []
        i = 0
        while f"backbone.layers.{i}.norm.weight" in t:
            p = f"backbone.layers.{i}."
            L = Layer()
            L.norm = g(p + "norm.weight")
            L.W_in = g(p + "mixer.in_proj.weight")  # [2di, dm]
            L.conv_w = g(p + "mixer.conv1d.weight")[:, 0, :].contiguous()  # [di, dc]
            L.conv_b = g(p + "mixer.conv1d.bias")
            L.W_x = g(p + "mixer.x_proj.weight")  # [R+2N, di]
            L.W_dt = g(p + "mixer.dt_proj.weight")  # [di, R]
            L.b_dt = g(p + "mixer.dt_proj.bias")
            L.A = -torch.exp(g(p + "mixer.A_log"))  # [di, N]
            L.D = g(p + "mixer.D")
            L.W_out = g(p + "mixer.out_proj.weight")  # [dm, di]
            # transposed copies for row-major activations
            L.W_in_T = L.W_in.t().contiguous()
            L.W_x_T = L.W_x.t().contiguous()
            L.W_dt_T = L.W_dt.t().contiguous()
            L.W_out_T = L.W_out.t().contiguous()
            self.layers.append(L)
            i += 1
        L0 = self.layers[0]
        self.n_layer = len(self.layers)
        self.d_inner, self.d_conv = L0.conv_w.shape
        self.d_state = L0.A.shape[1]
        self.dt_rank = L0.W_dt.shape[1]
        self.norm_f = g("backbone.norm_f.weight")
        self.W_op = g("output_proj.weight")  # [1, dm]
        self.w_op = self.W_op[0].contiguous()
        self.b_op = g("output_proj.bias")
        self.W_ip0 = self.W_ip[:, 0].contiguous()  # the audio column (conditioning held at 0)
        self.params = sum(v.numel() for v in t.values())

    def describe(self):
        return (f"d_model {self.d_model}, n_layer {self.n_layer}, d_inner {self.d_inner}, "
                f"d_state {self.d_state}, d_conv {self.d_conv}, dt_rank {self.dt_rank}, "
                f"n_in {self.n_in}, skip {int(self.skip)}, rms_eps {self.eps:g}, "
                f"params {self.params}")


def rmsnorm(v, w, eps):
    return v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + eps) * w


# ------------------------------------------------------------------------------------------------
# per-sample step for B streams (state in static tensors, updated in place: graph-capturable)


class Stepper:
    def __init__(self, m, B):
        self.m = m
        dev, dt = m.W_ip.device, m.W_ip.dtype
        self.hist = [torch.zeros(B, m.d_inner, m.d_conv - 1, device=dev, dtype=dt) for _ in m.layers]
        self.s = [torch.zeros(B, m.d_inner, m.d_state, device=dev, dtype=dt) for _ in m.layers]

    def reset(self):
        for h in self.hist:
            h.zero_()
        for s in self.s:
            s.zero_()

    def step(self, x):
        """x: [B] one sample per stream -> [B]."""
        m = self.m
        di, R, N = m.d_inner, m.dt_rank, m.d_state
        h = torch.addcmul(m.b_ip, x[:, None], m.W_ip0)  # [B, dm]
        r = None
        for i, L in enumerate(m.layers):
            r = h if r is None else r + h
            a = rmsnorm(r, L.norm, m.eps)
            xz = a @ L.W_in_T  # [B, 2di]
            xi, z = xz[:, :di], xz[:, di:]
            win = torch.cat([self.hist[i], xi[:, :, None]], dim=2)  # [B, di, dc], newest last
            self.hist[i].copy_(win[:, :, 1:])
            xc = F.silu((win * L.conv_w).sum(-1) + L.conv_b)
            dbc = xc @ L.W_x_T
            dr, Bm, Cm = dbc[:, :R], dbc[:, R:R + N], dbc[:, R + N:]
            delta = F.softplus(dr @ L.W_dt_T + L.b_dt)  # threshold 20, as hiss
            s = self.s[i]
            s.mul_(torch.exp(delta[:, :, None] * L.A))
            s.addcmul_((delta * xc)[:, :, None], Bm[:, None, :])
            y = torch.bmm(s, Cm[:, :, None])[:, :, 0] + L.D * xc
            h = (y * F.silu(z)) @ L.W_out_T
        r = r + h
        out = rmsnorm(r, m.norm_f, m.eps) @ m.w_op + m.b_op
        return out + x if m.skip else out


class GraphStepper:
    """BLOCK steps for B streams captured in one CUDA graph."""

    def __init__(self, m, B):
        self.st = Stepper(m, B)
        dev = m.W_ip.device
        self.inp = torch.zeros(BLOCK, B, device=dev)
        self.out = torch.zeros(BLOCK, B, device=dev)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                self._block()
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        self.g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.g):
            self._block()
        torch.cuda.synchronize()
        self.st.reset()

    def _block(self):
        for t in range(BLOCK):
            self.out[t].copy_(self.st.step(self.inp[t]))

    def run(self, x):
        """x: [T, B] with T a multiple of BLOCK -> [T, B]."""
        ys = []
        for b in range(0, x.shape[0], BLOCK):
            self.inp.copy_(x[b:b + BLOCK])
            self.g.replay()
            ys.append(self.out.clone())
        return torch.cat(ys)


def run_eager(m, x):
    """x: [T, B] -> [T, B], eager steps from a zero state."""
    st = Stepper(m, x.shape[1])
    return torch.stack([st.step(x[t]) for t in range(x.shape[0])])


# ------------------------------------------------------------------------------------------------
# whole-sequence forward of one stream


def chunked_scan(delta, xc, Bm, Cm, A, s0, Lc):
    """y[t,d] = sum_n C[t,n] s_t[d,n],  s_t = exp(delta_t A) s_{t-1} + delta_t xc_t B_t.
    delta, xc: [T, di]; Bm, Cm: [T, N]; A: [di, N]; s0: [di, N] incoming state; T % Lc == 0.
    Returns (y [T, di], state after the last sample [di, N])."""
    T, di = delta.shape
    N = A.shape[1]
    nc = T // Lc
    tm = lambda v: v.view(nc, Lc, v.shape[1]).transpose(0, 1).contiguous()  # [Lc, nc, .]
    d, u, Bt, Ct = tm(delta), tm(delta * xc), tm(Bm), tm(Cm)
    # 1. every chunk from a zero state, sequential over the Lc steps, batched over chunks
    s = torch.zeros(nc, di, N, device=delta.device, dtype=delta.dtype)
    yl = torch.empty(Lc, nc, di, device=delta.device, dtype=delta.dtype)
    for t in range(Lc):
        s.mul_(torch.exp(d[t][:, :, None] * A))
        s.addcmul_(u[t][:, :, None], Bt[t][:, None, :])
        torch.bmm(s, Ct[t][:, :, None], out=yl[t][:, :, None])
    # 2. states at the chunk ends: S_c = a_c S_{c-1} + s_c, a_c = exp(A * sum of delta over chunk c)
    Dcum = d.cumsum(0)  # [Lc, nc, di], inclusive, from the chunk start
    aa = torch.exp(Dcum[-1][:, :, None] * A)  # [nc, di, N]
    bb = s
    bb[0].addcmul_(aa[0], s0)
    off = 1
    while off < nc:  # Hillis-Steele inclusive scan, (a1,b1) then (a2,b2) = (a1 a2, a2 b1 + b2)
        nb = bb.clone()
        nb[off:].addcmul_(aa[off:], bb[:-off])
        na = aa.clone()
        na[off:].mul_(aa[:-off])
        aa, bb = na, nb
        off *= 2
    start = torch.cat([s0[None], bb[:-1]])  # state entering each chunk [nc, di, N]
    # 3. add each chunk's incoming state, decayed to every step: C_t . (exp(A Dcum_t) start)
    tb = max(1, min(Lc, (1 << 26) // max(1, nc * di * N)))
    for t0 in range(0, Lc, tb):
        E = torch.exp(Dcum[t0:t0 + tb, :, :, None] * A)  # [tb, nc, di, N]
        E.mul_(start)
        yl[t0:t0 + tb] += torch.einsum("tcdn,tcn->tcd", E, Ct[t0:t0 + tb])
    return yl.transpose(0, 1).reshape(T, di), bb[-1].clone()


class Sequence:
    def __init__(self, m, chunk=256, seg=1 << 20):
        assert seg % chunk == 0
        self.m, self.chunk, self.seg = m, chunk, seg

    def _segment(self, x, hist, s):
        m = self.m
        T = x.shape[0]
        di, R, N, dc = m.d_inner, m.dt_rank, m.d_state, m.d_conv
        h = torch.addcmul(m.b_ip, x[:, None], m.W_ip0)  # [T, dm]
        r = None
        for i, L in enumerate(m.layers):
            r = h if r is None else r + h
            a = rmsnorm(r, L.norm, m.eps)
            xz = a @ L.W_in_T
            xi, z = xz[:, :di], xz[:, di:]
            xp = torch.cat([hist[i], xi])  # [dc-1+T, di]
            conv = L.conv_b.expand(T, di).clone()
            for k in range(dc):
                conv.addcmul_(xp[k:k + T], L.conv_w[:, k])
            hist[i] = xp[T:].clone()
            xc = F.silu(conv)
            dbc = xc @ L.W_x_T
            dr, Bm, Cm = dbc[:, :R], dbc[:, R:R + N].contiguous(), dbc[:, R + N:].contiguous()
            delta = F.softplus(dr @ L.W_dt_T + L.b_dt)
            ys, s[i] = chunked_scan(delta, xc, Bm, Cm, L.A, s[i], self.chunk)
            h = ((ys + L.D * xc) * F.silu(z)) @ L.W_out_T
        r = r + h
        out = rmsnorm(r, m.norm_f, m.eps) @ m.w_op + m.b_op
        return out + x if m.skip else out

    def __call__(self, x):
        """x: [T] one stream from a zero state -> [T]."""
        m = self.m
        dev, dt = x.device, x.dtype
        hist = [torch.zeros(m.d_conv - 1, m.d_inner, device=dev, dtype=dt) for _ in m.layers]
        s = [torch.zeros(m.d_inner, m.d_state, device=dev, dtype=dt) for _ in m.layers]
        out = torch.empty_like(x)
        for b in range(0, x.shape[0], self.seg):
            xs = x[b:b + self.seg]
            n = xs.shape[0]
            pad = (-n) % self.chunk  # only the last segment; the padded tail's state is unused
            if pad:
                xs = torch.cat([xs, xs.new_zeros(pad)])
            out[b:b + n] = self._segment(xs, hist, s)[:n]
        return out


# ------------------------------------------------------------------------------------------------
# float64 reference: the equations of docs/model-format.md, one sample at a time, written apart


def reference_f64(path, x):
    t, meta = load_safetensors(path)
    t = {k: v.double() for k, v in t.items()}
    eps = float(meta.get("rms_eps", "1e-5"))
    skip = meta.get("hiss.skip", "0") == "1"
    nl = 0
    while f"backbone.layers.{nl}.norm.weight" in t:
        nl += 1
    P = lambda i, k: t[f"backbone.layers.{i}.mixer.{k}"]

    def norm(v, w):
        return v / torch.sqrt((v * v).mean() + eps) * w

    def softplus(v):
        return torch.where(v > 20, v, torch.log1p(torch.exp(torch.clamp(v, max=20))))

    def silu(v):
        return v / (1 + torch.exp(-v))

    di = P(0, "D").shape[0]
    dc = P(0, "conv1d.weight").shape[2]
    N = P(0, "A_log").shape[1]
    R = P(0, "dt_proj.weight").shape[1]
    n_in = t["input_proj.weight"].shape[1]
    hist = [[torch.zeros(di, dtype=torch.float64) for _ in range(dc)] for _ in range(nl)]
    S = [torch.zeros(di, N, dtype=torch.float64) for _ in range(nl)]
    out = torch.empty(len(x), dtype=torch.float64)
    xs = x.double().tolist()
    for ti, xt in enumerate(xs):
        u = torch.zeros(n_in, dtype=torch.float64)
        u[0] = xt
        h = t["input_proj.weight"] @ u + t["input_proj.bias"]
        r = torch.zeros_like(h)
        for i in range(nl):
            r = r + h
            a = norm(r, t[f"backbone.layers.{i}.norm.weight"])
            xz = P(i, "in_proj.weight") @ a
            xi, z = xz[:di], xz[di:]
            hist[i] = hist[i][1:] + [xi]  # hist[i][k] = xi_{t-dc+1+k}
            w = P(i, "conv1d.weight")
            acc = P(i, "conv1d.bias").clone()
            for k in range(dc):
                acc = acc + w[:, 0, k] * hist[i][k]
            xc = silu(acc)
            dbc = P(i, "x_proj.weight") @ xc
            dr, Bv, Cv = dbc[:R], dbc[R:R + N], dbc[R + N:]
            delta = softplus(P(i, "dt_proj.weight") @ dr + P(i, "dt_proj.bias"))
            A = -torch.exp(P(i, "A_log"))
            S[i] = torch.exp(delta[:, None] * A) * S[i] + delta[:, None] * Bv[None, :] * xc[:, None]
            y = (S[i] @ Cv + P(i, "D") * xc) * silu(z)
            h = P(i, "out_proj.weight") @ y
        r = r + h
        o = norm(r, t["backbone.norm_f.weight"])
        v = (t["output_proj.weight"] @ o + t["output_proj.bias"])[0]
        out[ti] = v + xt if skip else v
    return out


# ------------------------------------------------------------------------------------------------


def rel_l2(a, b, x=None):
    """Relative L2 error of a against b; with x (the dry input of a skip model), of the model's own
    part (out - x), so that the dry signal does not hide an error."""
    a, b = a.double().cpu(), b.double().cpu()
    if x is not None:
        a, b = a - x.double().cpu()[:a.shape[0]], b - x.double().cpu()[:b.shape[0]]
    return (torch.linalg.norm(a - b) / torch.linalg.norm(b)).item()


def test_signal(T, seed=1):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T, dtype=torch.float64) / 48000.0
    x = 0.4 * torch.sin(2 * math.pi * 110 * t) + 0.2 * torch.sin(2 * math.pi * 1234.5 * t)
    x = x + 0.1 * torch.randn(T, generator=g, dtype=torch.float64)
    return x.float()


class Timer:
    """Median of repeated timings of fn, in seconds (CUDA events on a GPU)."""

    def __init__(self, dev):
        self.cuda = dev.type == "cuda"

    def __call__(self, fn, reps, warm=1):
        for _ in range(warm):
            fn()
        ts = []
        for _ in range(reps):
            if self.cuda:
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                torch.cuda.synchronize()
                e0.record()
                fn()
                e1.record()
                torch.cuda.synchronize()
                ts.append(e0.elapsed_time(e1) / 1e3)
            else:
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
        return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--check-samples", type=int, default=4800)
    ap.add_argument("--check-eager-samples", type=int, default=1280)
    ap.add_argument("--chunk", type=int, default=256, help="scan chunk of the sequence forward")
    ap.add_argument("--seg", type=int, default=1 << 20, help="samples per sequence segment")
    ap.add_argument("--streams", default="1,1024,16384", help="B for the graph step timings")
    ap.add_argument("--seq-seconds", type=float, default=600.0)
    ap.add_argument("--seq-runs", type=int, default=3)
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()

    dev = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    res = {"torch": torch.__version__}
    if dev.type == "cuda":
        res["device"] = torch.cuda.get_device_name(dev)
    print(f"torch {torch.__version__} on {res.get('device', 'cpu')}")
    m = Model(a.model, dev)
    print("model:", m.describe())
    res["model"] = m.describe()

    # ---- correctness
    T = a.check_samples
    T -= T % BLOCK
    x1 = test_signal(T)
    x2 = test_signal(T, seed=2)
    X = torch.stack([x1, x2], 1).to(dev)  # [T, 2]: two streams, the first checked
    t0 = time.perf_counter()
    ref = reference_f64(a.model, x1)
    print(f"float64 reference: {T} samples in {time.perf_counter() - t0:.1f} s")
    dry = x1 if m.skip else None  # compare the model's part alone
    seq = Sequence(m, a.chunk, a.seg)(x1.to(dev))
    small = Sequence(m, 64, 512)(x1.to(dev))  # several segments: tests the carries
    Te = min(a.check_eager_samples, T)
    eag = run_eager(m, X[:Te])
    checks = {
        "seq vs f64": rel_l2(seq, ref, dry),
        "seq(chunk 64, seg 512) vs f64": rel_l2(small, ref, dry),
        f"eager step vs seq ({Te} samples)": rel_l2(eag[:, 0], seq[:Te], dry),
        f"eager step vs f64 ({Te} samples)": rel_l2(eag[:, 0], ref[:Te], dry),
        f"eager step stream 2 vs seq": rel_l2(eag[:, 1], Sequence(m, a.chunk, a.seg)(x2.to(dev))[:Te], x2 if m.skip else None),
    }
    if dev.type == "cuda":
        gs = GraphStepper(m, 2)
        gy = gs.run(X)
        checks["graph step vs seq"] = rel_l2(gy[:, 0], seq, dry)
        checks["graph step vs f64"] = rel_l2(gy[:, 0], ref, dry)
    ok = True
    for k, v in checks.items():
        good = v < 1e-5
        ok &= good
        print(f"check {k:40s} rel L2{' (out - in)' if m.skip else ''} {v:.3e}  {'ok' if good else 'FAIL (>= 1e-5)'}")
    res["checks"] = checks
    res["checks_ok"] = ok

    if not a.no_timing:
        tm = Timer(dev)
        # eager step, one stream
        st = Stepper(m, 1)
        xb = torch.zeros(BLOCK, 1, device=dev)

        def eager_block():
            for t in range(BLOCK):
                st.step(xb[t])

        s = tm(eager_block, 7, warm=2)
        res["eager_us_per_sample_B1"] = s / BLOCK * 1e6
        print(f"eager step B=1: {s / BLOCK * 1e6:.1f} us/sample "
              f"({s * 1e6:.0f} us per 64-sample block; real time is 1333 us)")
        # graph step
        res["graph"] = {}
        if dev.type == "cuda":
            for B in [int(v) for v in a.streams.split(",")]:
                gs = GraphStepper(m, B)
                gs.inp.copy_(torch.randn(BLOCK, B, device=dev) * 0.1)
                s = tm(gs.g.replay, 11, warm=3)
                us = s / BLOCK * 1e6
                streams = B / us * (1e6 / 48000)
                res["graph"][B] = {"us_per_block": s * 1e6, "us_per_sample_step": us,
                                   "ns_per_stream_sample": us / B * 1e3, "rt_streams_48k": streams}
                print(f"graph step B={B}: {s * 1e6:.0f} us per 64-sample block, {us:.2f} us per "
                      f"sample-step, {us / B * 1e3:.2f} ns per stream-sample, "
                      f"{streams:.1f} real-time 48 kHz streams")
                del gs
                torch.cuda.empty_cache()
        # whole sequence
        sq = Sequence(m, a.chunk, a.seg)
        secs = a.seq_seconds
        try:
            x = (torch.randn(int(secs * 48000), device=dev) * 0.1)
            s = tm(lambda: sq(x), a.seq_runs, warm=1)
        except torch.cuda.OutOfMemoryError:
            secs = 60.0
            torch.cuda.empty_cache()
            x = (torch.randn(int(secs * 48000), device=dev) * 0.1)
            s = tm(lambda: sq(x), a.seq_runs, warm=1)
        res["seq"] = {"seconds_audio": secs, "seconds": s, "rtf": secs / s,
                      "ns_per_sample": s / (secs * 48000) * 1e9, "chunk": a.chunk, "seg": a.seg}
        print(f"whole-sequence forward: {secs:g} s of audio in {s * 1e3:.0f} ms, "
              f"{s / (secs * 48000) * 1e9:.1f} ns/sample, {secs / s:.0f}x real time "
              f"(chunk {a.chunk}, segment {a.seg})")
        if dev.type == "cuda":
            res["seq"]["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
            print(f"peak GPU memory {res['seq']['peak_mem_gib']:.1f} GiB")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
