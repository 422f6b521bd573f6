//! Which alerts an output has already written: an alert is written again
//! under its id whenever its evidence grows, and EVE, syslog and the
//! metrics each take only its first write.

use std::collections::BTreeSet;

/// How many alert ids are remembered one by one.
pub const REMEMBERED: usize = 1 << 16;

// The raiser holds at most MAX_OPEN new alerts back, so ids arrive at most
// that far out of order: far fewer than the ids remembered.
const _: () = assert!(REMEMBERED >= 8 * crate::policy::raise::MAX_OPEN);

/// The alert ids already taken: the last [`REMEMBERED`] one by one, and
/// below them every id up to the highest one forgotten. Alert ids increase
/// (the raiser numbers them in order), so a later write of an old alert is
/// still recognised after its id left the set.
#[derive(Debug, Default)]
pub struct FirstWrites {
    recent: BTreeSet<u64>,
    /// Every id at or below this counts as taken.
    floor: Option<u64>,
}

impl FirstWrites {
    /// Whether `id` is new (it is remembered).
    pub fn first(&mut self, id: u64) -> bool {
        if self.floor.is_some_and(|f| id <= f) || !self.recent.insert(id) {
            return false;
        }
        if self.recent.len() > REMEMBERED {
            self.floor = self.recent.pop_first();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_id_is_first_once_and_the_memory_stays_bounded() {
        let mut ids = FirstWrites::default();
        assert!(ids.first(5));
        assert!(!ids.first(5));
        assert!(ids.first(3), "out of order is still new");
        for id in 10..10 + REMEMBERED as u64 {
            assert!(ids.first(id));
        }
        assert!(ids.recent.len() <= REMEMBERED);
        assert!(!ids.first(3), "forgotten, but below the floor: taken");
        assert!(!ids.first(10 + REMEMBERED as u64 - 1));
        assert!(ids.first(20 + REMEMBERED as u64));
    }
}
