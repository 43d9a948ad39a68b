//! The few semihosting calls the firmware uses (ARM semihosting, served by
//! QEMU with `-semihosting-config enable=on,target=native`): the command
//! line, reading a host file, printing a line, and exiting with a code.
//!
//! A real board has none of this: there the configuration comes from flash,
//! the seed from the TRNG ([`crate::seed`]), and diagnosis goes to a log.

use cortex_m_semihosting::{nr, syscall, syscall1};

/// SYS_EXIT_EXTENDED: SYS_EXIT with a subcode, which QEMU turns into its own
/// exit status (plain SYS_EXIT on 32-bit Arm can only say 0 or 1).
const SYS_EXIT_EXTENDED: usize = 0x20;
/// ADP_Stopped_ApplicationExit.
const APPLICATION_EXIT: usize = 0x2_0026;

/// Copies the semihosting command line (QEMU: the kernel's path, then the
/// words of `-append`, joined by single spaces) into `buf` and returns it.
pub fn cmdline(buf: &mut [u8]) -> Option<&str> {
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: the block names a writable buffer of its stated length; the
    // host writes the line and its length back into the block.
    let r = unsafe { syscall1(nr::GET_CMDLINE, block.as_mut_ptr() as usize) };
    let len = unsafe { core::ptr::read_volatile(&block[1]) };
    if r != 0 || len > buf.len() {
        return None;
    }
    core::str::from_utf8(&buf[..len]).ok()
}

/// A host file opened for reading.
pub struct HostFile(usize);

impl HostFile {
    /// Opens `path` (relative paths: QEMU's working directory) for binary
    /// reading. `path` must be shorter than 255 bytes.
    pub fn open(path: &str) -> Option<HostFile> {
        let mut z = [0u8; 256];
        let bytes = path.as_bytes();
        if bytes.len() >= z.len() || bytes.contains(&0) {
            return None;
        }
        z[..bytes.len()].copy_from_slice(bytes);
        // SAFETY: a NUL-terminated path, its length, and a mode.
        let fd = unsafe { syscall!(OPEN, z.as_ptr(), nr::open::R_BINARY, bytes.len()) };
        (fd as isize >= 0).then_some(HostFile(fd))
    }

    /// Reads until `buf` is full or the file ends; returns the bytes read.
    pub fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
        let mut done = 0;
        while done < buf.len() {
            let want = buf.len() - done;
            // SAFETY: a writable buffer of `want` bytes.
            let not_read = unsafe { syscall!(READ, self.0, buf[done..].as_mut_ptr(), want) };
            if not_read > want {
                return None;
            }
            if not_read == want {
                break; // end of file
            }
            done += want - not_read;
        }
        Some(done)
    }
}

impl Drop for HostFile {
    fn drop(&mut self) {
        // SAFETY: closes the handle opened in `open`.
        unsafe { syscall!(CLOSE, self.0) };
    }
}

/// Writes one line to the host's standard output.
pub fn print_line(args: core::fmt::Arguments<'_>) {
    use core::fmt::Write;
    if let Ok(mut out) = cortex_m_semihosting::hio::hstdout() {
        let _ = out.write_fmt(args);
        let _ = out.write_str("\n");
    }
}

/// Ends the program: QEMU exits with `code`.
pub fn exit(code: u8) -> ! {
    let block = [APPLICATION_EXIT, code as usize];
    loop {
        // SAFETY: SYS_EXIT_EXTENDED takes a two-word block.
        unsafe { syscall(SYS_EXIT_EXTENDED, &block) };
    }
}

/// Prints a line over semihosting: `diag!("x = {}", x)`.
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => { $crate::semi::print_line(format_args!($($arg)*)) };
}
