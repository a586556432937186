//! Logging in runc's formats: logrus-style JSON lines (`{"level","msg","time"}`)
//! or text, to `--log FILE` or stderr. containerd's shim reads the last
//! `"level":"error"` line of the log file to report a failure.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

pub struct Sink {
    out: Mutex<Box<dyn Write + Send>>,
    format: Format,
    /// Messages from libcontainer are noisy; they go only to a log file or with --debug.
    all_targets: bool,
    max: Level,
    to_file: bool,
}

static FINAL: std::sync::OnceLock<std::sync::Arc<Sink>> = std::sync::OnceLock::new();

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl Sink {
    pub fn write(&self, level: &Level, msg: &str) {
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let line = match self.format {
            Format::Json => {
                serde_json::json!({"level": level_name(level), "msg": msg, "time": time})
                    .to_string()
            }
            Format::Text => format!("time={:?} level={} msg={:?}", time, level_name(level), msg),
        };
        if let Ok(mut o) = self.out.lock() {
            let _ = writeln!(o, "{line}");
            let _ = o.flush();
        }
    }
}

struct Msg(String);

impl Visit for Msg {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={:?}", field.name(), value));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            self.0.push_str(&format!(" {}={:?}", field.name(), value));
        }
    }
}

struct SinkLayer(std::sync::Arc<Sink>);

impl<S: Subscriber> Layer<S> for SinkLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > self.0.max {
            return;
        }
        if !self.0.all_targets && !meta.target().starts_with("ward") {
            return;
        }
        let mut m = Msg(String::new());
        event.record(&mut m);
        self.0.write(meta.level(), m.0.trim());
    }
}

/// Sets up logging for this invocation. Returns an error message if the log
/// file cannot be opened (the caller still reports to stderr).
pub fn init(log: Option<&Path>, format: Format, debug: bool) -> Result<(), String> {
    let (out, to_file): (Box<dyn Write + Send>, bool) = match log {
        Some(p) => match OpenOptions::new().create(true).append(true).open(p) {
            Ok(f) => (Box::new(f), true),
            Err(e) => return Err(format!("opening log file {}: {e}", p.display())),
        },
        None => (Box::new(std::io::stderr()), false),
    };
    let sink = std::sync::Arc::new(Sink {
        out: Mutex::new(out),
        format: if to_file { format } else { Format::Text },
        all_targets: to_file || debug,
        // stderr is read by clients (conmon hands it to podman, which cannot
        // parse extra lines): only errors there; warnings go to --log.
        max: match (debug, to_file) {
            (true, _) => Level::DEBUG,
            (false, true) => Level::WARN,
            (false, false) => Level::ERROR,
        },
        to_file,
    });
    let _ = FINAL.set(sink.clone());
    let _ = tracing_subscriber::registry()
        .with(SinkLayer(sink))
        .try_init();
    Ok(())
}

/// The final error of a failed command, logged last to the log file so it is
/// the line the shim reports (the caller prints it to stderr as well).
pub fn final_error(msg: &str) {
    if let Some(s) = FINAL.get().filter(|s| s.to_file) {
        s.write(&Level::ERROR, msg);
    }
}
