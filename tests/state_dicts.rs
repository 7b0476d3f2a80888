//! PyTorch `state_dict`s as saved (`safetensors.torch.save_file(model.state_dict(), path)`) load
//! through a `TorchNames` map and give PyTorch's outputs, and the files we save load back into
//! PyTorch. Fixtures: `tools/torch_state_dicts.py` (run by hand; see its docs).

use rnn_core::gradcheck::Fixture;
use rnn_core::io::{TorchNames, WeightsError, load_state_dict, to_state_dict};
use rnn_core::prelude::*;

mod torch_modules;
use torch_modules::*;

fn seed_names() -> TorchNames {
    TorchNames::new().recurrent("rnn", 0, 1).module("head", 1)
}
fn stacked_names() -> TorchNames {
    TorchNames::new().recurrent("lstm", 0, 2).module("out", 2)
}
fn amp_names() -> TorchNames {
    TorchNames::new().recurrent("gru", 0, 1).module("dense", 1)
}
fn bi_names() -> TorchNames {
    TorchNames::new().recurrent("lstm", 0, 2).module("head", 2)
}
fn emb_names() -> TorchNames {
    TorchNames::new()
        .module("emb", 0)
        .recurrent("rnn", 1, 1)
        .module("out", 2)
}

/// The amp module's names reach inside the `Residual`: `rec` (an `nn.LSTM`, so `_l0` names)
/// is layer `0.0`, `lin` `0.1`.
fn amp_residual_names() -> TorchNames {
    TorchNames::new()
        .recurrent_at("rec", "0.0", 1)
        .module_at("lin", "0.1")
}

/// [`outputs_on`] for the token model: `x` holds `(T, B, 1)` token indices.
fn token_outputs_on(net: &mut Emb, x: &[f64]) -> Vec<f64> {
    let tokens: Vec<[Class<7>; 3]> = x
        .chunks(3)
        .map(|step| core::array::from_fn(|b| Class::new(step[b] as usize).expect("a token")))
        .collect();
    net.evaluate();
    net.forward(&tokens)
        .iter()
        .flat_map(|y| (0..3).flat_map(move |b| (0..7).map(move |o| f64::from(y[(o, b)]))))
        .collect()
}

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/state_dicts");

fn torch_outputs() -> Fixture {
    Fixture::parse(include_str!("fixtures/state_dicts/torch_outputs.txt"))
}

/// The network's outputs (evaluation mode) on the time-major `(T, B, I)` inputs `x`, time-major
/// `(T, B, O)` as the fixture holds them.
fn outputs_on<N, const I: usize, const O: usize, const B: usize>(net: &mut N, x: &[f64]) -> Vec<f64>
where
    N: Network<Scalar = f32, Inputs = [SMatrix<f32, I, B>], Outputs = [SMatrix<f32, O, B>]>,
{
    let steps = N::SEQ_LEN;
    assert_eq!(x.len(), steps * B * I);
    let inputs: Vec<SMatrix<f32, I, B>> = (0..steps)
        .map(|t| SMatrix::from_fn(|i, b| x[(t * B + b) * I + i] as f32))
        .collect();
    net.evaluate();
    let ys = net.forward(&inputs);
    let mut out = Vec::new();
    for y in ys {
        for b in 0..B {
            out.extend((0..O).map(|o| f64::from(y[(o, b)])));
        }
    }
    out
}

fn assert_close(what: &str, ours: &[f64], torch: &[f64]) {
    assert_eq!(ours.len(), torch.len(), "{what}: length");
    for (k, (a, b)) in ours.iter().zip(torch).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * b.abs().max(1.0),
            "{what}[{k}]: ours {a} torch {b}"
        );
    }
}

