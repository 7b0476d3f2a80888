#!/usr/bin/env python3
"""The PyTorch route beyond one machine, run: a small LSTM tagger trained with
`torch.nn.parallel.DistributedDataParallel` (gloo, CPU) over `torchrun`, saved as users save
it, for `tests/ddp.rs` to load here (the Rust tests need no Python):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch==2.15.0 safetensors==0.8.0 numpy
    OMP_NUM_THREADS=1 /tmp/venv/bin/torchrun --nproc_per_node 2 tools/ddp_train.py

The model is the seed network as a PyTorch user writes it (`rnn = LSTM(10, 20)`, `head =
Linear(20, 5)`, log-softmax) learning delayed recall: tag each step with the symbol (one of 5,
one-hot in the first 5 of 10 inputs, noise in the rest) seen two steps before. Each of the two
processes takes its half of every mini-batch of 32 sequences; DDP averages the gradients.

Rank 0 writes to `tests/fixtures/ddp/`: `tagger.safetensors` (`model.module.state_dict()`
with `safetensors.torch.save_file`), and `outputs.txt`: held-out inputs and the trained
model's outputs on them (format of tools/torch_state_dicts.py: one tensor per line, `name ndim
dim... value...`, time-major `(T, B, features)`), with the training's loss and held-out
accuracy in its header.
"""
import os
import pathlib

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch_state_dicts import Seed as Tagger  # LSTM(10, 20) -> Linear(20, 5) -> log-softmax, time-major

DIR = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/ddp"
STEPS, BATCH, T, DELAY = 300, 32, 8, 2


def batch(gen, b):
    """`b` sequences: inputs (T, b, 10), targets (T, b) (class 0 before the delay)."""
    symbols = torch.randint(0, 5, (T, b), generator=gen)
    x = torch.zeros(T, b, 10)
    x[:, :, :5] = nn.functional.one_hot(symbols, 5).float()
    x[:, :, 5:] = 0.1 * torch.randn(T, b, 5, generator=gen)
    y = torch.zeros(T, b, dtype=torch.long)
    y[DELAY:] = symbols[:-DELAY]
    return x, y


def line(name, t):
    t = torch.as_tensor(t).detach().to(torch.float64)
    dims = " ".join(str(d) for d in t.shape)
    vals = " ".join(repr(float(v)) for v in t.reshape(-1).tolist())
    return f"{name} {t.dim()} {dims} {vals}"


def main():
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(2026)  # the same initial weights on every rank (DDP broadcasts rank 0's anyway)
    model = DistributedDataParallel(Tagger())
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    data = torch.Generator().manual_seed(7)  # the same mini-batches on every rank
    share = BATCH // world
    for step in range(STEPS):
        x, y = batch(data, BATCH)
        x, y = x[:, rank * share : (rank + 1) * share], y[:, rank * share : (rank + 1) * share]
        opt.zero_grad()
        loss = nn.functional.nll_loss(model(x).reshape(-1, 5), y.reshape(-1))
        loss.backward()
        opt.step()
    if rank == 0:
        held_out = torch.Generator().manual_seed(99)
        x, y = batch(held_out, 4)
        model.module.eval()
        with torch.no_grad():
            out = model.module(x)
            big_x, big_y = batch(held_out, 500)
            acc = (model.module(big_x).argmax(-1)[DELAY:] == big_y[DELAY:]).float().mean().item()
        DIR.mkdir(parents=True, exist_ok=True)
        save_file(model.module.state_dict(), str(DIR / "tagger.safetensors"))
        head = (
            f"# written by tools/ddp_train.py under torchrun ({world} processes, gloo) with torch "
            f"{torch.__version__}: {STEPS} Adam steps of {BATCH} sequences; last loss "
            f"{loss.item():.4f}, held-out accuracy after the delay {100 * acc:.1f} % (chance 20 %)"
        )
        (DIR / "outputs.txt").write_text("\n".join([head, line("x", x), line("y", out)]) + "\n")
        print(head)
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
