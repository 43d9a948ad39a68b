//! `dhchat-bench`: a load generator for a running dhchat server (see
//! `dhchat_host::bench` and `dhchat-bench --help`).

use std::process::ExitCode;

use clap::Parser;
use dhchat_host::bench::{run, Args};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let report = match run(&args).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dhchat-bench: {e}");
            return ExitCode::from(1);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("dhchat-bench: cannot write the report: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", report.text());
    }
    if report.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
