//! Owner ids unique to a test: tests run in parallel on one shared backend (one moto, one
//! process's memory clouds), so each keeps to its own owner instead of relying on a reset.

use std::sync::atomic::{AtomicU32, Ordering};
use strato_core::OwnerId;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// `{prefix}-p{process id}-{n}`: unique to this process and call, and across processes
/// sharing a backend at the same time.
pub fn unique_owner(prefix: &str) -> OwnerId {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    OwnerId::new(format!("{prefix}-p{}-{n}", std::process::id())).expect("valid owner")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_distinct_and_carry_the_prefix() {
        let a = unique_owner("t");
        let b = unique_owner("t");
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("t-p"), "{a:?}");
    }
}
