//! Dispatch: validate the parsed command line, call the library, print results.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{bail, Context, Result};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxResources, LinuxResourcesBuilder};

use super::{Cli, Command, CreateArgs, ExecArgs, LogFormat, OutFormat, UpdateArgs};
use ward::lifecycle::{create, exec, info, ops};
use ward::paths::{default_root, StateRoot};

pub fn run(cli: Cli) -> Result<i32> {
    // As runc, whose init gets only stdio and the fds it was told to pass:
    // descriptors the caller left open (a test harness's output file, a
    // shell's) must not sit in the container's init while it waits for
    // `start`. Before anything of ward's own is opened.
    match &cli.command {
        Some(Command::Create(a)) => close_inherited_fds(a.preserve_fds),
        Some(Command::Run(a)) => close_inherited_fds(a.create.preserve_fds),
        _ => {}
    }
    let format = match cli.log_format {
        LogFormat::Text => ward::logging::Format::Text,
        LogFormat::Json => ward::logging::Format::Json,
    };
    if let Err(e) = ward::logging::init(cli.log.as_deref(), format, cli.debug) {
        eprintln!("ward: {e}");
    }
    if cli.version {
        println!("ward version {}", env!("CARGO_PKG_VERSION"));
        println!("spec: {}", ward::specgen::OCI_VERSION);
        return Ok(0);
    }
    let Some(command) = cli.command else {
        bail!("no command given; see `ward --help`");
    };
    if command.only_prints() {
        // Rust ignores SIGPIPE, so `ward features | head` would panic on the
        // closed pipe; a command that only prints dies of it quietly, as runc
        // does. Commands that talk to containers over sockets keep EPIPE.
        // SAFETY: setting a signal disposition before any thread exists.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let root = StateRoot::new(cli.root.clone().unwrap_or_else(default_root));
    let systemd = cli.systemd_cgroup;
    let relax = &cli.relax;
    match command {
        Command::Create(a) => {
            create::create(&root, &create_opts(&a, systemd, true, relax))?;
            Ok(0)
        }
        Command::Start { id } => {
            ops::start(&root, &id)?;
            Ok(0)
        }
        Command::Run(a) => run_container(&root, a, systemd, relax),
        Command::State { id } => {
            let doc = info::state(&root, &id)?;
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            let sig = ward::signal::parse_signal(signal.as_deref().unwrap_or("SIGTERM"))?;
            ops::kill(&root, &id, sig, all)?;
            Ok(0)
        }
        Command::Delete { force, id } => {
            ops::delete(&root, &id, force)?;
            Ok(0)
        }
        Command::List { format, quiet } => list(&root, format, quiet),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps(&root, &id, format, &ps_args),
        Command::Exec(a) => exec_process(&root, a),
        Command::Pause { id } => {
            ops::pause(&root, &id)?;
            Ok(0)
        }
        Command::Resume { id } => {
            ops::resume(&root, &id)?;
            Ok(0)
        }
        Command::Events {
            stats,
            interval,
            id,
        } => events(&root, &id, stats, &interval),
        Command::Update(a) => {
            let res = update_resources(&a)?;
            info::update(&root, &a.id, &res)?;
            Ok(0)
        }
        Command::Spec { bundle, rootless } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("{}: file already exists", path.display());
            }
            let spec =
                ward::specgen::default_spec(rootless).context("building the spec template")?;
            let data = serde_json::to_string_pretty(&spec)?;
            std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
            Ok(0)
        }
        Command::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&ward::specgen::features())?
            );
            Ok(0)
        }
        Command::Checkpoint { .. } | Command::Restore { .. } => {
            bail!("checkpoint/restore is not supported by ward (it has no CRIU support)")
        }
        Command::Inspect { format, id } => {
            let report = ward::policy::report::posture(&root, &id)?;
            match format {
                OutFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                OutFormat::Table => print!("{}", report.render()),
            }
            Ok(0)
        }
    }
}

