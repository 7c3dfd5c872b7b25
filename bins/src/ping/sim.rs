//! Reproducible network impairment for the echo server: a SplitMix64
//! generator and the per-datagram loss/delay decision drawn from it.

use std::time::Duration;

/// SplitMix64 pseudo-random generator (Steele, Lea and Flood), tiny and
/// fully determined by its seed.
///
/// ```
/// use reactor_bins::ping::sim::SplitMix64;
/// let mut a = SplitMix64::new(1);
/// let mut b = SplitMix64::new(1);
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// Creates a generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform float in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What happens to one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Silently dropped.
    Drop,
    /// Delivered after this delay.
    Deliver(Duration),
}

/// Loss and delay settings plus the generator that decides each datagram's fate.
///
/// Every datagram consumes exactly two random numbers (one for loss, one for
/// delay), so the sequence of fates depends only on the seed and settings.
///
/// ```
/// use reactor_bins::ping::sim::{Fate, Impairment};
/// use std::time::Duration;
/// let mut none = Impairment::new(0.0, Duration::ZERO, Duration::ZERO, 7);
/// assert_eq!(none.next_fate(), Fate::Deliver(Duration::ZERO));
/// let mut all = Impairment::new(100.0, Duration::ZERO, Duration::ZERO, 7);
/// assert_eq!(all.next_fate(), Fate::Drop);
/// ```
#[derive(Debug, Clone)]
pub struct Impairment {
    loss_percent: f64,
    delay_min: Duration,
    delay_max: Duration,
    rng: SplitMix64,
}

impl Impairment {
    /// Loss in percent (0–100), delay drawn uniformly from `[delay_min, delay_max]`.
    pub fn new(loss_percent: f64, delay_min: Duration, delay_max: Duration, seed: u64) -> Self {
        Impairment {
            loss_percent,
            delay_min,
            delay_max: delay_max.max(delay_min),
            rng: SplitMix64::new(seed),
        }
    }

    /// Decides the fate of the next datagram.
    pub fn next_fate(&mut self) -> Fate {
        let lost = self.rng.next_f64() * 100.0 < self.loss_percent;
        let spread = self.delay_max - self.delay_min;
        let delay = self.delay_min + spread.mul_f64(self.rng.next_f64());
        if lost {
            Fate::Drop
        } else {
            Fate::Deliver(delay)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_values() {
        // Reference outputs of the published SplitMix64 for seed 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn floats_are_in_unit_interval() {
        let mut rng = SplitMix64::new(99);
        for _ in 0..10_000 {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn loss_rate_is_roughly_honoured_and_reproducible() {
        let fates = |seed| {
            let mut imp = Impairment::new(
                30.0,
                Duration::from_millis(5),
                Duration::from_millis(9),
                seed,
            );
            (0..10_000).map(|_| imp.next_fate()).collect::<Vec<_>>()
        };
        let run = fates(1);
        assert_eq!(run, fates(1));
        assert_ne!(run, fates(2));
        let dropped = run.iter().filter(|f| **f == Fate::Drop).count();
        assert!((2_500..3_500).contains(&dropped), "{dropped}");
        for fate in run {
            if let Fate::Deliver(d) = fate {
                assert!(d >= Duration::from_millis(5) && d <= Duration::from_millis(9));
            }
        }
    }
}
