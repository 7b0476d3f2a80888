#!/usr/bin/env python3
"""ONNX fixtures: PyTorch modules exported by `torch.onnx.export`, and ours run by onnxruntime.

Writes what `tests/onnx.rs` reads (the Rust tests need no Python):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch==2.15.0 onnx==1.23.2 \
        onnxruntime==1.32.0 onnxscript==0.7.2 safetensors==0.8.0 numpy
    /tmp/venv/bin/python tools/torch_onnx.py save     # 1. torch modules -> .onnx + outputs
    RNN_WRITE_FIXTURES=1 cargo test --test onnx       # 2. our .onnx files + our outputs
    /tmp/venv/bin/python tools/torch_onnx.py check    # 3. ours run by onnxruntime, compared

Step 1 exports each module of `tools/torch_state_dicts.py` twice, with the TorchScript
exporter (`<name>.onnx`, `dynamo=False`) and the dynamo one (`<name>_dynamo.onnx`), opset 17,
`T` and `B` dynamic, and writes `torch_outputs.txt`: each module's inputs and outputs. It also
writes `unsupported.onnx`, an LSTM followed by a `LayerNorm` (ONNX `LayerNormalization`, which
no layer here computes), and `external.onnx` (+ `.data`), the seed module with its weights in a
separate file (the dynamo exporter's default, which the loader refuses with a typed error). Step 3 runs each `ours_<name>.onnx` (written by our `io::to_onnx`)
in onnxruntime on the inputs of `ours_outputs.txt`, from the default initial state (the
optional state inputs not fed) and from the states given there, and writes
`onnxruntime_runs_ours.txt`: the largest difference to our outputs and final states per
case, and `ok` if it is below 1e-5.

Text format: `tools/torch_state_dicts.py`'s (one tensor per line, `name ndim dim... value...`).
"""
import pathlib
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torch_state_dicts import CASES, line, read_text  # noqa: E402

DIR = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/onnx"


class Unsupported(nn.Module):
    """An LSTM and a layer norm: `LayerNormalization` has no layer here."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(2, 3)
        self.norm = nn.LayerNorm(3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.norm(y)


def export(model, x, path, dynamo, external_data=False):
    torch.onnx.export(
        model,
        (x,),
        str(path),
        input_names=["x"],
        output_names=["y"],
        opset_version=17,
        dynamo=dynamo,
        **({"external_data": external_data} if dynamo else {}),
        **(
            {"dynamic_shapes": ({0: torch.export.Dim("T"), 1: torch.export.Dim("B")},)}
            if dynamo
            else {"dynamic_axes": {"x": {0: "T", 1: "B"}, "y": {0: "T", 1: "B"}}}
        ),
    )


def save():
    DIR.mkdir(parents=True, exist_ok=True)
    lines = [f"# torch {torch.__version__}: inputs x_<case> (T, B, in), outputs y_<case> (T, B, out)"]
    for k, (name, (cls, (t, b, f))) in enumerate(CASES.items()):
        torch.manual_seed(100 + k)
        model = cls().eval()
        if name == "emb":
            x = torch.randint(0, 7, (t, b, f)).to(torch.float32)
        else:
            x = torch.randn(t, b, f)
        with torch.no_grad():
            y = model(x)
        export(model, x, DIR / f"{name}.onnx", dynamo=False)
        export(model, x, DIR / f"{name}_dynamo.onnx", dynamo=True)
        lines += [line(f"x_{name}", x), line(f"y_{name}", y)]
    torch.manual_seed(99)
    export(Unsupported().eval(), torch.randn(3, 1, 2), DIR / "unsupported.onnx", dynamo=False)
    # The dynamo exporter's default: the weights in a file beside the model (not read here).
    seed, (t, b, f) = CASES["seed"]
    export(seed().eval(), torch.randn(t, b, f), DIR / "external.onnx", dynamo=True, external_data=True)
    (DIR / "torch_outputs.txt").write_text("\n".join(lines) + "\n")
    print(f"wrote {DIR}")


def check():
    import onnxruntime as ort

    ours = read_text(DIR / "ours_outputs.txt")
    cases = sorted({k.split("/")[0] for k in ours})
    out = [
        f"# onnx {__import__('onnx').__version__} checker, onnxruntime {ort.__version__} on our exports: "
        "largest |difference| to our outputs and final states"
    ]
    bad = False
    import onnx

    for case in cases:
        path = DIR / f"ours_{case}.onnx"
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        out.append(f"{case}: onnx.checker (full_check) ok")
        sess = ort.InferenceSession(str(path))
        # The optional state inputs are initializers onnxruntime lets a run override.
        inputs = [i.name for i in sess.get_inputs() + sess.get_overridable_initializers()]
        outputs = [o.name for o in sess.get_outputs()]
        x = ours[f"{case}/input"].numpy()
        if sess.get_inputs()[0].type == "tensor(int64)":
            x = x.astype(np.int64)
        else:
            x = x.astype(np.float32)
        for run in ("default", "given"):
            feed = {"input": x}
            if run == "given":
                feed.update({n: ours[f"{case}/given/{n}"].numpy().astype(np.float32) for n in inputs[1:]})
            got = sess.run(None, feed)
            worst = 0.0
            for name, value in zip(outputs, got):
                want = ours[f"{case}/{run}/{name}"].numpy()
                if name != "output" and want.shape[0] == 2:
                    # A bidirectional layer: our state() holds the backward direction's start
                    # after a forward (see BiSequencer), ONNX's `hn` its end: the forward
                    # direction's are compared.
                    value, want = value[:1], want[:1]
                worst = max(worst, float(np.max(np.abs(value.astype(np.float64) - want))))
            ok = worst <= 1e-5
            bad |= not ok
            out.append(f"{case} {run} states: {worst:.3g} {'ok' if ok else 'FAIL'}")
    (DIR / "onnxruntime_runs_ours.txt").write_text("\n".join(out) + "\n")
    print("\n".join(out))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    {"save": save, "check": check}[sys.argv[1]]()
