//! Body digests (length + SHA-256) and a deterministic byte pattern for generated bodies.
//!
//! Large bodies are compared by digest, never stored: the fake upstream generates
//! [`pattern`] bytes on the fly, the client hashes what it receives with a [`Hasher`], and the
//! test compares both against [`pattern_digest`].

use std::fmt;

use sha2::{Digest as _, Sha256};

/// Length and SHA-256 of a byte sequence.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Digest {
    pub(crate) len: u64,
    pub(crate) sha256: [u8; 32],
}

impl Digest {
    /// Lower-case hex of the SHA-256.
    pub(crate) fn hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest(len={}, sha256={})", self.len, self.hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes, sha256 {}", self.len, self.hex())
    }
}

/// Streaming digest: feed slices, then [`Hasher::finish`].
#[derive(Clone, Default)]
pub(crate) struct Hasher {
    len: u64,
    sha: Sha256,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher").field("len", &self.len).finish()
    }
}

impl Hasher {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        self.sha.update(bytes);
    }

    /// Bytes fed so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn finish(&self) -> Digest {
        let out = self.sha.clone().finalize();
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&out);
        Digest {
            len: self.len,
            sha256,
        }
    }
}

/// Digest of a slice.
pub(crate) fn digest(bytes: &[u8]) -> Digest {
    let mut h = Hasher::new();
    h.update(bytes);
    h.finish()
}

/// The pattern byte at absolute offset `i`: not periodic at small powers of two, so a
/// dropped, duplicated or reordered chunk changes the digest.
fn pattern_byte(i: u64) -> u8 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i >> 7);
    (x >> 56) as u8
}

/// `len` pattern bytes starting at absolute offset `offset`.
pub(crate) fn pattern(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|k| pattern_byte(offset + k)).collect()
}

/// Digest of the first `len` pattern bytes, computed in 64 KiB pieces (constant memory).
pub(crate) fn pattern_digest(len: u64) -> Digest {
    const PIECE: u64 = 64 * 1024;
    let mut h = Hasher::new();
    let mut offset = 0;
    while offset < len {
        let n = PIECE.min(len - offset);
        h.update(&pattern(offset, n as usize));
        offset += n;
    }
    h.finish()
}
