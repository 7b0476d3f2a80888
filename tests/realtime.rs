//! What a real-time audio thread needs of an online step: after construction and one warm-up
//! step, 10 000 steps make no system call (so they cannot block in the kernel, page in a file
//! or wait on a contended lock), checked by running them in a child process in seccomp's
//! strict mode, where any system call but `read`, `write`, `exit` and `sigreturn` kills the
//! process. (`no_alloc.rs` counts allocations; an uncontended lock makes no system call, so
//! the steps' code holds none: the only locks in rnn-core are `DataParallel`'s and the
//! one-time kernel choice's, made at construction.)
#![cfg(target_os = "linux")]

use rnn_core::prelude::*;
use std::hint::black_box;

network! {
    /// The seed network.
    pub Seed<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// The seed network with a GRU.
    pub SeedGru<seq_len = 8> = Sequential[ GRU(10, 20), Linear(20, 5), LogSoftMax ];
    /// Amp-style models: one sample in, one out.
    pub AmpGru<seq_len = 8> = Sequential[ GRU(1, 16), Linear(16, 1) ];
    /// The same with an LSTM.
    pub AmpLstm<seq_len = 8> = Sequential[ LSTM(1, 32), Linear(32, 1) ];
    /// NAM's smallest shape: the fused block that keeps its state in registers
    /// (`rnn_core::block`).
    pub AmpLstm2<seq_len = 8> = Sequential[ LSTM(1, 2), Linear(2, 1) ];
}

/// Runs `f` in a forked child in seccomp strict mode and returns what it computed, or why the
/// child did not finish (a system call kills it with `SIGKILL`).
fn without_system_calls(f: impl FnOnce() -> f32) -> Result<f32, String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: the child runs `f` (no allocation, no lock: what is tested) and only raw
    // system calls after it; the parent waits for it.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // The child: from here on only `read`, `write`, `exit` and `sigreturn` are allowed.
        // SAFETY: plain system calls on descriptors this process owns; `SYS_exit` ends the
        // process (its only thread) without running the parent's destructors.
        unsafe {
            libc::close(fds[0]);
            if libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_STRICT) != 0 {
                libc::syscall(libc::SYS_exit, 3);
            }
            let bits = f().to_bits().to_le_bytes();
            libc::write(fds[1], bits.as_ptr().cast(), bits.len());
            libc::syscall(libc::SYS_exit, 0);
        }
        unreachable!("the child exits");
    }
    let mut bits = [0u8; 4];
    // SAFETY: reads into `bits` from the pipe's read end; waits for the child forked above.
    let (read, status) = unsafe {
        libc::close(fds[1]);
        let read = libc::read(fds[0], bits.as_mut_ptr().cast(), bits.len());
        libc::close(fds[0]);
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid, "waitpid");
        (read, status)
    };
    if libc::WIFSIGNALED(status) {
        return Err(format!(
            "killed by signal {}: a system call",
            libc::WTERMSIG(status)
        ));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 || read != 4 {
        return Err(format!("exit status {status}, {read} bytes"));
    }
    Ok(f32::from_bits(u32::from_le_bytes(bits)))
}

/// 10 000 online steps of `net` (built and warmed up by the caller) on a varying input in the
/// child; the sum of the last outputs' first elements.
fn steps<N, const I: usize, const O: usize>(net: &mut N) -> Result<f32, String>
where
    N: Online<Scalar = f32, Input = SMatrix<f32, I, 1>, Output = SMatrix<f32, O, 1>>,
{
    without_system_calls(|| {
        let mut sum = 0.0;
        for k in 0..10_000u16 {
            let x = SMatrix::<f32, I, 1>::from_element((f32::from(k % 97) - 48.0) / 64.0);
            sum += net.step(black_box(&x))[0];
        }
        sum
    })
}

/// Builds `N`, takes one warm-up step in evaluation mode (and, if `train`, switches back to
/// training mode, where each step is recorded for backpropagation), then checks the steps.
fn check<N, const I: usize, const O: usize>(mut net: N, name: &str, train: bool)
where
    N: Online<Scalar = f32, Input = SMatrix<f32, I, 1>, Output = SMatrix<f32, O, 1>>
        + Network<Scalar = f32>,
{
    net.evaluate();
    net.step(&SMatrix::from_element(0.1));
    if train {
        net.training();
    }
    let sum = steps(&mut net).unwrap_or_else(|why| panic!("{name}: {why}"));
    assert!(sum.is_finite(), "{name}: {sum}");
}

#[test]
fn online_steps_make_no_system_call() {
    check(Seed::new(1), "seed", false);
    check(Seed::new(1), "seed, training mode", true);
    check(SeedGru::new(2), "GRU", false);
    check(AmpGru::new(3), "GRU(1, 16) -> Linear(16, 1)", false);
    check(AmpLstm::new(4), "LSTM(1, 32) -> Linear(32, 1)", false);
}

/// The check can fail: a step followed by a system call (`sched_yield`) is caught, and the
/// child's result reaches the parent when there is none.
#[test]
fn a_system_call_in_the_child_is_caught() {
    let mut net = AmpGru::new(3);
    net.evaluate();
    net.step(&SMatrix::from_element(0.1));
    let caught = without_system_calls(|| {
        let y = net.step(&SMatrix::from_element(0.2))[0];
        std::thread::yield_now();
        y
    });
    assert!(caught.is_err(), "{caught:?}");
    // The child stepped its copy of `net`; the parent's is where the warm-up left it.
    let got = without_system_calls(|| net.step(&SMatrix::from_element(0.2))[0]);
    assert_eq!(got, Ok(net.step(&SMatrix::from_element(0.2))[0]));
}

/// An audio callback's call: `process_block` over 64-sample buffers, 200 of them, after one
/// warm-up block, makes no system call either.
#[test]
fn process_block_makes_no_system_call() {
    process_blocks_without_system_calls(AmpLstm::new(5));
    process_blocks_without_system_calls(AmpLstm2::new(5));
}

fn process_blocks_without_system_calls<N>(mut amp: N)
where
    N: Online + Network<Scalar = f32, Input = SMatrix<f32, 1, 1>, Output = SMatrix<f32, 1, 1>>,
{
    amp.evaluate();
    let mut warm = [0.1f32; 64];
    amp.process_block(&mut warm);
    let got = without_system_calls(|| {
        let mut buf = [0.0f32; 64];
        let mut sum = 0.0;
        for k in 0..200 {
            for (i, x) in buf.iter_mut().enumerate() {
                *x = ((k * 64 + i) as f32 * 0.01).sin();
            }
            amp.process_block(black_box(&mut buf));
            sum += buf.iter().sum::<f32>();
        }
        sum
    });
    assert!(got.as_ref().is_ok_and(|s| s.is_finite()), "{got:?}");
}
