//! One legacy message: `iv[16] || AES-256-CBC(key, iv, text || spaces)` with
//! `16 - (n mod 16)` spaces (1 to 16, counted in bytes), no MAC, no length: each read of
//! at most 1024 bytes is one message (LEGACY.md, "Messages").

use aes::Aes256;
use cbc::cipher::{Array, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use zeroize::Zeroize;

use super::{LegacyError, LegacyKey, MAX_READ, MAX_TEXT, MIN_READ};

/// Length of the IV in front of every message.
pub const IV_LEN: usize = 16;
/// The AES block size.
const BLOCK: usize = 16;

/// The length of the sealed message of `text_len` bytes of text, IV included.
#[must_use]
pub const fn sealed_len(text_len: usize) -> usize {
    IV_LEN + (text_len / BLOCK + 1) * BLOCK
}

/// Seals `text` with `key` and `iv` into `out` and returns the message length (at most
/// 1024). Write the message in one write call, and never two messages to one peer
/// without a pause between them.
///
/// `iv` must be fresh and random for every message.
///
/// # Errors
///
/// [`LegacyError::TextTooLong`] when `text` is longer than [`MAX_TEXT`] (1007) bytes
/// (use [`split`]); [`LegacyError::BufferTooSmall`] when `out` is shorter than
/// [`sealed_len`].
pub fn seal(
    key: &LegacyKey,
    iv: &[u8; IV_LEN],
    text: &str,
    out: &mut [u8],
) -> Result<usize, LegacyError> {
    if text.len() > MAX_TEXT {
        return Err(LegacyError::TextTooLong);
    }
    let len = sealed_len(text.len());
    let msg = out.get_mut(..len).ok_or(LegacyError::BufferTooSmall)?;
    let (iv_out, body) = msg.split_at_mut(IV_LEN);
    iv_out.copy_from_slice(iv);
    let (text_out, spaces) = body.split_at_mut(text.len());
    text_out.copy_from_slice(text.as_bytes());
    spaces.fill(b' ');
    let mut cipher = cbc::Encryptor::<Aes256>::new(key.bytes().into(), iv.into());
    for chunk in body.chunks_exact_mut(BLOCK) {
        let mut block = Array::<u8, _>::default();
        block.copy_from_slice(chunk);
        cipher.encrypt_block(&mut block);
        chunk.copy_from_slice(&block);
    }
    Ok(len)
}

/// Opens one read (`iv || ciphertext`) in place with `key` and returns its text with
/// all trailing white space removed.
///
/// # Errors
///
/// [`LegacyError::ReadTooLong`] over 1024 bytes, [`LegacyError::ReadMisaligned`] when
/// not a multiple of 16, [`LegacyError::ReadTooShort`] under 32 bytes,
/// [`LegacyError::NotUtf8`] when the plaintext is not UTF-8. Each is a reason to drop
/// the peer.
pub fn open<'a>(key: &LegacyKey, read: &'a mut [u8]) -> Result<&'a str, LegacyError> {
    if read.len() > MAX_READ {
        return Err(LegacyError::ReadTooLong);
    }
    if !read.len().is_multiple_of(BLOCK) {
        return Err(LegacyError::ReadMisaligned);
    }
    if read.len() < MIN_READ {
        return Err(LegacyError::ReadTooShort);
    }
    let (iv, body) = read.split_at_mut(IV_LEN);
    let mut iv_block = [0u8; IV_LEN];
    iv_block.copy_from_slice(iv);
    let mut cipher = cbc::Decryptor::<Aes256>::new(key.bytes().into(), (&iv_block).into());
    let mut block = Array::<u8, _>::default();
    for chunk in body.chunks_exact_mut(BLOCK) {
        block.copy_from_slice(chunk);
        cipher.decrypt_block(&mut block);
        chunk.copy_from_slice(&block);
    }
    block.as_mut_slice().zeroize();
    if core::str::from_utf8(body).is_err() {
        body.zeroize();
        return Err(LegacyError::NotUtf8);
    }
    core::str::from_utf8(body)
        .map(str::trim_end)
        .map_err(|_| LegacyError::NotUtf8)
}

/// Splits `text` into pieces of at most `max` bytes (at least 4), at character
/// boundaries, preferring to break after a space; empty text gives no piece.
#[must_use]
pub fn split(text: &str, max: usize) -> Split<'_> {
    Split {
        rest: text,
        max: max.max(4),
    }
}

/// The pieces of [`split`].
#[derive(Debug, Clone)]
pub struct Split<'a> {
    rest: &'a str,
    max: usize,
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        if self.rest.len() <= self.max {
            return Some(core::mem::take(&mut self.rest));
        }
        // The longest prefix within max bytes that ends on a character boundary.
        let mut cut = self.max;
        while !self.rest.is_char_boundary(cut) {
            cut -= 1;
        }
        // Prefer to break after the last space in its second half.
        let head = self.rest.get(..cut).unwrap_or_default();
        if let Some(space) = head.rfind(' ') {
            if space + 1 > cut / 2 {
                cut = space + 1;
            }
        }
        let (piece, rest) = self.rest.split_at(cut);
        self.rest = rest;
        Some(piece)
    }
}