/// Closes every descriptor from 3 on except the `--preserve-fds` ones and
/// systemd's socket-activation fds (LISTEN_FDS), which the init passes on.
fn close_inherited_fds(preserve: i32) {
    let listen: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let first = 3 + preserve.max(listen).max(0) as u32;
    // SAFETY: close_range(2) on descriptors nothing in this process uses yet.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    if r != 0 {
        // Kernels before 5.9: one by one.
        let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                    .collect()
            })
            .unwrap_or_default();
        for fd in fds.into_iter().filter(|fd| *fd >= first as i32) {
            // SAFETY: as above.
            unsafe { libc::close(fd) };
        }
    }
}

fn create_opts(
    a: &CreateArgs,
    systemd: bool,
    detach: bool,
    relax: &[String],
) -> create::CreateOpts {
    if a.no_new_keyring {
        tracing::debug!("--no-new-keyring: accepted");
    }
    create::CreateOpts {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        pidfd_socket: a.pidfd_socket.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        systemd_cgroup: systemd,
        detach,
        relax: relax.to_vec(),
    }
}

fn run_container(
    root: &StateRoot,
    a: super::RunArgs,
    systemd: bool,
    relax: &[String],
) -> Result<i32> {
    let id = a.create.id.clone();
    let mut opts = create_opts(&a.create, systemd, a.detach, relax);
    // In the foreground with a terminal and no console socket, the pty is
    // ward's to serve (runc does the same).
    let console = if !a.detach && opts.console_socket.is_none() && wants_terminal(&opts.bundle) {
        let c = super::tty::Console::listen()?;
        opts.console_socket = Some(c.socket_path());
        Some(c)
    } else {
        None
    };
    let created = create::create(root, &opts)?;
    let pty = match console {
        Some(c) => match c.master() {
            Ok(m) => Some(m),
            Err(e) => {
                let _ = ops::delete(root, &id, true);
                return Err(e);
            }
        },
        None => None,
    };
    let c = match ops::start_loaded(created) {
        Ok(c) => c,
        Err(e) => {
            let _ = ops::delete(root, &id, true);
            return Err(e.into());
        }
    };
    ward::profile::mark("run: started");
    if a.detach {
        return Ok(0);
    }
    let pid = c.pid().context("container has no init pid")?;
    let code = wait_serving(pid, pty);
    ward::profile::mark("run: container exited");
    if !a.keep {
        ops::delete(root, &id, true)?;
        ward::profile::mark("run: deleted");
    }
    code
}

/// Waits for a foreground process, first copying between its pty (when ward
/// serves one) and ward's stdio.
fn wait_serving(pid: Pid, pty: Option<std::os::fd::OwnedFd>) -> Result<i32> {
    let (output, _raw) = match pty {
        Some(m) => {
            super::tty::copy_window_size(&m);
            let raw = super::tty::RawGuard::new();
            (Some(super::tty::proxy(m)?), Some(raw))
        }
        None => (None, None),
    };
    let code = wait_forwarding(pid);
    if let Some(t) = output {
        // Everything the process wrote to the pty, up to its last close.
        let _ = t.join();
    }
    code
}

/// `process.terminal` of the bundle's config.json (false if unreadable:
/// create reports a broken bundle itself).
fn wants_terminal(bundle: &std::path::Path) -> bool {
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
        .and_then(|v| v.pointer("/process/terminal").and_then(|t| t.as_bool()))
        .unwrap_or(false)
}

