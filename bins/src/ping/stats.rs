//! Reply statistics and their iputils-compatible formatting.
//!
//! Round-trip times are kept in whole microseconds and summarised with the
//! same integer arithmetic as iputils `ping`, so `min/avg/max/mdev` agree to
//! the last printed digit.

use std::io::{self, Write};
use std::time::Duration;

/// Counters and round-trip sums for one ping run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Requests sent.
    pub transmitted: u64,
    /// Distinct requests answered within their timeout.
    pub received: u64,
    /// Extra copies of replies already received.
    pub duplicates: u64,
    /// Replies that arrived after their request had timed out.
    pub late: u64,
    /// Requests answered by an error such as ICMP port unreachable.
    pub errors: u64,
    rtt_count: u64,
    tsum: u128,
    tsum2: u128,
    tmin: u64,
    tmax: u64,
}

/// Round-trip summary in microseconds: minimum, average, maximum and mean deviation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttSummary {
    /// Smallest round-trip time.
    pub min: u64,
    /// Average round-trip time (integer division, as iputils).
    pub avg: u64,
    /// Largest round-trip time.
    pub max: u64,
    /// iputils' "mdev": the integer square root of the variance.
    pub mdev: u64,
}

impl Stats {
    /// Adds one round-trip time (a reply or a duplicate) to the sums.
    pub fn record_rtt(&mut self, rtt: Duration) {
        let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        if self.rtt_count == 0 || us < self.tmin {
            self.tmin = us;
        }
        self.tmax = self.tmax.max(us);
        self.rtt_count += 1;
        self.tsum += u128::from(us);
        self.tsum2 += u128::from(us) * u128::from(us);
    }

    /// Percentage of transmitted requests without an in-time reply.
    pub fn loss_percent(&self) -> f64 {
        if self.transmitted == 0 {
            return 0.0;
        }
        let lost = self.transmitted.saturating_sub(self.received) as f64;
        // iputils narrows to `float` before printing with %g.
        (lost * 100.0 / self.transmitted as f64) as f32 as f64
    }

    /// The `min/avg/max/mdev` summary, or `None` before the first round trip.
    ///
    /// ```
    /// use reactor_bins::ping::stats::Stats;
    /// use std::time::Duration;
    /// let mut stats = Stats::default();
    /// for us in [1000, 2000, 3000] {
    ///     stats.record_rtt(Duration::from_micros(us));
    /// }
    /// let rtt = stats.rtt_summary().unwrap();
    /// assert_eq!((rtt.min, rtt.avg, rtt.max, rtt.mdev), (1000, 2000, 3000, 816));
    /// ```
    pub fn rtt_summary(&self) -> Option<RttSummary> {
        if self.rtt_count == 0 {
            return None;
        }
        let total = u128::from(self.rtt_count);
        let avg = self.tsum / total;
        let var = if self.tsum < i32::MAX as u128 {
            // iputils' order of operations, which avoids rounding small times away.
            self.tsum2.saturating_sub(self.tsum * self.tsum / total) / total
        } else {
            (self.tsum2 / total).saturating_sub(avg * avg)
        };
        Some(RttSummary {
            min: self.tmin,
            avg: u64::try_from(avg).unwrap_or(u64::MAX),
            max: self.tmax,
            mdev: u64::try_from(isqrt(var)).unwrap_or(u64::MAX),
        })
    }

    /// Writes the closing block: a blank line, `--- HOST ping statistics ---`,
    /// the packet line and, after any reply, the `rtt` line. `elapsed` is the
    /// time from the first to the last transmission, as iputils reports it.
    pub fn write_summary(
        &self,
        out: &mut dyn Write,
        host: &str,
        elapsed: Duration,
    ) -> io::Result<()> {
        writeln!(out)?;
        writeln!(out, "--- {host} ping statistics ---")?;
        write!(
            out,
            "{} packets transmitted, {} received",
            self.transmitted, self.received
        )?;
        for (count, what) in [
            (self.duplicates, "duplicates"),
            (self.errors, "errors"),
            (self.late, "late"),
        ] {
            if count > 0 {
                write!(out, ", +{count} {what}")?;
            }
        }
        if self.transmitted > 0 {
            let ms = (elapsed.as_micros() + 500) / 1000;
            write!(
                out,
                ", {}% packet loss, time {ms}ms",
                format_g(self.loss_percent())
            )?;
        }
        writeln!(out)?;
        if let Some(rtt) = self.rtt_summary().filter(|_| self.received > 0) {
            write!(
                out,
                "rtt min/avg/max/mdev = {}/{}/{}/{} ms",
                millis3(rtt.min),
                millis3(rtt.avg),
                millis3(rtt.max),
                millis3(rtt.mdev)
            )?;
        }
        writeln!(out)?;
        out.flush()
    }
}

/// Formats a round-trip time in milliseconds the way iputils prints `time=`:
/// three decimals below 1 ms, two below 10 ms, one below 100 ms, none above.
///
/// ```
/// use reactor_bins::ping::stats::format_rtt;
/// use std::time::Duration;
/// assert_eq!(format_rtt(Duration::from_micros(45)), "0.045");
/// assert_eq!(format_rtt(Duration::from_micros(1234)), "1.23");
/// assert_eq!(format_rtt(Duration::from_micros(12345)), "12.3");
/// assert_eq!(format_rtt(Duration::from_micros(123456)), "123");
/// ```
pub fn format_rtt(rtt: Duration) -> String {
    let us = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX / 2);
    if us >= 100_000 - 50 {
        format!("{}", (us + 500) / 1000)
    } else if us >= 10_000 - 5 {
        format!("{}.{:01}", (us + 50) / 1000, ((us + 50) % 1000) / 100)
    } else if us >= 1000 {
        format!("{}.{:02}", (us + 5) / 1000, ((us + 5) % 1000) / 10)
    } else {
        millis3(us)
    }
}

