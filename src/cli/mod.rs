//! The command line, as runc has it: global flags, then a subcommand.
//! Parsing yields plain data; validation and action happen in `commands`.

pub mod commands;
mod tty;

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Help in runc's (urfave/cli) layout: a `NAME:` section whose next line is
/// "BIN COMMAND - what it does", which scripts written for runc read.
const HELP_TEMPLATE: &str =
    "NAME:\n   {bin} - {about}\n\nUSAGE:\n   {usage}\n\n{all-args}{after-help}";

/// Parses the command line with runc's help layout on every command.
pub fn parse() -> Result<Cli, clap::Error> {
    let bin = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "ward".into());
    let cmd = Cli::command()
        .help_template(HELP_TEMPLATE)
        .mut_subcommands(|s| {
            let rest = HELP_TEMPLATE.split_once("{bin}").map_or("", |(_, r)| r);
            let t = format!("NAME:\n   {bin} {}{rest}", s.get_name());
            s.help_template(t)
        });
    let mut matches = cmd.try_get_matches()?;
    Cli::from_arg_matches_mut(&mut matches)
}

/// runc's words for `runc foo -h` with an unknown `foo`; None when `args`
/// is not such a request.
pub fn unknown_help_topic(args: &[String]) -> Option<String> {
    let wants_help = args.iter().any(|a| a == "-h" || a == "--help");
    // The first word that is neither a flag nor the value of a global flag.
    let mut words = args.iter().skip(1);
    let first = loop {
        let a = words.next()?;
        if ["--root", "--log", "--log-format", "--relax", "--criu"].contains(&a.as_str()) {
            words.next();
        } else if !a.starts_with('-') {
            break a;
        }
    };
    let known = Cli::command()
        .get_subcommands()
        .any(|s| s.get_name() == first || s.get_all_aliases().any(|a| a == first))
        || first == "help";
    (wants_help && !known).then(|| format!("No help topic for '{first}'"))
}

#[derive(Parser, Debug)]
#[command(
    name = "ward",
    about = "a minimal, secure-by-default OCI container runtime",
    disable_version_flag = true
)]
pub struct Cli {
    /// Root directory for container state (default /run/ward for root).
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Verbose logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Relax one of ward's layers for the containers this call creates, as the
    /// `run.ward.LAYER` annotation would (for clients that pass no annotations,
    /// e.g. Docker's daemon.json `runtimeArgs`). Repeatable.
    #[arg(long = "relax", global = true, value_name = "LAYER=VALUE")]
    pub relax: Vec<String>,
    /// Manage cgroups with systemd.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility; rootless is detected from the uid.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Accepted for runc compatibility (ward does not checkpoint).
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// Print version information.
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutFormat {
    Table,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Path to the bundle directory.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master of a terminal container.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the init process.
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// File to write the init process's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (from 3) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    pub id: String,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach from the container's process.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container's state after it exits.
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility.
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ExecArgs {
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Environment variables (KEY=VALUE).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// uid[:gid] to run as.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional gids.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// process.json describing the process (instead of args).
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Always on under ward unless `run.ward.nnp=spec` relaxes it.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability (still bounded by ward's policy).
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    #[arg(long)]
    pub cgroup: Vec<String>,
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    pub id: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// runc's `update` flags; -1 means "no limit" where runc accepts it.
#[derive(Args, Debug, Clone, Default)]
pub struct UpdateArgs {
    /// Resources JSON file (linux.resources format), '-' for stdin.
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPU burst (cpu.cfs_burst_us), in microseconds.
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime", allow_negative_numbers = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// SCHED_IDLE for the container's cgroup (cpu.idle): 0 or 1.
    #[arg(long = "cpu-idle", allow_negative_numbers = true)]
    pub cpu_idle: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 for none).
    #[arg(long, allow_negative_numbers = true)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation", allow_negative_numbers = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 for none).
    #[arg(long = "memory-swap", allow_negative_numbers = true)]
    pub memory_swap: Option<String>,
    /// Accepted and ignored, as by runc (kernel memory limits are gone).
    #[arg(long = "kernel-memory", allow_negative_numbers = true, hide = true)]
    pub kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp", allow_negative_numbers = true, hide = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Maximum number of pids (-1 for none; 0 means 1, as in runc).
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    pub id: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container from a bundle.
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Create and start a container.
    Run(RunArgs),
    /// Output the state of a container.
    State { id: String },
    /// Send a signal to the container's init process.
    Kill {
        /// Signal all processes of the container.
        #[arg(short = 'a', long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container.
    Delete {
        #[arg(short = 'f', long)]
        force: bool,
        id: String,
    },
    /// List containers.
    List {
        #[arg(short = 'f', long, value_enum, default_value = "table")]
        format: OutFormat,
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// List the processes of a container.
    Ps {
        #[arg(short = 'f', long, value_enum, default_value = "table")]
        format: OutFormat,
        id: String,
        /// Arguments passed to ps(1).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// Freeze all processes of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Show container events and resource usage.
    Events {
        /// Print one stats record and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between stats records (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Update a container's resource limits.
    Update(UpdateArgs),
    /// Write a default config.json.
    Spec {
        #[arg(short = 'b', long, default_value = ".")]
        bundle: PathBuf,
        #[arg(long)]
        rootless: bool,
    },
    /// Print the OCI features document.
    Features,
    /// Checkpoint a running container (not supported: ward has no CRIU support).
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Restore a container from a checkpoint (not supported: ward has no CRIU support).
    Restore {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print the security posture in force for a container.
    Inspect {
        #[arg(short = 'f', long, value_enum, default_value = "table")]
        format: OutFormat,
        id: String,
    },
}

impl Command {
    /// The exit code of a failed command: runc's `exec` exits 255 when it
    /// could not run the process (so a caller tells it from the process's own
    /// exit codes), every other command 1.
    pub fn failure_code(&self) -> i32 {
        match self {
            Command::Exec(_) => 255,
            _ => 1,
        }
    }

    /// Commands whose whole job is printing to stdout (no container processes
    /// or sockets involved).
    pub fn only_prints(&self) -> bool {
        matches!(
            self,
            Command::State { .. }
                | Command::List { .. }
                | Command::Ps { .. }
                | Command::Events { .. }
                | Command::Features
                | Command::Inspect { .. }
        )
    }
}
