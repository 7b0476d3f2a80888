//! Neural Amp Modeler models (`.nam`) in and out, checked against `nam-rs` (an independent
//! reader and runtime of the format, exact maths): a file NAM's trainer wrote (NAM Core's
//! example LSTM) plays here as in nam-rs, and a network trained or made here, written as a
//! `.nam`, plays in nam-rs as here. Also: typed metadata, every problem of a bad file listed,
//! nothing changed on error, and `process_block` equal to `step` per sample.

use rnn_core::io::{NamMetadata, WeightsError, load_nam, read_nam, to_nam, to_safetensors};
use rnn_core::prelude::*;

network! {
    /// NAM Core's example model: LSTM 1 x 3.
    pub Tiny<seq_len = 4> = Sequential[ LSTM(1, 3), Linear(3, 1) ];
    /// NAM's "lite" preset shape: two LSTM layers of 8.
    pub Lite<seq_len = 4> = Sequential[ LSTM(1, 8), LSTM(8, 8), Linear(8, 1) ];
    pub Feather<seq_len = 4> = Sequential[ LSTM(1, 16), Linear(16, 1) ];
    pub Lite64<seq_len = 4, scalar = f64> = Sequential[ LSTM(1, 8), LSTM(8, 8), Linear(8, 1) ];
    pub NotAmp<seq_len = 4> = Sequential[ GRU(1, 3), Linear(3, 1) ];
    /// The right tensors, but a layer after the head.
    pub Squashed<seq_len = 4> = Sequential[ LSTM(1, 3), Linear(3, 1), Tanh ];
}

network! {
    /// The same model compiled in: `weights = "...nam"`.
    pub TinyCompiled<seq_len = 4, weights = "tests/fixtures/nam/lstm.nam"> =
        Sequential[ LSTM(1, 3), Linear(3, 1) ];
}

const CORE_LSTM: &[u8] = include_bytes!("fixtures/nam/lstm.nam");

#[test]
fn a_nam_model_compiled_in_equals_loading_it_bit_for_bit() {
    assert_eq!(TinyCompiled::SAMPLE_RATE, 48_000.0);
    let mut compiled = TinyCompiled::pretrained();
    let mut loaded = TinyCompiled::new(9);
    load_nam(&mut loaded, CORE_LSTM).expect("loads");
    assert_eq!(
        to_safetensors(&compiled).unwrap(),
        to_safetensors(&loaded).unwrap()
    );
    // Same initial state too: the same outputs, bit for bit.
    let x = guitar(2_000);
    let (mut a, mut b) = (x.clone(), x.clone());
    compiled.process_block(&mut a);
    loaded.process_block(&mut b);
    assert_eq!(a, b);
}

/// A plucked string (Karplus-Strong, two notes), as a guitar DI signal: decaying harmonics.
fn guitar(n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    let mut rng = Rng::new(5);
    for (period, amp) in [(109usize, 0.8f64), (73, 0.6)] {
        let mut line: Vec<f64> = (0..period).map(|_| rng.uniform(-amp, amp)).collect();
        for k in 0..n / 2 {
            let next = 0.996 * 0.5 * (line[k % period] + line[(k + 1) % period]);
            out.push(line[k % period] as f32);
            line[k % period] = next;
        }
    }
    out
}

fn nam_rs_outputs(json: &str, x: &[f32]) -> Vec<f32> {
    let model = nam_rs::NamModel::from_json_str(json).expect("nam-rs reads the file");
    let mut runtime = nam_rs::Model::from_nam(&model).expect("nam-rs builds the model");
    let mut y = x.to_vec();
    runtime.process_buffer(&mut y);
    y
}

fn assert_close(ours: &[f32], theirs: &[f32], tol: f32) {
    assert_eq!(ours.len(), theirs.len());
    let worst = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= tol, "largest difference {worst:e}");
}

