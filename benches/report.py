#!/usr/bin/env python3
"""Turns the raw outputs of compare.sh (divan trees and `PEER ...` lines) into the markdown
tables of BENCHMARKS.md: median time per time step and the ratio of each peer to ours."""
import re
import sys
from pathlib import Path

T = 16
UNITS = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}


def parse_divan(path, tag):
    """{(peer, case, measure): median_us} from a divan tree."""
    out, stack = {}, []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        m = re.match(r"^([│ ]*)[├╰]─ (.+?)\s{2,}", line)
        if not m and not re.match(r"^[├╰]─ ", line):
            continue
        depth = len(m.group(1)) // 3 if m else 0
        name = (m.group(2) if m else line[3:].split("│")[0]).strip()
        stack = stack[:depth] + [name]
        times = re.findall(r"([\d.]+) (ns|µs|ms|s)\b", line)
        if len(times) < 3:
            continue
        value = float(times[2][0]) * UNITS[times[2][1]]  # fastest, slowest, median, mean
        # Keys: ours/<case>/<measure>, dynamic/<measure>/<batch>, candle/<measure>/<dims>.
        group = stack[0]
        if group == "ours" and len(stack) == 3:
            out[(tag, stack[1], stack[2])] = value
        elif group == "dynamic" and len(stack) == 3:
            measure = stack[1].replace("seed_", "")
            out[("dynamic", f"seed_b{stack[2]}", measure)] = value
        elif group == "candle" and len(stack) == 3:
            dims = tuple(int(x) for x in re.findall(r"\d+", stack[2]))
            case = {
                (10, 20, 5, 1): "seed_b1",
                (10, 20, 5, 32): "seed_b32",
                (64, 128, 10, 32): "lstm128_b32",
                (32, 256, 10, 32): "lstm256_b32",
            }[dims]
            out[("candle", case, stack[1].replace("lstm_", ""))] = value
    return out


def parse_parallel(path):
    """{(case, measure): median_us} from the data-parallel divan tree (`benches/parallel.rs`)."""
    out, stack = {}, []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        m = re.match(r"^([│ ]*)[├╰]─ (.+?)\s{2,}", line)
        if not m:
            continue
        depth = len(m.group(1)) // 3
        stack = stack[:depth] + [m.group(2).strip()]
        times = re.findall(r"([\d.]+) (ns|µs|ms|s)\b", line)
        if len(times) >= 3:
            key = (stack[0], "/".join(stack[1:]))
            out[key] = float(times[2][0]) * UNITS[times[2][1]]
            out[key + ("fastest",)] = float(times[0][0]) * UNITS[times[0][1]]
    return out


