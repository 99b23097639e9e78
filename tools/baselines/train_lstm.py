#!/usr/bin/env python3
"""LSTM baselines for the hiss overdrive model, trained the way Neural Amp Modeler / AIDA-X train them.

Model: LSTM(1 -> H, one layer, batch_first) + Linear(H -> 1) + skip: y = linear(lstm(x)) + x.
Training: random windows of 2048 samples (the first 512 are warm-up, left out of the loss),
batch 64, Adam lr 5e-3 decayed exponentially over the wall-clock budget to lr/10, loss =
ESR of pre-emphasised signals (k = 0.85) + DC term, as hiss-train (tools/train/loss.c).
Validation: plain ESR over the whole validation file as one sequence from a zero state; the
best weights are kept. Test: plain ESR over the whole test file as one sequence from a zero state.

Each hidden size runs in its own process (all share the one GPU), so the training seconds of
each model are wall-clock seconds on a shared GPU.

MACs per sample (formula): 4H*1 (input products) + 4H*H (recurrent products) + H (dense layer).
Parameters are counted from the model (PyTorch's LSTM has two bias vectors, b_ih and b_hh).

Data: raw signed 16-bit little-endian mono 48 kHz files {train,val,test}-{dry,wet}.s16 in --data.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

WINDOW = 2048
WARMUP = 512
BATCH = 64
LR = 5e-3
PRE_EMPH = 0.85
DC_WEIGHT = 1.0
EVAL_CHUNK = 1 << 13  # cuDNN refused (CUDNN_STATUS_NOT_SUPPORTED) a batch-1 sequence of 2^18 on H100


class LSTMAmp(torch.nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.lstm = torch.nn.LSTM(1, hidden, num_layers=1, batch_first=True)
        self.dense = torch.nn.Linear(hidden, 1)

    def forward(self, x, state=None):
        h, state = self.lstm(x, state)
        return self.dense(h) + x, state


def load(data, name):
    d = np.fromfile(os.path.join(data, name + "-dry.s16"), dtype="<i2").astype(np.float32) / 32768.0
    w = np.fromfile(os.path.join(data, name + "-wet.s16"), dtype="<i2").astype(np.float32) / 32768.0
    n = min(len(d), len(w))
    return d[:n], w[:n]


def loss_fn(p, y):
    """p, y: (B, T) after warm-up was cut off; pre-emphasis uses the sample before too."""
    e = p - y
    q = e[:, 1:] - PRE_EMPH * e[:, :-1]
    ty = y[:, 1:] - PRE_EMPH * y[:, :-1]
    esr_pe = q.pow(2).sum() / ty.pow(2).sum().clamp_min(1e-10)
    dc = e[:, 1:].mean(dim=1).pow(2).mean() / y[:, 1:].pow(2).mean().clamp_min(1e-10)
    return esr_pe + DC_WEIGHT * dc


@torch.no_grad()
def _esr_chunks(model, x, y, chunk):
    state = None
    num = torch.zeros((), dtype=torch.float64, device=x.device)
    den = torch.zeros((), dtype=torch.float64, device=x.device)
    for s in range(0, x.numel(), chunk):
        xc = x[s:s + chunk].contiguous().view(1, -1, 1)
        yc = y[s:s + chunk].double()
        p, state = model(xc, state)
        e = p.view(-1).double() - yc
        num += e.pow(2).sum()
        den += yc.pow(2).sum()
    return float(num) / float(den)


def full_esr(model, x, y):
    """Plain ESR over the whole signal as one sequence from a zero state (the LSTM state is carried
    from chunk to chunk, so the result is that of one sequence). Falls back to shorter chunks, then
    to PyTorch's own LSTM kernels, if cuDNN refuses a chunk."""
    model.eval()
    try:
        chunk = EVAL_CHUNK
        while True:
            try:
                return _esr_chunks(model, x, y, chunk)
            except RuntimeError as err:
                if chunk <= 1024:
                    print(f"cuDNN eval failed ({err}); using non-cuDNN LSTM", flush=True)
                    with torch.backends.cudnn.flags(enabled=False):
                        return _esr_chunks(model, x, y, chunk)
                chunk //= 2
                print(f"eval chunk refused ({str(err).splitlines()[0]}); retrying with {chunk}", flush=True)
    finally:
        model.train()


