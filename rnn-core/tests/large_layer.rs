//! A large layer trains on an ordinary 2 MiB test thread: parameters are created in place on
//! the heap and no step moves a large matrix through the stack.

use nalgebra::SMatrix;
use rnn_core::gradcheck::forward_once;
use rnn_core::layer::BackwardStep;
use rnn_core::layers::{Lstm, LstmCache, LstmState};
use rnn_core::optim::{Optimizer, Sgd};
use rnn_core::{Layer, Parameterized, Rng, ZeroInit};

#[test]
fn lstm_512_trains_one_step_on_a_2_mib_thread() {
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            // 2 x (2048 x 512) f32 weights = 8 MiB of parameters, 32 MiB with grads and moments.
            let mut lstm = Lstm::<f32, 512, 512, 2048>::new(&mut Rng::new(1));
            assert_eq!(lstm.num_parameters(), 2 * 2048 * 512 + 2 * 2048);
            let x = SMatrix::<f32, 512, 1>::from_fn(|i, _| ((i + 1) as f32 * 0.01).sin());
            let prev = LstmState::zero_init();
            let mut next = LstmState::zero_init();
            let mut cache = LstmCache::zero_init();
            let mut y = SMatrix::<f32, 512, 1>::zeros();
            forward_once(&mut lstm, &x, (&prev, &mut next), &mut cache, &mut y, true);
            let before = lstm.params.weight_ih.value[(0, 0)];
            let gy = SMatrix::<f32, 512, 1>::from_element(1.0);
            let mut g_prev = LstmState::zero_init();
            let mut gx = SMatrix::<f32, 512, 1>::zeros();
            let step = BackwardStep {
                x: &x,
                y: &y,
                prev: &prev,
                next: &next,
                cache: &mut cache,
                gy: &gy,
                gx: &mut gx,
                input_grad: true,
            };
            lstm.backward_step(step, &LstmState::zero_init(), &mut g_prev, false);
            Sgd {
                lr: 0.1,
                momentum: 0.9,
                ..Sgd::default()
            }
            .step(&mut lstm)
            .expect("valid SGD");
            assert!(y.iter().all(|v| v.is_finite()) && gx.iter().all(|v| v.is_finite()));
            assert_ne!(
                lstm.params.weight_ih.value[(0, 0)],
                before,
                "the update changed the weights"
            );
        })
        .expect("spawn");
    worker
        .join()
        .expect("the step ran without overflowing its 2 MiB stack");
}
