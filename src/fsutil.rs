//! Small filesystem helpers.

use std::io::Write;
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
