//! Accounts (PROTOCOL.md section 5.1): a nick bound to the identity key of the
//! first keyed session welcomed under it.
//!
//! The storage is an interface, [`Accounts`], so that a clustered bus can keep
//! the bindings in its key-value store; the first implementation is
//! [`SqliteStore`](super::accounts_sqlite::SqliteStore), in the server's
//! database. What the sessions do with it lives here too: which nicks a
//! CLIENT_HELLO may not get ([`Service::reserved`]), binding a nick at
//! WELCOME ([`Service::bind`]) and whether a NICK may take a name
//! ([`Service::may_take`]).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use dhchat_core::identity::PublicKey;

use super::bus::BusFuture;
use super::offline::Offline;

/// A future returned by an account or offline-message store.
pub type StoreFuture<'a, T> = BusFuture<'a, Result<T, StoreError>>;

/// The account store failed (database error, corrupt row, store gone). The
/// text is for the operator's log; it holds no message text and no key
/// material beyond public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// One account: a nick (its first spelling) and the key that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The nick as first welcomed.
    pub nick: String,
    /// The owner's identity key.
    pub key: PublicKey,
    /// When it was created, ms since the Unix epoch.
    pub created_ms: u64,
}

/// The outcome of [`Accounts::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The nick was not an account; it now belongs to the key.
    Created,
    /// The nick already belonged to this key.
    Owner,
    /// The nick belongs to another key.
    Other,
}

/// Where the nick-to-key bindings are kept.
pub trait Accounts: Send + Sync {
    /// The account called `nick` (case-insensitively), if there is one.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be read.
    fn owner<'a>(&'a self, nick: &'a str) -> StoreFuture<'a, Option<Account>>;

    /// The lookup keys ([`super::bus::key`]) of the accounts whose nick starts with
    /// `prefix` (case-insensitively) and that `owner` does not own (all of
    /// them for an anonymous session).
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be read.
    fn others_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
        owner: Option<PublicKey>,
    ) -> StoreFuture<'a, Vec<String>>;

    /// Binds `nick` to `owner` unless it is an account already.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be written.
    fn claim<'a>(&'a self, nick: &'a str, owner: PublicKey) -> StoreFuture<'a, Claim>;

    /// Every account, by nick.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be read.
    fn list(&self) -> StoreFuture<'_, Vec<Account>>;

    /// Releases the account `nick` and drops the direct messages waiting for
    /// it (they were addressed to the old owner). False if it was not an
    /// account.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be written.
    fn release<'a>(&'a self, nick: &'a str) -> StoreFuture<'a, bool>;
}

/// The account services of a server that has accounts enabled.
#[derive(Clone)]
pub struct Service {
    /// The bindings.
    pub accounts: Arc<dyn Accounts>,
    /// Direct messages waiting for offline owners.
    pub offline: Arc<dyn Offline>,
    /// Most messages waiting per account (`--offline-max`).
    pub offline_max: u32,
}

/// The characters of a nick that every free variant of it keeps (a variant
/// appends a number and may shorten the nick to stay within 32 bytes; the
/// hub tries at most as many variants as clients, far below 10^10).
const VARIANT_KEEPS: usize = dhchat_core::names::MAX_NICK - 10;

impl Service {
    /// The lookup keys of the nicks near `wanted` (itself and its free
    /// variants) that are accounts of someone other than `owner`: a
    /// CLIENT_HELLO asking for `wanted` gets none of them.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be read.
    pub async fn reserved(
        &self,
        wanted: &str,
        owner: Option<PublicKey>,
    ) -> Result<HashSet<String>, StoreError> {
        let keep = wanted.len().min(VARIANT_KEEPS);
        let prefix = wanted.get(..keep).unwrap_or(wanted);
        let keys = self.accounts.others_with_prefix(prefix, owner).await?;
        Ok(keys.into_iter().collect())
    }

    /// Binds `nick` to `owner` at WELCOME (section 5.1: the first keyed
    /// session welcomed under a nick that is not an account makes it one).
    /// [`Claim::Other`] if another key owns it (the caller picks again).
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be written.
    pub async fn bind(&self, nick: &str, owner: PublicKey) -> Result<Claim, StoreError> {
        self.accounts.claim(nick, owner).await
    }

    /// Whether a session with `owner` may take `nick` by NICK, and whether
    /// it is then the account's proven owner.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be read.
    pub async fn may_take(
        &self,
        nick: &str,
        owner: Option<PublicKey>,
    ) -> Result<Taking, StoreError> {
        Ok(match self.accounts.owner(nick).await? {
            None => Taking::Free,
            Some(a) if Some(a.key) == owner => Taking::Own,
            Some(_) => Taking::Refused,
        })
    }

    /// The account `nick` is, if any (for a direct message to a nick that
    /// is not connected).
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be read.
    pub async fn account(&self, nick: &str) -> Result<Option<Account>, StoreError> {
        self.accounts.owner(nick).await
    }
}

/// Whether NICK may take a nick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taking {
    /// Not an account: anyone may take it (no account is made by NICK).
    Free,
    /// The session's own account: taken, with flags bit 2 from then on.
    Own,
    /// Another key's account: ERROR 5.
    Refused,
}

/// Why [`admit`] did not register a client.
#[derive(Debug)]
pub enum AdmitError {
    /// At the client cap, or shutting down.
    Busy,
    /// The account store failed; the client cannot be given a nick safely.
    Store(StoreError),
}

/// Registers a client on the bus under `wanted` or a free variant that is
/// no other key's account and, if it proved `owner`, binds the assigned nick
/// to it (creating the account, or finding it its own). Returns the
/// registration and whether the session is the account's proven owner.
///
/// # Errors
/// [`AdmitError::Busy`] at the client cap; [`AdmitError::Store`] if the
/// store fails (or keeps losing races for the nick).
pub async fn admit(
    service: &Service,
    bus: &dyn super::bus::Bus,
    hub: &super::rooms::Hub,
    wanted: &str,
    owner: Option<PublicKey>,
    welcome: &(dyn Fn(&str) -> super::event::Event + Sync),
) -> Result<(super::bus::Registered, bool), AdmitError> {
    // Another key can claim a variant between the read of the reserved
    // nicks and the claim below only by finishing its own WELCOME under it
    // in that window; a few rounds settle it.
    for _ in 0..4 {
        let reserved = service
            .reserved(wanted, owner)
            .await
            .map_err(AdmitError::Store)?;
        let reg = bus
            .register(wanted, &reserved, welcome)
            .await
            .map_err(|_| AdmitError::Busy)?;
        let Some(key) = owner else {
            return Ok((reg, false));
        };
        match service.bind(&reg.nick, key).await {
            Ok(Claim::Created | Claim::Owner) => {
                hub.set_account(reg.id, true);
                return Ok((reg, true));
            }
            Ok(Claim::Other) => bus.unregister(reg.id, "nick claimed meanwhile"),
            Err(e) => {
                bus.unregister(reg.id, "account store failed");
                return Err(AdmitError::Store(e));
            }
        }
    }
    Err(AdmitError::Store(StoreError(
        "no nick could be bound: others kept claiming the variants".into(),
    )))
}
