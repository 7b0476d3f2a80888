//! ONNX both ways (`io::to_onnx`, `io::load_onnx`): our exports run in an independent runtime
//! (tract, with `--features tract`; onnxruntime by `tools/torch_onnx.py check`, its output
//! committed) with our numbers; models exported by `torch.onnx.export` (both exporters; fixtures
//! by `tools/torch_onnx.py save`) load and give PyTorch's outputs; every bad file is a typed
//! error that changes nothing.

use rnn_core::gradcheck::Fixture;
use rnn_core::io::{WeightsError, load_onnx, to_onnx};
use rnn_core::layers::lstm::LstmState;
use rnn_core::prelude::*;

network! {
    /// The README's tagger.
    pub Tagger<seq_len = 8, batch = 3> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
}
network! {
    /// Two stacked GRUs (PyTorch's `nn.GRU(3, 11, num_layers = 2)`) and a head.
    pub Gru2<seq_len = 6, batch = 2> = Sequential[ GRU(3, 11), GRU(11, 11), Linear(11, 2) ];
}
network! {
    /// Tokens in, a bidirectional LSTM, tags out.
    pub BiTagger<seq_len = 7, batch = 2> =
        Sequential[ LookupTable(20, 6), BiSequencer[ LSTM(6, 8) ], Linear(16, 4), LogSoftMax ];
}
network! {
    /// The guitar-amp form: the input added back.
    pub Amp<seq_len = 16, batch = 2> = Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
}

/// What a test needs of each network: inputs, outputs and states as ONNX has them.
trait Case: Network<Scalar = f32> + Sized {
    const NAME: &'static str;
    /// The graph's state inputs and outputs and their directions (`[D, B, H]`), in order.
    const STATES: &'static [(&'static str, &'static str, usize)];
    /// `t` steps of inputs drawn from `seed`, and the same as ONNX's `input` tensor.
    fn inputs(t: usize, seed: u64) -> (Vec<Self::Input>, Input);
    /// The final states, as the graph's state outputs (`0.hn`, `0.cn`...) in order.
    fn states(&self) -> Vec<Vec<f32>>;
    /// Sets a random initial state (as `forget()`'s); returns it as the graph's state inputs.
    fn set_random_state(&mut self, seed: u64) -> Vec<Vec<f32>>;
    /// The outputs of `forward` in evaluation mode, as ONNX's `output` (`[T, B, O]`).
    fn run(&mut self, x: &[Self::Input]) -> Vec<f32>;
    /// Whether it runs sequences shorter than `seq_len` (a `Repeater` does not).
    #[cfg_attr(not(feature = "tract"), allow(dead_code))]
    const SHORTER: bool = true;
}

/// An ONNX input tensor: its shape and values.
#[derive(Clone)]
enum Input {
    F32(Vec<usize>, Vec<f32>),
    I64(Vec<usize>, Vec<i64>),
}

fn matrices<const I: usize, const B: usize>(
    t: usize,
    seed: u64,
) -> (Vec<SMatrix<f32, I, B>>, Input) {
    let mut rng = Rng::new(seed);
    let xs: Vec<SMatrix<f32, I, B>> = (0..t)
        .map(|_| SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32))
        .collect();
    let flat = xs.iter().flat_map(|x| x.as_slice().to_vec()).collect();
    (xs, Input::F32(vec![t, B, I], flat))
}

fn run_matrices<N, const O: usize, const B: usize>(net: &mut N, x: &[N::Input]) -> Vec<f32>
where
    N: Network<Scalar = f32, Inputs = [<N as Network>::Input], Outputs = [SMatrix<f32, O, B>]>,
{
    net.evaluate();
    net.forget();
    net.forward(x)
        .iter()
        .flat_map(|y| y.as_slice().to_vec())
        .collect()
}

fn random<const R: usize, const C: usize>(rng: &mut Rng) -> SMatrix<f32, R, C> {
    SMatrix::from_fn(|_, _| rng.uniform(-0.8, 0.8) as f32)
}

fn lstm_random<const H: usize, const B: usize>(s: &mut LstmState<f32, H, B>, rng: &mut Rng) {
    s.h = random(rng);
    s.c = random(rng);
}

