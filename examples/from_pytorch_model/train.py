#!/usr/bin/env python3
"""Trains a tiny model in PyTorch and saves what `examples/from_pytorch.rs` loads (run by hand):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch==2.15.0 safetensors==0.8.0 numpy
    /tmp/venv/bin/python examples/from_pytorch_model/train.py

The model predicts the next sample of a noisy sine wave, one input sample per step (the shape of
a real-time audio model): `GRU(1, 8, batch_first=True)` then `Linear(8, 1)`. Writes, beside this
file, `model.safetensors` (`safetensors.torch.save_file(model.state_dict(), ...)`, exactly as a
user saves it) and `torch_outputs.txt`: a fixed test sequence and the trained model's outputs on
it, in the format of tools/make_fixtures.py (`name ndim dim... value...`, time-major (T, B, 1)).
"""
import math
import pathlib

import torch
from safetensors.torch import save_file
from torch import nn

HERE = pathlib.Path(__file__).resolve().parent
T = 32


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(1, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x):  # (B, T, 1)
        y, _ = self.gru(x)
        return self.head(y)


def wave(batch, phase=None):
    phase = torch.rand(batch, 1) * 2 * math.pi if phase is None else phase
    t = torch.arange(T + 1, dtype=torch.float32)
    clean = torch.sin(0.3 * t + phase)
    return (clean + 0.05 * torch.randn(batch, T + 1)).unsqueeze(-1)


torch.manual_seed(7)
model = Model()
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for step in range(300):
    s = wave(32)
    loss = ((model(s[:, :-1]) - s[:, 1:]) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"final training loss {loss.item():.5f}")

save_file(model.state_dict(), str(HERE / "model.safetensors"))
test = wave(1, phase=torch.tensor([[0.5]]))[:, :-1]
with torch.no_grad():
    y = model(test)


def line(name, t):
    t = t.transpose(0, 1).to(torch.float64)  # (T, B, 1)
    dims = " ".join(str(d) for d in t.shape)
    return f"{name} {t.dim()} {dims} " + " ".join(repr(float(v)) for v in t.reshape(-1).tolist())


(HERE / "torch_outputs.txt").write_text(
    f"# written by examples/from_pytorch_model/train.py with torch {torch.__version__}\n"
    + line("x", test) + "\n" + line("y", y) + "\n"
)
print(f"wrote model.safetensors and torch_outputs.txt to {HERE}")
