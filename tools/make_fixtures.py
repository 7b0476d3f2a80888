#!/usr/bin/env python3
"""Writes rnn-core/tests/fixtures/torch_reference.txt: forward values and gradients computed by
PyTorch, which the Rust tests compare against (they need no Python).

Run by hand when a fixture must change:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch==2.15.0 safetensors==0.8.0 numpy
    /tmp/venv/bin/python tools/make_fixtures.py

Format: one tensor per line, `name ndim dim... value...`, values row-major (PyTorch's layout),
printed with 17 significant digits. Everything is computed in float64.
"""
import pathlib

import torch

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)
OUT = pathlib.Path(__file__).resolve().parent.parent / "rnn-core/tests/fixtures/torch_reference.txt"
lines = [f"# written by tools/make_fixtures.py with torch {torch.__version__}"]


def put(name, t):
    t = torch.as_tensor(t, dtype=torch.float64).detach()
    vals = " ".join(repr(float(v)) for v in t.reshape(-1).tolist())
    lines.append(f"{name} {t.dim()} {' '.join(str(d) for d in t.shape)} {vals}".replace("  ", " "))


def recurrent(name, module, T=4, B=2):
    I, H = module.input_size, module.hidden_size
    x = torch.randn(T, B, I, requires_grad=True)
    r = torch.randn(T, B, H)
    y, _ = module(x)  # zero initial state
    (y * r).sum().backward()
    for pname in ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]:
        p = getattr(module, pname)
        short = pname[: -len("_l0")]
        put(f"{name}.{short}", p)
        put(f"{name}.grad_{short}", p.grad)
    put(f"{name}.x", x)
    put(f"{name}.r", r)
    put(f"{name}.y", y)
    put(f"{name}.grad_x", x.grad)


recurrent("lstm", torch.nn.LSTM(3, 4))
recurrent("gru", torch.nn.GRU(3, 4))
recurrent("rnn", torch.nn.RNN(3, 5, nonlinearity="tanh"))

# Linear(4 -> 3), batch 2.
lin = torch.nn.Linear(4, 3)
x = torch.randn(2, 4, requires_grad=True)
r = torch.randn(2, 3)
y = lin(x)
(y * r).sum().backward()
for n, t in [("weight", lin.weight), ("bias", lin.bias), ("grad_weight", lin.weight.grad),
             ("grad_bias", lin.bias.grad), ("x", x), ("r", r), ("y", y), ("grad_x", x.grad)]:
    put(f"linear.{n}", t)

# LogSoftMax + ClassNLL (size-averaged, with and without class weights), 5 classes, batch 3.
scores = (3 * torch.randn(3, 5)).requires_grad_(True)
target = torch.tensor([4, 0, 2])
w = torch.tensor([0.5, 1.0, 2.0, 1.5, 0.25])
logp = torch.log_softmax(scores, dim=1)
put("nll.scores", scores)
put("nll.target", target)
put("nll.class_weight", w)
put("nll.logp", logp)
for tag, weight in [("plain", None), ("weighted", w)]:
    scores.grad = None
    loss = torch.nn.functional.nll_loss(torch.log_softmax(scores, dim=1), target, weight=weight)
    loss.backward()
    put(f"nll.{tag}.loss", loss)
    put(f"nll.{tag}.grad_scores", scores.grad)

# Optimisers: five steps from the same start with given gradients.
start = torch.randn(3, 2)
grads = torch.randn(5, 3, 2)
put("optim.start", start)
put("optim.grads", grads)
for tag, make in [
    ("adam", lambda p: torch.optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8)),
    ("sgd", lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)),
]:
    p = torch.nn.Parameter(start.clone())
    opt = make(p)
    trace = []
    for k in range(5):
        p.grad = grads[k].clone()
        opt.step()
        trace.append(p.detach().clone())
    put(f"optim.{tag}.trace", torch.stack(trace))

OUT.write_text("\n".join(lines) + "\n")
print(f"wrote {len(lines) - 1} tensors to {OUT}")

# A weights file written by the reference safetensors implementation, named as `network!` names
# the seed network's parameters; its values are also in the text fixture.
from safetensors.torch import save_file  # noqa: E402

seed = {
    "0.weight_ih": torch.randn(80, 10), "0.weight_hh": torch.randn(80, 20),
    "0.bias_ih": torch.randn(80), "0.bias_hh": torch.randn(80),
    "1.weight": torch.randn(5, 20), "1.bias": torch.randn(5),
}
seed = {k: v.to(torch.float32) for k, v in seed.items()}
save_file(seed, str(OUT.parent / "seed_weights.safetensors"), metadata={"written_by": "tools/make_fixtures.py"})
extra = [f"seed_weights.{k}" for k in seed]
for k, v in seed.items():
    put(f"seed_weights.{k}", v)
OUT.write_text("\n".join(lines) + "\n")
print(f"wrote {len(extra)} tensors to seed_weights.safetensors")
