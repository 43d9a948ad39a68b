//! The `--cluster*` command-line options and the NATS connection they make.
//!
//! Secrets are not command-line flags (a command line is visible to every
//! local user): a password or token comes from the environment
//! (`DHCHAT_CLUSTER_PASSWORD`, `DHCHAT_CLUSTER_TOKEN`), an NKey seed or a
//! credentials file from a file.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use zeroize::Zeroizing;

/// Environment variable holding the NATS password for `--cluster-user`.
pub const PASSWORD_ENV: &str = "DHCHAT_CLUSTER_PASSWORD";
/// Environment variable holding a NATS authentication token.
pub const TOKEN_ENV: &str = "DHCHAT_CLUSTER_TOKEN";

/// Cluster mode: several dhchat-server nodes share rooms, history and nicks
/// through NATS JetStream.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterOptions {
    /// Run as one node of a cluster over the NATS servers at URLS
    /// (`nats://HOST:PORT`, comma-separated; `tls://` for TLS). Rooms,
    /// history, nicks and accounts then live in NATS JetStream instead of
    /// the local SQLite database. All nodes must share the same `server.key`
    /// (and agree on --no-accounts and --offline-max).
    #[arg(long = "cluster", value_name = "URLS", value_delimiter = ',')]
    pub urls: Vec<String>,

    /// Name of the cluster: prefix of its NATS subjects, stream and
    /// key-value buckets (letters, digits, `_` and `-`). Nodes with the same
    /// name form one chat service.
    #[arg(long, value_name = "NAME", default_value = "dhchat", value_parser = parse_name)]
    pub cluster_name: String,

    /// JetStream replicas of the stream and buckets. Default: 3 if the NATS
    /// cluster advertises at least 3 servers, else 1; an existing stream
    /// keeps its replicas unless this is given.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=5))]
    pub cluster_replicas: Option<u8>,

    /// Seconds a node's nick reservations and liveness entry live in NATS
    /// without renewal (renewed every third of it): a crashed node's nicks
    /// are free again after at most this long.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_NICK_TTL_SECS, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub cluster_nick_ttl: u64,

    /// Credentials and TLS for the links to NATS.
    #[command(flatten)]
    pub access: NatsAccess,
}

/// How a process authenticates to NATS and secures its links: the flags a
/// node (`--cluster`) and the operator's `accounts --cluster` share.
#[derive(Debug, Clone, clap::Args)]
pub struct NatsAccess {
    /// NATS credentials file (JWT and NKey seed, `.creds`).
    #[arg(long, value_name = "FILE")]
    pub cluster_creds: Option<PathBuf>,

    /// NATS user name; the password is read from DHCHAT_CLUSTER_PASSWORD.
    /// (A token, without a user, is read from DHCHAT_CLUSTER_TOKEN.)
    #[arg(long, value_name = "USER")]
    pub cluster_user: Option<String>,

    /// File holding the NKey seed (`SU...`) to authenticate to NATS with.
    #[arg(long, value_name = "FILE")]
    pub cluster_nkey: Option<PathBuf>,

    /// Require TLS on the links to NATS.
    #[arg(long)]
    pub cluster_tls: bool,

    /// PEM file of the certificate authorities that sign the NATS servers'
    /// certificates (implies TLS).
    #[arg(long, value_name = "FILE")]
    pub cluster_tls_ca: Option<PathBuf>,

    /// PEM client certificate for NATS (mutual TLS; with --cluster-tls-key).
    #[arg(long, value_name = "FILE", requires = "cluster_tls_key")]
    pub cluster_tls_cert: Option<PathBuf>,

    /// PEM private key of --cluster-tls-cert.
    #[arg(long, value_name = "FILE", requires = "cluster_tls_cert")]
    pub cluster_tls_key: Option<PathBuf>,
}

/// The default of `--cluster-nick-ttl`, in seconds.
pub const DEFAULT_NICK_TTL_SECS: u64 = 15;

/// Checks a `--cluster-name`: 1 to 32 letters, digits, `_` or `-`.
///
/// # Errors
/// The rule, for clap to show.
pub fn parse_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "cluster name {s:?}: use 1 to 32 letters, digits, '_' or '-'"
        ))
    }
}

impl ClusterOptions {
    /// True when `--cluster` was given.
    pub fn enabled(&self) -> bool {
        !self.urls.is_empty()
    }

    /// The `async-nats` connection options these flags describe (the
    /// event callback is added by the caller).
    ///
    /// # Errors
    /// Unreadable credentials or NKey files, and a password or token that
    /// is set without what it belongs to.
    pub async fn connect_options(&self) -> anyhow::Result<async_nats::ConnectOptions> {
        let access = &self.access;
        let mut options = match &access.cluster_creds {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .with_context(|| format!("{}: cannot read NATS credentials", path.display()))?,
            None => async_nats::ConnectOptions::new(),
        };
        let password = std::env::var(PASSWORD_ENV).ok().map(Zeroizing::new);
        let token = std::env::var(TOKEN_ENV).ok().map(Zeroizing::new);
        match (&access.cluster_user, password) {
            (Some(user), Some(pass)) => {
                options = options.user_and_password(user.clone(), pass.to_string());
            }
            (Some(_), None) => anyhow::bail!("--cluster-user needs the password in {PASSWORD_ENV}"),
            (None, Some(_)) => anyhow::bail!("{PASSWORD_ENV} is set but --cluster-user is not"),
            (None, None) => {}
        }
        if let Some(token) = token {
            options = options.token(token.to_string());
        }
        if let Some(path) = &access.cluster_nkey {
            let seed = Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("{}: cannot read the NKey seed", path.display()))?,
            );
            options = options.nkey(seed.trim().to_owned());
        }
        if access.cluster_tls
            || access.cluster_tls_ca.is_some()
            || access.cluster_tls_cert.is_some()
        {
            options = options.require_tls(true);
        }
        if let Some(ca) = &access.cluster_tls_ca {
            options = options.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&access.cluster_tls_cert, &access.cluster_tls_key) {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        Ok(options
            .name(format!("dhchat-server {}", self.cluster_name))
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None))
    }

    /// The nick and liveness time to live.
    pub fn nick_ttl(&self) -> Duration {
        Duration::from_secs(self.cluster_nick_ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_single_subject_tokens_of_letters_digits_underscore_and_dash() {
        assert!(parse_name("dhchat").is_ok());
        assert!(parse_name("prod_eu-1").is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(33)] {
            assert!(parse_name(bad).is_err(), "{bad:?}");
        }
    }
}
