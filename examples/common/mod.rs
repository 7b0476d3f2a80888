//! What every example shares: its common flags (`--quick`, `--seed`), a progress bar that
//! stays quiet when the output is not a terminal, and the check a `--quick` run ends with.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Flags every example takes.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// A short run (what CI runs) that checks the example's claim and exits non-zero if it
    /// does not hold.
    #[arg(long)]
    pub quick: bool,
    /// Seed of the initialisation and of the data order.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// A progress bar over `len` units of work named `unit` (sequences, characters, ...), with
/// the loss in its message, elapsed time and throughput; hidden unless stderr is a terminal.
pub fn progress(len: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    let template = format!(
        "{{elapsed_precise}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}) {{msg}}"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Prints `text` as a line of its own above the bar (or plainly when the bar is hidden).
pub fn say(bar: &ProgressBar, text: impl std::fmt::Display) {
    bar.suspend(|| println!("{text}"));
}

/// The example's exit: on error, the library's message (its `Display`, then each source
/// error's) on standard error and status 1, not `main`'s debug print of the value.
pub fn exit(result: Result<(), Box<dyn std::error::Error>>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let mut said = e.to_string();
            eprintln!("error: {said}");
            let mut source = e.source();
            while let Some(cause) = source {
                // Many errors already include their source's message.
                let text = cause.to_string();
                if !said.contains(&text) {
                    eprintln!("  caused by: {text}");
                    said = text;
                }
                source = cause.source();
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// `Ok` if `holds`, else the claim that failed (the example then exits with status 1).
pub fn check(holds: bool, claim: impl Into<String>) -> Result<(), Box<dyn std::error::Error>> {
    if holds {
        Ok(())
    } else {
        Err(format!("check failed: {}", claim.into()).into())
    }
}