/// `Case` for a network of matrices whose state's first part is one LSTM's (`.0`).
macro_rules! lstm_first_case {
    ($net:ident, $name:literal, $h0:literal, $hn:literal, $c0:literal, $cn:literal) => {
        impl Case for $net {
            const NAME: &'static str = $name;
            const STATES: &'static [(&'static str, &'static str, usize)] =
                &[($h0, $hn, 1), ($c0, $cn, 1)];
            fn inputs(t: usize, seed: u64) -> (Vec<Self::Input>, Input) {
                matrices(t, seed)
            }
            fn states(&self) -> Vec<Vec<f32>> {
                let s = &self.state().0;
                vec![s.h.as_slice().to_vec(), s.c.as_slice().to_vec()]
            }
            fn set_random_state(&mut self, seed: u64) -> Vec<Vec<f32>> {
                let mut s = self.state().clone();
                lstm_random(&mut s.0, &mut Rng::new(seed));
                self.set_initial_state(s);
                self.forget();
                self.states()
            }
            fn run(&mut self, x: &[Self::Input]) -> Vec<f32> {
                run_matrices(self, x)
            }
        }
    };
}

lstm_first_case!(Tagger, "tagger", "0.h0", "0.hn", "0.c0", "0.cn");
lstm_first_case!(Amp, "amp", "0.0.h0", "0.0.hn", "0.0.c0", "0.0.cn");

impl Case for Gru2 {
    const NAME: &'static str = "gru2";
    const STATES: &'static [(&'static str, &'static str, usize)] =
        &[("0.h0", "0.hn", 1), ("1.h0", "1.hn", 1)];
    fn inputs(t: usize, seed: u64) -> (Vec<Self::Input>, Input) {
        matrices(t, seed)
    }
    fn states(&self) -> Vec<Vec<f32>> {
        let s = self.state();
        vec![s.0.as_slice().to_vec(), s.1.0.as_slice().to_vec()]
    }
    fn set_random_state(&mut self, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = Rng::new(seed);
        let mut s = *self.state();
        s.0 = random(&mut rng);
        s.1.0 = random(&mut rng);
        self.set_initial_state(s);
        self.forget();
        self.states()
    }
    fn run(&mut self, x: &[Self::Input]) -> Vec<f32> {
        run_matrices(self, x)
    }
}

impl Case for BiTagger {
    const NAME: &'static str = "bitagger";
    const STATES: &'static [(&'static str, &'static str, usize)] =
        &[("1.h0", "1.hn", 2), ("1.c0", "1.cn", 2)];
    fn inputs(t: usize, seed: u64) -> (Vec<Self::Input>, Input) {
        let mut rng = Rng::new(seed);
        let xs: Vec<[Class<20>; 2]> = (0..t)
            .map(|_| core::array::from_fn(|_| Class::new((rng.next_u64() % 20) as usize).unwrap()))
            .collect();
        let flat = xs
            .iter()
            .flat_map(|x| x.iter().map(|c| c.index() as i64))
            .collect();
        (xs, Input::I64(vec![t, 2], flat))
    }
    fn states(&self) -> Vec<Vec<f32>> {
        // `[2, B, H]`: the forward direction's state, then the backward one's.
        let (f, b) = &self.state().0;
        let join = |x: &[f32], y: &[f32]| [x, y].concat();
        vec![
            join(f.h.as_slice(), b.h.as_slice()),
            join(f.c.as_slice(), b.c.as_slice()),
        ]
    }
    fn set_random_state(&mut self, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = Rng::new(seed);
        let mut s = self.state().clone();
        lstm_random(&mut s.0.0, &mut rng);
        lstm_random(&mut s.0.1, &mut rng);
        self.set_initial_state(s);
        self.forget();
        self.states()
    }
    fn run(&mut self, x: &[Self::Input]) -> Vec<f32> {
        self.evaluate();
        self.forget();
        self.forward(x)
            .iter()
            .flat_map(|y| y.as_slice().to_vec())
            .collect()
    }
}

