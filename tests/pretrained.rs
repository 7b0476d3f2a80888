//! Weights compiled in: `weights = "..."` in a network's header embeds a safetensors file,
//! checked against the network when the macro expands; `pretrained()` equals loading the same
//! file at run time, bit for bit.

use rnn_core::gradcheck::Fixture;
use rnn_core::io::{TorchNames, load_safetensors, load_state_dict, to_safetensors};
use rnn_core::prelude::*;

network! {
    pub Seed<seq_len = 5, batch = 2, weights = "tests/fixtures/state_dicts/seed.safetensors",
             names = [recurrent("rnn", 0, 1), module("head", 1)]> =
        Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    pub Stacked<seq_len = 5, batch = 2, weights = "tests/fixtures/state_dicts/stacked.safetensors",
                names = [recurrent("lstm", 0, 2), module("out", 2)]> =
        Sequential[ LSTM(4, 6), LSTM(6, 6), Linear(6, 3) ];
    pub Amp<seq_len = 8, weights = "tests/fixtures/state_dicts/amp.safetensors",
            names = [recurrent("gru", 0, 1), module("dense", 1)]> =
        Sequential[ GRU(1, 16), Linear(16, 1) ];
    pub Bi<seq_len = 6, batch = 2, weights = "tests/fixtures/state_dicts/bi.safetensors",
           names = [recurrent("lstm", 0, 2), module("head", 2)]> = Sequential[
        BiSequencer[ LSTM(3, 4) ],
        BiSequencer[ LSTM(8, 4) ],
        Linear(8, 2)
    ];
    pub Emb<seq_len = 5, batch = 3, weights = "tests/fixtures/state_dicts/emb.safetensors",
            names = [module("emb", 0), recurrent("rnn", 1, 1), module("out", 2)]> =
        Sequential[ LookupTable(7, 3, padding = 0), LSTM(3, 5), Linear(5, 7) ];
    pub AmpResidual<seq_len = 12, batch = 2,
                    weights = "tests/fixtures/state_dicts/amp_residual.safetensors",
                    names = [recurrent_at("rec", "0.0", 1), module_at("lin", "0.1")]> =
        Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
    /// The same file into an `f64` network: converted on request, as at run time.
    pub AmpResidual64<seq_len = 12, batch = 2, scalar = f64,
                      weights = "tests/fixtures/state_dicts/amp_residual.safetensors",
                      names = [recurrent_at("rec", "0.0", 1), module_at("lin", "0.1"),
                               convert_dtype]> =
        Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
}

// A bfloat16 copy of the amp's file (`tools/half_precision_fixture.py`), into f32 and f64.
network! {
    pub AmpBf16<seq_len = 12, batch = 2,
                weights = "tests/fixtures/pretrained/amp_residual_bf16.safetensors",
                names = [recurrent_at("rec", "0.0", 1), module_at("lin", "0.1"), convert_dtype]> =
        Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
    pub AmpBf16In64<seq_len = 12, batch = 2, scalar = f64,
                    weights = "tests/fixtures/pretrained/amp_residual_bf16.safetensors",
                    names = [recurrent_at("rec", "0.0", 1), module_at("lin", "0.1"),
                             convert_dtype]> =
        Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
}

#[test]
fn a_bfloat16_file_converts_as_at_run_time() {
    let file = include_bytes!("fixtures/pretrained/amp_residual_bf16.safetensors");
    let names = TorchNames::new()
        .recurrent_at("rec", "0.0", 1)
        .module_at("lin", "0.1")
        .convert_dtype();
    let mut loaded = AmpBf16::new(3);
    load_state_dict(&mut loaded, file, &names).expect("run-time load");
    same_as_loaded(&AmpBf16::pretrained(), &loaded);
    let mut loaded = AmpBf16In64::new(3);
    load_state_dict(&mut loaded, file, &names).expect("run-time load");
    same_as_loaded(&AmpBf16In64::pretrained(), &loaded);
    // bf16 values are exact in f32 and f64: both networks hold the same numbers.
    let (a, b) = (AmpBf16::pretrained(), AmpBf16In64::pretrained());
    for (x, y) in a.parameters().iter().zip(b.parameters().iter()) {
        assert!(
            x.value
                .iter()
                .zip(y.value.iter())
                .all(|(x, y)| f64::from(*x) == *y)
        );
    }
}

