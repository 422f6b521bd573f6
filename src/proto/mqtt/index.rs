//! A small hash index over one of a session's kept lists (published
//! topics, subscription filters, unsubscribed filters): a PUBLISH finds its
//! row with one hash and usually one string comparison instead of
//! comparing its topic with every kept topic (up to 256 per session).
//!
//! Rows are only ever appended to their list, in the order first seen, and
//! all go together; so the index holds row numbers only and never removes
//! one. The caller hashes keys and decides equality: the index knows
//! nothing about strings.

/// Open addressing with linear probing. A slot holds `row + 1`, 0 is empty.
/// At most half the slots are used, so probe sequences stay short and
/// always reach an empty slot.
#[derive(Debug, Default)]
pub(super) struct RowIndex {
    slots: Vec<u16>,
}

impl RowIndex {
    /// The row, among those added with `hash`, for which `is` holds.
    pub fn find(&self, hash: u64, mut is: impl FnMut(usize) -> bool) -> Option<usize> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut i = hash as usize & mask;
        loop {
            let row = usize::from(self.slots[i]).checked_sub(1)?;
            if is(row) {
                return Some(row);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `row` (the list's new last row, so rows `0..row` are in the
    /// index) under `hash`. When the table must grow, the earlier rows are
    /// put back with `hash_of`: this allocates, as creating the row itself
    /// does, and only about log2(rows) times per session.
    pub fn add(&mut self, row: usize, hash: u64, hash_of: impl Fn(usize) -> u64) {
        let want = (2 * (row + 1)).next_power_of_two().max(8);
        if want > self.slots.len() {
            self.slots.clear();
            self.slots.resize(want, 0);
            for r in 0..row {
                self.put(r, hash_of(r));
            }
        }
        self.put(row, hash);
    }

    /// Forgets every row (keeps the table's size for the next session).
    pub fn clear(&mut self) {
        self.slots.fill(0);
    }

    fn put(&mut self, row: usize, hash: u64) {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        // Lists are capped far below u16::MAX rows.
        self.slots[i] = u16::try_from(row + 1).unwrap_or(u16::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::RowIndex;

    #[test]
    fn finds_every_row_through_collisions_and_growth() {
        let mut ix = RowIndex::default();
        // Keys 0..300 with only 4 distinct hashes: long collision chains.
        let hash = |k: usize| (k % 4) as u64;
        for row in 0..300 {
            assert_eq!(ix.find(hash(row), |r| r == row), None);
            ix.add(row, hash(row), hash);
        }
        for row in 0..300 {
            assert_eq!(ix.find(hash(row), |r| r == row), Some(row));
        }
        assert_eq!(ix.find(1, |_| false), None);
        ix.clear();
        assert_eq!(ix.find(hash(7), |r| r == 7), None);
        ix.add(0, 9, |_| unreachable!("nothing to move"));
        assert_eq!(ix.find(9, |r| r == 0), Some(0));
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        assert_eq!(RowIndex::default().find(3, |_| true), None);
    }
}