#[test]
fn nam_cores_example_lstm_plays_as_in_nam_rs() {
    let mut net = Tiny::new(1);
    let file = load_nam(&mut net, CORE_LSTM).expect("loads");
    let m = &file.metadata;
    assert_eq!((file.version.as_str(), m.sample_rate), ("0.5.4", 48_000.0));
    assert_eq!(m.name.as_deref(), Some("Test LSTM"));
    assert_eq!(m.gear_make.as_deref(), Some("Darkglass Electronics"));
    assert_eq!(
        (m.input_level_dbu, m.output_level_dbu),
        (Some(18.3), Some(12.3))
    );
    assert!((m.loudness.expect("loudness") + 37.840_686_798_095_7).abs() < 1e-12);
    let keys: Vec<&str> = m.other.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["date", "training"], "the rest kept as JSON");

    let x = guitar(4_800);
    let mut ours = x.clone();
    net.evaluate();
    net.process_block(&mut ours);
    assert_close(
        &ours,
        &nam_rs_outputs(std::str::from_utf8(CORE_LSTM).unwrap(), &x),
        1e-5,
    );
    // The file's initial state is where `forget` returns: the same outputs again.
    net.forget();
    let mut again = x.clone();
    net.process_block(&mut again);
    assert_eq!(again, ours);
}

#[test]
fn networks_written_as_nam_play_in_nam_rs_as_here() {
    let x = guitar(9_600);
    let meta = NamMetadata {
        sample_rate: 44_100.0,
        name: Some("lite from rnn".into()),
        loudness: Some(-20.5),
        ..NamMetadata::default()
    };
    // A network with non-zero biases on both sides, written, read by nam-rs and by us.
    let net = Lite::new(7);
    let before = to_safetensors(&net).unwrap();
    let json = to_nam(&net, &meta).expect("writes");
    assert_eq!(
        to_safetensors(&net).unwrap(),
        before,
        "writing changes nothing"
    );
    let mut back = Lite::new(0);
    let file = load_nam(&mut back, json.as_bytes()).expect("reads ours");
    assert_eq!(file.metadata, meta);
    back.evaluate();
    let mut ours = x.clone();
    back.process_block(&mut ours);
    assert_close(&ours, &nam_rs_outputs(&json, &x), 1e-5);
    // Biases are summed in the file: the network read back computes what the original does
    // from the same state.
    let mut original = Lite::new(7);
    original.set_initial_state(back.state_after_forget());
    original.evaluate();
    let mut theirs = x.clone();
    original.process_block(&mut theirs);
    assert_close(&ours, &theirs, 1e-5);

    // f64 networks write and read the same format.
    let net = Lite64::new(7);
    let json = to_nam(&net, &NamMetadata::default()).expect("writes");
    let mut back = Lite64::new(0);
    load_nam(&mut back, json.as_bytes()).expect("reads");
    back.evaluate();
    let ours: Vec<f32> = x
        .iter()
        .map(|&v| back.step(&SMatrix::<f64, 1, 1>::new(f64::from(v)))[(0, 0)] as f32)
        .collect();
    assert_close(&ours, &nam_rs_outputs(&json, &x), 1e-5);
}

/// The state `forget` returns to, read back through a fresh forget.
trait AfterForget: Network {
    fn state_after_forget(&mut self) -> Self::State;
}
impl<N: Network> AfterForget for N
where
    N::State: Clone,
{
    fn state_after_forget(&mut self) -> Self::State {
        self.forget();
        self.state().clone()
    }
}

#[test]
fn process_block_is_step_per_sample_bit_for_bit_across_blocks() {
    let x = guitar(1_000);
    let mut a = Feather::new(3);
    let mut b = Feather::new(3);
    let (mut first, mut second) = (x[..333].to_vec(), x[333..].to_vec());
    a.process_block(&mut first);
    a.process_block(&mut second);
    let stepped: Vec<f32> = x
        .iter()
        .map(|&v| b.step(&SMatrix::<f32, 1, 1>::new(v))[(0, 0)])
        .collect();
    assert_eq!([first, second].concat(), stepped);
}

