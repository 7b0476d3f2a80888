#!/usr/bin/env python3
"""PyTorch peer benchmark: the project's reference networks in torch, eager and torch.compile.

Prints one line per measurement:

    PEER <peer> <case> <measure> <median_us>

with peer in {torch_eager, torch_compile}, measure in {infer_step, infer_sequence,
train_step}, and the median per-call time in microseconds. Lines starting with '#' are
comments (header, warnings, failures). See README.md beside this file.

Usage: python torch_bench.py [--quick] [--cases seed_b1,seed_b32,lstm128_b32,gru128_b32,lstm256_b32,gru_b1]
                             [--variants torch_eager,torch_compile] [--samples N]
                             [--min-sample-ms MS] [--pin CPU]
"""

import contextlib
import copy
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import CASES, LR, SEQ_LEN, cpu_model, note, time_call, why  # noqa: E402
from common import parse_args as common_parse_args  # noqa: E402
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch._dynamo

# Single thread for fairness, before any parallel work is done.
torch.set_num_threads(1)
torch.set_num_interop_threads(1)

VARIANTS = ("torch_eager", "torch_compile")
SANITY_TOL = 1e-4


# --------------------------------------------------------------------------- harness

def parse_args():
    def variants(p):
        p.add_argument("--variants", default=",".join(VARIANTS),
                       help="comma-separated peers (default: all): " + ", ".join(VARIANTS))

        def check(p, a):
            a.variants = [v.strip() for v in a.variants.split(",") if v.strip()]
            for v in a.variants:
                if v not in VARIANTS:
                    p.error(f"unknown variant {v!r}; known: {', '.join(VARIANTS)}")
        return check
    return common_parse_args(__doc__, CASES, variants)


def report(peer, case, measure, us):
    print(f"PEER {peer} {case} {measure} {us:.3f}", flush=True)


# --------------------------------------------------------------------------- networks

class SeqNet(nn.Module):
    """RNN(I, H) -> Linear(H, O) -> LogSoftMax over a (T, B, I) sequence, zero initial state."""

    def __init__(self, kind, i, h, o):
        super().__init__()
        self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(i, h)
        self.fc = nn.Linear(h, o)

    def forward(self, xs):
        out, _ = self.rnn(xs)
        return F.log_softmax(self.fc(out), dim=-1)


class StepNet(nn.Module):
    """One online time step with a cell that shares the weights of a SeqNet."""

    def __init__(self, kind, seq):
        super().__init__()
        r = seq.rnn
        self.kind = kind
        self.cell = (nn.LSTMCell if kind == "lstm" else nn.GRUCell)(r.input_size, r.hidden_size)
        self.cell.weight_ih = r.weight_ih_l0
        self.cell.weight_hh = r.weight_hh_l0
        self.cell.bias_ih = r.bias_ih_l0
        self.cell.bias_hh = r.bias_hh_l0
        self.fc = seq.fc

    def forward(self, x, state):
        if self.kind == "lstm":
            h, c = self.cell(x, state)
            new_state = (h, c)
        else:
            h = self.cell(x, state)
            new_state = h
        return new_state, F.log_softmax(self.fc(h), dim=-1)


def zero_state(kind, b, h):
    z = torch.zeros(b, h)
    return (z, torch.zeros(b, h)) if kind == "lstm" else z


def make_train_step(net, opt, batch, classes):
    def train_step(xs, tgt):
        opt.zero_grad(set_to_none=True)
        logp = net(xs)  # (T, B, O)
        # sum over steps of the batch-mean NLL == sum over all (t, b) / B
        loss = F.nll_loss(logp.reshape(-1, classes), tgt.reshape(-1), reduction="sum") / batch
        loss.backward()
        opt.step()
        return loss.detach()
    return train_step


# --------------------------------------------------------------------------- one case

def compile_fn(fn):
    return torch.compile(fn)


