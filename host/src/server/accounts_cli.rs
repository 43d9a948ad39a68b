//! `dhchat-server accounts list|release NICK [--data-dir DIR]`: the
//! operator's commands on the accounts of a data directory.
//!
//! They open the server's database beside a running server (WAL mode, busy
//! timeout, one short transaction each), so they are safe while it runs; a
//! released nick is free for the next CLIENT_HELLO or NICK at once, since
//! the server reads the bindings from the database at each of them.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use super::accounts_sqlite::{self, SqliteStore};
use super::config::AccountsCommand;
use super::DB_FILE;

/// Runs one accounts command, writing its answer to `out`.
///
/// # Errors
/// A data directory without a database, database errors, a release of a
/// nick that is not an account.
pub fn run(cmd: &AccountsCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match cmd {
        AccountsCommand::List { data_dir } => {
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
        AccountsCommand::Release { nick, data_dir } => {
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
