//! Weights in safetensors: round trips, a file written by the reference implementation, PyTorch's
//! shapes for one-input layers, every kind of mismatch listed at once, bad files rejected
//! (strictly, with bounded work), dtype conversion only on request, copies between network
//! types, checkpoints that resume training bit for bit, and seeded mutations of valid files
//! that never panic and never change a parameter on error.

use rnn_core::gradcheck::{Fixture, parameter_vectors};
use rnn_core::io::{
    HEADER_LIMIT, TorchNames, WeightsError, copy_parameters, load_checkpoint, load_safetensors,
    load_state_dict, to_checkpoint, to_safetensors,
};
use rnn_core::prelude::*;
use safetensors::{Dtype, tensor::TensorView};

network! {
    /// The seed network.
    pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// The seed network in f64.
    pub Tagger64<seq_len = 8, scalar = f64> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// The seed network for training at batch 4 over 3 steps.
    pub Tagger4<seq_len = 3, batch = 4> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// Another shape.
    pub Wider<seq_len = 8> = Sequential[ LSTM(10, 21), Linear(21, 5), LogSoftMax ];
    /// Fewer tensors.
    pub Shorter<seq_len = 8> = Sequential[ LSTM(10, 20) ];
    /// Every layer with one input (and the linear layers with one output).
    pub OneIn<seq_len = 3> = Sequential[
        Linear(1, 1), LSTM(1, 3), Linear(3, 1), GRU(1, 2), Linear(2, 1), RNN(1, 4), Linear(4, 1),
        PeepholeLSTM(1, 2)
    ];
}

fn values<P: Parameterized<f32>>(p: &P) -> Vec<Vec<f32>> {
    p.parameters()
        .iter()
        .map(|q| q.value.iter().copied().collect())
        .collect()
}

fn bits<P: Parameterized<f32>>(p: &P) -> Vec<u32> {
    let mut out = Vec::new();
    for q in p.parameters() {
        out.extend(q.value.iter().map(|x| x.to_bits()));
        out.extend(q.state.m.iter().chain(q.state.v).map(|x| x.to_bits()));
        out.push(q.state.steps as u32);
    }
    out
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rnn-weights-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn mismatch(e: &WeightsError) -> &rnn_core::io::Mismatches {
    match e {
        WeightsError::Mismatch(m) => m,
        other => panic!("expected a mismatch, got: {other}"),
    }
}

#[test]
fn save_then_load_restores_every_parameter() {
    let dir = temp_dir("roundtrip");
    let path = dir.join("tagger.safetensors");
    let a = Tagger::new(1);
    a.save_safetensors(&path).expect("save");
    let mut b = Tagger::new(2);
    assert_ne!(values(&a), values(&b));
    b.load_safetensors(&path).expect("load");
    assert_eq!(values(&a), values(&b));
    let mut c = Tagger64::new(3);
    c.save_safetensors(&path).expect("save f64");
    let mut d = Tagger64::new(4);
    d.load_safetensors(&path).expect("load f64");
    assert_eq!(parameter_vectors(&c, false), parameter_vectors(&d, false));
    let missing = dir.join("no-such-file.safetensors");
    assert!(matches!(
        d.load_safetensors(&missing),
        Err(WeightsError::Io(_))
    ));
    std::fs::remove_dir_all(&dir).ok();
    c.zero_grad_parameters();
}

#[test]
fn reads_a_file_written_by_the_reference_implementation() {
    let bytes = include_bytes!("../rnn-core/tests/fixtures/seed_weights.safetensors");
    let fx = Fixture::parse(include_str!(
        "../rnn-core/tests/fixtures/torch_reference.txt"
    ));
    let mut net = Tagger::new(0);
    load_safetensors(&mut net, bytes).expect("load the reference file");
    for p in net.parameters() {
        let want: Vec<f32> = fx
            .get(&format!("seed_weights.{}", p.name))
            .iter()
            .map(|&v| v as f32)
            .collect();
        let cols = p.value.ncols();
        let got: Vec<f32> = (0..want.len())
            .map(|k| p.value[(k / cols, k % cols)])
            .collect();
        assert_eq!(got, want, "{}", p.name);
    }
}

#[test]
fn one_input_layers_have_pytorchs_shapes_and_round_trip() {
    let net = OneIn::new(1);
    let bytes = to_safetensors(&net).expect("save");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut seen = 0;
    for (name, t) in file.iter() {
        let tensor = name.rsplit('.').next().expect("tensor name");
        let want_dims = if tensor.starts_with("weight") { 2 } else { 1 };
        assert_eq!(t.shape().len(), want_dims, "{name}: {:?}", t.shape());
        seen += 1;
    }
    assert_eq!(seen, net.parameters().len());
    let shape = |n: &str| file.tensor(n).expect(n).shape().to_vec();
    assert_eq!(shape("0.weight"), [1, 1]);
    assert_eq!(shape("1.weight_ih"), [12, 1]);
    assert_eq!(shape("2.weight"), [1, 3]);
    assert_eq!(shape("3.weight_ih"), [6, 1]);
    assert_eq!(shape("5.weight_ih"), [4, 1]);
    assert_eq!(shape("7.weight_ih"), [8, 1]);
    assert_eq!(shape("7.peephole_i"), [2]);
    let mut back = OneIn::new(2);
    load_safetensors(&mut back, &bytes).expect("load");
    assert_eq!(values(&back), values(&net));
}

/// A safetensors file from `(name, dtype, shape)`, filled with zeros.
fn file_of(tensors: &[(&str, Dtype, &[usize])]) -> Vec<u8> {
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, d, s)| vec![0u8; s.iter().product::<usize>() * d.bitsize() / 8])
        .collect();
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .zip(&data)
        .map(|((n, d, s), b)| (*n, TensorView::new(*d, s.to_vec(), b).expect("view")))
        .collect();
    safetensors::serialize(views, None).expect("serialize")
}

