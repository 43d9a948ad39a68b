//! Records (PROTOCOL.md section 4): AES-256-CBC with PKCS#7 padding, then
//! HMAC-SHA256 over `seq || len || iv || ct` (encrypt-then-MAC), with an
//! implicit 64-bit sequence number per direction.
//!
//! ```text
//! len : u16      16 + ct_len + 32
//! iv  : [16]     fresh random bytes for every record
//! ct  : [ct_len] AES-256-CBC(enc_key, iv, PKCS#7(type || body))
//! tag : [32]     HMAC(mac_key, seq:u64 || len:u16 || iv || ct)
//! ```
//!
//! The receiver checks the length field before reading on, then the tag in
//! constant time, and only then decrypts.
//!
//! A host build sets up each direction's HMAC key (its inner and outer
//! SHA-256 states) once for the session, so a record costs no HMAC key
//! setup; the AES key is expanded for each record on every build, and the
//! `compact-cbc` build (firmware) keys the HMAC for each record too, which
//! takes less RAM. The keys are zeroized on drop.

use aes::Aes256;
#[cfg(not(feature = "compact-cbc"))]
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq, ConstantTimeGreater, CtOption};
use zeroize::Zeroizing;

use crate::error::RecordError;
use crate::kdf::DirectionKeys;

/// Bytes of the length field.
pub const HEADER_LEN: usize = 2;
/// Bytes of the IV.
pub const IV_LEN: usize = 16;
/// Bytes of the tag.
pub const TAG_LEN: usize = 32;
/// Smallest valid length field (one block of ciphertext).
pub const MIN_LEN: u16 = 64;
/// Largest valid length field.
pub const MAX_LEN: u16 = 4160;
/// Largest plaintext: a type byte and a 4096-byte body.
pub const MAX_PLAINTEXT: usize = 1 + 4096;
/// Where a record's plaintext starts in its buffer: after the length field
/// and the IV.
pub const PLAINTEXT_AT: usize = HEADER_LEN + IV_LEN;
/// Largest record on the wire, header included: a buffer this size holds any
/// record (and the 2072-byte SERVER_HELLO).
pub const MAX_RECORD: usize = HEADER_LEN + MAX_LEN as usize;

type HmacSha256 = Hmac<Sha256>;

/// Validates a record's length field and returns how many bytes follow it.
///
/// # Errors
/// [`RecordError::LengthTooShort`], [`RecordError::LengthTooLong`] or
/// [`RecordError::LengthNotAligned`]; the caller must then close without
/// reading on.
pub fn body_len(header: [u8; HEADER_LEN]) -> Result<usize, RecordError> {
    let len = u16::from_be_bytes(header);
    if len < MIN_LEN {
        Err(RecordError::LengthTooShort(len))
    } else if len > MAX_LEN {
        Err(RecordError::LengthTooLong(len))
    } else if !(len - 48).is_multiple_of(16) {
        Err(RecordError::LengthNotAligned(len))
    } else {
        Ok(usize::from(len))
    }
}

/// The sealed size of a plaintext of `plaintext_len` bytes, header included.
pub fn sealed_len(plaintext_len: usize) -> usize {
    HEADER_LEN + IV_LEN + (plaintext_len / 16 + 1) * 16 + TAG_LEN
}

/// A direction's keys as its records use them. The AES-256 key stays raw
/// and is expanded for each record (one key schedule): kept expanded, the
/// round keys of the wide AES backends (VAES) cost about a kilobyte per
/// direction of every session. On a host the HMAC key's inner and outer
/// SHA-256 states are set up once, which saves two compressions a record;
/// the `compact-cbc` build (firmware) keys the HMAC for each record too,
/// which takes less RAM. All of it is zeroized on drop.
struct Keys {
    /// The AES-256 key.
    enc: Zeroizing<[u8; 32]>,
    /// The HMAC key's inner and outer SHA-256 states (no buffer: nothing
    /// public is marked secret with them by ct-check).
    #[cfg(not(feature = "compact-cbc"))]
    mac: hmac::block_api::HmacCore<Sha256>,
    /// The raw HMAC key.
    #[cfg(feature = "compact-cbc")]
    mac: Zeroizing<[u8; 32]>,
}

