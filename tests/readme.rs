//! Every Rust snippet of README.md compiles and runs: each test below holds README snippets
//! verbatim (between `// README` and `// END` lines, unformatted), with the data they leave to
//! the reader defined around them, and `every_readme_snippet_is_in_a_test` checks that each
//! ```` ```rust ```` block of README.md appears, line for line, in this file.

// No imports of the library here: each snippet brings its own, as a reader's code must.
use std::error::Error;

/// The lines of `text`, trimmed, without blank ones.
fn normalized(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn every_readme_snippet_is_in_a_test() {
    let readme = include_str!("../README.md");
    let here = include_str!("readme.rs");
    let code = normalized(here);
    let mut blocks = 0;
    let mut rest = readme;
    while let Some(start) = rest.find("```rust\n") {
        let body = &rest[start + "```rust\n".len()..];
        let end = body.find("```").expect("a closed block");
        let snippet = normalized(&body[..end]);
        assert!(
            code.windows(snippet.len()).any(|w| w == snippet.as_slice()),
            "this README snippet is not in tests/readme.rs, so nothing compiles it:\n{}",
            &body[..end]
        );
        blocks += 1;
        rest = &body[end + 3..];
    }
    assert_eq!(
        blocks, 7,
        "README.md's Rust snippets: a new one needs a test here"
    );
}

/// A batch of the training loop: inputs and targets of each step.
type Batch = (
    Vec<rnn_core::prelude::SMatrix<f32, 10, 1>>,
    Vec<[rnn_core::prelude::Class<5>; 1]>,
);

#[test]
#[rustfmt::skip]
// The README keeps per-step buffers on the heap, as large networks need.
#[allow(clippy::useless_vec)]
fn the_seed_network_and_its_training_loop() {
    // The data the loop leaves to the reader: 3 batches of sequences of 8 and 5 steps.
    let batches: Vec<Batch> = [8, 5, 8]
        .into_iter()
        .map(|n| {
            let x = (0..n).map(|t| SMatrix::from_fn(|i, _| ((i + t) % 4) as f32 * 0.25)).collect();
            let y = (0..n).map(|t| [Class::new(t % 5).expect("< 5")]).collect();
            (x, y)
        })
        .collect();
    // README
use rnn_core::prelude::*;

network! {
    /// Tags each of 8 steps of a 10-feature sequence with one of 5 classes.
    pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
}
    // README
let mut net = Tagger::new(42);
let crit = SequencerCriterion::new(ClassNll::default());
let mut grads = vec![SMatrix::zeros(); 8];  // the output gradients' buffer, made once
net.training();
for (inputs, targets) in batches {          // Vec<SMatrix<f32, 10, 1>>, Vec<[Class<5>; 1]>
    net.zero_grad_parameters();
    let outputs = net.forward(&inputs);     // 1 to seq_len steps; one output per step
    let loss = crit.forward(outputs, &targets);
    crit.backward_into(outputs, &targets, &mut grads[..inputs.len()]);
    net.backward_parameters(&inputs, &grads[..inputs.len()]);
    net.update_parameters(0.1);               // or Adam::default().step(&mut net)?
    println!("loss {loss:.4}");
}
    // END
    net.check_finite().expect("finite after training");
}

#[test]
#[rustfmt::skip]
fn both_directions_and_tokens() {
    // README
use rnn_core::prelude::*;

network! {
    /// Reads token indices, both ways: step t sees the whole sentence.
    pub BiTagger<seq_len = 40, batch = 16> = Sequential[
        Embedding(5000, 64, padding = 0),   // alias LookupTable; inputs [Class<5000>; 16] per step
        BiSequencer[ LSTM(64, 128) ],        // outputs [forward; backward]: 256 per step
        Linear(256, 12),
        LogSoftMax
    ];
}
    // END
    let mut net = BiTagger::new(1);
    let tokens: Vec<[Class<5000>; 16]> = (0..40)
        .map(|t| std::array::from_fn(|b| Class::new(1 + (t * 16 + b) % 4999).expect("< 5000")))
        .collect();
    let out = net.forward(&tokens);
    assert_eq!(out.len(), 40);
    assert_eq!(out[0].nrows(), 12);
}

#[test]
#[rustfmt::skip]
fn weights_from_and_to_pytorch() -> Result<(), Box<dyn Error>> {
    // Where PyTorch's file would be: one written with the same names by another network.
    let dir = std::env::temp_dir().join(format!("rnn-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::env::set_current_dir(&dir)?;
    {
        network! {
            pub Model<seq_len = 8> = Sequential[ LSTM(10, 20), LSTM(20, 20), Linear(20, 5), LogSoftMax ];
        }
        let names = rnn_core::io::TorchNames::new().recurrent("rnn", 0, 2).module("head", 2);
        Model::new(7).save_state_dict("model.safetensors", &names)?;
    }
    // README
use rnn_core::io::TorchNames;
use rnn_core::prelude::*;

network! {
    pub Model<seq_len = 8> = Sequential[ LSTM(10, 20), LSTM(20, 20), Linear(20, 5), LogSoftMax ];
}
let names = TorchNames::new().recurrent("rnn", 0, 2).module("head", 2);
let mut net = Model::new(0);
net.load_state_dict("model.safetensors", &names)?;   // every problem listed, nothing changed on error
net.save_state_dict("ours.safetensors", &names)?;    // and back
    // END
    assert_eq!(std::fs::read("ours.safetensors")?, std::fs::read("model.safetensors")?);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
#[rustfmt::skip]
fn weights_compiled_in() {
    // README
use rnn_core::prelude::*;

network! {
    pub Amp<seq_len = 64,   // the file's path is relative to Cargo.toml
            weights = "tests/fixtures/state_dicts/amp_residual.safetensors",
            names = [recurrent_at("rec", "0.0", 1), module_at("lin", "0.1")]> =
        Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
}
let mut amp = Amp::pretrained();   // no file, no parsing at run time; no_std too
    // END
    let y = amp.step(&SMatrix::<f32, 1, 1>::new(0.5));
    assert!(y[(0, 0)].is_finite());
}

/// Runs `f` on a thread with the 8 MiB of stack a program's main thread has (the snippet's
/// shard data, 130 KB arrays, are built on the stack in a debug build).
fn as_main(f: fn() -> Result<(), Box<dyn Error>>) -> Result<(), Box<dyn Error>> {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || f().map_err(|e| e.to_string()))?
        .join()
        .expect("no panic")
        .map_err(Into::into)
}

/// Run without `mpirun`: MPI's singleton mode, one rank holding the 4 shards.
#[cfg(feature = "mpi")]
#[test]
fn beyond_one_machine_over_mpi() -> Result<(), Box<dyn Error>> {
    as_main(over_mpi)
}

#[cfg(feature = "mpi")]
#[rustfmt::skip]
fn over_mpi() -> Result<(), Box<dyn Error>> {
    type Inputs = [SMatrix<f32, 8, 16>; 16];
    type Targets = [SMatrix<f32, 4, 16>; 16];
    let part = |step: usize, k: usize| -> (Inputs, Targets) {
        let x = std::array::from_fn(|t| SMatrix::from_fn(|i, b| ((i + b + t + k + step) % 5) as f32 * 0.2));
        let y = std::array::from_fn(|t| SMatrix::from_fn(|o, b| ((o + b + t + k) % 3) as f32 * 0.5));
        (x, y)
    };
    let steps = 2;
    // README
use rnn_core::distributed::{mpi, MpiDataParallel};
use rnn_core::parallel::Threads;
use rnn_core::prelude::*;

network! { pub Shard<seq_len = 16, batch = 16> = Sequential[ LSTM(8, 32), Linear(32, 4) ]; }

let universe = mpi::initialize().expect("MPI");
let world = universe.world();
let mut net = Shard::new(1);                        // the same seed on every rank
// 4 shards of 16 (a mini-batch of 64), whatever the number of ranks; `part(k)` is shard k's
// data (yours: here inputs and targets), made for this rank's shards only.
let mut par = MpiDataParallel::new(&world, &mut net, 4, Threads::Auto, |k| part(0, k),
    |net: &mut Shard, (x, y): &mut (Inputs, Targets)| {
        let crit = SequencerCriterion::new(Mse::default());
        let out = net.forward(x);
        let loss = crit.forward(out, y);
        let grads = crit.backward(out, y);
        net.backward_parameters(x, &grads);
        f64::from(loss)
    })?;
let opt = Adam::new(1e-3)?;
for step in 0..steps {
    for k in par.local_shards() {                   // this rank's shards, the job's numbering
        *par.shard(k).expect("local").data() = part(step, k);
    }
    net.zero_grad_parameters();
    let loss = par.accumulate_gradients(&mut net)?; // every shard's gradient, on every rank
    opt.step(&mut net)?;
    println!("step {step}: loss {loss:.3}");
}
    // END
    net.check_finite()?;
    Ok(())
}

#[test]
fn every_core_data_parallel_training() -> Result<(), Box<dyn Error>> {
    as_main(data_parallel)
}

#[rustfmt::skip]
fn data_parallel() -> Result<(), Box<dyn Error>> {
    type Inputs = [SMatrix<f32, 64, 32>; 16];
    type Targets = [[Class<10>; 32]; 16];
    let mut k = 0;
    let mut next_half = move || -> (Inputs, Targets) {
        k += 1;
        let x = std::array::from_fn(|t| SMatrix::from_fn(|i, b| ((i + b + t + k) % 7) as f32 * 0.1));
        let y = std::array::from_fn(|t| std::array::from_fn(|b| Class::new((t + b + k) % 10).expect("< 10")));
        (x, y)
    };
    let (first_half, second_half) = (next_half(), next_half());
    let steps = 2;
    // README
use rnn_core::parallel::{DataParallel, Threads};
use rnn_core::prelude::*;

network! { pub Shard<seq_len = 16, batch = 32> = Sequential[ LSTM(64, 128), Linear(128, 10), LogSoftMax ]; }

let mut net = Shard::new(1);
let crit = SequencerCriterion::new(ClassNll::default());
// Two shards of 32: a mini-batch of 64. Each shard's data is yours: here (inputs, targets).
let mut par = DataParallel::new(&net, vec![first_half, second_half], Threads::Auto,
    move |net: &mut Shard, (x, y): &mut (Inputs, Targets)| {
        let out = net.forward(x);
        let loss = crit.forward(out, y);
        let grads = crit.backward(out, y);  // a new Vec; backward_into reuses a buffer
        net.backward_parameters(x, &grads);
        f64::from(loss)
    })?;
let opt = Adam::new(1e-3)?;
for step in 0..steps {
    *par.shard(0).data() = next_half();     // fill the shards (no allocation)
    *par.shard(1).data() = next_half();
    net.zero_grad_parameters();
    let loss = par.accumulate_gradients(&mut net)?;   // replicas synced, run, gradients summed
    opt.step(&mut net)?;
    println!("step {step}: loss {loss:.3}");
}
    // END
    net.check_finite()?;
    Ok(())
}
