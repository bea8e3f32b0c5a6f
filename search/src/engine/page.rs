//! Keyset paging. Every match has a sort key, `(primary, id)`, ordered
//! ascending: distance first with a centre, negated relevance with text,
//! else nothing but the id. A cursor is a key and a direction: the page
//! after it or the page before it. Unlike an offset, a key stays put when
//! records are added or removed before it, which is what makes "follow
//! `next` until null yields every match exactly once" hold while the
//! index changes underneath.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::EngineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Distance,
    Relevance,
    Id,
}

impl SortKey {
    fn tag(self) -> char {
        match self {
            SortKey::Distance => 'd',
            SortKey::Relevance => 'r',
            SortKey::Id => 'i',
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Key {
    pub primary: f64,
    pub id: i64,
}

impl Key {
    pub fn order(&self, other: &Key) -> Ordering {
        self.primary
            .total_cmp(&other.primary)
            .then(self.id.cmp(&other.id))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    After,
    Before,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub sort: SortKey,
    pub direction: Direction,
    pub key: Key,
}

impl Cursor {
    /// Opaque to clients: base64url of `<sort><dir><primary bits>.<id>`.
    /// The float's bits are kept exactly, so no match is skipped or
    /// repeated at a page boundary by a rounding.
    pub fn encode(&self) -> String {
        let dir = match self.direction {
            Direction::After => 'a',
            Direction::Before => 'b',
        };
        let raw = format!(
            "{}{}{:x}.{}",
            self.sort.tag(),
            dir,
            self.key.primary.to_bits(),
            self.key.id
        );
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(raw: &str, sort: SortKey) -> Result<Cursor, EngineError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| EngineError::BadCursor)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| EngineError::BadCursor)?;
        let mut chars = text.chars();
        if chars.next() != Some(sort.tag()) {
            return Err(EngineError::BadCursor);
        }
        let direction = match chars.next() {
            Some('a') => Direction::After,
            Some('b') => Direction::Before,
            _ => return Err(EngineError::BadCursor),
        };
        let (bits, id) = chars
            .as_str()
            .split_once('.')
            .ok_or(EngineError::BadCursor)?;
        let bits = u64::from_str_radix(bits, 16).map_err(|_| EngineError::BadCursor)?;
        let id = id.parse().map_err(|_| EngineError::BadCursor)?;
        Ok(Cursor {
            sort,
            direction,
            key: Key {
                primary: f64::from_bits(bits),
                id,
            },
        })
    }
}

/// Keeps the page a cursor asks for while matches stream past in any
/// order: the `per_page + 1` nearest keys on the cursor's side (one extra
/// to learn whether the page has a successor), and a count of the keys on
/// the other side (to learn whether it has a predecessor).
pub struct PageWindow<T> {
    cursor: Option<(Direction, Key)>,
    capacity: usize,
    heap: BinaryHeap<Entry<T>>,
    behind: u64,
}

struct Entry<T> {
    key: Key,
    /// +1: the heap's top is the largest key (kept: the smallest);
    /// -1: the reverse, for pages before a cursor.
    sign: i8,
    value: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        let o = self.key.order(&other.key);
        if self.sign > 0 { o } else { o.reverse() }
    }
}

impl<T> PageWindow<T> {
    pub fn new(cursor: Option<&Cursor>, per_page: usize) -> Self {
        Self {
            cursor: cursor.map(|c| (c.direction, c.key)),
            capacity: per_page + 1,
            heap: BinaryHeap::with_capacity(per_page + 2),
            behind: 0,
        }
    }

    fn sign(&self) -> i8 {
        match self.cursor {
            Some((Direction::Before, _)) => -1,
            _ => 1,
        }
    }

    /// Whether `key` could enter the page; lets a caller skip work
    /// (reading a stored document) for keys that cannot.
    pub fn wants(&self, key: &Key) -> bool {
        if let Some((dir, at)) = &self.cursor {
            let side = key.order(at);
            let ok = match dir {
                Direction::After => side == Ordering::Greater,
                Direction::Before => side == Ordering::Less,
            };
            if !ok {
                return false;
            }
        }
        if self.heap.len() < self.capacity {
            return true;
        }
        let worst = &self.heap.peek().expect("full heap").key;
        if self.sign() > 0 {
            key.order(worst) == Ordering::Less
        } else {
            key.order(worst) == Ordering::Greater
        }
    }

