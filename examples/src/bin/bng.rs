//! `bng`: the PPPoE + IPoE broadband gateway.
//!
//! ```text
//! bng --default-config > bng.toml      # the embedded default (local users, local pool)
//! bng --config bng.toml --check        # validate and exit
//! bng --config bng.toml                # run until SIGINT/SIGTERM
//! ```

#![allow(clippy::std_instead_of_core, reason = "a std binary")]

use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use bng_examples::bng::config::{BackendKind, Config, DEFAULT};
use bng_examples::bng::gateway::{self, Options};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "bngkit broadband gateway: PPPoE and IPoE over the dataplane")]
struct Args {
    /// The configuration file (TOML).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Print the embedded default configuration and exit.
    #[arg(long)]
    default_config: bool,
    /// Validate the configuration and exit.
    #[arg(long)]
    check: bool,
    /// Override both ports' backend: auto, afxdp, afpacket or dpdk (`[dpdk]` in the
    /// config, a build with `--features dpdk`).
    #[arg(long)]
    backend: Option<String>,
    /// Stop after this many seconds (as on SIGTERM: sessions are ended first).
    #[arg(long)]
    seconds: Option<u64>,
    /// Log as JSON lines.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.default_config {
        print!("{DEFAULT}");
        return ExitCode::SUCCESS;
    }
    let Some(path) = &args.config else {
        eprintln!("bng: --config FILE is required (bng --default-config prints a starting point)");
        return ExitCode::from(2);
    };
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bng: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("bng: {}: ok", path.display());
        return ExitCode::SUCCESS;
    }
    let backend = match args.backend.as_deref() {
        None => None,
        Some("auto") => Some(BackendKind::Auto),
        Some("afxdp") => Some(BackendKind::Afxdp),
        Some("afpacket") => Some(BackendKind::Afpacket),
        Some("dpdk") => Some(BackendKind::Dpdk),
        Some(o) => {
            eprintln!("bng: --backend {o}: expected auto, afxdp, afpacket or dpdk");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if args.json {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init();
    }
    let opt = Options {
        backend,
        duration: args.seconds.map(Duration::from_secs),
    };
    match gateway::run(cfg, &opt) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bng: {e}");
            ExitCode::FAILURE
        }
    }
}