#[test]
fn torch_state_dicts_load_as_saved_and_give_torchs_outputs() {
    let fx = torch_outputs();
    let mut seed = Seed::new(0);
    load_state_dict(
        &mut seed,
        include_bytes!("fixtures/state_dicts/seed.safetensors"),
        &seed_names(),
    )
    .expect("seed state_dict");
    assert_close(
        "seed",
        &outputs_on(&mut seed, fx.get("seed.x")),
        fx.get("seed.y"),
    );

    let mut stacked = Stacked::new(0);
    load_state_dict(
        &mut stacked,
        include_bytes!("fixtures/state_dicts/stacked.safetensors"),
        &stacked_names(),
    )
    .expect("2-layer LSTM state_dict");
    assert_close(
        "stacked",
        &outputs_on(&mut stacked, fx.get("stacked.x")),
        fx.get("stacked.y"),
    );

    // GRU(1, 16): `gru.weight_ih_l0` is [48, 1] in PyTorch, and here.
    let mut amp = Amp::new(0);
    amp.load_state_dict(format!("{DIR}/amp.safetensors"), &amp_names())
        .expect("GRU(1, 16) state_dict, from the file");
    assert_eq!(amp.parameters()[0].value.shape(), (48, 1));
    assert_close(
        "amp",
        &outputs_on(&mut amp, fx.get("amp.x")),
        fx.get("amp.y"),
    );

    // Bidirectional, 2 layers: `lstm.weight_ih_l1_reverse` is `1.weight_ih_reverse`.
    let mut bi = Bi::new(0);
    load_state_dict(
        &mut bi,
        include_bytes!("fixtures/state_dicts/bi.safetensors"),
        &bi_names(),
    )
    .expect("bidirectional LSTM state_dict");
    assert_close("bi", &outputs_on(&mut bi, fx.get("bi.x")), fx.get("bi.y"));

    // `nn.Embedding(7, 3, padding_idx=0)`: `emb.weight` is [7, 3], here `0.weight`.
    let mut emb = Emb::new(0);
    load_state_dict(
        &mut emb,
        include_bytes!("fixtures/state_dicts/emb.safetensors"),
        &emb_names(),
    )
    .expect("embedding state_dict");
    assert_eq!(emb.parameters()[0].value.shape(), (7, 3));
    assert_close(
        "emb",
        &token_outputs_on(&mut emb, fx.get("emb.x")),
        fx.get("emb.y"),
    );
}

#[test]
fn without_the_map_every_name_is_listed_with_a_hint() {
    let mut seed = Seed::new(3);
    let before = to_state_dict(&seed, &TorchNames::new()).expect("save");
    let e = load_state_dict(
        &mut seed,
        include_bytes!("fixtures/state_dicts/seed.safetensors"),
        &TorchNames::new(),
    )
    .expect_err("our names are not the module's");
    let WeightsError::Mismatch(m) = &e else {
        panic!("{e}")
    };
    assert_eq!(m.missing.len(), 6, "{e}");
    assert_eq!(m.unexpected.len(), 6, "{e}");
    assert!(e.to_string().contains("`rnn.weight_ih_l0`"), "{e}");
    assert!(e.to_string().contains("TorchNames"), "{e}");
    // A map off by one layer: names and shapes both wrong, all reported.
    let off = TorchNames::new().recurrent("rnn", 0, 1).module("heads", 1);
    let e = load_state_dict(
        &mut seed,
        include_bytes!("fixtures/state_dicts/seed.safetensors"),
        &off,
    )
    .expect_err("`heads` is not `head`");
    let WeightsError::Mismatch(m) = &e else {
        panic!("{e}")
    };
    assert_eq!(m.missing, ["heads.weight", "heads.bias"]);
    assert_eq!(m.unexpected.len(), 2);
    assert_eq!(m.unexpected[0].name, "head.bias");
    assert_eq!(m.unexpected[0].nearest.as_deref(), Some("heads.bias"));
    assert!(
        e.to_string()
            .contains("`head.bias` (did you mean `heads.bias`?)"),
        "{e}"
    );
    assert_eq!(
        to_state_dict(&seed, &TorchNames::new()).expect("save"),
        before,
        "failed loads changed nothing"
    );
}