    pub fn offer(&mut self, key: Key, value: impl FnOnce() -> T) {
        if !self.wants(&key) {
            if self.cursor.is_some() && !self.on_page_side(&key) {
                self.behind += 1;
            }
            return;
        }
        let sign = self.sign();
        self.heap.push(Entry {
            key,
            sign,
            value: value(),
        });
        if self.heap.len() > self.capacity {
            self.heap.pop();
        }
    }

    fn on_page_side(&self, key: &Key) -> bool {
        match &self.cursor {
            None => true,
            Some((Direction::After, at)) => key.order(at) == Ordering::Greater,
            Some((Direction::Before, at)) => key.order(at) == Ordering::Less,
        }
    }

    /// Merges another window over a disjoint set of matches (another
    /// segment or shard) with the same cursor.
    pub fn merge(&mut self, other: PageWindow<T>) {
        self.behind += other.behind;
        for e in other.heap {
            if self.wants(&e.key) {
                self.heap.push(e);
                if self.heap.len() > self.capacity {
                    self.heap.pop();
                }
            }
        }
    }

    /// The page in ascending key order, and whether matches exist before
    /// and after it.
    pub fn finish(self, per_page: usize) -> (Vec<(Key, T)>, bool, bool) {
        let sign = self.sign();
        let mut entries: Vec<Entry<T>> = self.heap.into_vec();
        entries.sort_by(|a, b| a.key.order(&b.key));
        let overflow = entries.len() > per_page;
        if overflow {
            if sign > 0 {
                entries.truncate(per_page);
            } else {
                entries.drain(..entries.len() - per_page);
            }
        }
        let behind = self.behind > 0;
        let (has_previous, has_next) = match self.cursor {
            None => (false, overflow),
            Some((Direction::After, _)) => (behind, overflow),
            Some((Direction::Before, _)) => (overflow, behind),
        };
        (
            entries.into_iter().map(|e| (e.key, e.value)).collect(),
            has_previous,
            has_next,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: f64, id: i64) -> Key {
        Key { primary: p, id }
    }

    fn page(all: &[Key], cursor: Option<Cursor>, n: usize) -> (Vec<i64>, bool, bool) {
        let mut w = PageWindow::new(cursor.as_ref(), n);
        for k in all {
            w.offer(*k, || ());
        }
        let (items, prev, next) = w.finish(n);
        (items.iter().map(|(k, _)| k.id).collect(), prev, next)
    }

    #[test]
    fn following_next_then_previous_walks_the_whole_order() {
        // Ties in the primary key are broken by id.
        let all: Vec<Key> = [
            (2.0, 5),
            (1.0, 9),
            (2.0, 3),
            (0.5, 7),
            (3.0, 1),
            (2.0, 4),
            (1.0, 2),
        ]
        .iter()
        .map(|&(p, id)| key(p, id))
        .collect();
        let (p1, prev, next) = page(&all, None, 3);
        assert_eq!((p1.clone(), prev, next), (vec![7, 2, 9], false, true));
        let after = |id: i64| Cursor {
            sort: SortKey::Distance,
            direction: Direction::After,
            key: *all.iter().find(|k| k.id == id).unwrap(),
        };
        let (p2, prev, next) = page(&all, Some(after(9)), 3);
        assert_eq!((p2, prev, next), (vec![3, 4, 5], true, true));
        let (p3, prev, next) = page(&all, Some(after(5)), 3);
        assert_eq!((p3, prev, next), (vec![1], true, false));
        let before = Cursor {
            direction: Direction::Before,
            ..after(3)
        };
        assert_eq!(page(&all, Some(before), 3), (vec![7, 2, 9], false, true));
    }

    #[test]
    fn cursors_round_trip_exactly_and_refuse_other_sorts() {
        let c = Cursor {
            sort: SortKey::Distance,
            direction: Direction::Before,
            key: key(1.0 / 3.0, 42),
        };
        assert_eq!(Cursor::decode(&c.encode(), SortKey::Distance).unwrap(), c);
        assert!(Cursor::decode(&c.encode(), SortKey::Id).is_err());
        assert!(Cursor::decode("not a cursor", SortKey::Id).is_err());
    }
}