fn values<S: Float>(net: &impl Parameterized<S>) -> Vec<(String, Vec<f64>)> {
    net.parameters()
        .iter()
        .map(|p| {
            (
                p.name.to_string(),
                p.value.iter().map(|v| v.to_f64()).collect(),
            )
        })
        .collect()
}

/// A network exported and loaded into another of the same layout has its parameters, bit
/// for bit.
fn round_trip<N: Network>(a: &N, b: &mut N) {
    let bytes = to_onnx(a).unwrap();
    assert_ne!(values(a), values(b));
    load_onnx(b, &bytes).unwrap();
    assert_eq!(values(a), values(b));
}

network! {
    /// Peepholes (`LSTM`'s `P`) and an Elman cell (`RNN`).
    pub Peep<seq_len = 4, batch = 2> =
        Sequential[ PeepholeLSTM(3, 5), RNN(5, 4), Linear(4, 2), Sigmoid ];
}
network! {
    /// A `BiSequencer` around several layers (no single ONNX operator), and activations.
    pub BiStack<seq_len = 5, batch = 2> = Sequential[
        BiSequencer[ Residual[ Linear(3, 3) ], LSTM(3, 2) ], Tanh, Linear(4, 3), ReLU, SoftMax
    ];
}
network! {
    /// Double precision (ONNX `DOUBLE` tensors).
    pub Double<seq_len = 3, batch = 2, scalar = f64> = Sequential[ GRU(2, 3), Linear(3, 2) ];
}
network! {
    /// One input fed at every step.
    pub Rep<seq_len = 4, batch = 2> = Repeater[ Sequential[ GRU(3, 4), Linear(4, 2) ] ];
}

impl Case for Peep {
    const NAME: &'static str = "peep";
    const STATES: &'static [(&'static str, &'static str, usize)] = &[
        ("0.h0", "0.hn", 1),
        ("0.c0", "0.cn", 1),
        ("1.h0", "1.hn", 1),
    ];
    fn inputs(t: usize, seed: u64) -> (Vec<Self::Input>, Input) {
        matrices(t, seed)
    }
    fn states(&self) -> Vec<Vec<f32>> {
        let s = self.state();
        vec![
            s.0.h.as_slice().to_vec(),
            s.0.c.as_slice().to_vec(),
            s.1.0.as_slice().to_vec(),
        ]
    }
    fn set_random_state(&mut self, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = Rng::new(seed);
        let mut s = self.state().clone();
        lstm_random(&mut s.0, &mut rng);
        s.1.0 = random(&mut rng);
        self.set_initial_state(s);
        self.forget();
        self.states()
    }
    fn run(&mut self, x: &[Self::Input]) -> Vec<f32> {
        run_matrices(self, x)
    }
}

impl Case for BiStack {
    const NAME: &'static str = "bistack";
    // The backward copy runs on the reversed sequence: its own (forward-direction) operator
    // with `_reverse` names.
    const STATES: &'static [(&'static str, &'static str, usize)] = &[
        ("0.1.h0", "0.1.hn", 1),
        ("0.1.c0", "0.1.cn", 1),
        ("0.1.h0_reverse", "0.1.hn_reverse", 1),
        ("0.1.c0_reverse", "0.1.cn_reverse", 1),
    ];
    fn inputs(t: usize, seed: u64) -> (Vec<Self::Input>, Input) {
        matrices(t, seed)
    }
    fn states(&self) -> Vec<Vec<f32>> {
        let (f, b) = &self.state().0;
        [&f.1, &b.1]
            .iter()
            .flat_map(|s| [s.h.as_slice().to_vec(), s.c.as_slice().to_vec()])
            .collect()
    }
    fn set_random_state(&mut self, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = Rng::new(seed);
        let mut s = self.state().clone();
        lstm_random(&mut s.0.0.1, &mut rng);
        lstm_random(&mut s.0.1.1, &mut rng);
        self.set_initial_state(s);
        self.forget();
        self.states()
    }
    fn run(&mut self, x: &[Self::Input]) -> Vec<f32> {
        run_matrices(self, x)
    }
}

