#!/usr/bin/env python3
"""Writes tests/fixtures/conv1d/: a causal, dilated `torch.nn.Conv1d` network's state_dict and
what PyTorch computes with it, which tests/conv1d.rs compares against (no Python there).

The network is `Sequential[ Conv1d(3, 4, 3, dilation = 2), Tanh, Linear(4, 2) ]` over steps of
shape [B, 3]: PyTorch's Conv1d runs on [B, C, T] with `(kernel - 1) * dilation` zeros of padding
on the left only (F.pad before the convolution), so that output t sees inputs t, t - 2, t - 4.

Run by hand when the fixture must change (torch and onnxruntime in a venv outside the repo):
    /work/venv/bin/python tools/conv1d_fixture.py            # 1. torch.txt, weights.safetensors
    RNN_WRITE_FIXTURES=1 cargo test --test conv1d onnx       # 2. ours.onnx, our export
    /work/venv/bin/python tools/conv1d_fixture.py check      # 3. onnxruntime runs it

`torch.txt`: one tensor per line, `name ndim dim... value...`, row-major, float64, for
- `whole.*`: the 12-step sequence `x` from zeros: outputs `y`; for the loss `sum(y * r)` the
  gradients of every parameter (`grad.0.weight`...) and of `x`;
- `second.*`: the loss of steps 6..12 only, with steps 0..6 as constants (what a second call of
  6 steps under `remember` computes: truncated BPTT): the parameter gradients and the gradient
  of `x[6..12]`.
`onnxruntime.txt` (`check`): the outputs `y` onnxruntime computes with our export `ours.onnx`
(the f32 network with these weights) on `x`, after the ONNX checker accepted the file.
"""
import sys
import pathlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(31)
torch.set_default_dtype(torch.float64)
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/conv1d"
OUT.mkdir(parents=True, exist_ok=True)

IN, OUT_CH, KERNEL, DILATION, HEAD = 3, 4, 3, 2, 2
T, B = 12, 2

conv = torch.nn.Conv1d(IN, OUT_CH, KERNEL, dilation=DILATION)
lin = torch.nn.Linear(OUT_CH, HEAD)
params = {"0.weight": conv.weight, "0.bias": conv.bias, "2.weight": lin.weight, "2.bias": lin.bias}


def run(x):
    """x: [T, B, IN] -> y: [T, B, HEAD]."""
    xp = F.pad(x.permute(1, 2, 0), ((KERNEL - 1) * DILATION, 0))
    h = F.conv1d(xp, conv.weight, conv.bias, dilation=DILATION).permute(2, 0, 1)
    return lin(torch.tanh(h))


if sys.argv[1:] == ["check"]:
    import numpy as np
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(onnx.load(OUT / "ours.onnx"), full_check=True)
    x = np.array([float(v) for v in (OUT / "torch.txt").read_text().splitlines()[1].split()[5:]])
    session = ort.InferenceSession(str(OUT / "ours.onnx"), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"input": x.reshape(T, B, IN).astype(np.float32)})
    vals = " ".join(repr(float(v)) for v in y.reshape(-1).tolist())
    (OUT / "onnxruntime.txt").write_text(
        f"# onnxruntime {ort.__version__} on ours.onnx, by tools/conv1d_fixture.py check\n"
        f"y 3 {' '.join(str(d) for d in y.shape)} {vals}\n"
    )
    print(f"wrote {OUT}/onnxruntime.txt")
    sys.exit(0)

x = torch.randn(T, B, IN)
r = torch.randn(T, B, HEAD)

lines = [f"# written by tools/conv1d_fixture.py with torch {torch.__version__}"]


def put(name, t):
    t = torch.as_tensor(t, dtype=torch.float64).detach()
    vals = " ".join(repr(float(v)) for v in t.reshape(-1).tolist())
    lines.append(f"{name} {t.dim()} {' '.join(str(d) for d in t.shape)} {vals}")


def grads(prefix, loss, xs):
    for p in params.values():
        p.grad = None
    loss.backward()
    for name, p in params.items():
        put(f"{prefix}.grad.{name}", p.grad)
    put(f"{prefix}.grad_x", xs.grad)


put("x", x)
put("r", r)

xs = x.clone().requires_grad_(True)
y = run(xs)
put("whole.y", y)
grads("whole", (y * r).sum(), xs)

second = x[6:].clone().requires_grad_(True)
y = run(torch.cat([x[:6], second]))
grads("second", (y[6:] * r[6:]).sum(), second)

save_file({k: v.detach().contiguous() for k, v in params.items()}, OUT / "weights.safetensors")
(OUT / "torch.txt").write_text("\n".join(lines) + "\n")
print(f"wrote {OUT}/torch.txt and weights.safetensors")