#[test]
fn every_mismatch_is_listed_at_once_and_changes_nothing() {
    let mut net = Tagger::new(5);
    let before = bits(&net);
    let mixed = file_of(&[
        ("0.weight_ih", Dtype::F64, &[80, 10]),
        ("0.weight_hh", Dtype::F32, &[80, 21]),
        ("0.bias_hh", Dtype::F32, &[80]),
        ("0.bias_ihh", Dtype::F32, &[80]),
        ("1.weight", Dtype::BF16, &[5, 20, 1]),
        ("1.bias", Dtype::F32, &[5]),
        ("2.weight", Dtype::F32, &[5, 5]),
    ]);
    let e = load_safetensors(&mut net, &mixed).expect_err("must fail");
    let m = mismatch(&e);
    assert_eq!(m.missing, ["0.bias_ih"]);
    let unexpected: Vec<(&str, Option<&str>)> = m
        .unexpected
        .iter()
        .map(|u| (u.name.as_str(), u.nearest.as_deref()))
        .collect();
    assert_eq!(
        unexpected,
        [("0.bias_ihh", Some("0.bias_ih")), ("2.weight", None)]
    );
    let dtypes: Vec<(&str, &str, &str)> = m
        .dtypes
        .iter()
        .map(|d| (d.name.as_str(), d.expected.as_str(), d.found.as_str()))
        .collect();
    assert_eq!(
        dtypes,
        [("0.weight_ih", "F32", "F64"), ("1.weight", "F32", "BF16")]
    );
    let shapes: Vec<(&str, &[usize], &[usize])> = m
        .shapes
        .iter()
        .map(|s| (s.name.as_str(), &s.expected[..], &s.found[..]))
        .collect();
    assert_eq!(
        shapes,
        [
            ("0.weight_hh", &[80, 20][..], &[80, 21][..]),
            ("1.weight", &[5, 20][..], &[5, 20, 1][..])
        ]
    );
    assert_eq!(
        e.to_string(),
        "7 problems with the tensors; nothing was changed:\n  \
         missing (the network needs them) (1):\n    `0.bias_ih`\n  \
         unexpected (the network has no such parameter) (2):\n    \
         `0.bias_ihh` (did you mean `0.bias_ih`?)\n    `2.weight`\n  \
         wrong dtype (2):\n    `0.weight_ih` is F64, the network needs F32\n    \
         `1.weight` is BF16, the network needs F32\n  \
         wrong shape (2):\n    `0.weight_hh` has shape [80, 21], the network needs [80, 20]\n    \
         `1.weight` has shape [5, 20, 1], the network needs [5, 20]\n  \
         hint: `TorchNames::convert_dtype` converts f16, bf16, f32 and f64 on request"
    );

    let e = load_safetensors(&mut net, &to_safetensors(&Wider::new(1)).expect("save"))
        .expect_err("wider");
    assert_eq!(mismatch(&e).shapes.len(), 5, "{e}");
    let e = load_safetensors(&mut net, &to_safetensors(&Shorter::new(1)).expect("save"))
        .expect_err("shorter");
    assert_eq!(mismatch(&e).missing, ["1.weight", "1.bias"]);
    let mut shorter = Shorter::new(1);
    let e = load_safetensors(
        &mut shorter,
        &to_safetensors(&Tagger::new(1)).expect("save"),
    )
    .expect_err("extra tensors");
    let names: Vec<&str> = mismatch(&e)
        .unexpected
        .iter()
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(names, ["1.bias", "1.weight"]);
    assert_eq!(bits(&net), before, "failed loads left the parameters alone");
}

