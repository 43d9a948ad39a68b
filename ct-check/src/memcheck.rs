//! Safe wrappers of the memcheck client requests (`src/memcheck.c`).
//!
//! Marking bytes *undefined* is how the ctgrind technique says "secret":
//! memcheck then reports every conditional branch and every memory address
//! computed from them, which is exactly what constant-time code must not do.

use core::ffi::c_void;

extern "C" {
    fn ct_make_mem_undefined(addr: *mut c_void, len: usize);
    fn ct_make_mem_defined(addr: *mut c_void, len: usize);
    fn ct_running_on_valgrind() -> core::ffi::c_ulong;
    fn ct_count_errors() -> core::ffi::c_ulong;
}

/// Marks `bytes` secret. The bytes keep their values.
pub fn secret(bytes: &mut [u8]) {
    // SAFETY: the request only changes memcheck's shadow state of memory we
    // own; it reads and writes no byte of it.
    unsafe { ct_make_mem_undefined(bytes.as_mut_ptr().cast(), bytes.len()) }
}

/// Declassifies `bytes`: from here on they are public (e.g. sent on the
/// wire). Every call site says why that is by design.
pub fn public(bytes: &mut [u8]) {
    // SAFETY: as in `secret`.
    unsafe { ct_make_mem_defined(bytes.as_mut_ptr().cast(), bytes.len()) }
}

/// True when the program runs under valgrind.
pub fn running_on_valgrind() -> bool {
    // SAFETY: a client request without arguments.
    unsafe { ct_running_on_valgrind() > 0 }
}

/// How many errors memcheck has reported so far (suppressed ones excluded).
pub fn errors() -> u64 {
    // SAFETY: a client request without arguments.
    let count = unsafe { ct_count_errors() };
    // c_ulong is u64 here, u32 on other targets.
    #[allow(clippy::useless_conversion)]
    u64::from(count)
}

/// Marks secret the `regions` (address, length) of `value`'s memory that it
/// reports as its secret state (core's `test-tools` hooks, e.g. the expanded
/// record keys, which cannot be found by value).
///
/// # Errors
/// A region that is not inside `value`: the hook and the value disagree, so
/// the check must not run.
pub fn secret_regions<T>(value: &mut T, regions: &[(*const u8, usize)]) -> Result<(), String> {
    let base = (value as *mut T).cast::<u8>() as usize;
    let end = base + core::mem::size_of::<T>();
    for &(at, len) in regions {
        let start = at as usize;
        if start < base || start + len > end || len == 0 {
            return Err(format!(
                "a {len}-byte secret region is not inside the {} it came from",
                core::any::type_name::<T>()
            ));
        }
        // SAFETY: the region lies inside `value`, which we borrow mutably;
        // the request changes only memcheck's shadow state.
        unsafe { ct_make_mem_undefined(at.cast_mut().cast(), len) }
    }
    Ok(())
}

/// Marks secret, inside `value`'s memory, the one copy of each of `needles`
/// (key bytes held in private fields of core's types, found by value).
///
/// # Errors
/// A needle found zero times or more than once: the search would be
/// ambiguous, so the check must not run.
pub fn secret_inside<T>(value: &mut T, needles: &[&[u8]]) -> Result<(), String> {
    let len = core::mem::size_of::<T>();
    let base: *mut u8 = (value as *mut T).cast();
    // SAFETY: `base..base + len` is `value`, which we borrow mutably. Padding
    // bytes (if any) are declared defined first so that the search itself
    // never reads undefined memory; the code under test never reads padding.
    let bytes = unsafe {
        ct_make_mem_defined(base.cast(), len);
        core::slice::from_raw_parts_mut(base, len)
    };
    let mut spans = Vec::new();
    for needle in needles {
        let hits: Vec<usize> = bytes
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| w == needle)
            .map(|(at, _)| at)
            .collect();
        match hits[..] {
            [at] => spans.push(at..at + needle.len()),
            _ => {
                return Err(format!(
                    "a {}-byte secret occurs {} times in a {} ({len} bytes)",
                    needle.len(),
                    hits.len(),
                    core::any::type_name::<T>()
                ))
            }
        }
    }
    for span in spans {
        secret(&mut bytes[span]);
    }
    Ok(())
}
