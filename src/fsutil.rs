//! Small filesystem helpers.

use std::io::{Read, Write};
use std::path::Path;

use crate::error::{io_err, Result};

/// Writes via a temp file and rename, so no reader ever sees a torn file.
/// No fsync: state lives on tmpfs (/run) and does not outlive a reboot.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let ctx = || format!("writing {}", path.display());
    let mut f = std::fs::File::create(&tmp).map_err(io_err(ctx()))?;
    f.write_all(data).map_err(io_err(ctx()))?;
    std::fs::rename(&tmp, path).map_err(io_err(ctx()))
}

/// The mount table of this process's mount namespace, read in 64 KiB
/// chunks. Every read(2) of mountinfo takes the global namespace semaphore,
/// for which parallel creates queue behind each other's mounts; a plain
/// `read_to_string` probes with 32 bytes and doubles from there (ten reads
/// for a 3 KiB table).
pub fn read_mountinfo() -> std::io::Result<String> {
    let mut f = std::fs::File::open("/proc/self/mountinfo")?;
    let mut out = Vec::with_capacity(64 << 10);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match f.read(&mut buf)? {
            0 => break,
            n => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8(out).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
