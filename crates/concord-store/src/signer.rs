//! Ed25519 signing of the audit chain head with nonces prepared ahead of time.
//!
//! Why: every write transaction re-signs the chain head while it holds the database's write
//! lock, and a standard Ed25519 signature (RFC 8032 §5.1.6) spends almost all of its time on
//! one fixed-base scalar multiplication, `R = r·B` — about 40 µs on this project's reference
//! machine, 16 % of a labelling cycle (a lease and a submission) when done inside the lock.
//! `R` does not depend on the message, so a background thread computes `(r, R)` pairs in
//! advance and the signature inside the lock costs one SHA-512 and a scalar multiply-add.
//! The thread refills the pool in batches (woken when it falls to half), not one nonce per
//! signature: waking it for every signature cost about as much CPU in the scheduler as the
//! nonces themselves (perf, 100,000 submissions).
//!
//! The nonce `r` is drawn uniformly from the operating system's random source instead of
//! being derived from the key and the message (RFC 8032's deterministic nonce). Verification
//! is unchanged — any verifier accepts the signature — and the security argument is the one of
//! Schnorr signatures with random nonces: `r` must be secret, uniform and never reused, which
//! a fresh 512-bit draw reduced modulo ℓ gives. Signatures are therefore not reproducible bit
//! for bit; nothing depends on that (event hashes do not include the signature).

use crate::{StoreError, StoreResult};
use curve25519_dalek::{EdwardsPoint, Scalar};
use ed25519_dalek::hazmat::ExpandedSecretKey;
use ed25519_dalek::{Signature, SigningKey};
use sha2::{Digest, Sha512};
use std::sync::{Arc, Condvar, Mutex};

/// Prepared nonces kept ready at most; enough for a burst of transactions.
const POOL: usize = 256;

/// The pool size at which the filling thread is woken.
const LOW_WATER: usize = POOL / 2;

/// A nonce and its commitment.
struct Nonce {
    r: Scalar,
    big_r: [u8; 32],
}

fn fresh_nonce() -> StoreResult<Nonce> {
    let mut wide = [0u8; 64];
    getrandom::fill(&mut wide)
        .map_err(|e| StoreError::Audit(format!("no random source for a signature nonce: {e}")))?;
    let r = Scalar::from_bytes_mod_order_wide(&wide);
    let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
    Ok(Nonce { r, big_r })
}

/// Nonces shared between the signer and the thread that fills them in.
struct Pool {
    ready: Mutex<Ready>,
    /// Signals the filling thread that the pool fell to [`LOW_WATER`] or the signer is gone.
    low: Condvar,
}

struct Ready {
    nonces: Vec<Nonce>,
    /// The signer was dropped: the thread stops.
    closed: bool,
}

/// Signs with an Ed25519 key, taking nonces from a background thread when it has some ready.
pub(crate) struct HeadSigner {
    expanded: ExpandedSecretKey,
    public: [u8; 32],
    pool: Arc<Pool>,
}

impl HeadSigner {
    pub(crate) fn new(key: &SigningKey) -> Self {
        let pool = Arc::new(Pool {
            ready: Mutex::new(Ready {
                nonces: Vec::with_capacity(POOL),
                closed: false,
            }),
            low: Condvar::new(),
        });
        let filled = Arc::clone(&pool);
        std::thread::Builder::new()
            .name("concord-audit-nonces".into())
            .spawn(move || fill(&filled))
            .expect("the nonce thread starts");
        Self {
            expanded: ExpandedSecretKey::from(&key.to_bytes()),
            public: key.verifying_key().to_bytes(),
            pool,
        }
    }

    /// An Ed25519 signature of `message` that the public key verifies.
    pub(crate) fn sign(&self, message: &[u8]) -> StoreResult<Signature> {
        let ready = {
            let mut ready = self.pool.ready.lock().expect("nonce pool");
            let nonce = ready.nonces.pop();
            if ready.nonces.len() == LOW_WATER {
                self.pool.low.notify_one();
            }
            nonce
        };
        let nonce = match ready {
            Some(n) => n,
            None => fresh_nonce()?,
        };
        let mut h = Sha512::new();
        h.update(nonce.big_r);
        h.update(self.public);
        h.update(message);
        let k = Scalar::from_hash(h);
        let s = nonce.r + k * self.expanded.scalar;
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&nonce.big_r);
        bytes[32..].copy_from_slice(s.as_bytes());
        Ok(Signature::from_bytes(&bytes))
    }
}

impl Drop for HeadSigner {
    fn drop(&mut self) {
        self.pool.ready.lock().expect("nonce pool").closed = true;
        self.pool.low.notify_one();
    }
}

/// Fills the pool up to [`POOL`] whenever it falls to [`LOW_WATER`], until the signer is
/// dropped.
/// Nonces are computed outside the lock and handed over a few at a time.
fn fill(pool: &Pool) {
    const HANDOVER: usize = 16;
    let mut made = Vec::with_capacity(HANDOVER);
    // Filling until the pool is full; then idle until it falls to the low-water mark.
    let mut filling = true;
    loop {
        let missing = {
            let mut ready = pool.ready.lock().expect("nonce pool");
            ready.nonces.append(&mut made);
            if ready.nonces.len() >= POOL {
                filling = false;
            }
            while !filling && !ready.closed {
                if ready.nonces.len() <= LOW_WATER {
                    filling = true;
                } else {
                    ready = pool.low.wait(ready).expect("nonce pool");
                }
            }
            if ready.closed {
                return;
            }
            POOL - ready.nonces.len()
        };
        for _ in 0..missing.min(HANDOVER) {
            let Ok(nonce) = fresh_nonce() else {
                // Without randomness here the signer draws its own nonces and reports the failure.
                return;
            };
            made.push(nonce);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier;

    #[test]
    fn signatures_verify_and_bind_the_message() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let signer = HeadSigner::new(&key);
        let public = key.verifying_key();
        // More than the pool holds, so both the prepared and the inline path run.
        for i in 0..(POOL as u64 + 50) {
            let message = i.to_be_bytes();
            let sig = signer.sign(&message).unwrap();
            assert!(public.verify_strict(&message, &sig).is_ok(), "{i}");
            assert!(public.verify(&(i + 1).to_be_bytes(), &sig).is_err(), "{i}");
        }
    }

    #[test]
    fn nonces_are_not_reused() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let signer = HeadSigner::new(&key);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let sig = signer.sign(b"same message").unwrap();
            assert!(seen.insert(sig.r_bytes().to_vec()), "a nonce came twice");
        }
    }
}
