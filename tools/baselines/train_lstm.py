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

Conditioned (--pairs FILE), the AIDA-X / Proteus knob model: the knob value is a second input
channel, u_t = [x_t, c_t], model LSTM(2 -> H) + Linear(H -> 1) + skip on x only:
y = linear(lstm([x, c])) + x; MACs per sample 4H*2 + 4H*H + H. FILE has one pair a line,
`SPLIT DRY.s16 WET.s16 VALUE` (SPLIT train, val or test; paths relative to --data, without
spaces; VALUE the knob setting), # starts a comment line. Each training window comes from a
train pair picked in proportion to its length (uniform over all windows of all pairs), with c
held at the pair's value. Validation: the mean of the plain ESRs of the val pairs (each a whole
file as one sequence from a zero state); test: the ESR of each test pair, and "test_esr" is the
worst of them. A file shared by several pairs (the dry signal) is loaded once.
"""
import argparse
import bisect
import itertools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time

WINDOW = 2048
WARMUP = 512
BATCH = 64
LR = 5e-3
PRE_EMPH = 0.85
DC_WEIGHT = 1.0
EVAL_CHUNK = 1 << 13  # cuDNN refused (CUDNN_STATUS_NOT_SUPPORTED) a batch-1 sequence of 2^18 on H100
SPLITS = ("train", "val", "test")


# --- pairs file and window sampling: plain Python, so they are tested without torch or numpy ---

def parse_pairs(path):
    """Reads a pairs file into a list of dicts (split, dry, wet, value, line). Errors name the file
    and line; each split must have at least one pair."""
    pairs = []
    with open(path) as f:
        for line, raw in enumerate(f, 1):
            s = raw.strip()
            if not s or s.startswith("#"):
                continue
            fields = s.split()
            if len(fields) != 4:
                raise ValueError(f"{path}:{line}: expected 'SPLIT DRY.s16 WET.s16 VALUE', got {len(fields)} fields")
            split, dry, wet, text = fields
            if split not in SPLITS:
                raise ValueError(f"{path}:{line}: split '{split}' is not train, val or test")
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{path}:{line}: value '{text}' is not a number") from None
            if not math.isfinite(value):
                raise ValueError(f"{path}:{line}: value '{text}' is not finite")
            pairs.append({"split": split, "dry": dry, "wet": wet, "value": value, "line": line})
    for split in SPLITS:
        if not any(p["split"] == split for p in pairs):
            raise ValueError(f"{path}: no {split} pair")
    return pairs


def plan_store(pairs, pairs_path, data, samples_of, max_samples):
    """Lays every distinct file (by real path) once into one flat sample store, so the dry file that
    all pairs of a split share is held once. samples_of(path) -> samples in the file.
    Returns (files, rows, total): files = [(path, offset, samples)] to load; rows = the pairs with
    x and y (offsets of dry and wet in the store) and n (the pair's samples: the shorter file)."""
    where = {}
    files = []
    total = 0
    rows = []
    for p in pairs:
        offs = []
        for rel in (p["dry"], p["wet"]):
            path = os.path.realpath(os.path.join(data, rel))
            if path not in where:
                try:
                    n = samples_of(path)
                except OSError as err:
                    raise ValueError(f"{pairs_path}:{p['line']}: {os.path.join(data, rel)}: {err.strerror}") from None
                if max_samples:
                    n = min(n, max_samples)
                where[path] = (total, n)
                files.append((path, total, n))
                total += n
            offs.append(where[path])
        (x, nx), (y, ny) = offs
        n = min(nx, ny)
        need = WINDOW + 1 if p["split"] == "train" else 1
        if n < need:
            raise ValueError(f"{pairs_path}:{p['line']}: {p['split']} pair has {n} samples, needs at least {need}")
        rows.append(dict(p, x=x, y=y, n=n))
    return files, rows, total


def s16_samples(path):
    return os.path.getsize(path) // 2


def draw_windows(rnd, nstarts, count):
    """count windows drawn uniformly over all windows of all train pairs: pair i has nstarts[i]
    window starts, so a pair is picked in proportion to its length, then a start within it.
    rnd is a random.Random. Returns [(pair index, start)]."""
    cum = list(itertools.accumulate(nstarts))
    picks = []
    for _ in range(count):
        u = rnd.randrange(cum[-1])
        i = bisect.bisect_right(cum, u)
        picks.append((i, u - (cum[i] - nstarts[i])))
    return picks


def load_pairs(args):
    pairs = parse_pairs(args.pairs)
    return plan_store(pairs, args.pairs, args.data, s16_samples, args.max_samples)


def fmt_value(v):
    return f"{v:g}"


# --- model, loss, evaluation (torch is imported where it is used, so --help and the pairs checks
# run without it) ---

def build_model(hidden, inputs):
    import torch

    class LSTMAmp(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(inputs, hidden, num_layers=1, batch_first=True)
            self.dense = torch.nn.Linear(hidden, 1)

        def forward(self, u, state=None):
            # u: (B, T, inputs), the audio in channel 0; the skip carries the audio only.
            h, state = self.lstm(u, state)
            return self.dense(h) + u[..., :1], state

    return LSTMAmp()


def load(data, name):
    import numpy as np
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


def _esr_chunks(model, x, y, chunk):
    import torch
    with torch.no_grad():
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


def _esr_rows_chunks(model, store, rows, chunk):
    """The rows (pairs) as one batch, each row its own sequence from a zero state; a row shorter
    than the longest is padded with zeros after its end, which its ESR leaves out (the model is
    causal, so the padding cannot reach the row's own samples)."""
    import torch
    with torch.no_grad():
        dev = store.device
        xo = torch.tensor([r["x"] for r in rows], dtype=torch.int64, device=dev)
        yo = torch.tensor([r["y"] for r in rows], dtype=torch.int64, device=dev)
        n = torch.tensor([r["n"] for r in rows], dtype=torch.int64, device=dev)
        c = torch.tensor([r["value"] for r in rows], dtype=torch.float32, device=dev)
        num = torch.zeros(len(rows), dtype=torch.float64, device=dev)
        den = torch.zeros(len(rows), dtype=torch.float64, device=dev)
        state = None
        longest = max(r["n"] for r in rows)
        for s in range(0, longest, chunk):
            t = torch.arange(s, min(s + chunk, longest), device=dev)
            valid = t[None, :] < n[:, None]                      # (P, L)
            tc = torch.minimum(t[None, :], n[:, None] - 1)       # stay inside each row's file
            xc = torch.where(valid, store[xo[:, None] + tc], 0.0)
            yc = torch.where(valid, store[yo[:, None] + tc], 0.0).double()
            u = torch.stack([xc, c[:, None].expand_as(xc)], dim=-1)  # (P, L, 2): [x, c]
            p, state = model(u, state)
            e = (p.squeeze(-1).double() - yc) * valid
            num += e.pow(2).sum(dim=1)
            den += yc.pow(2).sum(dim=1)
        return [float(a) / float(b) if float(b) > 0 else math.nan for a, b in zip(num.tolist(), den.tolist())]


def _eval_with_fallback(model, run):
    """run(chunk) with eval mode; falls back to shorter chunks, then to PyTorch's own LSTM kernels,
    if cuDNN refuses a chunk."""
    import torch
    model.eval()
    try:
        chunk = EVAL_CHUNK
        while True:
            try:
                return run(chunk)
            except RuntimeError as err:
                if chunk <= 1024:
                    print(f"cuDNN eval failed ({err}); using non-cuDNN LSTM", flush=True)
                    with torch.backends.cudnn.flags(enabled=False):
                        return run(chunk)
                chunk //= 2
                print(f"eval chunk refused ({str(err).splitlines()[0]}); retrying with {chunk}", flush=True)
    finally:
        model.train()


def full_esr(model, x, y):
    """Plain ESR over the whole signal as one sequence from a zero state (the LSTM state is carried
    from chunk to chunk, so the result is that of one sequence)."""
    return _eval_with_fallback(model, lambda chunk: _esr_chunks(model, x, y, chunk))


def rows_esr(model, store, rows):
    """Plain ESR of each pair, as full_esr, with c held at the pair's value."""
    return _eval_with_fallback(model, lambda chunk: _esr_rows_chunks(model, store, rows, chunk))


# --- the two kinds of data ---

class PlainData:
    """One dry/wet file per split; the model sees the audio alone."""
    inputs = 1

    def __init__(self, args, dev, gen):
        import torch
        sets = {}
        for name in SPLITS:
            d, w = load(args.data, name)
            if args.max_samples:
                d, w = d[:args.max_samples], w[:args.max_samples]
            sets[name] = (torch.from_numpy(d).to(dev), torch.from_numpy(w).to(dev))
        self.xtr, self.ytr = sets["train"]
        self.xva, self.yva = sets["val"]
        self.xte, self.yte = sets["test"]
        self.dev = dev
        self.gen = gen
        self.offs = torch.arange(WINDOW, device=dev)
        self.nstart = self.xtr.numel() - WINDOW

    def batch(self):
        import torch
        starts = torch.randint(0, self.nstart, (BATCH,), device=self.dev, generator=self.gen)
        idx = starts[:, None] + self.offs[None, :]
        return self.xtr[idx].unsqueeze(-1), self.ytr[idx]

    def validate(self, model):
        return full_esr(model, self.xva, self.yva), None

    def test(self, model):
        return full_esr(model, self.xte, self.yte), None


class PairData:
    """Pairs of a knob-conditioned model (--pairs): input [x, c] with c the pair's knob value."""
    inputs = 2

    def __init__(self, args, dev, seed):
        import numpy as np
        import torch
        files, rows, total = load_pairs(args)
        store = np.empty(total, dtype=np.float32)
        for path, off, n in files:
            a = np.fromfile(path, dtype="<i2", count=n)
            if len(a) != n:
                raise ValueError(f"{path}: read {len(a)} samples, expected {n}")
            store[off:off + n] = a.astype(np.float32) / 32768.0
        self.store = torch.from_numpy(store).to(dev)
        del store
        self.split = {s: [r for r in rows if r["split"] == s] for s in SPLITS}
        tr = self.split["train"]
        self.tx = [r["x"] for r in tr]
        self.ty = [r["y"] for r in tr]
        self.nstarts = [r["n"] - WINDOW for r in tr]
        self.tc = torch.tensor([r["value"] for r in tr], dtype=torch.float32, device=dev)
        self.dev = dev
        self.rnd = random.Random(seed)
        self.offs = torch.arange(WINDOW, device=dev)

    def batch(self):
        import torch
        picks = draw_windows(self.rnd, self.nstarts, BATCH)
        sel = torch.tensor([[self.tx[i] + s for i, s in picks],
                            [self.ty[i] + s for i, s in picks],
                            [i for i, _ in picks]], dtype=torch.int64).to(self.dev)
        xb = self.store[sel[0][:, None] + self.offs[None, :]]   # (B, W)
        yb = self.store[sel[1][:, None] + self.offs[None, :]]   # (B, W)
        cb = self.tc[sel[2]][:, None].expand_as(xb)              # (B, W)
        return torch.stack([xb, cb], dim=-1), yb                 # (B, W, 2), (B, W)

    def validate(self, model):
        rows = self.split["val"]
        esr = rows_esr(model, self.store, rows)
        return sum(esr) / len(esr), [{"value": r["value"], "val_esr": e} for r, e in zip(rows, esr)]

    def test(self, model):
        rows = self.split["test"]
        esr = rows_esr(model, self.store, rows)
        worst = max(esr) if not any(math.isnan(e) for e in esr) else math.nan
        return worst, [{"value": r["value"], "test_esr": e} for r, e in zip(rows, esr)]


def train_one(args, hidden):
    import torch
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.enabled = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_num_threads(2)
    torch.manual_seed(args.seed + hidden)
    gen = torch.Generator(device=dev)
    gen.manual_seed(args.seed * 1000 + hidden)

    t_load = time.time()
    data = PairData(args, dev, args.seed * 1000 + hidden) if args.pairs else PlainData(args, dev, gen)

    model = build_model(hidden, data.inputs).to(dev).float()
    params = sum(p.numel() for p in model.parameters())
    macs = 4 * hidden * data.inputs + 4 * hidden * hidden + hidden
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    log = lambda s: print(f"[H={hidden}] {s}", flush=True)
    log(f"device {dev}, {params} parameters, {macs} MACs/sample, data loaded in {time.time() - t_load:.1f}s")

    def detail_text(detail):
        if detail is None:
            return ""
        return f" [{args.cond_name} " + " ".join(f"{fmt_value(d['value'])}:{d['val_esr']:.3e}" for d in detail) + "]"

    best = math.inf
    best_state = None
    best_detail = None
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
        ub, yb = data.batch()
        p, _ = model(ub)
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
            v, detail = data.validate(model)
            val_s += time.time() - tv
            if v < best:
                best = v
                best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
                best_detail = detail
            log(f"step {steps} t={time.time() - t0:.1f}s lr {lr:.2e} train loss {run_loss / max(1, run_n):.4e} "
                f"val ESR {v:.4e}{detail_text(detail)} (best {best:.4e}, val took {time.time() - tv:.1f}s)")
            run_loss, run_n = 0.0, 0
            last_val = time.time()
    tv = time.time()
    v, detail = data.validate(model)
    val_s += time.time() - tv
    if v < best or best_state is None:
        best = v
        best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
        best_detail = detail
    log(f"final step {steps} val ESR {v:.4e}{detail_text(detail)} (best {best:.4e})")
    model.load_state_dict(best_state)
    tt = time.time()
    test, per_value = data.test(model)
    test_s = time.time() - tt
    if per_value is None:
        log(f"test ESR {test:.4e} (test took {test_s:.1f}s)")
    else:
        for d in per_value:
            log(f"test ESR at {args.cond_name}={fmt_value(d['value'])}: {d['test_esr']:.4e}")
        log(f"test ESR worst {test:.4e} (test took {test_s:.1f}s)")
    r = {
        "hidden": hidden, "params": params, "macs_per_sample": macs,
        "val_esr": best, "test_esr": test, "train_seconds": round(train_s, 2),
        "val_seconds": round(val_s, 2), "test_seconds": round(test_s, 2), "steps": steps,
        "skipped_nonfinite": skipped, "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
    }
    if per_value is not None:
        r["cond_name"] = args.cond_name
        r["val_per_value"] = best_detail
        r["test_per_value"] = per_value
    return r


def print_per_value(results, name):
    values = [d["value"] for d in results[0]["test_per_value"]]
    labels = [f"{name}={fmt_value(v)}" for v in values]
    width = max([10] + [len(s) for s in labels])
    print(f"test ESR per {name} value (the table's test ESR is the worst of these)")
    print(f"{'hidden':>6} " + " ".join(f"{s:>{width}}" for s in labels))
    for r in results:
        print(f"{r['hidden']:>6} " + " ".join(f"{d['test_esr']:>{width}.4e}" for d in r["test_per_value"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=".lstmdata")
    ap.add_argument("--pairs", default="", help="knob-conditioned model: pairs file (SPLIT DRY.s16 WET.s16 VALUE a line)")
    ap.add_argument("--cond-name", default="drive", help="name of the knob in the printed results (--pairs)")
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

    if args.pairs:
        try:
            load_pairs(args)  # every file there and long enough, before any worker starts
        except (OSError, ValueError) as err:
            sys.exit(f"train_lstm.py: {err}")

    if args.worker:
        r = train_one(args, args.worker)
        with open(args.worker_out, "w") as f:
            json.dump(r, f)
        return

    import torch
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
            if args.pairs:
                cmd += ["--pairs", args.pairs, "--cond-name", args.cond_name]
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

    inputs = 2 if args.pairs else 1
    formula = f"4H*{inputs} + 4H*H + H"
    results = sorted(results, key=lambda r: r["hidden"])
    print()
    if args.pairs:
        print(f"MACs/sample = {formula}  (input [x, c] and recurrent products of the four gates, dense layer)")
    else:
        print("MACs/sample = 4H*1 + 4H*H + H  (input and recurrent products of the four gates, dense layer)")
    print(f"{'hidden':>6} {'params':>7} {'MACs/smp':>8} {'val ESR':>10} {'test ESR':>10} {'train s':>8} {'steps':>6}")
    for r in results:
        print(f"{r['hidden']:>6} {r['params']:>7} {r['macs_per_sample']:>8} {r['val_esr']:>10.4e} "
              f"{r['test_esr']:>10.4e} {r['train_seconds']:>8.1f} {r['steps']:>6}")
    if args.pairs and results:
        print_per_value(results, args.cond_name)
    print(f"total wall {wall:.1f}s ({'sequential' if args.sequential or len(hiddens) == 1 else 'parallel processes'})")
    if args.json:
        config = {"window": WINDOW, "warmup": WARMUP, "batch": BATCH, "lr": LR,
                  "lr_decay": "exponential to lr/10 over the budget", "pre_emph": PRE_EMPH,
                  "dc_weight": DC_WEIGHT, "seconds": args.seconds,
                  "parallel": not (args.sequential or len(hiddens) == 1),
                  "macs_formula": formula}
        if args.pairs:
            config["pairs"] = args.pairs
            config["cond_name"] = args.cond_name
            config["val_esr"] = "mean of the val pairs' plain ESRs"
            config["test_esr"] = "worst (max) of the test pairs' plain ESRs"
        with open(args.json, "w") as f:
            json.dump({"config": config,
                       "total_wall_seconds": round(wall, 1),
                       "results": results}, f, indent=1)
    if len(results) < len(hiddens):
        sys.exit(1)


if __name__ == "__main__":
    main()