/// `RNN_WRITE_FIXTURES=1` writes our files for `tools/torch_state_dicts.py check`; otherwise
/// the committed files must be exactly what we write today, and PyTorch's check of them (its
/// output committed beside them) must have passed.
#[test]
fn our_state_dicts_load_into_pytorch() {
    let fx = torch_outputs();
    let mut seed = Seed::new(7);
    let mut stacked = Stacked::new(7);
    let mut amp = Amp::new(7);
    let mut bi = Bi::new(7);
    let mut emb = Emb::new(7);
    let mut amp_residual = AmpResidual::new(7);
    let files = [
        ("seed", to_state_dict(&seed, &seed_names()).expect("seed")),
        (
            "stacked",
            to_state_dict(&stacked, &stacked_names()).expect("stacked"),
        ),
        ("amp", to_state_dict(&amp, &amp_names()).expect("amp")),
        ("bi", to_state_dict(&bi, &bi_names()).expect("bi")),
        ("emb", to_state_dict(&emb, &emb_names()).expect("emb")),
        (
            "amp_residual",
            to_state_dict(&amp_residual, &amp_residual_names()).expect("amp_residual"),
        ),
    ];
    let line = |name: &str, ys: Vec<f64>, shape: &[usize]| {
        let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
        let vals: Vec<String> = ys.iter().map(|v| format!("{v:?}")).collect();
        format!(
            "{name}.y {} {} {}",
            shape.len(),
            dims.join(" "),
            vals.join(" ")
        )
    };
    let text = [
        "# written by tests/state_dicts.rs (RNN_WRITE_FIXTURES=1)".to_string(),
        line(
            "seed",
            outputs_on(&mut seed, fx.get("seed.x")),
            fx.shape("seed.y"),
        ),
        line(
            "stacked",
            outputs_on(&mut stacked, fx.get("stacked.x")),
            fx.shape("stacked.y"),
        ),
        line(
            "amp",
            outputs_on(&mut amp, fx.get("amp.x")),
            fx.shape("amp.y"),
        ),
        line("bi", outputs_on(&mut bi, fx.get("bi.x")), fx.shape("bi.y")),
        line(
            "emb",
            token_outputs_on(&mut emb, fx.get("emb.x")),
            fx.shape("emb.y"),
        ),
        line(
            "amp_residual",
            outputs_on(&mut amp_residual, fx.get("amp_residual.x")),
            fx.shape("amp_residual.y"),
        ),
    ]
    .join("\n")
        + "\n";
    if std::env::var_os("RNN_WRITE_FIXTURES").is_some() {
        for (name, bytes) in &files {
            std::fs::write(format!("{DIR}/ours_{name}.safetensors"), bytes).expect("write");
        }
        std::fs::write(format!("{DIR}/ours_outputs.txt"), &text).expect("write");
        return;
    }
    for (name, bytes) in &files {
        let committed = std::fs::read(format!("{DIR}/ours_{name}.safetensors"))
            .expect("committed file (RNN_WRITE_FIXTURES=1 writes it)");
        assert!(
            &committed == bytes,
            "ours_{name}.safetensors differs from what we write now: rerun the steps in \
             tools/torch_state_dicts.py"
        );
    }
    // Bit for bit on the kernels that wrote the file (the AVX2 and AVX-512 paths give the same
    // bits); the baseline path (`RNN_SIMD=baseline`, or a CPU without AVX2) rounds without
    // fused multiply-adds, so there the outputs agree to 1e-5 (the PyTorch check's tolerance).
    let committed =
        std::fs::read_to_string(format!("{DIR}/ours_outputs.txt")).expect("ours_outputs.txt");
    if rnn_core::simd_path() == rnn_core::SimdPath::Baseline {
        assert_outputs_close(&committed, &text);
    } else {
        assert_eq!(committed, text);
    }
    let verdict = std::fs::read_to_string(format!("{DIR}/torch_loads_ours.txt"))
        .expect("torch_loads_ours.txt (tools/torch_state_dicts.py check writes it)");
    for name in ["seed", "stacked", "amp", "bi", "emb", "amp_residual"] {
        assert!(
            verdict
                .lines()
                .any(|l| l.starts_with(&format!("{name} ")) && l.ends_with(" ok")),
            "PyTorch's check of ours_{name}: {verdict}"
        );
    }
}