impl Case for Rep {
    const NAME: &'static str = "repeater";
    const STATES: &'static [(&'static str, &'static str, usize)] = &[("0.0.h0", "0.0.hn", 1)];
    const SHORTER: bool = false;
    /// One input, fed at every step (ONNX's `input` is `[B, I]`).
    fn inputs(_t: usize, seed: u64) -> (Vec<Self::Input>, Input) {
        let (x, _) = matrices::<3, 2>(1, seed);
        let flat = x[0].as_slice().to_vec();
        (x, Input::F32(vec![2, 3], flat))
    }
    fn states(&self) -> Vec<Vec<f32>> {
        vec![self.state().0.as_slice().to_vec()]
    }
    fn set_random_state(&mut self, seed: u64) -> Vec<Vec<f32>> {
        let mut s = *self.state();
        s.0 = random(&mut Rng::new(seed));
        self.set_initial_state(s);
        self.forget();
        self.states()
    }
    fn run(&mut self, x: &[Self::Input]) -> Vec<f32> {
        self.evaluate();
        self.forget();
        self.forward(&x[0])
            .iter()
            .flat_map(|y| y.as_slice().to_vec())
            .collect()
    }
}

#[test]
fn exports_load_back_with_the_same_parameters() {
    round_trip(&Tagger::new(1), &mut Tagger::new(2));
    round_trip(&Gru2::new(1), &mut Gru2::new(2));
    round_trip(&BiTagger::new(1), &mut BiTagger::new(2));
    round_trip(&Amp::new(1), &mut Amp::new(2));
    round_trip(&Peep::new(1), &mut Peep::new(2));
    round_trip(&BiStack::new(1), &mut BiStack::new(2));
    round_trip(&Rep::new(1), &mut Rep::new(2));
    round_trip(&Double::new(1), &mut Double::new(2));
}

