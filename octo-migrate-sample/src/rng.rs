//! A tiny seeded PRNG (SplitMix64): sample backups must never depend on the OS RNG, so that the
//! same seed always gives the same bytes.

/// SplitMix64 (Steele, Lea, Flood 2014): 64 bits of state, good enough statistics for test data,
/// trivially reproducible on every platform.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// An independent generator for the sub-stream `(a, b)` of `seed`: the same inputs always
    /// give the same stream, whatever else was drawn before.
    pub(crate) fn derive(seed: u64, a: u64, b: u64) -> SplitMix64 {
        let mut s = SplitMix64(seed ^ 0x6a09_e667_f3bc_c908);
        let x = s.next_u64() ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut s = SplitMix64(x);
        let y = s.next_u64() ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        SplitMix64(y)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..hi` (`lo < hi`).
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo < hi);
        lo + self.below((hi - lo) as u64) as i64
    }

    /// True with probability `num / den`.
    pub(crate) fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// 16 bytes: an IV.
    pub(crate) fn iv(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        self.fill(&mut b);
        b
    }

    /// A version-4-shaped GUID in its usual lowercase text form.
    pub(crate) fn guid(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.iv())
            .into_uuid()
            .to_string()
    }

    /// `n` uppercase hex digits (a thumbprint).
    pub(crate) fn hex(&mut self, n: usize) -> String {
        const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
        (0..n)
            .map(|_| DIGITS[self.below(16) as usize] as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_and_spread() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = SplitMix64::new(42);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut r = SplitMix64::new(42);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        // Reference value of SplitMix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut r = SplitMix64::new(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            seen[r.below(10) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_ne!(
            SplitMix64::derive(1, 2, 3).next_u64(),
            SplitMix64::derive(1, 3, 2).next_u64()
        );
    }
}
