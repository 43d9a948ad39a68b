//! `dhchat-client`, the terminal chat client.
//!
//! The network side ([`session`]) is independent of presentation: it turns
//! received messages into [`session::Event`]s and sends
//! [`session::Action`]s. Interactive mode ([`ui`]) renders the events with
//! ratatui; batch mode ([`batch`]) prints them as JSON lines. Both parse the
//! user's lines with [`commands`]. Trust follows SSH: a known-hosts file
//! ([`known_hosts`]), a question on first contact (interactive), or
//! `--accept-new` (batch). Exit codes are listed in [`exit`].

pub mod batch;
pub mod cli;
pub mod commands;
pub mod exit;
pub mod known_hosts;
pub mod legacy; // LEGACY HOOK
pub mod session;
pub mod ui;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dhchat_core::identity::IdentityKey;
use dhchat_core::names::is_valid_nick;
use time::UtcOffset;

use self::cli::{Cli, Sub, Target};
use self::exit::{Failure, Kind};
use self::session::{ConnectError, Established, HostTrust, TrustPolicy};

/// Runs the client with the process's arguments; returns its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Sub::Keygen { file }) = &cli.command {
        return keygen(file);
    }
    // Read the local offset while the process has one thread (the `time`
    // crate refuses later); fall back to UTC.
    let offset = UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&Failure::local(format!("cannot start the runtime: {e}"))),
    };
    let result = runtime.block_on(run(cli, offset));
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => fail(&f),
    }
}

fn fail(f: &Failure) -> ExitCode {
    eprintln!("dhchat-client: {}", f.message);
    f.exit_code()
}

fn usage(msg: &str) -> Failure {
    Failure {
        kind: Kind::Local,
        message: msg.to_string(),
    }
}

fn keygen(file: &std::path::Path) -> ExitCode {
    let key = IdentityKey::generate(&mut crate::rng::new_rng());
    match crate::keyfile::create(file, &key) {
        Ok(()) => {
            println!("{}", key.public_key());
            eprintln!(
                "dhchat-client: wrote a new identity key to {} (mode 0600)",
                file.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&Failure::local(e.to_string())),
    }
}

async fn run(cli: Cli, offset: UtcOffset) -> Result<(), Failure> {
    // LEGACY HOOK: --legacy runs the legacy session in the same UI and batch mode.
    if let Some(server) = &cli.legacy {
        let target = legacy::parse_target(server).map_err(|e| usage(&e))?;
        eprintln!("dhchat-client: {}", legacy::WARNING);
        let (running, welcome) = legacy::connect(&target).await?;
        let linger = Duration::from_secs(cli.linger);
        return if !cli.batch && std::io::stdin().is_terminal() {
            ui::run(running, &target.entry(), &welcome, None, offset).await
        } else {
            batch::run(running, &welcome, None, linger).await
        };
    }
    let target = match &cli.server {
        Some(s) => cli::parse_target(s).map_err(|e| usage(&e))?,
        None => Target {
            host: cli::DEFAULT_HOST.to_string(),
            port: cli::DEFAULT_PORT,
        },
    };
    let nick = match &cli.nick {
        Some(n) if is_valid_nick(n) => n.clone(),
        Some(n) => {
            return Err(usage(&format!(
                "invalid nick \"{}\": a nick is 1-32 of A-Z a-z 0-9 _ -",
                dhchat_core::names::Escaped(n)
            )))
        }
        None => cli::nick_from_user(std::env::var("USER").ok().as_deref()),
    };
    let room = match &cli.room {
        Some(r) => {
            let room = cli::as_room(r);
            if !dhchat_core::names::is_valid_room(&room) {
                return Err(usage(&format!(
                    "invalid room \"{}\": a room is # and 1-31 of A-Z a-z 0-9 _ -",
                    dhchat_core::names::Escaped(r)
                )));
            }
            Some(room)
        }
        None => None,
    };
    let identity = match &cli.identity {
        Some(path) => Some(crate::keyfile::load(path).map_err(|e| Failure::local(e.to_string()))?),
        None => None,
    };
    let policy = match cli.server_key {
        Some(key) => TrustPolicy::Pinned(key),
        None => {
            let path = match &cli.known_hosts {
                Some(p) => p.clone(),
                None => known_hosts::default_path().ok_or_else(|| {
                    Failure::local("no configuration directory for the known-hosts file; pass --known-hosts FILE")
                })?,
            };
            TrustPolicy::KnownHosts {
                path,
                accept_new: cli.accept_new,
            }
        }
    };
    let interactive = !cli.batch && std::io::stdin().is_terminal();
    let est = establish(
        &target,
        &nick,
        identity.as_ref(),
        cli.min_group_bits,
        &policy,
        interactive,
    )
    .await?;
    let welcome = est.welcome.clone();
    let running = session::spawn(est);
    if interactive {
        ui::run(running, &target.entry(), &welcome, room, offset).await
    } else {
        batch::run(running, &welcome, room, Duration::from_secs(cli.linger)).await
    }
}

/// Connects; in interactive mode an unknown key is shown and, if the user
/// trusts it, recorded before connecting again (the first connection's
/// handshake deadline may have passed while the user read).
async fn establish(
    target: &Target,
    nick: &str,
    identity: Option<&IdentityKey>,
    min_group_bits: u32,
    policy: &TrustPolicy,
    interactive: bool,
) -> Result<Established, Failure> {
    let mut trust = HostTrust::new(policy.clone(), target)?;
    match session::connect(target, nick, identity, min_group_bits, &mut trust).await {
        Ok(est) => Ok(est),
        Err(ConnectError::UnknownKey(key, failure)) if interactive => {
            let TrustPolicy::KnownHosts { path, .. } = policy else {
                return Err(failure);
            };
            let entry = target.entry();
            let question = format!(
                "The server {entry} is not in {}.\nIts key is {key}\nCheck it with the server's operator. \
                 Trust this server? [y/N] ",
                path.display()
            );
            let yes = tokio::task::spawn_blocking(move || ask(&question))
                .await
                .unwrap_or(false);
            if !yes {
                return Err(Failure::new(
                    Kind::Trust,
                    format!("the server key {key} of {entry} was not trusted; nothing was sent"),
                ));
            }
            known_hosts::append(path, &entry, &key).map_err(Failure::local)?;
            eprintln!(
                "Recorded {entry} {key} in {}; connecting again.",
                path.display()
            );
            let mut trust = HostTrust::new(policy.clone(), target)?;
            session::connect(target, nick, identity, min_group_bits, &mut trust)
                .await
                .map_err(ConnectError::into_failure)
        }
        Err(e) => Err(e.into_failure()),
    }
}

/// Asks a yes/no question on stderr and reads the answer from stdin.
fn ask(question: &str) -> bool {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}