def run_case(case, args):
    kind, ni, nh, no, b = CASES[case]
    torch.manual_seed(0)
    base = SeqNet(kind, ni, nh, no)
    gen = torch.Generator().manual_seed(1)
    xs = torch.randn(SEQ_LEN, b, ni, generator=gen)
    x1 = xs[0].clone()
    tgt = torch.tensor([[(t + bb) % no for bb in range(b)] for t in range(SEQ_LEN)],
                       dtype=torch.long)
    min_s = args.min_sample_ms / 1e3
    warm = 3 if args.quick else 20

    # Every variant and measure starts from its own copy of the same initial weights.
    first_losses = {}
    seq_outputs = {}

    for v in args.variants:
        compiled = v == "torch_compile"
        wrap = compile_fn if compiled else (lambda f: f)

        # ---- infer_step
        seq = copy.deepcopy(base)
        stepnet = StepNet(kind, seq).eval()
        try:
            step = wrap(stepnet)
            st = [zero_state(kind, b, nh)]

            def f_step():
                st[0], _ = step(x1, st[0])

            with torch.no_grad():
                t_c = time.perf_counter()
                f_step()  # compiles, for torch_compile
                t_c = time.perf_counter() - t_c
                if compiled:
                    note(f"{v} {case} infer_step first call (compile) {t_c:.2f} s")
                us = time_call(f_step, args.samples, min_s, warm)
            report(v, case, "infer_step", us)
        except Exception as e:  # noqa: BLE001 - report and go on
            fail(v, case, "infer_step", e)

        # ---- infer_sequence
        seq = copy.deepcopy(base).eval()
        try:
            fwd = wrap(seq)
            with torch.no_grad():
                t_c = time.perf_counter()
                seq_outputs[v] = fwd(xs).clone()
                t_c = time.perf_counter() - t_c
                if compiled:
                    note(f"{v} {case} infer_sequence first call (compile) {t_c:.2f} s")
                us = time_call(lambda: fwd(xs), args.samples, min_s, warm)
            report(v, case, "infer_sequence", us)
        except Exception as e:  # noqa: BLE001
            fail(v, case, "infer_sequence", e)

        # ---- train_step
        # Under torch.compile, the decomposition of nn.LSTM picks the oneDNN kernel
        # (aten.mkldnn_rnn_layer, inference-only) whenever the *input* does not require
        # grad, which fails while tracing the backward ("TypeError: expected Tensor() for
        # op: torch.ops.aten.mkldnn_rnn_layer.default", torch 2.15). So the compiled train
        # step is traced and run with oneDNN disabled, which selects the plain unrolled
        # LSTM. (Always, not as a fallback: inductor's on-disk caches do not key on this
        # flag, so a fallback would make results depend on the cache state.)
        ctx = ((lambda: torch.backends.mkldnn.flags(enabled=False)) if compiled
               else contextlib.nullcontext)
        net = copy.deepcopy(base).train()
        opt = torch.optim.SGD(net.parameters(), lr=LR)
        try:
            ts = wrap(make_train_step(net, opt, b, no))
            with ctx():
                t_c = time.perf_counter()
                l0 = ts(xs, tgt).item()  # loss at the initial weights
                t_c = time.perf_counter() - t_c
                l1 = ts(xs, tgt).item()  # loss after one SGD update
                if compiled:
                    note(f"{v} {case} train_step first call (compile, oneDNN off) {t_c:.2f} s")
                first_losses[v] = (l0, l1)
                us = time_call(lambda: ts(xs, tgt), args.samples, min_s, warm)
            report(v, case, "train_step", us)
        except Exception as e:  # noqa: BLE001 - report and go on
            fail(v, case, "train_step", e)

    # ---- sanity: eager and compiled agree on the same weights
    if "torch_eager" in first_losses:
        le = first_losses["torch_eager"]
        if not all(map(lambda z: z == z and abs(z) != float("inf"), le)):
            note(f"WARNING torch_eager {case}: loss not finite: {le}")
        if "torch_compile" in first_losses:
            lc = first_losses["torch_compile"]
            d = max(abs(a - c) for a, c in zip(le, lc))
            status = "ok" if d <= SANITY_TOL else "WARNING: MISMATCH"
            note(f"sanity {case}: loss eager={le[0]:.6f},{le[1]:.6f} "
                 f"compile={lc[0]:.6f},{lc[1]:.6f} max|diff|={d:.2e} {status}")
        else:
            note(f"sanity {case}: loss eager={le[0]:.6f},{le[1]:.6f}")
    if "torch_eager" in seq_outputs and "torch_compile" in seq_outputs:
        d = (seq_outputs["torch_eager"] - seq_outputs["torch_compile"]).abs().max().item()
        if d > SANITY_TOL:
            note(f"WARNING {case}: infer_sequence outputs differ eager/compile by {d:.2e}")


def fail(peer, case, measure, e):
    note(f"FAILED {peer} {case} {measure}: {why(e)}")


def main():
    args = parse_args()
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})
    if "torch_compile" in args.variants:
        # Let dynamo trace into nn.LSTM / nn.GRU instead of a graph break around them.
        torch._dynamo.config.allow_rnn = True
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    warnings.filterwarnings("ignore", category=UserWarning)
    import numpy
    note(f"torch_bench torch={torch.__version__} numpy={numpy.__version__} "
         f"python={platform.python_version()} "
         f"intra_op_threads={torch.get_num_threads()} "
         f"interop_threads={torch.get_num_interop_threads()} "
         f"cpu_capability={torch.backends.cpu.get_cpu_capability()} "
         f"mkldnn={torch.backends.mkldnn.is_available()} "
         f"affinity={sorted(os.sched_getaffinity(0))} cpu=\"{cpu_model()}\" "
         f"T={SEQ_LEN} samples={args.samples} min_sample_ms={args.min_sample_ms} "
         f"quick={args.quick}")
    for case in args.cases:
        run_case(case, args)


if __name__ == "__main__":
    sys.exit(main())
