//! The ward binary: the CLI edge. Errors become one line on stderr (and the
//! last error line of `--log`), and a non-zero exit code.

mod cli;

fn main() {
    ward::profile::mark("main entered");
    ward::selfprotect::note_startup();
    ward::testpoint::init();
    let parsed = match cli::parse() {
        Ok(c) => c,
        Err(e) => {
            let args: Vec<String> = std::env::args().collect();
            if let Some(msg) = cli::unknown_help_topic(&args) {
                eprintln!("{msg}");
                std::process::exit(3);
            }
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let failure = parsed
        .command
        .as_ref()
        .map_or(1, cli::Command::failure_code);
    let code = match cli::commands::run(parsed) {
        Ok(code) => code,
        Err(e) => {
            let msg = render(&e);
            ward::logging::final_error(&msg);
            eprintln!("ward: {msg}");
            failure
        }
    };
    std::process::exit(code);
}

/// The error and its causes on one line, each said once: many of ward's and
/// libcontainer's errors already print their cause in their own message, so
/// anyhow's `{:#}` would repeat it.
fn render(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let s = cause.to_string();
        if !s.is_empty() && !msg.contains(&s) {
            msg.push_str(": ");
            msg.push_str(&s);
        }
    }
    msg
}
