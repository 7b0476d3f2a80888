//! The same LSTM -> Linear -> LogSoftMax networks in candle (`candle-nn`'s LSTM, autograd,
//! SGD), for the side-by-side benchmark. Built only with `--features candle`.

use candle_core::{D, DType, Device, Tensor};
use candle_nn::rnn::{LSTM, LSTMConfig, LSTMState, RNN};
use candle_nn::{Linear, Module, Optimizer, SGD, VarBuilder, VarMap};

/// LSTM(i, h) -> Linear(h, o) -> LogSoftMax on the CPU, batch `b`.
pub struct CandleLstm {
    lstm: LSTM,
    linear: Linear,
    opt: SGD,
    dims: (usize, usize, usize, usize),
}

impl CandleLstm {
    /// A freshly initialised network (candle's default initialisation).
    #[must_use]
    pub fn new(i: usize, h: usize, o: usize, b: usize) -> Self {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let lstm = candle_nn::lstm(i, h, LSTMConfig::default(), vb.pp("lstm")).expect("lstm");
        let linear = candle_nn::linear(h, o, vb.pp("linear")).expect("linear");
        let opt = SGD::new(varmap.all_vars(), 0.01).expect("sgd");
        Self {
            lstm,
            linear,
            opt,
            dims: (i, h, o, b),
        }
    }

    /// A random step input `b x i`.
    #[must_use]
    pub fn random_step(&self, seed: u64) -> Tensor {
        let (i, _, _, b) = self.dims;
        let _ = seed;
        Tensor::rand(-1f32, 1f32, (b, i), &Device::Cpu).expect("rand")
    }

    /// A random sequence `b x t x i` (batch first, as candle's `seq` takes it).
    #[must_use]
    pub fn random_sequence(&self, seed: u64, t: usize) -> Tensor {
        let (i, _, _, b) = self.dims;
        let _ = seed;
        Tensor::rand(-1f32, 1f32, (b, t, i), &Device::Cpu).expect("rand")
    }

    /// Targets `(t + b) % o` per step, as `u32` tensors of `b` classes.
    #[must_use]
    pub fn targets(&self, t: usize) -> Vec<Tensor> {
        let (_, _, o, b) = self.dims;
        (0..t)
            .map(|s| {
                let v: Vec<u32> = (0..b).map(|k| ((s + k) % o) as u32).collect();
                Tensor::from_vec(v, b, &Device::Cpu).expect("targets")
            })
            .collect()
    }

    /// A zero state.
    #[must_use]
    pub fn zero_state(&self) -> LSTMState {
        self.lstm.zero_state(self.dims.3).expect("zero state")
    }

    /// One online step: the new state (its log-probabilities are computed and dropped).
    #[must_use]
    pub fn step(&self, x: &Tensor, state: &LSTMState) -> LSTMState {
        let next = self.lstm.step(x, state).expect("step");
        let y = self.linear.forward(next.h()).expect("linear");
        let _ = candle_nn::ops::log_softmax(&y, D::Minus1).expect("log_softmax");
        next
    }

    /// Log-probabilities of every step, `b x t x o`.
    fn outputs(&self, xs: &Tensor) -> Tensor {
        let states = self.lstm.seq(xs).expect("seq");
        let hs = self.lstm.states_to_tensor(&states).expect("stack");
        let y = self.linear.forward(&hs).expect("linear");
        candle_nn::ops::log_softmax(&y, D::Minus1).expect("log_softmax")
    }

    /// The whole sequence without gradients; returns the number of output elements.
    #[must_use]
    pub fn forward(&self, xs: &Tensor) -> usize {
        self.outputs(xs).elem_count()
    }

    /// Forward, summed per-step NLL, backward and an SGD step; returns the loss.
    pub fn train_step(&mut self, xs: &Tensor, targets: &[Tensor]) -> f32 {
        let out = self.outputs(xs);
        let mut loss: Option<Tensor> = None;
        for (t, target) in targets.iter().enumerate() {
            let step = out
                .narrow(1, t, 1)
                .and_then(|s| s.squeeze(1)?.contiguous())
                .expect("step");
            let l = candle_nn::loss::nll(&step, target).expect("nll");
            loss = Some(match loss {
                Some(acc) => (acc + l).expect("add"),
                None => l,
            });
        }
        let loss = loss.expect("at least one step");
        self.opt.backward_step(&loss).expect("backward");
        loss.to_scalar::<f32>().expect("scalar")
    }
}
