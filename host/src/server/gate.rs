//! The limits applied to a connection before its handshake starts: how many
//! connections one source may hold, how many handshakes one source may have
//! pending, and how many may be pending in all, with random early drop near
//! that cap (OpenSSH's `MaxStartups start:rate:full`). A connection let
//! through gets a [`Ticket`] that holds its places and gives them back when
//! dropped.
//!
//! A source is an IPv4 address, or the /64 prefix of an IPv6 address (one
//! host usually holds a whole /64); an IPv4-mapped IPv6 address counts as
//! its IPv4 address. Established sessions are never dropped here: the gate
//! only decides about new connections.
//!
//! This module imports nothing else from the server: it is the bottom layer
//! every listener (this server's and the legacy one) builds on.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Random early drop of new connections while many handshakes are pending:
/// from `start` pending handshakes a new connection is dropped with
/// probability `rate` percent, rising linearly to 100 % at the pending cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlyDrop {
    /// Pending handshakes from which new connections may be dropped.
    pub start: usize,
    /// Drop probability at `start`, in percent (0-100).
    pub rate: u8,
}

/// The gate's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most connections (established or in handshake) from one source.
    pub max_per_ip: u32,
    /// Most pending handshakes from one source.
    pub max_pending_per_ip: u32,
    /// Most pending handshakes in all (the `full` of `start:rate:full`).
    pub max_pending: usize,
    /// Random early drop below `max_pending`.
    pub early_drop: EarlyDrop,
}

/// Why the gate turned a connection away (it is closed without a byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The source holds `max_per_ip` connections already.
    TooManyFromAddress,
    /// The source has `max_pending_per_ip` handshakes pending already.
    TooManyPendingFromAddress,
    /// `max_pending` handshakes are pending.
    TooManyPending,
    /// Dropped at random: many handshakes are pending.
    EarlyDrop,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::TooManyFromAddress => "too many connections from this address (--max-per-ip)",
            Refused::TooManyPendingFromAddress => {
                "too many pending handshakes from this address (--max-pending-per-ip)"
            }
            Refused::TooManyPending => "too many handshakes pending (--max-pending)",
            Refused::EarlyDrop => "dropped at random: many handshakes pending (--early-drop)",
        })
    }
}

