#!/usr/bin/env python3
"""PyTorch state_dicts as users save them, and ours loaded back into PyTorch.

Writes the fixtures that `tests/state_dicts.rs` reads (the Rust tests need no Python):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch==2.15.0 safetensors==0.8.0 numpy
    /tmp/venv/bin/python tools/torch_state_dicts.py save     # 1. torch modules -> files + outputs
    RNN_WRITE_FIXTURES=1 cargo test --test state_dicts       # 2. our files + our outputs
    /tmp/venv/bin/python tools/torch_state_dicts.py check    # 3. ours loaded into torch, compared

Step 1 writes, for each module below, `<name>.safetensors` exactly as
`safetensors.torch.save_file(model.state_dict(), path)` does, and `torch_outputs.txt`: the
inputs and the module's outputs on them. Step 3 loads `ours_<name>.safetensors` (written by our
`save_state_dict`) with `model.load_state_dict(load_file(path))` (strict), runs it on the same
inputs and writes `torch_loads_ours.txt`: the largest difference to our outputs
(`ours_outputs.txt`) per module, and `ok` if it is below 1e-5.

Text format (as tools/make_fixtures.py): one tensor per line, `name ndim dim... value...`,
row-major, 17 significant digits. Inputs and outputs are time-major `(T, B, features)`
whatever the module's `batch_first`.
"""
import pathlib
import sys

import torch
from safetensors.torch import load_file, save_file
from torch import nn

DIR = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/state_dicts"


class Seed(nn.Module):
    """The seed network as a PyTorch user writes it: `LSTM(10, 20) -> Linear(20, 5) -> LogSoftMax`."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(10, 20)
        self.head = nn.Linear(20, 5)

    def forward(self, x):  # (T, B, 10)
        y, _ = self.rnn(x)
        return torch.log_softmax(self.head(y), dim=-1)


class Stacked(nn.Module):
    """A 2-layer LSTM (`num_layers = 2`, batch first) and a linear head."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 6, num_layers=2, batch_first=True)
        self.out = nn.Linear(6, 3)

    def forward(self, x):  # (T, B, 4)
        y, _ = self.lstm(x.transpose(0, 1))
        return self.out(y).transpose(0, 1)


class Amp(nn.Module):
    """An audio-style model: one input sample per step, `GRU(1, 16) -> Linear(16, 1)`."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(1, 16, batch_first=True)
        self.dense = nn.Linear(16, 1)

    def forward(self, x):  # (T, B, 1)
        y, _ = self.gru(x.transpose(0, 1))
        return self.dense(y).transpose(0, 1)


class Bi(nn.Module):
    """A bidirectional 2-layer LSTM tagger (batch first) and a linear head."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):  # (T, B, 3)
        y, _ = self.lstm(x.transpose(0, 1))
        return self.head(y).transpose(0, 1)


class Emb(nn.Module):
    """A token model: `nn.Embedding(7, 3, padding_idx=0) -> LSTM(3, 5) -> Linear(5, 7)`.

    Its input holds token indices (as floats in the fixture, shape (T, B, 1))."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 3, padding_idx=0)
        self.rnn = nn.LSTM(3, 5)
        self.out = nn.Linear(5, 7)

    def forward(self, x):  # (T, B, 1) token indices
        y, _ = self.rnn(self.emb(x[..., 0].long()))
        return self.out(y)


class AmpResidual(nn.Module):
    """The guitar-amp model README.md shows, as PyTorch users write it: `lin(rec(x)) + x`.

    Ours is `Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ]`: `rec` is layer `0.0` and
    `lin` layer `0.1` (`TorchNames::recurrent_at("rec", "0.0", 1).module_at("lin", "0.1")`)."""

    def __init__(self):
        super().__init__()
        self.rec = nn.LSTM(1, 16)
        self.lin = nn.Linear(16, 1)

    def forward(self, x):  # (T, B, 1)
        y, _ = self.rec(x)
        return self.lin(y) + x


# name -> (module class, (T, B, features in)); new cases go last (the seed's draws stay put)
CASES = {
    "seed": (Seed, (5, 2, 10)),
    "stacked": (Stacked, (5, 2, 4)),
    "amp": (Amp, (8, 1, 1)),
    "bi": (Bi, (6, 2, 3)),
    "emb": (Emb, (5, 3, 1)),
    "amp_residual": (AmpResidual, (12, 2, 1)),
}


def line(name, t):
    t = torch.as_tensor(t).detach().to(torch.float64)
    dims = " ".join(str(d) for d in t.shape)
    vals = " ".join(repr(float(v)) for v in t.reshape(-1).tolist())
    return f"{name} {t.dim()} {dims} {vals}"


def read_text(path):
    out = {}
    for ln in path.read_text().splitlines():
        if not ln or ln.startswith("#"):
            continue
        parts = ln.split(" ")
        ndim = int(parts[1])
        shape = [int(d) for d in parts[2 : 2 + ndim]]
        out[parts[0]] = torch.tensor([float(v) for v in parts[2 + ndim :]], dtype=torch.float64).reshape(shape)
    return out


def save():
    DIR.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(2026)
    lines = [f"# written by tools/torch_state_dicts.py save with torch {torch.__version__}"]
    for name, (cls, (t, b, i)) in CASES.items():
        model = cls().eval()
        save_file(model.state_dict(), str(DIR / f"{name}.safetensors"))
        x = torch.randint(0, 7, (t, b, 1)).float() if cls is Emb else torch.randn(t, b, i)
        with torch.no_grad():
            y = model(x)
        lines += [line(f"{name}.x", x), line(f"{name}.y", y)]
    (DIR / "torch_outputs.txt").write_text("\n".join(lines) + "\n")
    print(f"wrote {len(CASES)} state_dicts and torch_outputs.txt to {DIR}")


def check():
    inputs = read_text(DIR / "torch_outputs.txt")
    ours = read_text(DIR / "ours_outputs.txt")
    lines = [f"# written by tools/torch_state_dicts.py check with torch {torch.__version__}"]
    failed = False
    for name, (cls, _) in CASES.items():
        model = cls().eval()
        model.load_state_dict(load_file(str(DIR / f"ours_{name}.safetensors")), strict=True)
        with torch.no_grad():
            y = model(inputs[f"{name}.x"].to(torch.float32)).to(torch.float64)
        diff = (y - ours[f"{name}.y"]).abs().max().item()
        ok = diff < 1e-5
        failed |= not ok
        lines.append(f"{name} max_abs_diff {diff:.3e} {'ok' if ok else 'FAILED'}")
    (DIR / "torch_loads_ours.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    {"save": save, "check": check}[sys.argv[1] if len(sys.argv) > 1 else "save"]()