impl Keys {
    fn new(keys: &DirectionKeys) -> Self {
        // HMAC accepts keys of any length; 32 bytes never fails.
        #[cfg(not(feature = "compact-cbc"))]
        let mac = <hmac::block_api::HmacCore<Sha256> as KeyInit>::new_from_slice(&keys.mac)
            .unwrap_or_else(|_| KeyInit::new(&Default::default()));
        #[cfg(feature = "compact-cbc")]
        let mac = Zeroizing::new(keys.mac);
        Self {
            enc: Zeroizing::new(keys.enc),
            mac,
        }
    }

    /// The AES-256 key, as the block modes take it.
    fn enc(&self) -> cbc::cipher::Key<Aes256> {
        (*self.enc).into()
    }

    /// The keyed HMAC (a copy of the kept states, or keyed afresh; zeroized
    /// when it drops), fed with `seq || len_and_rest`.
    fn tag(&self, seq: u64, len_and_rest: &[u8]) -> HmacSha256 {
        #[cfg(not(feature = "compact-cbc"))]
        let mut mac = {
            use hmac::digest::block_api::CoreProxy;
            HmacSha256::compose(self.mac.clone(), Default::default())
        };
        #[cfg(feature = "compact-cbc")]
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&*self.mac)
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
        mac.update(&seq.to_be_bytes());
        mac.update(len_and_rest);
        mac
    }

    /// Where the secret state lives: for the constant-time check only.
    #[cfg(feature = "test-tools")]
    fn secret_regions(&self) -> [(*const u8, usize); 2] {
        [
            (self.enc.as_ptr(), self.enc.len()),
            (
                core::ptr::from_ref(&self.mac).cast(),
                core::mem::size_of_val(&self.mac),
            ),
        ]
    }
}

/// The sending half of a direction: seals records with increasing `seq`.
/// Its keys are zeroized on drop.
pub struct Sealer {
    keys: Keys,
    seq: u64,
}