#[test]
fn dtypes_convert_only_on_request() {
    let wide = Tagger64::new(8);
    let file64 = to_safetensors(&wide).expect("save");
    let mut net = Tagger::new(1);
    let e = load_safetensors(&mut net, &file64).expect_err("f64 into f32");
    assert_eq!(mismatch(&e).dtypes.len(), 6);
    load_state_dict(&mut net, &file64, &TorchNames::new().convert_dtype()).expect("on request");
    let want: Vec<Vec<f32>> = parameter_vectors(&wide, false)
        .iter()
        .map(|v| v.iter().map(|&x| x as f32).collect())
        .collect();
    // parameter_vectors is column-major like `values`.
    assert_eq!(values(&net), want);
    let mut back = Tagger64::new(2);
    load_state_dict(
        &mut back,
        &to_safetensors(&net).expect("save"),
        &TorchNames::new().convert_dtype(),
    )
    .expect("f32 into f64");
    let exact: Vec<Vec<f64>> = values(&net)
        .iter()
        .map(|v| v.iter().map(|&x| f64::from(x)).collect())
        .collect();
    assert_eq!(parameter_vectors(&back, false), exact);
}

#[test]
fn half_precision_files_load_on_request() {
    // PyTorch models are often saved in f16 or bf16. Values 1, -2, 0.5 repeating, row-major.
    let f16 = [0x3c00u16, 0xc000, 0x3800];
    let bf16 = [0x3f80u16, 0xc000, 0x3f00];
    let want = [1.0f32, -2.0, 0.5];
    let tensors: [(&str, Dtype, Vec<usize>); 4] = [
        ("0.weight_ih", Dtype::F16, vec![80, 10]),
        ("0.weight_hh", Dtype::F16, vec![80, 20]),
        ("0.bias_ih", Dtype::BF16, vec![80]),
        ("0.bias_hh", Dtype::BF16, vec![80]),
    ];
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, d, shape)| {
            let bits = if *d == Dtype::F16 { &f16 } else { &bf16 };
            (0..shape.iter().product::<usize>())
                .flat_map(|k| bits[k % 3].to_le_bytes())
                .collect()
        })
        .collect();
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .zip(&data)
        .map(|((n, d, s), b)| (*n, TensorView::new(*d, s.clone(), b).expect("view")))
        .collect();
    let bytes = safetensors::serialize(views, None).expect("serialize");
    let mut net = Shorter::new(1);
    let e = load_safetensors(&mut net, &bytes).expect_err("f16 into f32, not asked for");
    assert_eq!(mismatch(&e).dtypes.len(), 4, "{e}");
    load_state_dict(&mut net, &bytes, &TorchNames::new().convert_dtype()).expect("on request");
    for p in net.parameters() {
        let cols = p.value.ncols();
        for k in 0..p.value.len() {
            assert_eq!(
                p.value[(k / cols, k % cols)],
                want[k % 3],
                "{} [{k}]",
                p.name
            );
        }
    }
}

/// A valid file of `net` with the header replaced by `header` (data kept).
fn with_header(good: &[u8], header: &str) -> Vec<u8> {
    let n = u64::from_le_bytes(good[..8].try_into().expect("8 bytes")) as usize;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&good[8 + n..]);
    out
}

