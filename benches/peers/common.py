"""Timing and reporting helpers shared by torch_bench.py and jax_bench.py (no framework
imports here, so each script can set its environment before importing its framework)."""
import argparse
import platform
import statistics
import time

# The networks both scripts time, as in benches/src/lib.rs:
# name -> (cell kind, input size, hidden size, output classes, batch)
CASES = {
    "seed_b1": ("lstm", 10, 20, 5, 1),
    "seed_b32": ("lstm", 10, 20, 5, 32),
    "lstm128_b32": ("lstm", 64, 128, 10, 32),
    "gru128_b32": ("gru", 64, 128, 10, 32),
    "lstm256_b32": ("lstm", 32, 256, 10, 32),
    "gru_b1": ("gru", 10, 20, 5, 1),
}
SEQ_LEN = 16
LR = 0.01


def time_call(fn, samples, min_sample_s, warmup_calls):
    """Median per-call time of fn() in microseconds.

    fn must wait for its own result (block_until_ready). Each sample times a batch of n
    back-to-back calls, n chosen so that one sample lasts at least min_sample_s.
    """
    for _ in range(warmup_calls):
        fn()
    n = 1
    while True:  # calibrate n (these calls also warm up)
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_sample_s:
            break
        n = max(n + 1, int(n * min(10.0, 1.2 * min_sample_s / max(dt, 1e-9))))
    per_call = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        per_call.append((time.perf_counter() - t0) / n)
    return statistics.median(per_call) * 1e6


def note(msg):
    print(f"# {msg}", flush=True)


def why(e):
    msg = str(e).strip().splitlines()
    first = msg[0] if msg else ""
    return f"{type(e).__name__}: {first[:300]}"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def parse_args(doc, cases, extra=None):
    """The options both scripts take (`--quick`, `--cases`, `--samples`, `--min-sample-ms`,
    `--pin`); `extra(parser)` may add more before parsing and returns a check to run after."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke test: few, short samples (numbers are not meaningful)")
    p.add_argument("--cases", default=",".join(cases),
                   help="comma-separated networks (default: all): " + ", ".join(cases))
    p.add_argument("--samples", type=int, default=None,
                   help="samples per measurement (default 51; 5 with --quick)")
    p.add_argument("--min-sample-ms", type=float, default=None,
                   help="minimum duration of one sample in ms (default 2; 0.5 with --quick)")
    p.add_argument("--pin", type=int, default=None, metavar="CPU",
                   help="pin the process to this CPU with sched_setaffinity")
    check = extra(p) if extra else None
    a = p.parse_args()
    a.cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    for c in a.cases:
        if c not in cases:
            p.error(f"unknown case {c!r}; known: {', '.join(cases)}")
    if check:
        check(p, a)
    if a.samples is None:
        a.samples = 5 if a.quick else 51
    if a.min_sample_ms is None:
        a.min_sample_ms = 0.5 if a.quick else 2.0
    return a
