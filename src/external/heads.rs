//! What each external blob's first bytes say (its array's shape and type, or why it is
//! corrupt), by hash: a listing sizes `.npy` files from them without fetching whole objects.
//! Content-addressed, so a head once known is kept; a head that could not be fetched is asked
//! again after the refresh delay.

use std::collections::HashMap;
use std::time::Instant;

use crate::cache::ByteLru;
use crate::codec::{classify_blob, BlobShape};
use crate::namespace::BlobHead;

pub struct BlobHeads {
    /// Bounded by bytes: a head dropped is fetched again when a listing needs it.
    known: ByteLru<Vec<u8>, BlobHead>,
    /// Why a head could not be fetched, and when.
    failures: HashMap<Vec<u8>, (Instant, String)>,
}

impl BlobHeads {
    pub fn new(budget: usize) -> BlobHeads {
        BlobHeads {
            known: ByteLru::new(budget),
            failures: HashMap::new(),
        }
    }

    fn put(&mut self, hash: Vec<u8>, head: BlobHead) {
        // A shape is a few numbers; a corrupt head's reason a line of text.
        let bytes = 128 + hash.len();
        self.known.put(hash, head, bytes);
    }

    /// (known, failed).
    pub fn len(&self) -> (usize, usize) {
        (self.known.len(), self.failures.len())
    }

    /// What a listing shows of the blob `hash`.
    pub fn head(&mut self, hash: &[u8]) -> BlobHead {
        match self.known.get(hash) {
            Some(head) => head.clone(),
            None => BlobHead::Unavailable(
                self.failures
                    .get(hash)
                    .map(|(_, why)| why.clone())
                    .unwrap_or_else(|| "not fetched".into()),
            ),
        }
    }

    /// Whether the head of `hash` should be fetched: unknown, and not failed lately (`fresh`).
    pub fn wanted(&self, hash: &[u8], fresh: impl Fn(Instant) -> bool) -> bool {
        self.known.peek(hash).is_none()
            && !self.failures.get(hash).is_some_and(|(at, _)| fresh(*at))
    }

    /// The first bytes of a blob of `size` bytes were fetched (or why not).
    pub fn learned(&mut self, at: Instant, hash: Vec<u8>, size: u64, got: Result<Vec<u8>, String>) {
        match got {
            Ok(head) => {
                let head = match classify_blob(&head, size) {
                    Ok(shape) => BlobHead::Known(shape),
                    Err(e) => BlobHead::Corrupt(e.to_string()),
                };
                self.failures.remove(&hash);
                self.put(hash, head);
            }
            Err(reason) => {
                self.failures.insert(hash, (at, reason));
            }
        }
    }

    /// A blob written through this mount: its head is known without fetching.
    pub fn written(&mut self, hash: Vec<u8>, shape: BlobShape) {
        self.put(hash, BlobHead::Known(shape));
    }
}