#[test]
fn bad_files_are_rejected_strictly_and_change_nothing() {
    let mut net = Shorter::new(5);
    let before = bits_of(&net);
    let good = to_safetensors(&Shorter::new(9)).expect("save");
    let n = u64::from_le_bytes(good[..8].try_into().expect("8 bytes")) as usize;
    let header = std::str::from_utf8(&good[8..8 + n]).expect("UTF-8");
    let format_err =
        |net: &mut Shorter, bytes: &[u8], what: &str| match load_safetensors(net, bytes) {
            Err(WeightsError::Format(m)) => m,
            other => panic!("{what}: expected a format error, got {other:?}"),
        };
    for cut in [0, 7, 8, 100, good.len() - 1] {
        format_err(&mut net, &good[..cut], &format!("cut at {cut}"));
    }
    format_err(&mut net, b"not a safetensors file at all", "text");
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 4]);
    format_err(&mut net, &longer, "bytes after the data");
    let trimmed = header.trim_end();
    format_err(
        &mut net,
        &with_header(&good, &format!("{trimmed}xyz")),
        "junk after the header",
    );
    // Whitespace other than trailing spaces, which JSON allows and the format does not.
    for bad in [
        format!(" {trimmed}"),
        format!("{trimmed}\n"),
        format!("{trimmed}\t  "),
    ] {
        let m = format_err(&mut net, &with_header(&good, &bad), "whitespace");
        assert!(m.contains("padded by spaces"), "{m}");
    }
    load_safetensors(&mut net, &with_header(&good, &format!("{trimmed}    ")))
        .expect("trailing spaces are the format's padding");
    net = Shorter::new(5);
    // The same tensor named twice (the second entry repeats the first's offsets).
    let first = &trimmed[1..trimmed.find("},").expect("two entries") + 1];
    let dup = format!("{{{first},{}", &trimmed[1..]);
    let m = format_err(&mut net, &with_header(&good, &dup), "duplicate");
    assert!(m.contains("twice"), "{m}");
    // Overlapping offsets: the second tensor starts inside the first.
    let overlap = trimmed.replacen("\"data_offsets\":[0,", "\"data_offsets\":[4,", 1);
    assert_ne!(overlap, trimmed);
    format_err(&mut net, &with_header(&good, &overlap), "overlap");
    // Deep nesting (a recursive reader overflows its stack on this).
    let deep = format!(
        "{{\"__metadata__\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    format_err(&mut net, &with_header(&good, &deep), "deep nesting");
    // A header length past the cap, and one past the end of the file.
    for len in [HEADER_LIMIT as u64 + 1, u64::MAX, 1 << 20] {
        let mut bytes = good.clone();
        bytes[..8].copy_from_slice(&len.to_le_bytes());
        format_err(&mut net, &bytes, &format!("header length {len}"));
    }
    assert_eq!(bits_of(&net), before);
    load_safetensors(&mut net, &good).expect("the intact file loads");
    assert_eq!(values(&net), values(&Shorter::new(9)));
}

fn bits_of<P: Parameterized<f32>>(p: &P) -> Vec<u32> {
    bits(p)
}