/// `set_fast_activations`: in evaluation mode the LSTM cells' outputs move (on a SIMD path)
/// by less than 1e-5 over a played signal, stepping and `process_block` still agree bit for
/// bit; training mode, and the `.nam` written (settled with the exact functions), do not
/// change.
#[test]
fn fast_activations_move_evaluation_outputs_by_under_1e_5_and_nothing_else() {
    let x = guitar(2_000);
    let play = |net: &mut Lite, fast: bool| {
        net.forget();
        net.set_fast_activations(fast);
        let mut y = x.clone();
        for block in y.chunks_mut(64) {
            net.process_block(block);
        }
        y
    };
    let mut lite = Lite::new(7);
    lite.evaluate();
    let (exact, fast) = (play(&mut lite, false), play(&mut lite, true));
    assert_close(&fast, &exact, 1e-5);
    if rnn_core::simd_path() >= rnn_core::SimdPath::Avx2 {
        assert_ne!(fast, exact, "the fast activations did not run");
    } else {
        assert_eq!(fast, exact, "no fast kernel on the baseline path");
    }
    // Stepping gives the bits of the blocks.
    lite.forget();
    let stepped: Vec<f32> = x
        .iter()
        .map(|&v| lite.step(&SMatrix::<f32, 1, 1>::new(v))[(0, 0)])
        .collect();
    assert_eq!(stepped, fast);
    // The weights written are those of the exact functions' settling.
    let meta = NamMetadata::default();
    let written = to_nam(&lite, &meta).expect("a NAM network");
    lite.set_fast_activations(false);
    assert_eq!(written, to_nam(&lite, &meta).expect("a NAM network"));
    // Training mode ignores the permission: outputs and gradients are the exact ones.
    let run = |fast: bool| {
        let mut net = Feather::new(2);
        net.set_fast_activations(fast);
        let xs: Vec<_> = x[..4]
            .iter()
            .map(|&v| SMatrix::<f32, 1, 1>::new(v))
            .collect();
        let y = net.forward(&xs).to_vec();
        let gx = net.backward(&xs, &y).to_vec();
        (y, gx, net.flat_gradients())
    };
    assert_eq!(run(true), run(false));
}

network! {
    /// Three stacked cells, `seq_len = 1`: a pipelined block on a ring of two state slots.
    pub Deep<seq_len = 1> = Sequential[ LSTM(1, 5), LSTM(5, 8), Sequential[ LSTM(8, 3), Tanh ], Linear(3, 1) ];
    /// Masking off: not pipelined (a masked sample resets every layer's state at its step).
    pub LiteMasked<seq_len = 4, mask_zero = true> = Sequential[ LSTM(1, 8), LSTM(8, 8), Linear(8, 1) ];
}

/// `process_block` pipelines a stack of layers (the first layer one sample ahead of the
/// rest): every block length, from 1, gives the bits of `step` per sample, and a step after
/// a block continues from the right state, whatever the ring's size.
fn pipelined_blocks_equal_steps<N>(mut a: N, mut b: N)
where
    N: Online + Network<Scalar = f32, Input = SMatrix<f32, 1, 1>, Output = SMatrix<f32, 1, 1>>,
{
    let x = guitar(400);
    let mut at = 0;
    let mut ours = Vec::new();
    for len in [1, 2, 3, 64, 1, 7, 100, 2, 5] {
        let mut block = x[at..at + len].to_vec();
        a.process_block(&mut block);
        ours.extend(block);
        at += len;
    }
    ours.extend(
        x[at..]
            .iter()
            .map(|&v| a.step(&SMatrix::<f32, 1, 1>::new(v))[(0, 0)]),
    );
    let stepped: Vec<f32> = x
        .iter()
        .map(|&v| b.step(&SMatrix::<f32, 1, 1>::new(v))[(0, 0)])
        .collect();
    assert_eq!(ours, stepped);
}

#[test]
fn pipelined_blocks_of_stacked_layers_are_steps_bit_for_bit() {
    pipelined_blocks_equal_steps(Lite::new(3), Lite::new(3));
    pipelined_blocks_equal_steps(Deep::new(4), Deep::new(4));
    pipelined_blocks_equal_steps(Tiny::new(5), Tiny::new(5));
    let (mut a, mut b) = (LiteMasked::new(6), LiteMasked::new(6));
    pipelined_blocks_equal_steps(a.clone(), b.clone());
    // With masking, a zero sample resets the state: still the steps' bits.
    let mut block = vec![0.3f32, 0.0, -0.2, 0.0, 0.5];
    let stepped: Vec<f32> = block
        .iter()
        .map(|&v| b.step(&SMatrix::<f32, 1, 1>::new(v))[(0, 0)])
        .collect();
    a.process_block(&mut block);
    assert_eq!(block, stepped);
}