impl core::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sealer")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Takes a direction's keys (expanded once on a host build); `keys`
    /// itself is zeroized when it drops.
    pub(crate) fn new(keys: DirectionKeys) -> Self {
        Self {
            keys: Keys::new(&keys),
            seq: 0,
        }
    }

    /// Where this sealer's secret key state lives (address and length), so
    /// that the constant-time check can mark it secret. `test-tools` only.
    #[cfg(feature = "test-tools")]
    pub fn secret_regions(&self) -> [(*const u8, usize); 2] {
        self.keys.secret_regions()
    }

    /// The sequence number the next record will carry.
    pub fn next_seq(&self) -> u64 {
        self.seq
    }

    /// The room in `out` where a plaintext to seal in place goes
    /// (`out[PLAINTEXT_AT..]`); the layer above writes `type || body` there
    /// and calls [`Sealer::seal_in_place`].
    ///
    /// # Errors
    /// [`RecordError::BufferTooSmall`] if `out` has no room after the IV.
    pub fn plaintext_room(out: &mut [u8]) -> Result<&mut [u8], RecordError> {
        out.get_mut(PLAINTEXT_AT..)
            .ok_or(RecordError::BufferTooSmall)
    }

    /// Seals `plaintext` (`type || body`) as given, without checking that it
    /// is a valid message. For tests and tools that must send malformed
    /// messages; programs send with [`Sealer::seal`].
    ///
    /// # Errors
    /// [`RecordError::PlaintextTooLong`], [`RecordError::EmptyPlaintext`],
    /// [`RecordError::BufferTooSmall`], [`RecordError::SequenceExhausted`].
    pub fn seal_plaintext<R: CryptoRng + ?Sized>(
        &mut self,
        plaintext: &[u8],
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, RecordError> {
        let dst = out
            .get_mut(PLAINTEXT_AT..PLAINTEXT_AT + plaintext.len())
            .ok_or(RecordError::BufferTooSmall)?;
        dst.copy_from_slice(plaintext);
        self.seal_in_place(plaintext.len(), rng, out)
    }

    /// Seals the `pt_len` plaintext bytes already at `out[PLAINTEXT_AT..]`
    /// (see [`Sealer::plaintext_room`]) as one record in `out`; returns the
    /// record's length, header included. Draws the 16-byte IV from `rng`.
    ///
    /// # Errors
    /// [`RecordError::PlaintextTooLong`], [`RecordError::EmptyPlaintext`],
    /// [`RecordError::BufferTooSmall`], [`RecordError::SequenceExhausted`].
    pub fn seal_in_place<R: CryptoRng + ?Sized>(
        &mut self,
        pt_len: usize,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, RecordError> {
        if pt_len == 0 {
            return Err(RecordError::EmptyPlaintext);
        }
        if pt_len > MAX_PLAINTEXT {
            return Err(RecordError::PlaintextTooLong);
        }
        if self.seq == u64::MAX {
            return Err(RecordError::SequenceExhausted);
        }
        let total = sealed_len(pt_len);
        let out = out.get_mut(..total).ok_or(RecordError::BufferTooSmall)?;
        let ct_len = total - HEADER_LEN - IV_LEN - TAG_LEN;
        let len = (total - HEADER_LEN) as u16; // at most 4160
        out[..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
        let mut iv = [0u8; IV_LEN];
        rng.fill_bytes(&mut iv);
        out[HEADER_LEN..HEADER_LEN + IV_LEN].copy_from_slice(&iv);
        let (head, rest) = out.split_at_mut(HEADER_LEN + IV_LEN);
        let (ct, tag_out) = rest.split_at_mut(ct_len);
        cbc::Encryptor::<Aes256>::new(&self.keys.enc(), &iv.into())
            .encrypt_padded::<Pkcs7>(ct, pt_len)
            .map_err(|_| RecordError::BufferTooSmall)?;
        let mut mac = self.keys.tag(self.seq, head);
        mac.update(ct);
        tag_out.copy_from_slice(&mac.finalize().into_bytes());
        self.seq += 1;
        Ok(total)
    }
}

/// The receiving half of a direction: opens records in order. After one
/// failure it refuses everything, since the session is over. Its keys are
/// zeroized on drop.
pub struct Opener {
    keys: Keys,
    seq: u64,
    failed: bool,
}

impl core::fmt::Debug for Opener {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Opener")
            .field("seq", &self.seq)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// Takes a direction's keys (expanded once on a host build); `keys`
    /// itself is zeroized when it drops.
    pub(crate) fn new(keys: DirectionKeys) -> Self {
        Self {
            keys: Keys::new(&keys),
            seq: 0,
            failed: false,
        }
    }

    /// Where this opener's secret key state lives (address and length), so
    /// that the constant-time check can mark it secret. `test-tools` only.
    #[cfg(feature = "test-tools")]
    pub fn secret_regions(&self) -> [(*const u8, usize); 2] {
        self.keys.secret_regions()
    }

    /// The sequence number the next record must carry.
    pub fn next_seq(&self) -> u64 {
        self.seq
    }

    /// Opens one record, `record` being the whole record as read from the
    /// wire (length field included). Decrypts in place and returns the
    /// plaintext `type || body`, a slice of `record`.
    ///
    /// # Errors
    /// Any [`RecordError`] of the length, tag, padding or plaintext checks;
    /// the session must then end and nothing of the record is delivered.
    pub fn open<'r>(&mut self, record: &'r mut [u8]) -> Result<&'r [u8], RecordError> {
        if self.failed {
            return Err(RecordError::SessionFailed);
        }
        match self.open_inner(record) {
            Ok(range) => {
                self.seq += 1;
                Ok(record.get(range).unwrap_or(&[]))
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn open_inner(&self, record: &mut [u8]) -> Result<core::ops::Range<usize>, RecordError> {
        let header: [u8; HEADER_LEN] = record
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(RecordError::LengthMismatch)?;
        let len = body_len(header)?;
        if record.len() != HEADER_LEN + len {
            return Err(RecordError::LengthMismatch);
        }
        if self.seq == u64::MAX {
            return Err(RecordError::SequenceExhausted);
        }
        let tag_at = record.len() - TAG_LEN;
        let (authed, received_tag) = record.split_at_mut(tag_at);
        let mac = self.keys.tag(self.seq, authed);
        // Constant-time comparison (subtle) before any decryption.
        mac.verify_slice(received_tag)
            .map_err(|_| RecordError::BadTag)?;
        let (head, ct) = authed.split_at_mut(HEADER_LEN + IV_LEN);
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&head[HEADER_LEN..]);
        let decryptor = cbc::Decryptor::<Aes256>::new(&self.keys.enc(), &iv.into());
        #[cfg(not(feature = "compact-cbc"))]
        let padded = decryptor
            .decrypt_padded::<NoPadding>(ct)
            .map_err(|_| RecordError::BadPadding)?;
        // One block at a time: the cipher's parallel-blocks code is not linked.
        #[cfg(feature = "compact-cbc")]
        let padded = {
            let mut decryptor = decryptor;
            let (blocks, partial) = cbc::cipher::Block::<Aes256>::slice_as_chunks_mut(ct);
            if !partial.is_empty() {
                return Err(RecordError::BadPadding);
            }
            for block in blocks {
                decryptor.decrypt_block(block);
            }
            &*ct
        };
        // The padding is checked in constant time (ct-check/); only the
        // verdict and the plaintext length, delivered with it, come out.
        let pad =
            Option::<usize>::from(pkcs7_padding_len(padded)).ok_or(RecordError::BadPadding)?;
        delivered_range(padded.len(), pad)
    }
}

/// Where the plaintext of an authenticated, validly padded record lies in
/// the record, after its length checks (empty, too long). Not inlined: the
/// plaintext length is delivered to the program, and ct-check declassifies
/// these checks by this function's name, so that no other branch of
/// [`Opener::open`] can hide behind them.
#[inline(never)]
fn delivered_range(padded_len: usize, pad: usize) -> Result<core::ops::Range<usize>, RecordError> {
    let pt_len = padded_len - pad;
    if pt_len == 0 {
        return Err(RecordError::EmptyPlaintext);
    }
    if pt_len > MAX_PLAINTEXT {
        return Err(RecordError::PlaintextTooLong);
    }
    let start = HEADER_LEN + IV_LEN;
    Ok(start..start + pt_len)
}

/// The length of the PKCS#7 padding that ends `padded` (1 to 16 bytes), or
/// none if its last block is not validly padded. Constant time: every byte of
/// the last block is read and compared, whatever the padding says.
fn pkcs7_padding_len(padded: &[u8]) -> CtOption<usize> {
    let mut last = [0u8; 16];
    let found = match padded.len().checked_sub(16).and_then(|at| padded.get(at..)) {
        Some(block) => {
            last.copy_from_slice(block);
            Choice::from(1)
        }
        None => Choice::from(0),
    };
    let n = last[15];
    let mut valid = found & !n.ct_eq(&0) & !n.ct_gt(&16);
    for (i, &byte) in (0u8..).zip(last.iter()) {
        // Byte i is padding when i >= 16 - n, that is when 16 - i <= n.
        let in_padding = !(16 - i).ct_gt(&n);
        valid &= !in_padding | byte.ct_eq(&n);
    }
    CtOption::new(usize::from(n), valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct CountingRng(u8);
    impl rand_core::TryRng for CountingRng {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(u32::from(self.0))
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(u64::from(self.0))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for b in dst {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
            Ok(())
        }
    }
    impl rand_core::TryCryptoRng for CountingRng {}

    fn pair() -> (Sealer, Opener) {
        let keys = DirectionKeys {
            enc: [1; 32],
            mac: [2; 32],
        };
        (Sealer::new(keys.clone()), Opener::new(keys))
    }

    #[test]
    fn length_field_checks_come_first() {
        assert_eq!(body_len([0, 63]), Err(RecordError::LengthTooShort(63)));
        assert_eq!(
            body_len([0x10, 0x50]),
            Err(RecordError::LengthTooLong(4176))
        );
        assert_eq!(body_len([0, 65]), Err(RecordError::LengthNotAligned(65)));
        assert_eq!(body_len([0, 64]), Ok(64));
        assert_eq!(body_len([0x10, 0x40]), Ok(4160));
    }

    #[test]
    fn sealed_records_open_in_order_and_not_twice() {
        let (mut s, mut o) = pair();
        let mut rng = CountingRng(0);
        let mut buf = [0u8; MAX_RECORD];
        let n = s
            .seal_plaintext(b"\x17hello", &mut rng, &mut buf)
            .expect("seal");
        let mut copy = [0u8; MAX_RECORD];
        copy[..n].copy_from_slice(&buf[..n]);
        assert_eq!(o.open(&mut buf[..n]), Ok(&b"\x17hello"[..]));
        // The same record again (a replay) fails at the tag: seq moved on.
        assert_eq!(o.open(&mut copy[..n]), Err(RecordError::BadTag));
        // And the opener stays failed.
        let n = s
            .seal_plaintext(b"\x17x", &mut rng, &mut buf)
            .expect("seal");
        assert_eq!(o.open(&mut buf[..n]), Err(RecordError::SessionFailed));
    }

    #[test]
    fn a_flipped_bit_anywhere_fails_authentication() {
        let (mut s, _) = pair();
        let mut rng = CountingRng(0);
        let mut buf = [0u8; MAX_RECORD];
        let n = s
            .seal_plaintext(b"\x17some text here!!", &mut rng, &mut buf)
            .expect("seal");
        for i in HEADER_LEN..n {
            let (_, mut o) = pair();
            let mut rec = [0u8; MAX_RECORD];
            rec[..n].copy_from_slice(&buf[..n]);
            rec[i] ^= 0x04;
            assert_eq!(o.open(&mut rec[..n]), Err(RecordError::BadTag), "byte {i}");
        }
    }

    #[test]
    fn largest_and_oversized_plaintexts() {
        let (mut s, mut o) = pair();
        let mut rng = CountingRng(0);
        let mut buf = [0u8; MAX_RECORD];
        let mut pt = [b'a'; MAX_PLAINTEXT + 1];
        pt[0] = 0x17;
        let n = s
            .seal_plaintext(&pt[..MAX_PLAINTEXT], &mut rng, &mut buf)
            .expect("seal");
        assert_eq!(n, MAX_RECORD);
        assert_eq!(o.open(&mut buf[..n]).map(<[u8]>::len), Ok(MAX_PLAINTEXT));
        assert_eq!(
            s.seal_plaintext(&pt, &mut rng, &mut buf),
            Err(RecordError::PlaintextTooLong)
        );
        assert_eq!(
            s.seal_plaintext(&[], &mut rng, &mut buf),
            Err(RecordError::EmptyPlaintext)
        );
    }

    #[test]
    fn padding_is_checked_byte_for_byte_in_every_length() {
        let check = |block: &[u8]| Option::<usize>::from(pkcs7_padding_len(block));
        for n in 1..=16u8 {
            let mut block = [0x61u8; 32];
            block[32 - usize::from(n)..].fill(n);
            assert_eq!(check(&block), Some(usize::from(n)), "padding {n}");
            // Any padding byte wrong, and the padding is refused.
            for i in 32 - usize::from(n)..31 {
                let mut bad = block;
                bad[i] ^= 0x01;
                assert_eq!(check(&bad), None, "padding {n}, byte {i}");
            }
        }
        let mut block = [0x61u8; 16];
        block[15] = 0;
        assert_eq!(check(&block), None, "zero");
        block[15] = 17;
        assert_eq!(check(&block), None, "above the block size");
        assert_eq!(check(&[1u8; 15]), None, "shorter than a block");
        assert_eq!(check(&[16u8; 16]), Some(16), "a whole block of padding");
    }

    #[test]
    fn small_buffers_are_refused_not_overrun() {
        let (mut s, _) = pair();
        let mut rng = CountingRng(0);
        let mut buf = [0u8; 40];
        assert_eq!(
            s.seal_plaintext(b"\x17abc", &mut rng, &mut buf),
            Err(RecordError::BufferTooSmall)
        );
    }
}