def print_parallel(results):
    """The data-parallel table: a training step (16 steps) in us per call, medians."""
    if not results:
        return
    print("### data-parallel training (2 shards, us per training step of 16 steps)\n")
    print("| case | 1 thread | 2 threads | speed-up (medians) | speed-up (fastest) | after a 300 us gap: 1 / 2 threads | Auto | Auto after a gap | one network of the whole batch |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in ["lstm128_b64", "seed_b64", "seed_b2"]:
        g = lambda m: results.get((case, m))
        one, two = g("data_parallel/1"), g("data_parallel/2")
        if one is None or two is None:
            continue
        gap1, gap2 = g("data_parallel_after_gap/1"), g("data_parallel_after_gap/2")
        fast = results[(case, "data_parallel/1", "fastest")] / results[(case, "data_parallel/2", "fastest")]
        print(f"| {case} | {one:.1f} | {two:.1f} | {one / two:.2f}x | {fast:.2f}x | {gap1:.1f} / {gap2:.1f} | "
              f"{g('data_parallel_auto'):.1f} | {g('data_parallel_auto_after_gap'):.1f} | {g('one_network'):.1f} |")
    print()


def parse_peers(path):
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 5 and parts[0] == "PEER":
                out[(parts[1], parts[2], parts[3])] = float(parts[4])
    return out


def main(folder):
    d = Path(folder)
    # compare.sh measures the columns in interleaved rounds (`round1/`, `round2/`, ...); a cell
    # is the smallest of its rounds' medians. A folder without rounds is read as one round.
    rounds = sorted(d.glob("round*"), key=lambda p: int(p.name[5:])) or [d]
    per_round = []
    for r in rounds:
        res = {}
        res.update(parse_divan(r / "divan.txt", "ours"))
        res.update(parse_divan(r / "divan_candle.txt", "ours"))
        res.update(parse_divan(r / "divan_native.txt", "ours_native"))
        res.update(parse_peers(r / "torch.txt"))
        res.update(parse_peers(r / "jax.txt"))
        per_round.append(res)
    results = {}
    for res in per_round:
        for k, v in res.items():
            results[k] = min(v, results.get(k, v))
    machine = (d / "machine.txt").read_text() if (d / "machine.txt").exists() else ""
    for line in machine.splitlines():
        if line.startswith(("cpu:", "kernels:")):
            print(f"{line}  ")
    print(f"\nEach cell: the smallest of {len(per_round)} interleaved rounds' medians.\n")
    peers = ["ours_native", "dynamic", "candle", "torch_eager", "torch_compile", "jax_jit"]
    peak = None
    fma = (d / "fma.txt").read_text() if (d / "fma.txt").exists() else ""
    vals = [float(x) for x in re.findall(r"([\d.]+) GFLOP/s", fma)]
    if vals:
        peak = max(vals)
        print(f"FMA peak (one core, f32): {peak:.1f} GFLOP/s\n")
    def lstm_train_flops(i, h, o, b):
        """Multiply-adds x 2 of a training step over T steps: 3 x the forward products."""
        return 2 * T * (3 * 4 * h * (i + h) * b + 3 * o * h * b)

    flops = {"lstm128_b32": lstm_train_flops(64, 128, 10, 32), "lstm256_b32": lstm_train_flops(32, 256, 10, 32)}
    for case in ["seed_b1", "seed_b32", "lstm128_b32", "gru128_b32", "lstm256_b32", "gru_b1"]:
        rows = []
        for measure in ["infer_step", "infer_sequence", "train_step"]:
            ours = results.get(("ours", case, measure))
            if ours is None:
                continue
            per = 1.0 if measure == "infer_step" else T
            row = [measure, f"{ours / per:.3f}"]
            for p in peers:
                v = results.get((p, case, measure))
                row.append("–" if v is None else f"{v / per:.3f} ({v / ours:.2g}x)")
            if peak and case in flops and measure == "train_step":
                row[1] += f" [{flops[case] / (ours * 1e-6) / 1e9 / peak:.0%} of peak]"
            rows.append(row)
        if not rows:
            continue
        print(f"### {case}\n")
        print("| measure (us per time step) | ours | " + " | ".join(peers) + " |")
        print("|---|" + "---:|" * (len(peers) + 1))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        print()
    print_parallel(parse_parallel(d / "parallel.txt"))
    if len(per_round) > 1:
        print_spread(per_round)


def print_spread(per_round):
    """How far apart the rounds were: each column's largest median over its smallest, for the
    whole-sequence measures (a noise gauge for the ratios above)."""
    print("### spread of the rounds (largest / smallest median)\n")
    cols = ["ours", "ours_native", "torch_eager", "torch_compile", "jax_jit"]
    print("| case, measure | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for case in ["seed_b1", "seed_b32", "lstm128_b32", "gru128_b32", "lstm256_b32", "gru_b1"]:
        for measure in ["infer_sequence", "train_step"]:
            cells = []
            for c in cols:
                vs = [r[(c, case, measure)] for r in per_round if (c, case, measure) in r]
                cells.append(f"{max(vs) / min(vs):.2f}" if vs else "–")
            print(f"| {case} {measure} | " + " | ".join(cells) + " |")
    print()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/compare")
