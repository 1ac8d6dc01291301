//! `bngdump [--check] CAPTURE...`: one line per frame with the decoded BNG protocol
//! fields (PPPoE, PPP, DHCPv4/v6, RADIUS, IKEv2, ESP as the crates grow).
//!
//! With `--check`, every message that parses is re-emitted and compared with the
//! captured bytes; the exit status is 1 if any differs.

#![allow(clippy::std_instead_of_core, reason = "a std binary")]

use std::path::PathBuf;
use std::process::ExitCode;

use bng_examples::dump::{Check, decode};
use bng_testkit::corpus::read_capture;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Decode BNG protocols in pcap/pcapng captures")]
struct Args {
    /// Re-emit every parsed message and compare it with the captured bytes.
    #[arg(long)]
    check: bool,
    /// Capture files (pcap or pcapng).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (mut same, mut differs, mut failed) = (0usize, 0usize, 0usize);
    for f in &args.files {
        if !f.is_file() {
            eprintln!("bngdump: {}: no such file", f.display());
            return ExitCode::from(2);
        }
        read_capture(f, |frame| {
            let line = decode(frame);
            let tag = match line.check {
                Check::Same => {
                    same += 1;
                    " [re-emit ok]"
                }
                Check::Differs => {
                    differs += 1;
                    " [RE-EMIT DIFFERS]"
                }
                Check::ParseFailed => {
                    failed += 1;
                    ""
                }
                Check::NotApplicable => "",
            };
            let tag = if args.check { tag } else { "" };
            println!("{}:{} {}{tag}", f.display(), frame.number, line.text);
        });
    }
    if args.check {
        println!("check: {same} re-emitted identically, {differs} differ, {failed} did not parse");
        if differs > 0 {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
