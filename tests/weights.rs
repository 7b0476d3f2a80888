//! Weights in safetensors: round trip, a file written by the reference implementation, and every
//! kind of mismatch rejected without changing the network.

use rnn_core::gradcheck::parameter_vectors;
use rnn_core::io::{WeightsError, load_safetensors, to_safetensors};
use rnn_core::prelude::*;

network! {
    /// The seed network.
    pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// The seed network in f64.
    pub Tagger64<seq_len = 8, scalar = f64> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// Another shape.
    pub Wider<seq_len = 8> = Sequential[ LSTM(10, 21), Linear(21, 5), LogSoftMax ];
    /// Fewer tensors.
    pub Shorter<seq_len = 8> = Sequential[ LSTM(10, 20) ];
}

fn values<P: Parameterized<f32>>(p: &P) -> Vec<Vec<f32>> {
    p.parameters()
        .iter()
        .map(|q| q.value.iter().copied().collect())
        .collect()
}

#[test]
fn save_then_load_restores_every_parameter() {
    let dir = std::env::temp_dir().join(format!("rnn-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
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
    let text = include_str!("../rnn-core/tests/fixtures/torch_reference.txt");
    let mut net = Tagger::new(0);
    load_safetensors(&mut net, bytes).expect("load the reference file");
    for p in net.parameters() {
        let key = format!("seed_weights.{} ", p.name);
        let line = text
            .lines()
            .find(|l| l.starts_with(&key))
            .expect("fixture line");
        let mut it = line.split(' ').skip(1);
        let ndim: usize = it.next().and_then(|n| n.parse().ok()).expect("ndim");
        let want: Vec<f32> = it
            .skip(ndim)
            .map(|v| v.parse::<f64>().expect("value") as f32)
            .collect();
        let cols = p.value.ncols();
        let got: Vec<f32> = (0..want.len())
            .map(|k| p.value[(k / cols, k % cols)])
            .collect();
        assert_eq!(got, want, "{}", p.name);
    }
}

#[test]
fn mismatches_are_rejected_and_change_nothing() {
    let mut net = Tagger::new(5);
    let before = values(&net);
    let expect_err =
        |net: &mut Tagger, bytes: &[u8]| load_safetensors(net, bytes).expect_err("must fail");

    let e = expect_err(&mut net, &to_safetensors(&Wider::new(1)));
    assert!(
        matches!(&e, WeightsError::Shape { name, expected, found }
        if name == "0.weight_ih" && expected == &[80, 10] && found == &[84, 10]),
        "{e}"
    );
    let e = expect_err(&mut net, &to_safetensors(&Tagger64::new(1)));
    assert!(
        matches!(&e, WeightsError::Dtype { found, .. } if found == "F64"),
        "{e}"
    );
    let e = expect_err(&mut net, &to_safetensors(&Shorter::new(1)));
    assert!(
        matches!(&e, WeightsError::Missing(n) if n == "1.weight"),
        "{e}"
    );
    let mut shorter = Shorter::new(1);
    let e = load_safetensors(&mut shorter, &to_safetensors(&Tagger::new(1)))
        .expect_err("extra tensors");
    assert!(
        matches!(&e, WeightsError::Unexpected(n) if n == "1.weight"),
        "{e}"
    );

    let good = to_safetensors(&Tagger::new(9));
    for cut in [0, 7, 8, 100, good.len() - 1] {
        let e = expect_err(&mut net, &good[..cut]);
        assert!(matches!(e, WeightsError::Format(_)), "cut at {cut}: {e}");
    }
    let mut corrupt = good.clone();
    corrupt[8] = b'[';
    assert!(matches!(
        expect_err(&mut net, &corrupt),
        WeightsError::Format(_)
    ));
    assert_eq!(
        values(&net),
        before,
        "failed loads left the parameters alone"
    );
    load_safetensors(&mut net, &good).expect("the intact file loads");
    assert_eq!(values(&net), values(&Tagger::new(9)));
    assert!(e_display_is_readable());
}

fn e_display_is_readable() -> bool {
    let e = WeightsError::Shape {
        name: "0.weight_ih".into(),
        expected: vec![80, 10],
        found: vec![84, 10],
    };
    e.to_string() == "tensor `0.weight_ih` has shape [84, 10], the network needs [80, 10]"
}
