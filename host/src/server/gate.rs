//! The limits applied to a connection before its handshake starts: how many
//! connections one source address may hold, and how many may wait for (or
//! be in) a handshake. A connection let through gets a [`Ticket`] that holds
//! its places and gives them back when dropped.
//!
//! This module imports nothing else from the server: it is the bottom layer
//! the listener and the handshake build on.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The gate's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most connections (established or in handshake) from one address.
    pub max_per_ip: u32,
    /// Most connections waiting for, or in, a handshake.
    pub max_pending: usize,
}

/// Why the gate turned a connection away (it is closed without a byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The source address holds `max_per_ip` connections already.
    TooManyFromAddress,
    /// `max_pending` connections wait for, or are in, a handshake.
    TooManyPending,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::TooManyFromAddress => "too many connections from this address (--max-per-ip)",
            Refused::TooManyPending => "too many handshakes pending",
        })
    }
}

/// Counters of connections per source address and of pending handshakes.
#[derive(Debug)]
pub struct Gate {
    limits: Limits,
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    pending: AtomicUsize,
    last_refusal_log: AtomicU64,
    refused: AtomicU64,
}

/// One connection's places at the gate: one in its address's count (held
/// until drop) and one among the pending handshakes (held until
/// [`Ticket::handshake_over`] or drop).
#[derive(Debug)]
pub struct Ticket {
    gate: Arc<Gate>,
    ip: IpAddr,
    pending: bool,
}

impl Gate {
    /// A gate with nobody through it.
    pub fn new(limits: Limits) -> Arc<Gate> {
        Arc::new(Gate {
            limits,
            per_ip: Mutex::new(HashMap::new()),
            pending: AtomicUsize::new(0),
            last_refusal_log: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    fn per_ip(&self) -> MutexGuard<'_, HashMap<IpAddr, u32>> {
        match self.per_ip.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Lets a connection from `ip` through if both limits allow it.
    ///
    /// # Errors
    /// [`Refused`] names the limit reached; nothing is held then.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refused> {
        {
            let mut map = self.per_ip();
            let n = map.entry(ip).or_insert(0);
            if *n >= self.limits.max_per_ip {
                return Err(Refused::TooManyFromAddress);
            }
            *n += 1;
        }
        // From here the ticket owns the address place: dropping it on the
        // refusal below gives that place back.
        let mut ticket = Ticket {
            gate: self.clone(),
            ip,
            pending: false,
        };
        let before = self.pending.fetch_add(1, Ordering::AcqRel);
        if before >= self.limits.max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::TooManyPending);
        }
        ticket.pending = true;
        Ok(ticket)
    }

    /// Logs a refusal, at most one line a second (a flood must not flood the
    /// log); the count of refusals in between is included.
    pub fn log_refusal(&self, peer: SocketAddr, why: Refused) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.last_refusal_log.swap(now, Ordering::Relaxed) != now {
            tracing::warn!(%peer, refused_total = n, "refused connection: {why}");
        }
    }

    /// Connections from `ip` holding a ticket now.
    pub fn connections_from(&self, ip: IpAddr) -> u32 {
        self.per_ip().get(&ip).copied().unwrap_or(0)
    }

    /// Tickets still counted among the pending handshakes.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }
}

impl Ticket {
    /// Gives back the place among the pending handshakes (the handshake has
    /// ended, however it ended); the address place is kept until drop.
    pub fn handshake_over(&mut self) {
        if std::mem::take(&mut self.pending) {
            self.gate.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.handshake_over();
        let mut map = self.gate.per_ip();
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn an_address_at_its_limit_is_refused_until_a_ticket_drops() {
        let gate = Gate::new(Limits {
            max_per_ip: 2,
            max_pending: 100,
        });
        let a = gate.admit(ip(1)).expect("first");
        let _b = gate.admit(ip(1)).expect("second");
        assert_eq!(gate.admit(ip(1)).err(), Some(Refused::TooManyFromAddress));
        let _other = gate.admit(ip(2)).expect("another address is counted apart");
        drop(a);
        let _c = gate.admit(ip(1)).expect("a place was given back");
        assert_eq!(gate.connections_from(ip(1)), 2);
    }

    #[test]
    fn the_pending_cap_counts_only_tickets_whose_handshake_is_not_over() {
        let gate = Gate::new(Limits {
            max_per_ip: 100,
            max_pending: 1,
        });
        let mut a = gate.admit(ip(1)).expect("first");
        assert_eq!(gate.admit(ip(2)).err(), Some(Refused::TooManyPending));
        assert_eq!(
            gate.connections_from(ip(2)),
            0,
            "a refused connection holds no address place"
        );
        a.handshake_over();
        a.handshake_over();
        assert_eq!(gate.pending(), 0, "released once, however often called");
        let b = gate
            .admit(ip(2))
            .expect("the handshake place was given back");
        drop(b);
        drop(a);
        assert_eq!(gate.pending(), 0);
        assert_eq!(gate.connections_from(ip(1)), 0);
        assert_eq!(gate.connections_from(ip(2)), 0);
    }
}
