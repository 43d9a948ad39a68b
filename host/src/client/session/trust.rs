//! The client's trust decision about the server's key: a pin, or the
//! known-hosts file with optional trust on first use.

use std::path::PathBuf;

use dhchat_core::error::TrustError;
use dhchat_core::handshake::ServerTrust;
use dhchat_core::identity::PublicKey;

use crate::client::cli::Target;
use crate::client::exit::{Failure, Kind};
use crate::client::known_hosts::{self, KnownHosts, Lookup};

/// How the server's key is checked.
#[derive(Debug, Clone)]
pub enum TrustPolicy {
    /// Only this key (`--server-key`).
    Pinned(PublicKey),
    /// The known-hosts file.
    KnownHosts {
        /// The file.
        path: PathBuf,
        /// Record and trust an unknown key (`--accept-new`).
        accept_new: bool,
    },
}

/// The trust decision during one handshake, as a [`ServerTrust`].
#[derive(Debug)]
pub struct HostTrust {
    policy: TrustPolicy,
    host: String,
    known: Option<KnownHosts>,
    /// A key accepted as new, to be recorded once the server proved it.
    pending: Option<PublicKey>,
    /// The known-hosts line of a mismatch.
    mismatch: Option<known_hosts::Entry>,
}

impl HostTrust {
    /// The trust for `target` under `policy` (loads the known-hosts file).
    ///
    /// # Errors
    /// A local failure for an unreadable or malformed known-hosts file.
    pub fn new(policy: TrustPolicy, target: &Target) -> Result<Self, Failure> {
        let known = match &policy {
            TrustPolicy::Pinned(_) => None,
            TrustPolicy::KnownHosts { path, .. } => {
                Some(KnownHosts::load(path).map_err(Failure::local)?)
            }
        };
        Ok(Self {
            policy,
            host: target.entry(),
            known,
            pending: None,
            mismatch: None,
        })
    }

    /// Records a key accepted as new (after its signature verified).
    pub(super) fn record_pending(&mut self) -> Result<(), Failure> {
        if let (Some(key), TrustPolicy::KnownHosts { path, .. }) =
            (self.pending.take(), &self.policy)
        {
            known_hosts::append(path, &self.host, &key).map_err(Failure::local)?;
        }
        Ok(())
    }

    /// The failure for a trust error, naming the known-hosts line or pin.
    pub(super) fn failure(&self, e: &TrustError) -> Failure {
        let mut msg = e.to_string();
        match (&self.policy, e) {
            (TrustPolicy::Pinned(_), _) => {
                msg.push_str(" (pinned with --server-key); nothing was sent")
            }
            (TrustPolicy::KnownHosts { path, .. }, TrustError::Mismatch { .. }) => {
                if let Some(entry) = &self.mismatch {
                    msg.push_str(&format!(
                        "; the recorded key is line {} of {}: \"{} {}\"; nothing was sent",
                        entry.line,
                        path.display(),
                        entry.host,
                        entry.key
                    ));
                }
            }
            (TrustPolicy::KnownHosts { path, .. }, TrustError::UnknownKey { .. }) => {
                msg.push_str(&format!(
                    "; {} is not in {}: refused (pass --accept-new to record it, or \
                     --server-key to pin it); nothing was sent",
                    self.host,
                    path.display()
                ));
            }
        }
        Failure::new(Kind::Trust, msg)
    }
}

impl ServerTrust for HostTrust {
    fn check(&mut self, key: &PublicKey) -> Result<(), TrustError> {
        match &self.policy {
            TrustPolicy::Pinned(pin) => {
                let mut pin = *pin;
                pin.check(key)
            }
            TrustPolicy::KnownHosts { accept_new, .. } => {
                let lookup = self
                    .known
                    .as_ref()
                    .map_or(Lookup::Unknown, |k| k.lookup(&self.host, key));
                match lookup {
                    Lookup::Match => Ok(()),
                    Lookup::Mismatch(entry) => {
                        let recorded = entry.key;
                        self.mismatch = Some(entry);
                        Err(TrustError::Mismatch {
                            recorded,
                            received: *key,
                        })
                    }
                    Lookup::Unknown if *accept_new => {
                        self.pending = Some(*key);
                        Ok(())
                    }
                    Lookup::Unknown => Err(TrustError::UnknownKey { received: *key }),
                }
            }
        }
    }
}
