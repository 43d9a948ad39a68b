//! Compiles the client-request shim against valgrind's own memcheck.h.

fn main() {
    println!("cargo:rerun-if-changed=src/memcheck.c");
    cc::Build::new()
        .file("src/memcheck.c")
        .compile("ct_memcheck");
}
