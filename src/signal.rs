//! Signal names as runc accepts them: numbers, names with or without "SIG",
//! and real-time signals (RTMIN+n, RTMAX-n, or their numbers).

use crate::error::{Result, WardError};

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Linux's real-time range as the kernel sees it (glibc reserves 32/33 for itself,
/// but a signal sent from outside may target any of them).
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

pub fn parse_signal(s: &str) -> Result<i32> {
    let unknown = || WardError::Invalid(format!("unknown signal {s:?}"));
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        // 0 sends nothing but checks the process is there (kill(2)), as runc allows.
        return if (0..=RTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(unknown())
        };
    }
    let up = t.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(&(_, n)) = NAMES.iter().find(|(k, _)| *k == name) {
        return Ok(n);
    }
    let rt = |base: i32, rest: &str, sign: i32| -> Result<i32> {
        let off = if rest.is_empty() {
            0
        } else {
            rest.parse::<i32>().map_err(|_| unknown())?
        };
        // checked: an offset like RTMIN+2147483647 must be an error, not an overflow
        let n = sign
            .checked_mul(off)
            .and_then(|d| base.checked_add(d))
            .ok_or_else(unknown)?;
        if (RTMIN..=RTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(unknown())
        }
    };
    // RTMIN counts up ("RTMIN+3"), RTMAX counts down ("RTMAX-1").
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return match rest.strip_prefix('+') {
            Some(n) => rt(RTMIN, n, 1),
            None if rest.is_empty() => rt(RTMIN, "", 1),
            None => Err(unknown()),
        };
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return match rest.strip_prefix('-') {
            Some(n) => rt(RTMAX, n, -1),
            None if rest.is_empty() => rt(RTMAX, "", -1),
            None => Err(unknown()),
        };
    }
    Err(unknown())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runc_forms() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("0").unwrap(), 0);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("37").unwrap(), 37);
        assert_eq!(parse_signal("RTMIN+3").unwrap(), 37);
        assert_eq!(parse_signal("SIGRTMIN").unwrap(), 34);
        assert_eq!(parse_signal("RTMAX-1").unwrap(), 63);
    }

    #[test]
    fn rejects_unknown() {
        for s in [
            "65",
            "-1",
            "FOO",
            "RTMIN+40",
            "SIGRTMAX+1",
            "",
            "RTMIN+2147483647",
            "RTMAX--2147483648",
            "RTMAX--2147483647",
        ] {
            assert!(parse_signal(s).is_err(), "{s}");
        }
    }
}