def train_one(args, hidden):
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.enabled = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_num_threads(2)
    torch.manual_seed(args.seed + hidden)
    gen = torch.Generator(device=dev)
    gen.manual_seed(args.seed * 1000 + hidden)

    t_load = time.time()
    sets = {}
    for name in ("train", "val", "test"):
        d, w = load(args.data, name)
        if args.max_samples:
            d, w = d[:args.max_samples], w[:args.max_samples]
        sets[name] = (torch.from_numpy(d).to(dev), torch.from_numpy(w).to(dev))
    xtr, ytr = sets["train"]
    xva, yva = sets["val"]
    xte, yte = sets["test"]

    model = LSTMAmp(hidden).to(dev).float()
    params = sum(p.numel() for p in model.parameters())
    macs = 4 * hidden * 1 + 4 * hidden * hidden + hidden
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    offs = torch.arange(WINDOW, device=dev)
    nstart = xtr.numel() - WINDOW

    log = lambda s: print(f"[H={hidden}] {s}", flush=True)
    log(f"device {dev}, {params} parameters, {macs} MACs/sample, data loaded in {time.time() - t_load:.1f}s")

    best = math.inf
    best_state = None
    steps = 0
    skipped = 0
    train_s = 0.0
    val_s = 0.0
    val_every = args.seconds / max(1, args.vals)
    t0 = time.time()
    last_val = t0
    run_loss = 0.0
    run_n = 0
    while True:
        now = time.time()
        elapsed = now - t0
        if elapsed >= args.seconds:
            break
        lr = LR * (0.1 ** (elapsed / args.seconds))
        for g in opt.param_groups:
            g["lr"] = lr
        ts = time.time()
        starts = torch.randint(0, nstart, (BATCH,), device=dev, generator=gen)
        idx = starts[:, None] + offs[None, :]
        xb = xtr[idx].unsqueeze(-1)
        yb = ytr[idx]
        p, _ = model(xb)
        loss = loss_fn(p.squeeze(-1)[:, WARMUP - 1:], yb[:, WARMUP - 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        lv = float(loss.detach())
        if math.isfinite(lv):
            opt.step()
            run_loss += lv
            run_n += 1
        else:
            skipped += 1
        steps += 1
        train_s += time.time() - ts
        if time.time() - last_val >= val_every:
            tv = time.time()
            v = full_esr(model, xva, yva)
            val_s += time.time() - tv
            if v < best:
                best = v
                best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
            log(f"step {steps} t={time.time() - t0:.1f}s lr {lr:.2e} train loss {run_loss / max(1, run_n):.4e} "
                f"val ESR {v:.4e} (best {best:.4e}, val took {time.time() - tv:.1f}s)")
            run_loss, run_n = 0.0, 0
            last_val = time.time()
    tv = time.time()
    v = full_esr(model, xva, yva)
    val_s += time.time() - tv
    if v < best or best_state is None:
        best = v
        best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
    log(f"final step {steps} val ESR {v:.4e} (best {best:.4e})")
    model.load_state_dict(best_state)
    tt = time.time()
    test = full_esr(model, xte, yte)
    test_s = time.time() - tt
    log(f"test ESR {test:.4e} (test took {test_s:.1f}s)")
    return {
        "hidden": hidden, "params": params, "macs_per_sample": macs,
        "val_esr": best, "test_esr": test, "train_seconds": round(train_s, 2),
        "val_seconds": round(val_s, 2), "test_seconds": round(test_s, 2), "steps": steps,
        "skipped_nonfinite": skipped, "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=".lstmdata")
    ap.add_argument("--seconds", type=float, default=60.0, help="wall-clock budget per model (training + validation)")
    ap.add_argument("--hidden", default="16,32,40,64,80", help="comma-separated hidden sizes")
    ap.add_argument("--vals", type=int, default=5, help="validations during the budget (plus one at the end)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sequential", action="store_true", help="one process, models one after another")
    ap.add_argument("--max-samples", type=int, default=0, help="cut every file to this many samples (smoke tests)")
    ap.add_argument("--max-wall", type=float, default=380.0, help="kill parallel workers after this many seconds")
    ap.add_argument("--json", default="")
    ap.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        r = train_one(args, args.worker)
        with open(args.worker_out, "w") as f:
            json.dump(r, f)
        return

    hiddens = [int(h) for h in args.hidden.split(",") if h]
    print(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}"
          + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""), flush=True)
    t0 = time.time()
    results = []
    if args.sequential or len(hiddens) == 1:
        for h in hiddens:
            results.append(train_one(args, h))
    else:
        tmp = tempfile.mkdtemp(prefix="lstm")
        procs = []
        for h in hiddens:
            out = os.path.join(tmp, f"{h}.json")
            cmd = [sys.executable, os.path.abspath(__file__), "--data", args.data, "--seconds", str(args.seconds),
                   "--vals", str(args.vals), "--seed", str(args.seed), "--max-samples", str(args.max_samples),
                   "--worker", str(h), "--worker-out", out]
            procs.append((h, out, subprocess.Popen(cmd)))
        for h, out, p in procs:
            left = args.max_wall - (time.time() - t0)
            try:
                p.wait(timeout=max(1.0, left))
            except subprocess.TimeoutExpired:
                print(f"[H={h}] over --max-wall, killing", flush=True)
                p.kill()
                p.wait()
            if os.path.exists(out):
                with open(out) as f:
                    results.append(json.load(f))
            else:
                print(f"[H={h}] no result (exit {p.returncode})", flush=True)
    wall = time.time() - t0

    print()
    print("MACs/sample = 4H*1 + 4H*H + H  (input and recurrent products of the four gates, dense layer)")
    print(f"{'hidden':>6} {'params':>7} {'MACs/smp':>8} {'val ESR':>10} {'test ESR':>10} {'train s':>8} {'steps':>6}")
    for r in sorted(results, key=lambda r: r["hidden"]):
        print(f"{r['hidden']:>6} {r['params']:>7} {r['macs_per_sample']:>8} {r['val_esr']:>10.4e} "
              f"{r['test_esr']:>10.4e} {r['train_seconds']:>8.1f} {r['steps']:>6}")
    print(f"total wall {wall:.1f}s ({'sequential' if args.sequential or len(hiddens) == 1 else 'parallel processes'})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": {"window": WINDOW, "warmup": WARMUP, "batch": BATCH, "lr": LR,
                                  "lr_decay": "exponential to lr/10 over the budget", "pre_emph": PRE_EMPH,
                                  "dc_weight": DC_WEIGHT, "seconds": args.seconds,
                                  "parallel": not (args.sequential or len(hiddens) == 1),
                                  "macs_formula": "4H*1 + 4H*H + H"},
                       "total_wall_seconds": round(wall, 1),
                       "results": sorted(results, key=lambda r: r["hidden"])}, f, indent=1)
    if len(results) < len(hiddens):
        sys.exit(1)


if __name__ == "__main__":
    main()
