"""Writes tests/fixtures/pretrained/amp_residual_bf16.safetensors: the amp Residual module's
state_dict (tests/fixtures/state_dicts/amp_residual.safetensors, saved by PyTorch) converted
to bfloat16 by PyTorch, as a half-precision checkpoint would arrive. tests/pretrained.rs
compiles it into f32 and f64 networks with `convert_dtype` and checks that equals loading it at
run time.

Run by hand from the repository root: python tools/half_precision_fixture.py
"""

import torch
from safetensors.torch import load_file, save_file

src = "tests/fixtures/state_dicts/amp_residual.safetensors"
dst = "tests/fixtures/pretrained/amp_residual_bf16.safetensors"
state = {k: v.to(torch.bfloat16).contiguous() for k, v in load_file(src).items()}
save_file(state, dst)
print(f"{dst}: {', '.join(f'{k} {tuple(v.shape)}' for k, v in sorted(state.items()))}")
