#!/usr/bin/env python3
"""JAX peer benchmark: the project's reference networks in JAX (jit + lax.scan), CPU.

Prints one line per measurement:

    PEER jax_jit <case> <measure> <median_us>

with measure in {infer_step, infer_sequence, train_step} and the median per-call time in
microseconds. Lines starting with '#' are comments (header, sanity checks, failures).
See README.md beside this file.

Usage: python jax_bench.py [--quick] [--cases seed_b1,seed_b32,lstm128_b32,gru128_b32,lstm256_b32,gru_b1]
                           [--samples N] [--min-sample-ms MS] [--pin CPU]
"""

import os

# Single thread for fairness: must be set before jax is imported.
_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ["XLA_FLAGS"] = (_THREAD_FLAGS + " " + os.environ.get("XLA_FLAGS", "")).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import CASES, LR, SEQ_LEN, cpu_model, note, time_call, why  # noqa: E402
from common import parse_args as common_parse_args  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jaxlib  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

PEER = "jax_jit"


# --------------------------------------------------------------------------- harness

def parse_args():
    return common_parse_args(__doc__, CASES)


def report(case, measure, us):
    print(f"PEER {PEER} {case} {measure} {us:.3f}", flush=True)



# --------------------------------------------------------------------------- networks
# Weights use PyTorch's layout and initialisation (uniform(-1/sqrt(H), 1/sqrt(H))):
# w_ih (G*H, I), w_hh (G*H, H), b_ih, b_hh (G*H,), fc_w (O, H), fc_b (O,),
# with gate order i, f, g, o (LSTM, G = 4) or r, z, n (GRU, G = 3).


def init_params(kind, ni, nh, no, seed=0):
    rng = np.random.RandomState(seed)
    g = 4 if kind == "lstm" else 3
    k = 1.0 / math.sqrt(nh)

    def u(*shape):
        return jnp.asarray(rng.uniform(-k, k, size=shape).astype(np.float32))

    return {"w_ih": u(g * nh, ni), "w_hh": u(g * nh, nh), "b_ih": u(g * nh), "b_hh": u(g * nh),
            "fc_w": u(no, nh), "fc_b": u(no)}


def zero_state(kind, b, nh):
    z = jnp.zeros((b, nh), jnp.float32)
    return (z, jnp.zeros((b, nh), jnp.float32)) if kind == "lstm" else z