/// A PyTorch module whose layers sit inside one of our containers loads through nested rules
/// and gives PyTorch's outputs; saved back under the same rules it is PyTorch's file again
/// (names, shapes and values, read by the safetensors crate); without the rules every name is
/// listed and nothing changes.
#[test]
fn the_amp_module_loads_into_its_residual_form_through_nested_rules() {
    let fx = torch_outputs();
    let torch_file = include_bytes!("fixtures/state_dicts/amp_residual.safetensors");
    let mut amp = AmpResidual::new(0);
    let before = to_state_dict(&amp, &amp_residual_names()).expect("save");
    let e = load_state_dict(&mut amp, torch_file, &TorchNames::new()).expect_err("no rules");
    let text = e.to_string();
    for name in [
        "0.0.weight_ih",
        "0.1.weight",
        "rec.weight_ih_l0",
        "lin.bias",
    ] {
        assert!(text.contains(name), "{name} not listed: {text}");
    }
    assert_eq!(
        to_state_dict(&amp, &amp_residual_names()).expect("save"),
        before,
        "a failed load changes nothing"
    );
    load_state_dict(&mut amp, torch_file, &amp_residual_names()).expect("nested rules");
    assert_close(
        "amp_residual",
        &outputs_on(&mut amp, fx.get("amp_residual.x")),
        fx.get("amp_residual.y"),
    );

    let ours = to_state_dict(&amp, &amp_residual_names()).expect("save");
    let (a, b) = (
        safetensors::SafeTensors::deserialize(torch_file).expect("torch's file"),
        safetensors::SafeTensors::deserialize(&ours).expect("ours"),
    );
    let mut names = a.names();
    names.sort();
    let mut ours_names = b.names();
    ours_names.sort();
    assert_eq!(names, ours_names);
    for name in names {
        let (x, y) = (
            a.tensor(name).expect("torch"),
            b.tensor(name).expect("ours"),
        );
        assert_eq!((x.shape(), x.data()), (y.shape(), y.data()), "{name}");
    }
}

#[test]
fn our_files_have_pytorchs_names_and_shapes() {
    // Read by an independent reader (the safetensors crate's own), not by our loader.
    let bytes = to_state_dict(&Amp::new(1), &amp_names()).expect("save");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut got: Vec<(String, Vec<usize>)> = file
        .iter()
        .map(|(n, t)| (n.to_string(), t.shape().to_vec()))
        .collect();
    got.sort();
    let want = [
        ("dense.bias", vec![1]),
        ("dense.weight", vec![1, 16]),
        ("gru.bias_hh_l0", vec![48]),
        ("gru.bias_ih_l0", vec![48]),
        ("gru.weight_hh_l0", vec![48, 16]),
        ("gru.weight_ih_l0", vec![48, 1]),
    ];
    let want: Vec<(String, Vec<usize>)> =
        want.into_iter().map(|(n, s)| (n.to_string(), s)).collect();
    assert_eq!(got, want);
}

/// The lines of two `ours_outputs.txt` texts name the same tensors of the same shapes, with
/// values within 1e-5 (relative to values above 1).
fn assert_outputs_close(committed: &str, ours: &str) {
    let (a, b): (Vec<&str>, Vec<&str>) = (committed.lines().collect(), ours.lines().collect());
    assert_eq!(a.len(), b.len(), "ours_outputs.txt: number of lines");
    for (la, lb) in a.iter().zip(&b) {
        let (wa, wb): (Vec<&str>, Vec<&str>) = (
            la.split_whitespace().collect(),
            lb.split_whitespace().collect(),
        );
        if la.starts_with('#') {
            assert_eq!(la, lb);
            continue;
        }
        let dims = wa[1].parse::<usize>().expect("rank") + 2;
        assert_eq!(wa[..dims], wb[..dims], "ours_outputs.txt: names and shapes");
        assert_eq!(wa.len(), wb.len(), "{}: number of values", wa[0]);
        for (x, y) in wa[dims..].iter().zip(&wb[dims..]) {
            let (x, y): (f64, f64) = (x.parse().expect("value"), y.parse().expect("value"));
            assert!(
                (x - y).abs() <= 1e-5 * x.abs().max(1.0),
                "{}: committed {x}, now {y}",
                wa[0]
            );
        }
    }
}