fn exec_process(root: &StateRoot, a: ExecArgs) -> Result<i32> {
    if a.process.is_none() && a.command.is_empty() {
        bail!("exec: give a command or --process FILE");
    }
    let user = match &a.user {
        None => None,
        Some(u) => Some(parse_user(u)?),
    };
    // A foreground process with a terminal and no console socket: ward
    // serves the pty, as for `run`.
    let process = match &a.process {
        Some(p) => {
            exec::seal_for(root, &a.id)?;
            let text = std::fs::read(p)
                .with_context(|| format!("{}: cannot read the process file", p.display()))?;
            Some((p.clone(), text))
        }
        None => None,
    };
    let terminal = match &process {
        Some((_, text)) => serde_json::from_slice::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.pointer("/terminal").and_then(|t| t.as_bool()))
            .unwrap_or(false),
        None => a.tty,
    };
    let console = if terminal && !a.detach && a.console_socket.is_none() {
        Some(super::tty::Console::listen()?)
    } else {
        None
    };
    let opts = exec::ExecOpts {
        id: a.id.clone(),
        process,
        args: a.command.clone(),
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        console_socket: console
            .as_ref()
            .map(|c| c.socket_path())
            .or_else(|| a.console_socket.clone()),
        pidfd_socket: a.pidfd_socket.clone(),
        tty: a.tty,
        cwd: a.cwd.clone(),
        env: a.env.clone(),
        user,
        additional_gids: a.additional_gids.clone(),
        caps: a.cap.clone(),
        no_new_privs: a.no_new_privs,
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        cgroups: a.cgroup.clone(),
    };
    let pid = exec::exec(root, &opts)?;
    if a.detach {
        return Ok(0);
    }
    let pty = match console {
        Some(c) => Some(c.master()?),
        None => None,
    };
    wait_serving(pid, pty)
}

fn parse_user(u: &str) -> Result<(u32, Option<u32>)> {
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    let uid: u32 = uid
        .parse()
        .with_context(|| format!("--user {u:?}: uid must be a number"))?;
    let gid = match gid {
        Some(g) => Some(
            g.parse()
                .with_context(|| format!("--user {u:?}: gid must be a number"))?,
        ),
        None => None,
    };
    Ok((uid, gid))
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Waits for a foreground process, forwarding the signals a terminal or a
/// supervisor would send to ward; returns its exit code (128+N for a signal).
fn wait_forwarding(pid: Pid) -> Result<i32> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    CHILD.store(pid.as_raw(), Ordering::Relaxed);
    let act = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        // SAFETY: the handler only calls kill(2) on an atomic pid.
        unsafe { sigaction(s, &act) }.context("installing signal forwarding")?;
    }
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context(format!("waiting for process {pid}")),
        }
    }
}

fn list(root: &StateRoot, format: OutFormat, quiet: bool) -> Result<i32> {
    let all = info::list(root)?;
    if quiet {
        for c in &all {
            println!("{}", c.id);
        }
        return Ok(0);
    }
    match format {
        OutFormat::Json => println!("{}", serde_json::to_string(&all)?),
        OutFormat::Table => {
            let rows: Vec<[String; 6]> = all
                .iter()
                .map(|c| {
                    [
                        c.id.clone(),
                        c.pid.to_string(),
                        c.status.clone(),
                        c.bundle.display().to_string(),
                        c.created.clone(),
                        c.owner.clone(),
                    ]
                })
                .collect();
            print_table(
                &["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
                &rows,
            );
        }
    }
    Ok(0)
}

fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut w = [0usize; N];
    for (i, h) in header.iter().enumerate() {
        w[i] = h.len();
    }
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{:<width$}", c, width = w[i] + 4));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(|s| s.as_str()).collect());
    }
}

fn ps(root: &StateRoot, id: &str, format: OutFormat, ps_args: &[String]) -> Result<i32> {
    let pids = info::pids(root, id)?;
    if format == OutFormat::Json {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .output()
        .context("running ps(1)")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for l in lines {
        let pid: Option<i32> = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{l}");
        }
    }
    Ok(0)
}

fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let t = s.trim();
    let (num, unit) = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| t.split_at(i))
        .unwrap_or((t, "s"));
    let n: f64 = num
        .parse()
        .with_context(|| format!("--interval {s:?}: not a duration like 5s or 500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("--interval {s:?}: unknown unit {unit:?} (ms, s, m, h)"),
    };
    if secs <= 0.0 {
        bail!("--interval {s:?}: must be positive");
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

fn events(root: &StateRoot, id: &str, stats: bool, interval: &str) -> Result<i32> {
    let every = parse_duration(interval)?;
    let print = |ev: &info::Event| -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string(ev)?)?;
        out.flush()?;
        Ok(())
    };
    // Between stats records, the OOM killer's count is watched often enough
    // that each kill is reported as an `oom` event, as runc does.
    let tick = every.min(std::time::Duration::from_millis(200));
    let mut ooms = info::oom_kills(root, id);
    loop {
        print(&info::stats(root, id)?)?;
        if stats {
            return Ok(0);
        }
        let next = std::time::Instant::now() + every;
        while std::time::Instant::now() < next {
            std::thread::sleep(tick.min(next.saturating_duration_since(std::time::Instant::now())));
            let now = info::oom_kills(root, id);
            if let (Some(before), Some(n)) = (ooms, now) {
                if n > before {
                    print(&info::Event {
                        typ: "oom",
                        id: id.to_string(),
                        data: None,
                    })?;
                }
            }
            ooms = now.or(ooms);
        }
    }
}

fn parse_bytes(flag: &str, s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: i64 = num
        .parse()
        .with_context(|| format!("--{flag} {s:?}: not a size"))?;
    n.checked_mul(mult)
        .with_context(|| format!("--{flag} {s:?}: too large"))
}

fn update_resources(a: &UpdateArgs) -> Result<LinuxResources> {
    let mut res: LinuxResources = match a.resources.as_deref() {
        Some(src) => {
            let mut text = String::new();
            if src == "-" {
                std::io::stdin().read_to_string(&mut text)?;
            } else {
                text = std::fs::read_to_string(src).with_context(|| format!("reading {src}"))?;
            }
            serde_json::from_str(&text)
                .with_context(|| format!("--resources {src}: invalid JSON"))?
        }
        None => LinuxResourcesBuilder::default().build()?,
    };
    if a.kernel_memory.is_some() || a.kernel_memory_tcp.is_some() {
        tracing::warn!("Kernel memory settings are ignored and will be removed");
    }
    let mut mem = (*res.memory()).unwrap_or_default();
    let mut mem_set = false;
    if let Some(m) = &a.memory {
        mem.set_limit(Some(parse_bytes("memory", m)?));
        mem_set = true;
    }
    if let Some(m) = &a.memory_reservation {
        mem.set_reservation(Some(parse_bytes("memory-reservation", m)?));
        mem_set = true;
    }
    if let Some(m) = &a.memory_swap {
        mem.set_swap(Some(parse_bytes("memory-swap", m)?));
        mem_set = true;
    }
    if mem_set {
        res.set_memory(Some(mem));
    }
    let mut cpu = res.cpu().clone().unwrap_or_default();
    let mut cpu_set = false;
    if let Some(v) = a.cpu_period {
        cpu.set_period(Some(v));
        cpu_set = true;
    }
    if let Some(v) = a.cpu_quota {
        cpu.set_quota(Some(v));
        cpu_set = true;
    }
    if let Some(v) = a.cpu_shares {
        cpu.set_shares(Some(v));
        cpu_set = true;
    }
    if let Some(v) = a.cpu_burst {
        cpu.set_burst(Some(v));
        cpu_set = true;
    }
    if let Some(v) = a.cpu_idle {
        cpu.set_idle(Some(v));
        cpu_set = true;
    }
    if let Some(v) = a.cpu_rt_period {
        cpu.set_realtime_period(Some(v));
        cpu_set = true;
    }
    if let Some(v) = a.cpu_rt_runtime {
        cpu.set_realtime_runtime(Some(v));
        cpu_set = true;
    }
    if let Some(v) = &a.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
        cpu_set = true;
    }
    if let Some(v) = &a.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
        cpu_set = true;
    }
    if cpu_set {
        res.set_cpu(Some(cpu));
    }
    if let Some(p) = a.pids_limit {
        res.set_pids(Some(
            oci_spec::runtime::LinuxPidsBuilder::default()
                .limit(p)
                .build()?,
        ));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = res.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        res.set_block_io(Some(b));
    }
    Ok(res)
}