/// The key connections are counted under: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source `ip` is counted under.
    pub fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(_) => Source(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Source(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    connections: u32,
    pending: u32,
}

#[derive(Debug, Default)]
struct State {
    sources: HashMap<Source, Counts>,
    pending: usize,
}

/// Counters of connections and pending handshakes, per source and in all.
#[derive(Debug)]
pub struct Gate {
    limits: Limits,
    state: Mutex<State>,
    last_refusal_log: AtomicU64,
    refused: AtomicU64,
}

/// One connection's places at the gate: one in its source's connection
/// count (held until drop) and one among the pending handshakes, in all and
/// of its source (held until [`Ticket::handshake_over`] or drop).
#[derive(Debug)]
pub struct Ticket {
    gate: Arc<Gate>,
    source: Source,
    pending: bool,
}

impl Gate {
    /// A gate with nobody through it.
    pub fn new(limits: Limits) -> Arc<Gate> {
        Arc::new(Gate {
            limits,
            state: Mutex::new(State::default()),
            last_refusal_log: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Lets a connection from `ip` through if the limits allow it.
    ///
    /// # Errors
    /// [`Refused`] names the limit reached; nothing is held then.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refused> {
        self.admit_with(ip, rand::random::<u32>())
    }

    /// [`Gate::admit`] with the random draw given (uniform over `u32`).
    fn admit_with(self: &Arc<Self>, ip: IpAddr, draw: u32) -> Result<Ticket, Refused> {
        let source = Source::of(ip);
        let limits = &self.limits;
        let mut st = self.state();
        let counts = st.sources.get(&source).copied().unwrap_or_default();
        if counts.connections >= limits.max_per_ip {
            return Err(Refused::TooManyFromAddress);
        }
        if counts.pending >= limits.max_pending_per_ip {
            return Err(Refused::TooManyPendingFromAddress);
        }
        if st.pending >= limits.max_pending {
            return Err(Refused::TooManyPending);
        }
        if early_drop(limits, st.pending, draw) {
            return Err(Refused::EarlyDrop);
        }
        st.pending += 1;
        let c = st.sources.entry(source).or_default();
        c.connections += 1;
        c.pending += 1;
        Ok(Ticket {
            gate: self.clone(),
            source,
            pending: true,
        })
    }

    /// Logs a refusal, at most one line a second (a flood must not flood the
    /// log); the count of refusals so far is included.
    pub fn log_refusal(&self, peer: SocketAddr, why: Refused) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.last_refusal_log.swap(now, Ordering::Relaxed) != now {
            tracing::warn!(%peer, refused_total = n, "refused connection: {why}");
        }
    }

    /// Connections from the source of `ip` holding a ticket now.
    pub fn connections_from(&self, ip: IpAddr) -> u32 {
        self.state()
            .sources
            .get(&Source::of(ip))
            .map_or(0, |c| c.connections)
    }

    /// Tickets still counted among the pending handshakes.
    pub fn pending(&self) -> usize {
        self.state().pending
    }
}

/// Whether a new connection is dropped at random with `pending` handshakes
/// pending; `draw` is uniform over `u32`.
fn early_drop(limits: &Limits, pending: usize, draw: u32) -> bool {
    let EarlyDrop { start, rate } = limits.early_drop;
    let full = limits.max_pending;
    if pending < start || start >= full {
        return false;
    }
    // Probability in millionths: rate% at `start`, rising to 100% at `full`.
    let rate = u64::from(rate.min(100)) * 10_000;
    let span = (full - start) as u64;
    let above = (pending - start) as u64;
    let p = rate + (1_000_000 - rate) * above / span;
    u64::from(draw) * 1_000_000 < p * (u64::from(u32::MAX) + 1)
}

impl Ticket {
    /// Gives back the places among the pending handshakes (the handshake
    /// has ended, however it ended); the connection place is kept until
    /// drop.
    pub fn handshake_over(&mut self) {
        if std::mem::take(&mut self.pending) {
            let mut st = self.gate.state();
            st.pending = st.pending.saturating_sub(1);
            if let Some(c) = st.sources.get_mut(&self.source) {
                c.pending = c.pending.saturating_sub(1);
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.handshake_over();
        let mut st = self.gate.state();
        if let Some(c) = st.sources.get_mut(&self.source) {
            c.connections = c.connections.saturating_sub(1);
            if c.connections == 0 {
                st.sources.remove(&self.source);
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

    fn limits(max_per_ip: u32, max_pending_per_ip: u32, max_pending: usize) -> Limits {
        Limits {
            max_per_ip,
            max_pending_per_ip,
            max_pending,
            early_drop: EarlyDrop {
                start: max_pending,
                rate: 30,
            },
        }
    }

    #[test]
    fn an_address_at_its_limit_is_refused_until_a_ticket_drops() {
        let gate = Gate::new(limits(2, 100, 100));
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
        let gate = Gate::new(limits(100, 100, 1));
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

    #[test]
    fn one_address_cannot_hold_more_than_its_pending_handshakes_while_others_get_in() {
        let gate = Gate::new(limits(256, 8, 256));
        let mut flood: Vec<Ticket> = (0..8).map(|_| gate.admit(ip(2)).expect("flood")).collect();
        assert_eq!(
            gate.admit(ip(2)).err(),
            Some(Refused::TooManyPendingFromAddress)
        );
        let _good = gate.admit(ip(1)).expect("another address still gets in");
        // Established sessions of the flooding address do not count.
        for t in &mut flood {
            t.handshake_over();
        }
        let _next = gate.admit(ip(2)).expect("its handshakes ended");
        assert_eq!(gate.connections_from(ip(2)), 9);
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_count_as_one_source_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(Source::of(a), Source::of(b));
        assert_ne!(Source::of(a), Source::of(c));
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().expect("ip");
        assert_eq!(Source::of(mapped), Source::of(ip(2)));
        let gate = Gate::new(limits(2, 100, 100));
        let _x = gate.admit(a).expect("a");
        let _y = gate.admit(b).expect("b");
        assert_eq!(gate.admit(b).err(), Some(Refused::TooManyFromAddress));
        let _z = gate.admit(c).expect("another /64");
    }

    #[test]
    fn early_drop_probability_rises_from_rate_at_start_to_all_at_full() {
        let l = Limits {
            max_per_ip: 1000,
            max_pending_per_ip: 1000,
            max_pending: 200,
            early_drop: EarlyDrop {
                start: 100,
                rate: 30,
            },
        };
        let share = |pending: usize| {
            let dropped = (0..1000u32)
                .filter(|i| early_drop(&l, pending, i.wrapping_mul(4_294_967)))
                .count();
            dropped as f64 / 1000.0
        };
        assert_eq!(share(0), 0.0);
        assert_eq!(share(99), 0.0);
        assert!((share(100) - 0.30).abs() < 0.01, "{}", share(100));
        assert!((share(150) - 0.65).abs() < 0.01, "{}", share(150));
        assert!(share(199) > 0.99);
        assert!(
            !early_drop(&l, 100, u32::MAX),
            "the highest draw passes at start"
        );
        assert!(early_drop(&l, 199, 0), "the lowest draw is dropped");
    }

    #[test]
    fn the_gate_drops_at_random_only_past_start() {
        let mut l = limits(1000, 1000, 10);
        l.early_drop = EarlyDrop {
            start: 5,
            rate: 100,
        };
        let gate = Gate::new(l);
        let held: Vec<Ticket> = (0..5)
            .map(|i| gate.admit(ip(i)).expect("below start"))
            .collect();
        assert_eq!(gate.admit_with(ip(9), 0).err(), Some(Refused::EarlyDrop));
        drop(held);
        assert!(gate.admit_with(ip(9), u32::MAX).is_ok());
    }
}
