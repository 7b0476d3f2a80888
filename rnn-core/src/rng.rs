//! A small seeded random number generator (SplitMix64) for initialisation and dropout masks.
//!
//! It is deterministic across platforms for a given seed. It is not Torch's generator, so the
//! same seed gives different numbers than Torch; the distributions are the same.

/// SplitMix64: 64 bits of state, passes BigCrush, and is trivially seedable.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform sample from `[0, 1)` with 53 random bits.
    pub fn uniform01(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform sample from `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform01()
    }

    /// A standard normal sample (Box-Muller, from two uniform draws).
    pub fn normal(&mut self) -> f64 {
        use crate::float::f64m;
        let u1 = 1.0 - self.uniform01(); // in (0, 1]: ln is finite
        let u2 = self.uniform01();
        f64m::sqrt(-2.0 * f64m::ln(u1)) * f64m::cos(core::f64::consts::TAU * u2)
    }

    /// An independent generator derived from this one (for a sub-module).
    #[must_use]
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_samples_have_mean_0_and_variance_1() {
        let mut r = Rng::new(5);
        let xs: alloc::vec::Vec<f64> = (0..20_000).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.03, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
        assert!(xs.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn same_seed_same_sequence_and_uniform_range() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let x = a.uniform(-0.5, 0.5);
            assert_eq!(x, b.uniform(-0.5, 0.5));
            assert!((-0.5..0.5).contains(&x));
            sum += x;
        }
        assert!((sum / 10_000.0).abs() < 0.02, "mean {}", sum / 10_000.0);
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
