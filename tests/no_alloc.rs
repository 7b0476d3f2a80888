//! After `new`, training makes no heap allocation: forward, criterion, backward and update
//! (plain, SGD with momentum, Adam with gradient clipping), whole-sequence and online.

use rnn_core::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the allocations of the thread that set `COUNTING`.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

network! {
    /// The seed network.
    pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// With dropout and a GRU, batch 4.
    pub Other<seq_len = 8, batch = 4> =
        Sequential[ GRU(10, 16), Dropout(0.5), Linear(16, 5), LogSoftMax ];
}

#[test]
fn a_training_step_makes_no_heap_allocation() {
    let counted = allocations(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8))));
    assert_eq!(counted, 1, "the counter sees allocations");
    let mut net = Tagger::new(42);
    let crit = SequencerCriterion::new(ClassNll::default());
    let inputs = [SMatrix::<f32, 10, 1>::from_element(0.25); 8];
    let targets: [[Class<5>; 1]; 8] = std::array::from_fn(|t| [Class::new(t % 5).unwrap()]);
    let (sgd, adam) = (
        Sgd {
            lr: 0.1,
            momentum: 0.9,
            ..Sgd::default()
        },
        Adam::default(),
    );
    let mut losses = Vec::with_capacity(3);
    // The caller's gradient buffer, made once (`crit.backward` would return a new `Vec`).
    let mut grads = vec![SMatrix::zeros(); 8];
    let n = allocations(|| {
        for round in 0..3 {
            net.zero_grad_parameters();
            let outputs = net.forward(&inputs);
            let loss = crit.forward(outputs, &targets);
            crit.backward_into(outputs, &targets, &mut grads);
            net.backward(&inputs, &grads);
            match round {
                0 => net.update_parameters(0.1),
                1 => sgd.step(&mut net).expect("valid SGD"),
                _ => {
                    clip_grad_norm(&mut net, 1.0).expect("finite gradients");
                    // Switching optimisers is explicit (else an error).
                    rnn_core::optim::reset_state(&mut net);
                    adam.step(&mut net).expect("valid Adam");
                }
            }
            losses.push(loss);
        }
    });
    assert_eq!(n, 0, "allocations during training steps");
    assert!(losses.iter().all(|l| l.is_finite()));

    let mut other = Other::new(1);
    let xs = [SMatrix::<f32, 10, 4>::from_element(0.5); 8];
    let gys = [SMatrix::<f32, 5, 4>::from_element(0.1); 8];
    let n = allocations(|| {
        other.zero_grad_parameters();
        other.forward(&xs);
        other.backward(&xs, &gys);
        other.update_parameters(0.01);
        // A shorter sequence: a slice of the caller's buffers.
        other.forward(&xs[..5]);
        other.backward(&xs[..5], &gys[..5]);
        other.forward(&xs);
        other.backward_parameters(&xs, &gys);
        // Online: step and backward_step.
        other.forget();
        for x in &xs {
            other.step(x);
        }
        for (x, g) in xs.iter().zip(&gys).rev() {
            other.backward_step(x, g);
        }
        other.update_parameters(0.01);
    });
    assert_eq!(n, 0, "allocations during online training");
}

rnn_core::network! {
    /// An amp-shaped model for `process_block`.
    pub Amp<seq_len = 4> = Sequential[ LSTM(1, 16), Linear(16, 1) ];
    /// NAM's smallest shape: the fused block that keeps its state in registers
    /// (`rnn_core::block`).
    pub Amp2<seq_len = 4> = Sequential[ LSTM(1, 2), Linear(2, 1) ];
}

#[test]
fn process_block_makes_no_heap_allocation() {
    use rnn_core::prelude::*;
    fn check<N>(mut amp: N)
    where
        N: Online + Network<Scalar = f32, Input = SMatrix<f32, 1, 1>, Output = SMatrix<f32, 1, 1>>,
    {
        amp.evaluate();
        let mut buf = [0.25f32; 64];
        amp.process_block(&mut buf);
        let n = allocations(|| {
            for _ in 0..10 {
                amp.process_block(&mut buf);
            }
        });
        assert_eq!(n, 0, "allocations while processing blocks");
    }
    check(Amp::new(1));
    check(Amp2::new(1));
}
