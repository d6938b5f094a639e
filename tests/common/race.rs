//! For tests that race threads against each other: a small reservation
//! that makes growth remap often, a seeded generator, and a stop flag that
//! is raised even when the thread that should raise it panics.

use std::sync::atomic::{AtomicBool, Ordering};

/// A small reservation, so that growing past it forces new windows.
pub const SMALL_RESERVE: u64 = 64 << 10;

/// splitmix64's finaliser: a cheap, good hash of a `u64`.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A deterministic pseudo-random generator (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(mix(seed))
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform-ish in `0..n`; `n > 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Sets the flag when dropped, so that the other threads stop even if the
/// one holding it panics.
pub struct SetOnDrop<'a>(pub &'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}