def cell_from_projection(kind, p, xw, state):
    """One recurrent update given xw = x @ w_ih.T + b_ih; returns (new_state, h)."""
    hw = state[0] if kind == "lstm" else state
    hw = hw @ p["w_hh"].T + p["b_hh"]
    if kind == "lstm":
        _, c = state
        i, f, g, o = jnp.split(xw + hw, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h
    # torch.nn.GRU: the reset gate multiplies (W_hn h + b_hn)
    h_prev = state
    xr, xz, xn = jnp.split(xw, 3, axis=-1)
    hr, hz, hn = jnp.split(hw, 3, axis=-1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    h = (1.0 - z) * n + z * h_prev
    return h, h


def head(p, h):
    return jax.nn.log_softmax(h @ p["fc_w"].T + p["fc_b"], axis=-1)


def make_fns(kind, nh):
    def step(p, x, state):
        state, h = cell_from_projection(kind, p, x @ p["w_ih"].T + p["b_ih"], state)
        return state, head(p, h)

    def sequence(p, xs):
        b = xs.shape[1]
        xw = xs @ p["w_ih"].T + p["b_ih"]  # input projection of all steps at once (T, B, G*H)

        def body(state, xw_t):
            return cell_from_projection(kind, p, xw_t, state)

        _, hs = lax.scan(body, zero_state(kind, b, nh), xw)
        return head(p, hs)  # (T, B, O)

    def loss_fn(p, xs, tgt):
        logp = sequence(p, xs)
        # sum over steps of the batch-mean NLL
        nll = -jnp.take_along_axis(logp, tgt[..., None], axis=-1)[..., 0]  # (T, B)
        return jnp.sum(jnp.mean(nll, axis=1))

    def train_step(p, xs, tgt):
        loss, g = jax.value_and_grad(loss_fn)(p, xs, tgt)
        p = jax.tree_util.tree_map(lambda w, dw: w - LR * dw, p, g)
        return p, loss

    return (jax.jit(step), jax.jit(sequence),
            jax.jit(train_step, donate_argnums=(0,)))


# --------------------------------------------------------------------------- one case

def run_case(case, args):
    kind, ni, nh, no, b = CASES[case]
    step, sequence, train_step = make_fns(kind, nh)
    rng = np.random.RandomState(1)
    xs = jnp.asarray(rng.standard_normal((SEQ_LEN, b, ni)).astype(np.float32))
    x1 = xs[0]
    tgt = jnp.asarray([[(t + bb) % no for bb in range(b)] for t in range(SEQ_LEN)], jnp.int32)
    min_s = args.min_sample_ms / 1e3
    warm = 3 if args.quick else 20

    # ---- infer_step
    try:
        p = init_params(kind, ni, nh, no)
        st = [zero_state(kind, b, nh)]

        def f_step():
            st[0], logp = step(p, x1, st[0])
            jax.block_until_ready((st[0], logp))

        t_c = time.perf_counter()
        f_step()
        note(f"{PEER} {case} infer_step first call (compile) {time.perf_counter() - t_c:.2f} s")
        report(case, "infer_step", time_call(f_step, args.samples, min_s, warm))
    except Exception as e:  # noqa: BLE001 - report and go on
        note(f"FAILED {PEER} {case} infer_step: {why(e)}")

    # ---- infer_sequence
    try:
        p = init_params(kind, ni, nh, no)
        t_c = time.perf_counter()
        out = sequence(p, xs).block_until_ready()
        note(f"{PEER} {case} infer_sequence first call (compile) "
             f"{time.perf_counter() - t_c:.2f} s")
        if out.shape != (SEQ_LEN, b, no) or not bool(jnp.all(jnp.isfinite(out))):
            note(f"WARNING {PEER} {case}: infer_sequence output bad: shape {out.shape}")
        report(case, "infer_sequence",
               time_call(lambda: sequence(p, xs).block_until_ready(), args.samples, min_s, warm))
    except Exception as e:  # noqa: BLE001
        note(f"FAILED {PEER} {case} infer_sequence: {why(e)}")

    # ---- train_step (params are donated and rebound each call, like an in-place update)
    try:
        P = [init_params(kind, ni, nh, no)]

        def f_train():
            P[0], loss = train_step(P[0], xs, tgt)
            jax.block_until_ready((P[0], loss))
            return loss

        t_c = time.perf_counter()
        l0 = float(f_train())  # loss at the initial weights
        t_c = time.perf_counter() - t_c
        l1 = float(f_train())  # loss after one SGD update
        note(f"{PEER} {case} train_step first call (compile) {t_c:.2f} s")
        ok = math.isfinite(l0) and math.isfinite(l1)
        note(f"sanity {case}: loss jax={l0:.6f},{l1:.6f} "
             f"{'ok (finite)' if ok else 'WARNING: NOT FINITE'}")
        report(case, "train_step", time_call(f_train, args.samples, min_s, warm))
    except Exception as e:  # noqa: BLE001
        note(f"FAILED {PEER} {case} train_step: {why(e)}")


def main():
    args = parse_args()
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})
    note(f"jax_bench jax={jax.__version__} jaxlib={jaxlib.__version__} numpy={np.__version__} "
         f"python={platform.python_version()} backend={jax.default_backend()} "
         f"devices={len(jax.devices())} XLA_FLAGS=\"{os.environ['XLA_FLAGS']}\" "
         f"affinity={sorted(os.sched_getaffinity(0))} cpu=\"{cpu_model()}\" "
         f"T={SEQ_LEN} samples={args.samples} min_sample_ms={args.min_sample_ms} "
         f"quick={args.quick}")
    for case in args.cases:
        run_case(case, args)


if __name__ == "__main__":
    sys.exit(main())