network! {
    /// The shapes of the fused block (`rnn_core::block`): one cell and a one-output head, to
    /// eight units (state in registers), from nine to 32 (512-bit registers or the step's
    /// kernels, as measured) and above (the step's kernels), on rings of two (`seq_len = 1`)
    /// and five slots.
    pub Amp1<seq_len = 1> = Sequential[ LSTM(1, 1), Linear(1, 1) ];
    pub Amp2<seq_len = 1> = Sequential[ LSTM(1, 2), Linear(2, 1) ];
    pub Amp7<seq_len = 4> = Sequential[ LSTM(1, 7), Linear(7, 1) ];
    pub Amp8<seq_len = 1> = Sequential[ LSTM(1, 8), Linear(8, 1) ];
    pub Amp12<seq_len = 1> = Sequential[ LSTM(1, 12), Linear(12, 1) ];
    pub Amp16<seq_len = 4> = Sequential[ LSTM(1, 16), Linear(16, 1) ];
    pub Amp24<seq_len = 4> = Sequential[ LSTM(1, 24), Linear(24, 1) ];
    pub Amp32<seq_len = 1> = Sequential[ LSTM(1, 32), Linear(32, 1) ];
    /// Above the fused block's 64 units: stepped.
    pub Amp65<seq_len = 4> = Sequential[ LSTM(1, 65), Linear(65, 1) ];
    /// Two stacked cells and a head (NAM's two-layer models), small and unequal, and written
    /// as nested `Sequential`s.
    pub Stack35<seq_len = 1> = Sequential[ LSTM(1, 3), Sequential[ LSTM(3, 5), Linear(5, 1) ] ];
    pub Amp2F64<seq_len = 4, scalar = f64> = Sequential[ LSTM(1, 2), Linear(2, 1) ];
}

/// The fused blocks of a cell and its head, and of two cells and a head: `step`'s bits per
/// sample and the state after the block (the steps after it), whatever the block lengths
/// (those that end in the slot they started from included), exact and fast, in evaluation
/// and training mode.
#[test]
fn fused_blocks_of_a_cell_and_its_head_are_steps_bit_for_bit() {
    fn each_mode<N>(net: N)
    where
        N: Online
            + Clone
            + Network<Scalar = f32, Input = SMatrix<f32, 1, 1>, Output = SMatrix<f32, 1, 1>>,
    {
        for (training, fast) in [(false, false), (false, true), (true, false), (true, true)] {
            let mut net = net.clone();
            if training {
                net.training();
            } else {
                net.evaluate();
            }
            net.set_fast_activations(fast);
            pipelined_blocks_equal_steps(net.clone(), net);
        }
    }
    each_mode(Amp1::new(1));
    each_mode(Amp2::new(2));
    each_mode(Amp7::new(3));
    each_mode(Amp8::new(3));
    each_mode(Amp12::new(3));
    each_mode(Amp16::new(3));
    each_mode(Amp24::new(3));
    each_mode(Amp32::new(3));
    each_mode(Amp65::new(3));
    each_mode(Lite::new(3));
    each_mode(Stack35::new(3));
    each_mode(Tiny::new(4));
    // f64 has no fused kernel: stepped, the same bits.
    let (mut a, mut b) = (Amp2F64::new(5), Amp2F64::new(5));
    let x: Vec<f64> = guitar(100).into_iter().map(f64::from).collect();
    let mut block = x.clone();
    a.process_block(&mut block);
    let stepped: Vec<f64> = x
        .iter()
        .map(|&v| b.step(&SMatrix::<f64, 1, 1>::new(v))[(0, 0)])
        .collect();
    assert_eq!(block, stepped);
}

/// After a block, `check_finite` reads the outputs of its last `seq_len` steps as stepping
/// leaves them, fused or pipelined: the first non-finite one is named by its step (before the
/// fix, a pipelined block's records held each output one step late, and the extra step's
/// over the earliest kept one).
#[test]
fn check_finite_after_a_block_names_the_step_of_the_first_non_finite_output() {
    fn check<N>(mut net: N)
    where
        N: Online + Network<Scalar = f32, Input = SMatrix<f32, 1, 1>, Output = SMatrix<f32, 1, 1>>,
    {
        for len in [10, 12] {
            net.forget();
            let mut block = guitar(len);
            block[8] = f32::NAN;
            net.process_block(&mut block);
            let got = net.check_finite();
            // The first kept step's output if the block kept fewer steps than it had after
            // the NaN (then NaN too: the state is).
            let step = 8.max(len - N::SEQ_LEN) as u64;
            assert!(
                matches!(got, Err(NonFinite::Output { step: s, .. }) if s == step),
                "{got:?} {len} {}",
                std::any::type_name::<N>()
            );
        }
        net.forget();
        let mut block = guitar(10);
        net.process_block(&mut block);
        assert!(net.check_finite().is_ok());
    }
    check(Amp7::new(6));
    check(Amp16::new(6));
    check(Amp24::new(6));
    check(Lite::new(6));
    check(Deep::new(6));
}