#[cfg(target_os = "linux")]
#[test]
fn endless_files_are_not_read_whole() {
    let mut net = Tagger::new(1);
    let before = bits(&net);
    match net.load_safetensors("/dev/zero") {
        Err(WeightsError::TooLarge { limit }) => assert!(limit < 64 << 20, "{limit}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(bits(&net), before);
}

#[test]
fn parameters_copy_between_network_types_of_one_layout() {
    let train = Tagger4::new(11);
    let mut sample = Tagger::new(12);
    sample
        .copy_parameters_from(&train)
        .expect("same layout, other batch and seq_len");
    assert_eq!(values(&sample), values(&train));
    // The copy computes what the original does for one column of a batch (to rounding: batch 1
    // runs other kernels than batch 4).
    let x = SMatrix::<f32, 10, 4>::from_fn(|i, b| (i as f32 - 4.0) * 0.1 + b as f32 * 0.3);
    let mut train = train;
    let batched = *train.step(&x);
    let single = *sample.step(&x.column(2).into_owned());
    let diff = (single.column(0) - batched.column(2)).amax();
    assert!(diff < 1e-6, "{single} vs {batched}");
    let before = bits(&sample);
    let e = copy_parameters(&mut sample, &Wider::new(1)).expect_err("other shapes");
    assert_eq!(mismatch(&e).shapes.len(), 5, "{e}");
    let e = sample
        .copy_parameters_from(&Shorter::new(1))
        .expect_err("fewer tensors");
    assert_eq!(mismatch(&e).missing, ["1.weight", "1.bias"]);
    assert_eq!(bits(&sample), before);
}

/// A deterministic batch for step `k`.
fn batch(k: usize) -> ([SMatrix<f32, 10, 4>; 3], [[Class<5>; 4]; 3]) {
    let x = core::array::from_fn(|t| {
        SMatrix::from_fn(|i, b| ((i * 7 + b * 3 + t * 5 + k * 11) % 13) as f32 / 6.5 - 1.0)
    });
    let y = core::array::from_fn(|t| {
        core::array::from_fn(|b| Class::new((t + b + k) % 5).expect("< 5"))
    });
    (x, y)
}

fn train<O: Optimizer>(net: &mut Tagger4, opt: &O, steps: std::ops::Range<usize>) {
    let crit = SequencerCriterion::new(ClassNll::default());
    for k in steps {
        let (x, y) = batch(k);
        net.zero_grad_parameters();
        let out = net.forward(&x);
        let g = crit.backward(out, &y);
        net.backward(&x, &g);
        opt.step(net).expect("valid optimiser");
    }
}

fn resume_is_bit_identical<O: Optimizer>(opt: &O, tag: &str) {
    let mut straight = Tagger4::new(21);
    train(&mut straight, opt, 0..20);
    let mut first = Tagger4::new(21);
    train(&mut first, opt, 0..10);
    let dir = temp_dir(tag);
    let path = dir.join("ckpt.safetensors");
    first.save_checkpoint(&path).expect("checkpoint");
    let mut resumed = Tagger4::new(99);
    resumed.load_checkpoint(&path).expect("load checkpoint");
    train(&mut resumed, opt, 10..20);
    assert_eq!(bits(&resumed), bits(&straight), "{tag}");
    // Weights alone do not resume: the moments are part of the state.
    let mut weights_only = Tagger4::new(99);
    weights_only
        .copy_parameters_from(&first)
        .expect("same layout");
    train(&mut weights_only, opt, 10..20);
    assert_ne!(values(&weights_only), values(&straight), "{tag}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn checkpoints_resume_adam_and_sgd_bit_for_bit() {
    resume_is_bit_identical(
        &Adam {
            lr: 0.01,
            ..Adam::default()
        },
        "adam",
    );
    resume_is_bit_identical(
        &Sgd {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            ..Sgd::default()
        },
        "sgd",
    );
}

#[test]
fn checkpoints_and_weight_files_are_told_apart() {
    let mut net = Tagger::new(1);
    let before = bits(&net);
    let weights = to_safetensors(&Tagger::new(2)).expect("save");
    assert!(matches!(
        load_checkpoint(&mut net, &weights),
        Err(WeightsError::Format(m)) if m.contains("not a checkpoint")
    ));
    let ckpt = to_checkpoint(&Tagger::new(2)).expect("checkpoint");
    let e = load_safetensors(&mut net, &ckpt).expect_err("a checkpoint has optimiser tensors");
    assert_eq!(mismatch(&e).unexpected.len(), 18, "{e}");
    assert_eq!(bits(&net), before);
    load_checkpoint(&mut net, &ckpt).expect("checkpoint");
    assert_eq!(values(&net), values(&Tagger::new(2)));
}

/// One random change to a valid file: a byte set, bytes flipped, a cut, bytes inserted or
/// removed, or a header digit changed (which moves offsets and shapes).
fn mutate(good: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = good.to_vec();
    let at = |rng: &mut Rng, len: usize| (rng.next_u64() % len.max(1) as u64) as usize;
    match rng.next_u64() % 6 {
        0 => {
            let k = at(rng, b.len());
            b[k] = rng.next_u64() as u8;
        }
        1 => {
            for _ in 0..1 + rng.next_u64() % 8 {
                let k = at(rng, b.len());
                b[k] ^= 1 << (rng.next_u64() % 8);
            }
        }
        2 => b.truncate(at(rng, b.len())),
        3 => {
            let k = at(rng, b.len());
            let n = 1 + at(rng, 16);
            b.splice(k..k, (0..n).map(|_| rng.next_u64() as u8));
        }
        4 => {
            let k = at(rng, b.len());
            let n = (1 + at(rng, 16)).min(b.len() - k);
            b.drain(k..k + n);
        }
        _ => {
            let n = u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) as usize;
            let digits: Vec<usize> = (8..8 + n).filter(|&k| b[k].is_ascii_digit()).collect();
            let k = digits[at(rng, digits.len())];
            b[k] = b'0' + (rng.next_u64() % 10) as u8;
        }
    }
    b
}

#[test]
fn mutated_files_never_panic_and_never_half_load() {
    let mut rng = Rng::new(2026);
    let good_weights = to_safetensors(&Tagger::new(3)).expect("save");
    let good_ckpt = to_checkpoint(&Tagger::new(4)).expect("checkpoint");
    let mut net = Tagger::new(1);
    let (mut failed, mut loaded) = (0, 0);
    for i in 0..6000 {
        let (good, is_ckpt) = if i % 2 == 0 {
            (&good_weights, false)
        } else {
            (&good_ckpt, true)
        };
        let bytes = mutate(good, &mut rng);
        let before = bits(&net);
        let result = if is_ckpt {
            load_checkpoint(&mut net, &bytes)
        } else {
            load_safetensors(&mut net, &bytes)
        };
        match result {
            Err(_) => {
                failed += 1;
                assert_eq!(
                    bits(&net),
                    before,
                    "mutation {i} failed but changed the network"
                );
            }
            Ok(()) => loaded += 1,
        }
    }
    // Most mutations break the file; those in the data bytes load (and may change values).
    assert!(
        failed > 3000 && loaded > 100,
        "{failed} failed, {loaded} loaded"
    );
}
