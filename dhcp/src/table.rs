//! Open addressing with linear probing and backward-shift deletion over caller
//! storage, shared by the lease tables of both servers. No tombstones: a removal
//! moves later members of the probe chain back, so lookups stay short however many
//! leases come and go.

/// A slot of a probing table.
pub(crate) trait Slot: Copy {
    /// The empty slot.
    const EMPTY: Self;
    /// The home index of the entry in this slot (`None` when empty).
    fn home(&self, n: usize) -> Option<usize>;
}

/// Empties slot `i` and shifts later entries of its probe chain back.
pub(crate) fn remove<S: Slot>(slots: &mut [S], i: usize) {
    let n = slots.len();
    let Some(s) = slots.get_mut(i) else { return };
    *s = S::EMPTY;
    let mut hole = i;
    let mut j = i;
    for _ in 1..n {
        j = (j + 1) % n;
        let Some(cur) = slots.get(j).copied() else {
            return;
        };
        let Some(at) = cur.home(n) else { return };
        // the entry may move into the hole unless its home lies cyclically in (hole, j]
        let stays = if hole <= j {
            hole < at && at <= j
        } else {
            hole < at || at <= j
        };
        if !stays {
            if let Some(h) = slots.get_mut(hole) {
                *h = cur;
            }
            if let Some(c) = slots.get_mut(j) {
                *c = S::EMPTY;
            }
            hole = j;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    extern crate std;
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct S(Option<u32>);
    impl Slot for S {
        const EMPTY: Self = Self(None);
        fn home(&self, n: usize) -> Option<usize> {
            self.0.map(|v| v as usize % n)
        }
    }

    fn find(t: &[S], v: u32) -> Option<usize> {
        let n = t.len();
        (0..n)
            .map(|k| (v as usize % n + k) % n)
            .take_while(|i| t[*i].0.is_some())
            .find(|i| t[*i].0 == Some(v))
    }

    proptest::proptest! {
        #[test]
        fn probing_with_backward_shift(ops in proptest::collection::vec((proptest::prelude::any::<bool>(), 0u32..40), 0..200)) {
            let mut t = [S(None); 13];
            let mut model = std::collections::BTreeSet::new();
            for (ins, v) in ops {
                if ins {
                    if find(&t, v).is_none() && model.len() < t.len() {
                        let n = t.len();
                        let i = (0..n).map(|k| (v as usize % n + k) % n).find(|i| t[*i].0.is_none()).unwrap();
                        t[i] = S(Some(v));
                        model.insert(v);
                    }
                } else if let Some(i) = find(&t, v) {
                    remove(&mut t, i);
                    model.remove(&v);
                }
                for m in &model {
                    proptest::prop_assert!(find(&t, *m).is_some(), "lost {}", m);
                }
                proptest::prop_assert_eq!(t.iter().filter(|s| s.0.is_some()).count(), model.len());
            }
        }
    }
}
