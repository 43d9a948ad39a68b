//! Assembling rosters that span several ROSTER records, within bounds: a
//! server cannot make the client hold more than [`MAX_ROSTER_NICKS`] nicks
//! or [`MAX_ROSTER_RECORDS`] records of unfinished rosters (a continuation
//! without end), nor more than [`MAX_PENDING_ROSTERS`] rooms' at once.

/// Most nicks held across all unfinished rosters (64 times the server's
/// default `--max-clients`; at most 32 bytes each, a few MiB in all).
pub const MAX_ROSTER_NICKS: usize = 65_536;

/// Most ROSTER records of one unfinished roster (a record may carry no
/// nick, so this bounds a continuation that costs no memory).
pub const MAX_ROSTER_RECORDS: usize = 65_536;

/// Most rooms whose roster is unfinished at once.
pub const MAX_PENDING_ROSTERS: usize = 64;

/// Why a roster was given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RosterOverflow {
    /// Over [`MAX_ROSTER_NICKS`].
    Nicks,
    /// Over [`MAX_ROSTER_RECORDS`].
    Records,
    /// Over [`MAX_PENDING_ROSTERS`].
    Rooms,
}

impl std::fmt::Display for RosterOverflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RosterOverflow::Nicks => write!(
                f,
                "the server sent rosters of more than {MAX_ROSTER_NICKS} nicks without ending them"
            ),
            RosterOverflow::Records => write!(
                f,
                "the server sent more than {MAX_ROSTER_RECORDS} ROSTER records without ending them"
            ),
            RosterOverflow::Rooms => write!(
                f,
                "the server left the rosters of more than {MAX_PENDING_ROSTERS} rooms unfinished"
            ),
        }
    }
}

/// Unfinished rosters, by room.
#[derive(Debug, Default)]
pub struct Rosters {
    /// Room, nicks so far, records so far.
    pending: Vec<(String, Vec<String>, usize)>,
    /// Nicks held across all of them.
    nicks: usize,
}

impl Rosters {
    /// Adds one ROSTER record; returns the room's complete roster when
    /// `more` is not set.
    ///
    /// # Errors
    /// [`RosterOverflow`] when a bound would be passed; the unfinished
    /// rosters are then dropped (the session is to end).
    pub fn add<'a>(
        &mut self,
        room: &str,
        more: bool,
        nicks: impl Iterator<Item = &'a str>,
    ) -> Result<Option<(String, Vec<String>)>, RosterOverflow> {
        let i = match self.pending.iter().position(|(r, _, _)| r == room) {
            Some(i) => i,
            None if self.pending.len() >= MAX_PENDING_ROSTERS => {
                return self.overflow(RosterOverflow::Rooms)
            }
            None => {
                self.pending.push((room.to_string(), Vec::new(), 0));
                self.pending.len() - 1
            }
        };
        let Some((_, list, records)) = self.pending.get_mut(i) else {
            return self.overflow(RosterOverflow::Rooms);
        };
        *records += 1;
        let mut over = (*records > MAX_ROSTER_RECORDS).then_some(RosterOverflow::Records);
        if over.is_none() {
            for nick in nicks {
                if self.nicks >= MAX_ROSTER_NICKS {
                    over = Some(RosterOverflow::Nicks);
                    break;
                }
                self.nicks += 1;
                list.push(nick.to_string());
            }
        }
        if let Some(why) = over {
            return self.overflow(why);
        }
        if more {
            return Ok(None);
        }
        let (room, list, _) = self.pending.swap_remove(i);
        self.nicks -= list.len();
        Ok(Some((room, list)))
    }

    fn overflow<T>(&mut self, why: RosterOverflow) -> Result<T, RosterOverflow> {
        *self = Rosters::default();
        Err(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roster_over_several_records_is_returned_whole_when_it_ends() {
        let mut r = Rosters::default();
        assert_eq!(r.add("#a", true, ["x", "y"].into_iter()), Ok(None));
        assert_eq!(
            r.add("#b", false, ["z"].into_iter()),
            Ok(Some(("#b".into(), vec!["z".into()])))
        );
        assert_eq!(
            r.add("#a", false, ["w"].into_iter()),
            Ok(Some((
                "#a".into(),
                vec!["x".into(), "y".into(), "w".into()]
            )))
        );
        assert_eq!(r.nicks, 0);
    }

    #[test]
    fn a_continuation_without_end_is_refused_at_the_nick_bound() {
        let mut r = Rosters::default();
        let nick = "n".repeat(32);
        let mut added = 0;
        let err = loop {
            match r.add("#a", true, std::iter::repeat_n(nick.as_str(), 100)) {
                Ok(None) => added += 100,
                Ok(Some(_)) => panic!("the roster ended"),
                Err(e) => break e,
            }
        };
        assert_eq!(err, RosterOverflow::Nicks);
        assert!(added <= MAX_ROSTER_NICKS);
        assert!(r.pending.is_empty(), "the unfinished rosters are dropped");
    }

    #[test]
    fn empty_records_without_end_are_refused_at_the_record_bound() {
        let mut r = Rosters::default();
        let mut n = 0;
        let err = loop {
            match r.add("#a", true, std::iter::empty()) {
                Ok(_) => n += 1,
                Err(e) => break e,
            }
        };
        assert_eq!((err, n), (RosterOverflow::Records, MAX_ROSTER_RECORDS));
    }

    #[test]
    fn unfinished_rosters_of_too_many_rooms_are_refused() {
        let mut r = Rosters::default();
        for i in 0..MAX_PENDING_ROSTERS {
            assert_eq!(r.add(&format!("#r{i}"), true, ["a"].into_iter()), Ok(None));
        }
        assert_eq!(
            r.add("#one-more", true, ["a"].into_iter()),
            Err(RosterOverflow::Rooms)
        );
    }

    #[test]
    fn ended_rosters_free_their_share_of_the_bounds() {
        let mut r = Rosters::default();
        let nicks: Vec<String> = (0..1000).map(|i| format!("n{i}")).collect();
        for _ in 0..10 * MAX_ROSTER_NICKS / 1000 {
            assert!(r.add("#a", false, nicks.iter().map(String::as_str)).is_ok());
        }
    }
}
