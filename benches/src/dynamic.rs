//! The seed network with runtime shapes (`DMatrix`), written the way a dynamic library computes
//! it: every product allocates its result, activations are scalar libm calls. Same maths as
//! `network!`'s LSTM -> Linear -> LogSoftMax (PyTorch gate order, two biases).

use nalgebra::{DMatrix, DVector};

/// LSTM(i, h) -> Linear(h, o) -> LogSoftMax with runtime sizes.
pub struct DynSeed {
    h: usize,
    pub w_ih: DMatrix<f32>,
    pub w_hh: DMatrix<f32>,
    pub b_ih: DVector<f32>,
    pub b_hh: DVector<f32>,
    pub w: DMatrix<f32>,
    pub b: DVector<f32>,
    /// Gradients of `w_ih, w_hh, b_ih, b_hh, w, b` (biases as one-column matrices).
    pub grads: [DMatrix<f32>; 6],
    // Per-step values of the last forward.
    xs: Vec<DMatrix<f32>>,
    gates: Vec<DMatrix<f32>>,
    cs: Vec<DMatrix<f32>>,
    hs: Vec<DMatrix<f32>>,
    ys: Vec<DMatrix<f32>>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn add_bias(m: &mut DMatrix<f32>, b: &DVector<f32>) {
    for mut c in m.column_iter_mut() {
        c += b;
    }
}

impl DynSeed {
    /// Weights from a generated seed network's parameters (in visiting order).
    #[must_use]
    pub fn from_params(params: &[rnn_core::ParamRef<'_, f32>]) -> Self {
        let m = |k: usize| params[k].value.clone_owned();
        let v = |k: usize| {
            DVector::from_iterator(params[k].value.len(), params[k].value.iter().copied())
        };
        let (w_ih, w_hh, b_ih, b_hh, w, b) = (m(0), m(1), v(2), v(3), m(4), v(5));
        let h = w_hh.ncols();
        let z = |r: usize, c: usize| DMatrix::zeros(r, c);
        let grads = [
            z(4 * h, w_ih.ncols()),
            z(4 * h, h),
            z(4 * h, 1),
            z(4 * h, 1),
            z(w.nrows(), h),
            z(w.nrows(), 1),
        ];
        Self {
            h,
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            w,
            b,
            grads,
            xs: vec![],
            gates: vec![],
            cs: vec![],
            hs: vec![],
            ys: vec![],
        }
    }

    /// Forward over the sequence from a zero state; returns the log-probabilities per step.
    pub fn forward(&mut self, xs: &[DMatrix<f32>]) -> &[DMatrix<f32>] {
        let (h, batch) = (self.h, xs[0].ncols());
        self.xs = xs.to_vec();
        self.gates.clear();
        self.cs = vec![DMatrix::zeros(h, batch)];
        self.hs = vec![DMatrix::zeros(h, batch)];
        self.ys.clear();
        for x in xs {
            let hp = self.hs.last().expect("h0");
            let mut a = &self.w_ih * x + &self.w_hh * hp;
            add_bias(&mut a, &self.b_ih);
            add_bias(&mut a, &self.b_hh);
            for mut col in a.column_iter_mut() {
                for j in 0..h {
                    col[j] = sigmoid(col[j]);
                    col[h + j] = sigmoid(col[h + j]);
                    col[2 * h + j] = col[2 * h + j].tanh();
                    col[3 * h + j] = sigmoid(col[3 * h + j]);
                }
            }
            let (i, f) = (a.rows(0, h), a.rows(h, h));
            let (g, o) = (a.rows(2 * h, h), a.rows(3 * h, h));
            let c = f.component_mul(self.cs.last().expect("c0")) + i.component_mul(&g);
            let hn = o.component_mul(&c.map(f32::tanh));
            let mut y = &self.w * &hn;
            add_bias(&mut y, &self.b);
            for mut col in y.column_iter_mut() {
                let m = col.max();
                let l = m + col.map(|v| (v - m).exp()).sum().ln();
                col.apply(|v| *v -= l);
            }
            self.gates.push(a);
            self.cs.push(c);
            self.hs.push(hn);
            self.ys.push(y);
        }
        &self.ys
    }

    /// BPTT for output gradients `gys`; accumulates weight gradients, returns input gradients.
    pub fn backward(&mut self, gys: &[DMatrix<f32>]) -> Vec<DMatrix<f32>> {
        let (h, batch) = (self.h, gys[0].ncols());
        let mut gx = vec![DMatrix::zeros(self.w_ih.ncols(), batch); gys.len()];
        let (mut dh_next, mut dc_next) = (
            DMatrix::<f32>::zeros(h, batch),
            DMatrix::<f32>::zeros(h, batch),
        );
        for t in (0..gys.len()).rev() {
            let y = &self.ys[t];
            let mut gz = gys[t].clone();
            for (mut gcol, ycol) in gz.column_iter_mut().zip(y.column_iter()) {
                let s = gcol.sum();
                gcol.zip_apply(&ycol, |g, yv| *g -= yv.exp() * s);
            }
            self.grads[4] += &gz * self.hs[t + 1].transpose();
            self.grads[5] += gz.column_sum();
            let dh = self.w.transpose() * &gz + &dh_next;
            let a = &self.gates[t];
            let tc = self.cs[t + 1].map(f32::tanh);
            let mut da = DMatrix::<f32>::zeros(4 * h, batch);
            let mut dc_prev = DMatrix::<f32>::zeros(h, batch);
            for b in 0..batch {
                for j in 0..h {
                    let (i, f, g, o) = (
                        a[(j, b)],
                        a[(h + j, b)],
                        a[(2 * h + j, b)],
                        a[(3 * h + j, b)],
                    );
                    let dc = dc_next[(j, b)] + dh[(j, b)] * o * (1.0 - tc[(j, b)] * tc[(j, b)]);
                    da[(j, b)] = dc * g * i * (1.0 - i);
                    da[(h + j, b)] = dc * self.cs[t][(j, b)] * f * (1.0 - f);
                    da[(2 * h + j, b)] = dc * i * (1.0 - g * g);
                    da[(3 * h + j, b)] = dh[(j, b)] * tc[(j, b)] * o * (1.0 - o);
                    dc_prev[(j, b)] = dc * f;
                }
            }
            gx[t] = self.w_ih.transpose() * &da;
            dh_next = self.w_hh.transpose() * &da;
            dc_next = dc_prev;
            self.grads[0] += &da * self.xs[t].transpose();
            self.grads[1] += &da * self.hs[t].transpose();
            let s = da.column_sum();
            self.grads[2] += &s;
            self.grads[3] += &s;
        }
        gx
    }

    /// `p -= lr * g` for every parameter.
    pub fn update(&mut self, lr: f32) {
        let [g0, g1, g2, g3, g4, g5] = &self.grads;
        self.w_ih -= g0 * lr;
        self.w_hh -= g1 * lr;
        self.b_ih -= g2.column(0) * lr;
        self.b_hh -= g3.column(0) * lr;
        self.w -= g4 * lr;
        self.b -= g5.column(0) * lr;
    }

    /// Sets every gradient to zero.
    pub fn zero_grad(&mut self) {
        for g in &mut self.grads {
            g.fill(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SeedB1, T, inputs};
    use rnn_core::prelude::*;

    /// The baseline computes what the generated network computes (so the benchmark compares
    /// equal work).
    #[test]
    fn matches_the_generated_network() {
        let mut net = SeedB1::new(3);
        let mut dynamic = DynSeed::from_params(&net.parameters());
        let xs = inputs::<10, 1>(1);
        let gys = inputs::<5, 1>(2);
        let ys = net.forward(&xs).to_vec();
        net.zero_grad_parameters();
        let gxs = net.backward(&xs, &gys).to_vec();
        let dxs: Vec<DMatrix<f32>> = xs
            .iter()
            .map(|x| DMatrix::from_column_slice(10, 1, x.as_slice()))
            .collect();
        let dgys: Vec<DMatrix<f32>> = gys
            .iter()
            .map(|x| DMatrix::from_column_slice(5, 1, x.as_slice()))
            .collect();
        let dys = dynamic.forward(&dxs).to_vec();
        let dgxs = dynamic.backward(&dgys);
        for t in 0..T {
            assert!((&dys[t] - DMatrix::from_column_slice(5, 1, ys[t].as_slice())).amax() < 1e-5);
            assert!(
                (&dgxs[t] - DMatrix::from_column_slice(10, 1, gxs[t].as_slice())).amax() < 1e-5
            );
        }
        for (k, p) in net.parameters().iter().enumerate() {
            let grad = p.grad.as_ref().expect("a trained network has gradients");
            let ours = DMatrix::from_column_slice(
                grad.nrows(),
                grad.ncols(),
                grad.clone_owned().as_slice(),
            );
            assert!((&dynamic.grads[k] - ours).amax() < 1e-4, "{}", p.name);
        }
    }
}
