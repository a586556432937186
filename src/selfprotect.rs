//! CVE-2019-5736 defence: the ward process that enters a container must not be
//! reachable as a writable file through /proc/<pid>/exe.
//!
//! Two ways, chosen by cost (the copy costs ~14 ms per call, most of a create):
//! - the container has ward's own user namespace: the process that joins it
//!   changes uid inside it, which makes it non-dumpable, and its memory belongs
//!   to the host's user namespace, where the container has no capability; so no
//!   container process can open its /proc/<pid>/exe at all. No copy is made.
//! - otherwise (host ids, or a user namespace from the spec) ward re-executes
//!   itself from a sealed memfd copy of its binary before entering, unless the
//!   binary sits on a read-only mount (then nothing can write it).

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const MARK: &str = "_WARD_SEALED";

static SEALED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Temporary paths of this process that the re-executed image would not know
/// about (a console socket's dir): removed just before the re-exec, since no
/// destructor runs across execve.
static TEMP_PATHS: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Registers a temporary directory to remove if this process re-executes.
pub fn remove_on_reexec(p: &std::path::Path) {
    if let Ok(mut v) = TEMP_PATHS.lock() {
        v.push(p.to_path_buf());
    }
}

/// Forgets a path registered with `remove_on_reexec` (its owner removed it).
pub fn forget_on_reexec(p: &std::path::Path) {
    if let Ok(mut v) = TEMP_PATHS.lock() {
        v.retain(|q| q != p);
    }
}

/// Call first thing in main: notes (and hides) that this process already runs
/// from a sealed copy.
pub fn note_startup() {
    if std::env::var_os(MARK).is_some() {
        SEALED.store(true, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: called at the start of main, before any thread exists.
        unsafe { std::env::remove_var(MARK) };
    }
}

/// Returns only if no re-exec was needed or possible; on success the process
/// image is replaced. Failure to protect is an error: running unprotected into
/// a container is what the CVE exploited.
pub fn ensure_sealed() -> Result<(), String> {
    if !needs_reexec() {
        return Ok(());
    }
    let memfd = sealed_copy()?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_encoded_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| "argument contains a NUL byte".to_string())?;
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.push(CString::new(format!("{MARK}=1")).map_err(|e| e.to_string())?);
    if let Ok(v) = TEMP_PATHS.lock() {
        for p in v.iter() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
    let Err(e) = nix::unistd::fexecve(memfd.as_raw_fd(), &args, &env);
    Err(format!("re-executing from a sealed copy: {e}"))
}

/// Whether `ensure_sealed` would re-execute: not yet sealed, and the binary
/// is writable where it lies (on a read-only mount it cannot be overwritten).
pub fn needs_reexec() -> bool {
    !SEALED.load(std::sync::atomic::Ordering::Relaxed) && !on_readonly_mount()
}

fn on_readonly_mount() -> bool {
    nix::sys::statvfs::statvfs("/proc/self/exe")
        .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
        .unwrap_or(false)
}

fn sealed_copy() -> Result<OwnedFd, String> {
    let name = c"ward";
    // SAFETY: memfd_create with a static name and flags; returns a new fd or -1.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is new and owned here.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut exe =
        std::fs::File::open("/proc/self/exe").map_err(|e| format!("/proc/self/exe: {e}"))?;
    let len = exe.metadata().map(|m| m.len()).unwrap_or(0);
    let mut copied: u64 = 0;
    // copy_file_range/sendfile keep the copy in the kernel.
    while copied < len {
        // SAFETY: both fds are valid; null offsets use the file positions.
        let n = unsafe {
            libc::sendfile(
                memfd.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                (len - copied) as usize,
            )
        };
        if n <= 0 {
            break;
        }
        copied += n as u64;
    }
    if copied < len {
        // Fallback for filesystems where sendfile does not apply.
        let mut buf = Vec::new();
        exe.read_to_end(&mut buf).map_err(|e| e.to_string())?;
        nix::unistd::write(&memfd, &buf[copied as usize..]).map_err(|e| e.to_string())?;
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on a valid fd with an int argument.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(format!("sealing: {}", std::io::Error::last_os_error()));
    }
    Ok(memfd)
}

pub fn is_sealed() -> bool {
    SEALED.load(std::sync::atomic::Ordering::Relaxed)
}
