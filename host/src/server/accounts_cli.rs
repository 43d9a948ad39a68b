//! `dhchat-server accounts list|release NICK [--data-dir DIR | --cluster URLS]`:
//! the operator's commands on the accounts of a data directory or of a
//! cluster.
//!
//! On a data directory they open the server's database beside a running
//! server (WAL mode, busy timeout, one short transaction each), so they are
//! safe while it runs; a released nick is free for the next CLIENT_HELLO or
//! NICK at once, since the server reads the bindings from the database at
//! each of them.
//!
//! With `--cluster` (and the nodes' `--cluster-name` and NATS credentials
//! options) they act on the cluster's account bucket and offline stream
//! instead: a release is one delete in the bucket, seen by every node (NICK
//! and direct messages at once, the choice of free variants within moments)
//! and the account's waiting messages are purged.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use super::accounts::Accounts as _;
use super::accounts_sqlite::{self, SqliteStore};
use super::cluster::accounts::ClusterAccounts;
use super::cluster::names::Names;
use super::cluster::{self, ClusterOptions};
use super::config::AccountsCommand;
use super::DB_FILE;

/// Runs one accounts command, writing its answer to `out`.
///
/// # Errors
/// A data directory without a database, database errors, a cluster that
/// cannot be reached or has no account bucket, a release of a nick that is
/// not an account.
pub fn run(cmd: &AccountsCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let cluster = match cmd {
        AccountsCommand::List { cluster, .. } | AccountsCommand::Release { cluster, .. } => {
            cluster.options()
        }
    };
    if cluster.enabled() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the runtime")?;
        return runtime.block_on(run_cluster(cmd, &cluster, out));
    }
    match cmd {
        AccountsCommand::List { data_dir, .. } => {
            let store = open(data_dir)?;
            let accounts = store.list_now()?;
            if accounts.is_empty() {
                writeln!(out, "no accounts")?;
            }
            for a in accounts {
                let waiting = store.waiting_count(&a.nick)?;
                writeln!(
                    out,
                    "{} {} created_ms={} waiting={waiting}",
                    a.nick, a.key, a.created_ms
                )?;
            }
            Ok(())
        }
        AccountsCommand::Release { nick, data_dir, .. } => {
            let store = open(data_dir)?;
            if store.release_now(nick)? {
                writeln!(out, "released {nick}")?;
                Ok(())
            } else {
                anyhow::bail!("{nick} is not an account")
            }
        }
    }
}

async fn run_cluster(
    cmd: &AccountsCommand,
    options: &ClusterOptions,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let js = cluster::connect_operator(options).await?;
    let names = Names::new(&options.cluster_name);
    let store = ClusterAccounts::open(&js, &names).await.with_context(|| {
        format!(
            "cluster {}: no accounts set up (has a node with accounts run?)",
            options.cluster_name
        )
    })?;
    match cmd {
        AccountsCommand::List { .. } => {
            let entries = store.entries().await?;
            if entries.is_empty() {
                writeln!(out, "no accounts")?;
            }
            for (nick, entry) in entries {
                match entry {
                    Ok(a) => {
                        let waiting = store.waiting_count(&a.nick).await?;
                        writeln!(
                            out,
                            "{} {} created_ms={} waiting={waiting}",
                            a.nick, a.key, a.created_ms
                        )?;
                    }
                    // Given to nobody until released.
                    Err(why) => writeln!(out, "{nick} not-valid ({why}): release it")?,
                }
            }
            Ok(())
        }
        AccountsCommand::Release { nick, .. } => {
            if store.release(nick).await? {
                writeln!(out, "released {nick}")?;
                Ok(())
            } else {
                anyhow::bail!("{nick} is not an account")
            }
        }
    }
}

fn open(data_dir: &Path) -> anyhow::Result<SqliteStore> {
    let path = data_dir.join(DB_FILE);
    anyhow::ensure!(
        path.exists(),
        "{}: no database (is --data-dir the server's?)",
        path.display()
    );
    let db = accounts_sqlite::open(&path).context("opening the accounts")?;
    Ok(SqliteStore::new(db))
}