// Every layer with parameters and every container (the names of nested layers, both
// directions, an encoder), in f64: `every_layer.safetensors` is `Every::new(7)` saved by
// `to_safetensors` (the test below checks it still is).
network! {
    pub Every<seq_len = 4, batch = 2, scalar = f64> = Sequential[
        LookupTable(6, 3),
        PeepholeLSTM(3, 4),
        Sequential[ RNN(4, 5), Tanh, FastLSTM(5, 4) ],
        Residual[ GRU(4, 3), Dropout(0.5), Linear(3, 4) ],
        BiSequencer[ LSTM(4, 2), Linear(2, 3) ],
        BiSequencer[ Sequential[ GRU(6, 2) ] ],
        Linear(4, 6),
        LogSoftMax
    ];
    pub EveryCompiled<seq_len = 4, batch = 2, scalar = f64,
                      weights = "tests/fixtures/pretrained/every_layer.safetensors"> =
        Sequential[
            LookupTable(6, 3),
            PeepholeLSTM(3, 4),
            Sequential[ RNN(4, 5), Tanh, FastLSTM(5, 4) ],
            Residual[ GRU(4, 3), Dropout(0.5), Linear(3, 4) ],
            BiSequencer[ LSTM(4, 2), Linear(2, 3) ],
            BiSequencer[ Sequential[ GRU(6, 2) ] ],
            Linear(4, 6),
            LogSoftMax
        ];
}

#[test]
fn every_layer_and_container_compiles_in_by_our_names() {
    let file = include_bytes!("fixtures/pretrained/every_layer.safetensors");
    assert_eq!(
        to_safetensors(&Every::new(7)).expect("save"),
        file.as_slice(),
        "the fixture is Every::new(7) saved"
    );
    assert_eq!(
        to_safetensors(&EveryCompiled::pretrained()).expect("save"),
        file.as_slice()
    );
    let mut loaded = EveryCompiled::new(1);
    load_safetensors(&mut loaded, file).expect("run-time load");
    same_as_loaded(&EveryCompiled::pretrained(), &loaded);
}

/// `pretrained()`'s parameters are those `load_state_dict` gives from the same file.
fn same_as_loaded<N: Network>(pretrained: &N, loaded: &N) {
    assert_eq!(
        to_safetensors(pretrained).expect("save"),
        to_safetensors(loaded).expect("save"),
        "pretrained() differs from load_state_dict"
    );
}

macro_rules! loads_alike {
    ($net:ty, $file:literal, $names:expr) => {{
        let mut loaded = <$net>::new(3);
        load_state_dict(
            &mut loaded,
            include_bytes!(concat!("fixtures/state_dicts/", $file)),
            &$names,
        )
        .expect("run-time load");
        same_as_loaded(&<$net>::pretrained(), &loaded);
    }};
}

#[test]
fn pretrained_equals_the_run_time_load_bit_for_bit() {
    loads_alike!(
        Seed,
        "seed.safetensors",
        TorchNames::new().recurrent("rnn", 0, 1).module("head", 1)
    );
    loads_alike!(
        Stacked,
        "stacked.safetensors",
        TorchNames::new().recurrent("lstm", 0, 2).module("out", 2)
    );
    loads_alike!(
        Amp,
        "amp.safetensors",
        TorchNames::new().recurrent("gru", 0, 1).module("dense", 1)
    );
    loads_alike!(
        Bi,
        "bi.safetensors",
        TorchNames::new().recurrent("lstm", 0, 2).module("head", 2)
    );
    loads_alike!(
        Emb,
        "emb.safetensors",
        TorchNames::new()
            .module("emb", 0)
            .recurrent("rnn", 1, 1)
            .module("out", 2)
    );
    let amp = TorchNames::new()
        .recurrent_at("rec", "0.0", 1)
        .module_at("lin", "0.1");
    loads_alike!(AmpResidual, "amp_residual.safetensors", amp);
    loads_alike!(
        AmpResidual64,
        "amp_residual.safetensors",
        amp.clone().convert_dtype()
    );
}

#[test]
fn the_compiled_in_amp_module_gives_pytorchs_outputs() {
    let fx = Fixture::parse(include_str!("fixtures/state_dicts/torch_outputs.txt"));
    let x = fx.get("amp_residual.x");
    let y = fx.get("amp_residual.y");
    let mut net = AmpResidual::pretrained();
    net.evaluate();
    let inputs: Vec<SMatrix<f32, 1, 2>> = (0..12)
        .map(|t| SMatrix::from_fn(|_, b| x[t * 2 + b] as f32))
        .collect();
    let ys = net.forward(&inputs);
    let ours: Vec<f64> = ys
        .iter()
        .flat_map(|y| (0..2).map(move |b| f64::from(y[(0, b)])))
        .collect();
    assert_eq!(ours.len(), y.len());
    for (k, (a, b)) in ours.iter().zip(y).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * b.abs().max(1.0),
            "[{k}]: ours {a} torch {b}"
        );
    }
}