/// Microseconds as `MS.mmm` (truncated, as iputils prints its summary).
fn millis3(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// C's `%g`: six significant digits, trailing zeros removed.
fn format_g(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let sci = format!("{value:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.abs());
    }
    let decimals = usize::try_from(5 - exp).unwrap_or(0);
    trim_zeros(&format!("{value:.decimals$}")).to_string()
}

/// Drops trailing fractional zeros and a bare trailing point.
fn trim_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

/// Integer square root (floor), by Newton's method as iputils' `llsqrt`.
fn isqrt(a: u128) -> u128 {
    if a == 0 {
        return 0;
    }
    let mut x = a;
    let mut prev = u128::MAX;
    while x < prev {
        prev = x;
        x = (x + a / x) / 2;
    }
    prev.min(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_of(rtts_us: &[u64]) -> Stats {
        let mut stats = Stats::default();
        for &us in rtts_us {
            stats.record_rtt(Duration::from_micros(us));
        }
        stats
    }

    #[test]
    fn mdev_matches_iputils_arithmetic() {
        // Values from a real iputils run: 0.036/0.045/0.050/0.006 style numbers.
        let rtt = stats_of(&[36, 50, 49]).rtt_summary().unwrap();
        // tsum=135, tsum2=1296+2500+2401=6197, var=(6197-135*135/3)/3=(6197-6075)/3=40, sqrt=6
        assert_eq!((rtt.min, rtt.avg, rtt.max, rtt.mdev), (36, 45, 50, 6));
        let rtt = stats_of(&[10_000, 20_000]).rtt_summary().unwrap();
        assert_eq!((rtt.avg, rtt.mdev), (15_000, 5_000));
        let rtt = stats_of(&[777]).rtt_summary().unwrap();
        assert_eq!((rtt.min, rtt.avg, rtt.max, rtt.mdev), (777, 777, 777, 0));
    }

    #[test]
    fn large_sums_use_the_second_formula() {
        // tsum above i32::MAX: 3 rtts of 1000 s each have zero deviation.
        let rtt = stats_of(&[1_000_000_000; 3]).rtt_summary().unwrap();
        assert_eq!((rtt.avg, rtt.mdev), (1_000_000_000, 0));
        let rtt = stats_of(&[1_000_000_000, 3_000_000_000])
            .rtt_summary()
            .unwrap();
        assert_eq!((rtt.avg, rtt.mdev), (2_000_000_000, 1_000_000_000));
    }

    #[test]
    fn isqrt_is_floor_sqrt() {
        for n in 0u128..2000 {
            let r = isqrt(n);
            assert!(r * r <= n && (r + 1) * (r + 1) > n, "{n}");
        }
        assert_eq!(
            isqrt(u128::from(u64::MAX) * u128::from(u64::MAX)),
            u128::from(u64::MAX)
        );
    }

    #[test]
    fn rtt_decimal_rules_follow_iputils() {
        let cases = [
            (0, "0.000"),
            (999, "0.999"),
            (1000, "1.00"),
            (9994, "9.99"),
            (9995, "10.0"),
            (99_949, "99.9"),
            (99_950, "100"),
            (1_234_567, "1235"),
        ];
        for (us, want) in cases {
            assert_eq!(format_rtt(Duration::from_micros(us)), want, "{us} us");
        }
    }

    #[test]
    fn loss_is_printed_like_percent_g() {
        let loss = |tx, rx| {
            format_g(
                Stats {
                    transmitted: tx,
                    received: rx,
                    ..Stats::default()
                }
                .loss_percent(),
            )
        };
        assert_eq!(loss(5, 5), "0");
        assert_eq!(loss(5, 4), "20");
        assert_eq!(loss(3, 2), "33.3333");
        assert_eq!(loss(3, 1), "66.6667");
        assert_eq!(loss(3, 0), "100");
        assert_eq!(loss(200_000, 199_999), "0.0005");
        assert_eq!(loss(10_000_000, 9_999_999), "1e-05");
    }

    #[test]
    fn summary_block_is_iputils_shaped() {
        let mut stats = stats_of(&[36, 50, 49, 50]);
        stats.transmitted = 4;
        stats.received = 3;
        stats.duplicates = 1;
        let mut out = Vec::new();
        stats
            .write_summary(&mut out, "localhost", Duration::from_micros(3_002_600))
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\n--- localhost ping statistics ---\n\
             4 packets transmitted, 3 received, +1 duplicates, 25% packet loss, time 3003ms\n\
             rtt min/avg/max/mdev = 0.036/0.046/0.050/0.005 ms\n"
        );
    }

    #[test]
    fn summary_without_replies_has_no_rtt_line() {
        let stats = Stats {
            transmitted: 2,
            late: 2,
            ..Stats::default()
        };
        let mut out = Vec::new();
        stats
            .write_summary(&mut out, "h", Duration::from_millis(1000))
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\n--- h ping statistics ---\n\
             2 packets transmitted, 0 received, +2 late, 100% packet loss, time 1000ms\n\n"
        );
    }
}
