//! A model trained in PyTorch, loaded from its `state_dict` file as PyTorch saved it, gives
//! PyTorch's outputs here.
//!
//! `examples/from_pytorch_model/train.py` (run by hand; its outputs are committed) trains
//!
//! ```python
//! class Model(nn.Module):
//!     def __init__(self):
//!         super().__init__()
//!         self.gru = nn.GRU(1, 8, batch_first=True)
//!         self.head = nn.Linear(8, 1)
//! ```
//!
//! to predict the next sample of a noisy sine wave, and saves
//! `safetensors.torch.save_file(model.state_dict(), "model.safetensors")` with the model's
//! outputs on a test sequence. Here the same network is one line of the DSL, and the file is
//! compiled in: `weights = "..."` in the network's header reads it when the crate builds,
//! checks every name, dtype and shape against the network (a mismatch is a compile error at
//! that line), and `Model::pretrained()` builds the network with it: no file to ship, nothing
//! parsed at run time. `names = [ ... ]` maps the module's names onto layer indices, as
//! `TorchNames` does for a file loaded at run time (`--weights` below).
//!
//! Run: `cargo run --release --example from_pytorch` (`-- --help` for the flags).

// Only the flags and the check: this example does not train, so it has no progress bar.
#[allow(dead_code)]
mod common;

use clap::Parser;
use rnn_core::gradcheck::Fixture;
use rnn_core::io::TorchNames;
use rnn_core::prelude::*;

const T: usize = 32;

network! {
    /// `self.gru = nn.GRU(1, 8, batch_first=True); self.head = nn.Linear(8, 1)`, with the
    /// trained weights compiled in.
    pub Model<seq_len = 32, weights = "examples/from_pytorch_model/model.safetensors",
              names = [recurrent("gru", 0, 1), module("head", 1)]> =
        Sequential[ GRU(1, 8), Linear(8, 1) ];
}

/// Load a PyTorch state_dict and compare outputs with PyTorch's.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: common::Common,
    /// Load this state_dict file at run time instead of the one compiled in (the committed
    /// one beside train.py).
    #[arg(long)]
    weights: Option<std::path::PathBuf>,
}

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // `self.gru` (an nn.GRU: `_l0` suffixes) is layer 0, `self.head` layer 1.
    let names = TorchNames::new().recurrent("gru", 0, 1).module("head", 1);
    let mut net = match &args.weights {
        Some(path) => {
            let mut net = Model::new(args.common.seed);
            net.load_state_dict(path, &names)?;
            net
        }
        None => Model::pretrained(),
    };
    for p in net.parameters() {
        println!(
            "{:<22} <- {:<20} {:?}",
            p.name.to_string(),
            names.torch_name(&p.name.to_string())?,
            p.kind.torch_shape(p.value.nrows(), p.value.ncols())
        );
    }
    let fx = Fixture::parse(include_str!("from_pytorch_model/torch_outputs.txt"));
    let x = fx.get("x");
    let inputs: [SMatrix<f32, 1, 1>; T] =
        std::array::from_fn(|t| SMatrix::<f32, 1, 1>::new(x[t] as f32));
    net.evaluate();
    let outputs = net.forward(&inputs).to_vec();
    // The speed of the loaded model: the same sequence, many times over.
    let runs = if args.common.quick { 1_000 } else { 100_000 };
    let start = std::time::Instant::now();
    for _ in 0..runs {
        std::hint::black_box(net.forward(std::hint::black_box(&inputs)));
    }
    let per_step = start.elapsed().as_secs_f64() / (runs * T) as f64;
    println!("\n step   input  PyTorch     ours   |difference|");
    let mut worst = 0.0f64;
    for (t, (torch, ours)) in fx.get("y").iter().zip(outputs.iter()).enumerate() {
        let diff = (torch - f64::from(ours[0])).abs();
        worst = worst.max(diff);
        if !(6..T - 3).contains(&t) {
            println!(
                "{t:>5} {:>7.4} {torch:>8.5} {:>8.5}   {diff:.1e}",
                x[t], ours[0]
            );
        } else if t == 6 {
            println!("  ...");
        }
    }
    println!(
        "\nlargest difference to PyTorch {worst:.1e}; {:.3} us per step here ({:.1} M samples/s, \
         {runs} sequences of {T} steps)",
        per_step * 1e6,
        1e-6 / per_step
    );
    common::check(
        worst < 1e-5,
        format!("the outputs equal PyTorch's to 1e-5 (largest difference {worst:.1e})"),
    )
}