#[test]
fn files_are_written_and_read_by_the_network_methods() {
    let dir = std::env::temp_dir().join(format!("rnn-onnx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tagger.onnx");
    let a = Tagger::new(1);
    a.save_onnx(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), to_onnx(&a).unwrap());
    let mut b = Tagger::new(2);
    b.load_onnx(&path).unwrap();
    assert_eq!(values(&a), values(&b));
    // A file that is not there: an I/O error, the network unchanged.
    let before = values(&b);
    let missing = b.load_onnx(dir.join("missing.onnx")).unwrap_err();
    assert!(matches!(missing, WeightsError::Io(_)), "{missing}");
    assert_eq!(values(&b), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

network! {
    /// `mask_zero` has no ONNX form.
    pub Masked<seq_len = 4, batch = 2, mask_zero = true> = Sequential[ LSTM(3, 4), Linear(4, 2) ];
}

fn onnx_problems(e: WeightsError) -> Vec<String> {
    match e {
        WeightsError::Onnx(lines) => lines,
        other => panic!("expected WeightsError::Onnx, got {other}"),
    }
}

#[test]
fn what_onnx_cannot_express_is_an_error_that_names_it() {
    let lines = onnx_problems(to_onnx(&Masked::new(0)).unwrap_err());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("mask_zero"), "{lines:?}");
}

/// `load_onnx` of `bytes` into `net` fails and leaves it as it was.
fn refused<N: Network>(net: &mut N, bytes: &[u8]) -> WeightsError {
    let before = values(net);
    let e = load_onnx(net, bytes).unwrap_err();
    assert_eq!(values(net), before, "changed by a failed load: {e}");
    e
}

network! {
    /// The tagger one unit wider.
    pub Wider<seq_len = 8, batch = 3> = Sequential[ LSTM(10, 21), Linear(21, 5), LogSoftMax ];
}
network! {
    /// The tagger with a GRU.
    pub GruTagger<seq_len = 8, batch = 3> = Sequential[ GRU(10, 20), Linear(20, 5), LogSoftMax ];
}

#[test]
fn bad_files_are_typed_errors_that_change_nothing() {
    let bytes = to_onnx(&Tagger::new(1)).unwrap();
    let mut net = Tagger::new(2);
    // Not protobuf; cut short.
    for bad in [&b"not an onnx file"[..], &bytes[..bytes.len() / 2]] {
        match refused(&mut net, bad) {
            WeightsError::Format(m) => assert!(m.contains("ONNX"), "{m}"),
            other => panic!("{other}"),
        }
    }
    // Another width: every tensor of another shape listed.
    match refused(&mut Wider::new(0), &bytes) {
        WeightsError::Mismatch(m) => assert_eq!(m.shapes.len(), 5, "{m:?}"),
        other => panic!("{other}"),
    }
    // Another cell.
    let lines = onnx_problems(refused(&mut GruTagger::new(0), &bytes));
    assert!(
        lines[0].contains("LSTM") && lines[0].contains("GRU"),
        "{lines:?}"
    );
    // Another number of layers.
    let lines = onnx_problems(refused(&mut Gru2::new(0), &bytes));
    assert!(lines[0].contains("2 layer(s) with weights"), "{lines:?}");
    // An operator no layer computes, named.
    let file = include_bytes!("fixtures/onnx/unsupported.onnx");
    let lines = onnx_problems(refused(&mut Tagger::new(0), file));
    assert!(
        lines.iter().any(|l| l.contains("LayerNormalization")),
        "{lines:?}"
    );
    // Weights in a separate file (the dynamo exporter's default).
    let file = include_bytes!("fixtures/onnx/external.onnx");
    let lines = onnx_problems(refused(&mut Tagger::new(0), file));
    assert!(lines.iter().all(|l| l.contains("external")), "{lines:?}");
}

mod torch_modules;
use torch_modules::{AmpResidual, Bi, Emb, Seed, Stacked};

fn torch_file(name: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/onnx");
    std::fs::read(format!("{dir}/{name}.onnx")).unwrap()
}

/// Loads `torch.onnx.export`'s files of `case` (both exporters) into `N` and compares its
/// outputs on the fixture's inputs with PyTorch's.
/// `new` builds the network (its seed gives weights unlike any file's).
fn torch_case<N, const I: usize, const O: usize, const B: usize>(case: &str, new: fn(u64) -> N)
where
    N: Network<Scalar = f32, Inputs = [SMatrix<f32, I, B>], Outputs = [SMatrix<f32, O, B>]>,
{
    let fx = Fixture::parse(include_str!("fixtures/onnx/torch_outputs.txt"));
    let x = fx.get(&format!("x_{case}"));
    let inputs: Vec<SMatrix<f32, I, B>> = x
        .chunks(B * I)
        .map(|step| SMatrix::from_fn(|i, b| step[b * I + i] as f32))
        .collect();
    for file in [case.to_string(), format!("{case}_dynamo")] {
        let mut net = new(7);
        load_onnx(&mut net, &torch_file(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        net.evaluate();
        let ours: Vec<f64> = net
            .forward(&inputs)
            .iter()
            .flat_map(|y| {
                y.as_slice()
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_close(&file, &ours, fx.get(&format!("y_{case}")));
    }
}

fn assert_close(what: &str, ours: &[f64], theirs: &[f64]) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    for (k, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!((a - b).abs() <= 1e-5, "{what}[{k}]: ours {a}, theirs {b}");
    }
}

#[test]
fn torch_onnx_exports_load_and_give_pytorchs_outputs() {
    torch_case::<Seed, 10, 5, 2>("seed", Seed::new);
    torch_case::<Stacked, 4, 3, 2>("stacked", Stacked::new);
    torch_case::<torch_modules::Amp, 1, 1, 1>("amp", torch_modules::Amp::new);
    torch_case::<Bi, 3, 2, 2>("bi", Bi::new);
    torch_case::<AmpResidual, 1, 1, 2>("amp_residual", AmpResidual::new);
    // Token indices (as floats in the fixture).
    let fx = Fixture::parse(include_str!("fixtures/onnx/torch_outputs.txt"));
    let tokens: Vec<[Class<7>; 3]> = fx
        .get("x_emb")
        .chunks(3)
        .map(|step| core::array::from_fn(|b| Class::new(step[b] as usize).unwrap()))
        .collect();
    for file in ["emb", "emb_dynamo"] {
        let mut net = Emb::new(7);
        load_onnx(&mut net, &torch_file(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        net.evaluate();
        let ours: Vec<f64> = net
            .forward(&tokens)
            .iter()
            .flat_map(|y| {
                y.as_slice()
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_close(file, &ours, fx.get("y_emb"));
    }
}

/// Our exports in tract (`--features tract`; `.ci/run` runs it).
#[cfg(feature = "tract")]
mod tract_runs_ours {
    use super::*;
    use rnn_core::io::to_onnx_with;
    use rnn_core::onnx::{OnnxOptions, StateInputs};

    /// Runs a case's export in tract: from the default state (the file's) and, with required
    /// state inputs, from a random one given, over the full and a shorter sequence; outputs and
    /// final states equal to ours at 1e-5.
    fn in_tract<N: Case>(net: &mut N) {
        let lengths: &[usize] = if N::SHORTER {
            &[N::SEQ_LEN, 3]
        } else {
            &[N::SEQ_LEN]
        };
        for &t in lengths {
            let (x, input) = N::inputs(t, 11);
            net.forget();
            let ours = net.run(&x);
            let theirs = runtime::run(&to_onnx(net).unwrap(), std::slice::from_ref(&input));
            assert_close_f32(&format!("{} T={t}", N::NAME), &ours, &theirs[0]);
            final_states::<N>(&format!("{} T={t}", N::NAME), &net.states(), &theirs[1..]);
            // Initial states given.
            let given = net.set_random_state(5);
            let ours = net.run(&x);
            let options = OnnxOptions {
                states: StateInputs::Required,
            };
            let mut inputs = vec![input];
            for (s, &(_, _, d)) in given.iter().zip(N::STATES) {
                inputs.push(Input::F32(
                    vec![d, N::BATCH, s.len() / (d * N::BATCH)],
                    s.clone(),
                ));
            }
            let theirs = runtime::run(&to_onnx_with(net, options).unwrap(), &inputs);
            assert_close_f32(&format!("{} T={t} given", N::NAME), &ours, &theirs[0]);
            final_states::<N>(
                &format!("{} T={t} given", N::NAME),
                &net.states(),
                &theirs[1..],
            );
        }
    }

    /// Our final states against a runtime's state outputs. Of a bidirectional layer's, the forward
    /// direction's only: after a forward, our `state()` holds the backward direction's *start*
    /// (the state it runs from, see `BiSequencer`), ONNX's `hn` its end.
    fn final_states<N: Case>(what: &str, ours: &[Vec<f32>], theirs: &[Vec<f32>]) {
        assert_eq!(ours.len(), N::STATES.len());
        for (k, ((a, b), &(_, name, d))) in ours.iter().zip(theirs).zip(N::STATES).enumerate() {
            if name.ends_with("_reverse") {
                continue; // a backward copy run on the reversed sequence: as above
            }
            let n = a.len() / d;
            assert_close_f32(
                &format!("{what}: final state {k} ({name})"),
                &a[..n],
                &b[..n],
            );
        }
    }

    fn assert_close_f32(what: &str, ours: &[f32], theirs: &[f32]) {
        let ours: Vec<f64> = ours.iter().map(|&v| f64::from(v)).collect();
        let theirs: Vec<f64> = theirs.iter().map(|&v| f64::from(v)).collect();
        assert_close(what, &ours, &theirs);
    }

    mod runtime {
        use super::super::Input;
        use tract_onnx::prelude::*;

        /// The graph `bytes` run by tract on `inputs` (in the graph's input order); every output.
        pub fn run(bytes: &[u8], inputs: &[Input]) -> Vec<Vec<f32>> {
            let mut model = tract_onnx::onnx()
                .model_for_read(&mut &bytes[..])
                .expect("tract reads the model");
            let mut values: TVec<TValue> = tvec!();
            for (k, input) in inputs.iter().enumerate() {
                let (fact, tensor): (InferenceFact, Tensor) = match input {
                    Input::F32(shape, data) => (
                        f32::fact(shape).into(),
                        Tensor::from_shape(shape, data).unwrap(),
                    ),
                    Input::I64(shape, data) => (
                        i64::fact(shape).into(),
                        Tensor::from_shape(shape, data).unwrap(),
                    ),
                };
                model = model.with_input_fact(k, fact).unwrap();
                values.push(tensor.into());
            }
            let plan = model
                .into_typed()
                .and_then(|m| m.into_runnable())
                .expect("tract types the model");
            plan.run(values)
                .expect("tract runs the model")
                .iter()
                .map(|t| t.to_array_view::<f32>().unwrap().iter().copied().collect())
                .collect()
        }
    }

    #[test]
    fn tract_runs_our_exports_with_our_numbers() {
        in_tract(&mut Tagger::new(1));
        in_tract(&mut Gru2::new(2));
        in_tract(&mut BiTagger::new(3));
        in_tract(&mut Amp::new(4));
        in_tract(&mut Peep::new(5));
        in_tract(&mut BiStack::new(6));
        in_tract(&mut Rep::new(7));
    }
}

/// The exports that onnxruntime ran (`onnxruntime_runs_ours.txt`) are what `to_onnx` writes
/// today, byte for byte: the committed check still holds.
#[test]
fn the_exports_onnxruntime_checked_are_todays() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/onnx");
    let committed = |name: &str| std::fs::read(format!("{dir}/ours_{name}.onnx")).unwrap();
    assert!(to_onnx(&Tagger::new(1)).unwrap() == committed(Tagger::NAME));
    assert!(to_onnx(&Gru2::new(2)).unwrap() == committed(Gru2::NAME));
    assert!(to_onnx(&BiTagger::new(3)).unwrap() == committed(BiTagger::NAME));
    assert!(to_onnx(&Amp::new(4)).unwrap() == committed(Amp::NAME));
}

/// With `RNN_WRITE_FIXTURES=1`: our exports and our outputs for `tools/torch_onnx.py check`
/// (onnxruntime), from the default state and from given ones.
#[test]
fn write_exports_for_onnxruntime() {
    if std::env::var_os("RNN_WRITE_FIXTURES").is_none() {
        return;
    }
    let mut lines =
        vec!["# our outputs and final states (ONNX layouts), by tests/onnx.rs".to_string()];
    write_case(&mut Tagger::new(1), &mut lines);
    write_case(&mut Gru2::new(2), &mut lines);
    write_case(&mut BiTagger::new(3), &mut lines);
    write_case(&mut Amp::new(4), &mut lines);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/onnx");
    std::fs::write(format!("{dir}/ours_outputs.txt"), lines.join("\n") + "\n").unwrap();
}

fn write_case<N: Case>(net: &mut N, lines: &mut Vec<String>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/onnx");
    let bytes = to_onnx(net).unwrap();
    std::fs::write(format!("{dir}/ours_{}.onnx", N::NAME), &bytes).unwrap();
    let (x, input) = N::inputs(N::SEQ_LEN, 11);
    let name = N::NAME;
    lines.push(match &input {
        Input::F32(shape, v) => line(&format!("{name}/input"), shape, v),
        Input::I64(shape, v) => {
            let v: Vec<f64> = v.iter().map(|&x| x as f64).collect();
            line(&format!("{name}/input"), shape, &v)
        }
    });
    for run in ["default", "given"] {
        let given = (run == "given").then(|| net.set_random_state(5));
        let y = net.run(&x);
        let o = y.len() / (N::SEQ_LEN * N::BATCH);
        let shape = [N::SEQ_LEN, N::BATCH, o];
        lines.push(line(&format!("{name}/{run}/output"), &shape, &y));
        for (k, (s, &(inp, out, d))) in net.states().iter().zip(N::STATES).enumerate() {
            let shape = [d, N::BATCH, s.len() / (d * N::BATCH)];
            lines.push(line(&format!("{name}/{run}/{out}"), &shape, s));
            if let Some(g) = &given {
                lines.push(line(&format!("{name}/given/{inp}"), &shape, &g[k]));
            }
        }
    }
}

fn line<T: Copy + Into<f64>>(name: &str, shape: &[usize], values: &[T]) -> String {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let vals: Vec<String> = values.iter().map(|&v| format!("{:?}", v.into())).collect();
    format!(
        "{name} {} {} {}",
        shape.len(),
        dims.join(" "),
        vals.join(" ")
    )
}
