//! `dhchat-server`: the dhchat multi-user chat server. See
//! `dhchat_host::server` and `dhchat-server --help`.

use std::process::ExitCode;

use clap::Parser;
use dhchat_host::server::{self, Args, Command};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Accounts(cmd)) = &args.command {
        return match server::accounts_cli::run(cmd, &mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("dhchat-server: error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = args.check() {
        eprintln!("dhchat-server: error: {e}");
        return ExitCode::from(2);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // DH work runs on the blocking pool; as many threads as cores keeps it
    // from crowding out the threads that serve established sessions.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(cores.max(2))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dhchat-server: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(server::run(args));
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dhchat-server: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