/// The steps of a pipelined block are not back-propagated (their records hold the layers'
/// values one step apart); a step after the block is, with the gradients of stepping.
#[test]
fn steps_after_a_block_back_propagate_as_after_steps() {
    let (mut a, mut b) = (Lite::new(7), Lite::new(7));
    let x = guitar(70);
    let mut block = x[..64].to_vec();
    a.process_block(&mut block);
    for &v in &x[..64] {
        b.step(&SMatrix::<f32, 1, 1>::new(v));
    }
    let g = SMatrix::<f32, 1, 1>::new(1.0f32);
    assert!(matches!(
        a.try_backward_step(&SMatrix::<f32, 1, 1>::new(x[63]), &g),
        Err(BpttError::StepsExhausted { kept: 0 })
    ));
    for &v in &x[64..66] {
        assert_eq!(
            a.step(&SMatrix::<f32, 1, 1>::new(v)),
            b.step(&SMatrix::<f32, 1, 1>::new(v))
        );
    }
    a.zero_grad();
    b.zero_grad();
    for &v in x[64..66].iter().rev() {
        let ga = *a
            .try_backward_step(&SMatrix::<f32, 1, 1>::new(v), &g)
            .expect("a step after the block");
        let gb = *b
            .try_backward_step(&SMatrix::<f32, 1, 1>::new(v), &g)
            .expect("stepped");
        assert_eq!(ga, gb);
    }
    assert_eq!(a.flat_gradients(), b.flat_gradients());
    // Only the two steps since the block.
    assert!(
        a.try_backward_step(&SMatrix::<f32, 1, 1>::new(x[63]), &g)
            .is_err()
    );
}

#[test]
fn a_bad_file_lists_every_problem_and_changes_nothing() {
    let mut net = Tiny::new(1);
    let before = to_safetensors(&net).unwrap();
    let unchanged = |net: &Tiny| assert_eq!(to_safetensors(net).unwrap(), before);

    let e = load_nam(&mut net, include_bytes!("fixtures/nam/wavenet.nam")).unwrap_err();
    assert!(
        matches!(&e, WeightsError::Architecture { found } if found == "WaveNet"),
        "{e}"
    );
    unchanged(&net);

    let text = std::str::from_utf8(CORE_LSTM).unwrap();
    let broken = text
        .replace("\"version\": \"0.5.4\"", "\"version\": \"0.8.0\"")
        .replace("\"weights\": [-0.21677088737487793, ", "\"weights\": [")
        .replace("\"sample_rate\": 48000", "\"sample_rate\": -1");
    let e = load_nam(&mut net, broken.as_bytes()).unwrap_err();
    let WeightsError::Nam(problems) = &e else {
        panic!("{e}")
    };
    assert_eq!(problems.len(), 3, "{e}");
    let message = e.to_string();
    for part in ["0.8.0", "69 weights", "needs 70", "sample_rate"] {
        assert!(message.contains(part), "{part}: {message}");
    }
    unchanged(&net);

    // The right file, the wrong network: every tensor that differs.
    let mut other = Lite::new(1);
    let e = load_nam(&mut other, CORE_LSTM).unwrap_err();
    let WeightsError::Mismatch(m) = &e else {
        panic!("{e}")
    };
    assert_eq!((m.missing.len(), m.shapes.len()), (6, 4), "{e}");
    // Not an LSTM stack: said before any tensor is compared.
    let mut gru = NotAmp::new(1);
    assert!(matches!(
        load_nam(&mut gru, CORE_LSTM),
        Err(WeightsError::Nam(_))
    ));
    assert!(matches!(
        to_nam(&NotAmp::new(1), &NamMetadata::default()),
        Err(WeightsError::Nam(_))
    ));
    assert!(read_nam(b"not json").is_err());
    // A layer without parameters after the head does not show in the tensors: the form is
    // checked too, both ways.
    let mut squashed = Squashed::new(1);
    let e = load_nam(&mut squashed, CORE_LSTM).unwrap_err();
    assert!(e.to_string().contains("LSTM, Linear, Tanh"), "{e}");
    assert!(matches!(
        to_nam(&Squashed::new(1), &NamMetadata::default()),
        Err(WeightsError::Nam(_))
    ));
}
