//! OpenSSL's constant-time modular exponentiation, through libcrypto's C API.

use std::ffi::{c_int, c_void};
use std::ptr;

use dhchat_core::group::Group;
use openssl_sys::{BIGNUM, BN_CTX};

// Not bound by openssl-sys; part of libcrypto's public API (bn.h).
extern "C" {
    fn BN_mod_exp_mont_consttime(
        rr: *mut BIGNUM,
        a: *const BIGNUM,
        p: *const BIGNUM,
        m: *const BIGNUM,
        ctx: *mut BN_CTX,
        in_mont: *mut c_void,
    ) -> c_int;
    fn BN_MONT_CTX_new() -> *mut c_void;
    fn BN_MONT_CTX_set(mont: *mut c_void, m: *const BIGNUM, ctx: *mut BN_CTX) -> c_int;
    fn BN_MONT_CTX_free(mont: *mut c_void);
}

/// OpenSSL's constant-time exponentiation modulo one group's prime.
pub struct OpensslGroup {
    p: *mut BIGNUM,
    ctx: *mut BN_CTX,
    mont: *mut c_void,
    result: *mut BIGNUM,
}

/// A big-endian number as an OpenSSL `BIGNUM` (freed when the process ends: benches make
/// a handful).
pub fn bn(bytes: &[u8]) -> *mut BIGNUM {
    let len = c_int::try_from(bytes.len()).expect("length");
    // SAFETY: `bytes` is valid for `len` bytes; a null `ret` asks for a new BIGNUM.
    let n = unsafe { openssl_sys::BN_bin2bn(bytes.as_ptr(), len, ptr::null_mut()) };
    assert!(!n.is_null(), "BN_bin2bn");
    n
}

impl OpensslGroup {
    pub fn new(group: Group) -> Self {
        openssl_sys::init();
        let p = bn(group.prime());
        // SAFETY: plain constructors; results checked for null / failure.
        unsafe {
            let ctx = openssl_sys::BN_CTX_new();
            let mont = BN_MONT_CTX_new();
            assert!(!ctx.is_null() && !mont.is_null());
            assert_eq!(BN_MONT_CTX_set(mont, p, ctx), 1);
            let result = openssl_sys::BN_new();
            assert!(!result.is_null());
            OpensslGroup {
                p,
                ctx,
                mont,
                result,
            }
        }
    }

    /// `base^exp mod p` with `BN_FLG_CONSTTIME` semantics (the consttime entry point).
    pub fn pow(&self, base: *const BIGNUM, exp: *const BIGNUM) {
        // SAFETY: all pointers come from `new` / `bn` and live until `drop`.
        let ok = unsafe {
            BN_mod_exp_mont_consttime(self.result, base, exp, self.p, self.ctx, self.mont)
        };
        assert_eq!(ok, 1, "BN_mod_exp_mont_consttime");
    }
}

impl Drop for OpensslGroup {
    fn drop(&mut self) {
        // SAFETY: each pointer was allocated in `new` and is freed once.
        unsafe {
            openssl_sys::BN_free(self.result);
            BN_MONT_CTX_free(self.mont);
            openssl_sys::BN_CTX_free(self.ctx);
            openssl_sys::BN_free(self.p);
        }
    }
}
