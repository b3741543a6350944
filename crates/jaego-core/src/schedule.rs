//! When stored schedules run: daily at a local time, at chosen minutes of
//! every hour, or at a fixed interval, in a location's time zone.
//!
//! Pure: the caller passes the instant to search from (microseconds since
//! the epoch) and a time zone from the tz database; nothing here reads a
//! clock. Daylight-saving rules come from the zone: a daily time that a
//! spring-forward gap skips runs at the first instant after the gap (02:30
//! becomes 03:30), and one that a fall-back repeats runs once, at its first
//! occurrence ("compatible" disambiguation, as RFC 5545 does for calendars).

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// How often a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// Every day at `hour:minute` local time (`daily 04:00`).
    DailyAt { hour: u8, minute: u8 },
    /// At these minutes of every local hour (`minutes 0,5,30`); bit `m` of
    /// the mask is minute `m`.
    MinutesPast(MinuteSet),
    /// Every `secs` seconds, whatever the zone (`every 3600s`).
    Every { secs: u32 },
}

/// A non-empty set of minutes of the hour, 0 to 59.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct MinuteSet(u64);

impl MinuteSet {
    /// The set of `minutes`; `None` if empty or any is above 59.
    pub fn new(minutes: impl IntoIterator<Item = u8>) -> Option<MinuteSet> {
        let mut bits = 0u64;
        for m in minutes {
            if m > 59 {
                return None;
            }
            bits |= 1 << m;
        }
        (bits != 0).then_some(MinuteSet(bits))
    }

    pub fn contains(self, minute: u8) -> bool {
        minute < 60 && self.0 & (1 << minute) != 0
    }

    /// The minutes, ascending.
    pub fn minutes(self) -> impl Iterator<Item = u8> {
        (0..60u8).filter(move |&m| self.contains(m))
    }
}

impl fmt::Debug for MinuteSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.minutes()).finish()
    }
}

/// Shortest interval of [`Spec::Every`], in seconds.
pub const EVERY_SECS_MIN: u32 = 60;
/// Longest interval of [`Spec::Every`], in seconds (one week).
pub const EVERY_SECS_MAX: u32 = 7 * 24 * 3600;

impl Spec {
    /// The first instant strictly after `after_us` at which the job is due,
    /// in microseconds since the epoch.
    pub fn next_after(&self, zone: &TimeZone, after_us: i64) -> i64 {
        let after = Timestamp::from_microsecond(after_us).unwrap_or(Timestamp::UNIX_EPOCH);
        match *self {
            Spec::Every { secs } => after_us.saturating_add(i64::from(secs) * 1_000_000),
            Spec::DailyAt { hour, minute } => {
                let time = Time::constant(hour as i8, minute as i8, 0, 0);
                let mut date: Date = after.to_zoned(zone.clone()).date();
                // Today's occurrence may be past; tomorrow's never is. A
                // third day covers a zone that skips a whole date.
                for _ in 0..3 {
                    if let Ok(zoned) = date.to_datetime(time).to_zoned(zone.clone()) {
                        let at = zoned.timestamp();
                        if at > after {
                            return at.as_microsecond();
                        }
                    }
                    date = date.tomorrow().unwrap_or(date);
                }
                after_us.saturating_add(24 * 3_600 * 1_000_000)
            }
            Spec::MinutesPast(set) => {
                // The next whole minute after `after`, then minute by minute
                // until the local minute is in the set: at most an hour of
                // steps, and correct across any offset change.
                let minute_us = 60 * 1_000_000;
                let mut at = (after_us.div_euclid(minute_us) + 1) * minute_us;
                for _ in 0..(2 * 60) {
                    let local = Timestamp::from_microsecond(at)
                        .unwrap_or(Timestamp::UNIX_EPOCH)
                        .to_zoned(zone.clone());
                    if set.contains(local.minute() as u8) {
                        return at;
                    }
                    at += minute_us;
                }
                at
            }
        }
    }

    /// How long after `after_us` the job is next due.
    pub fn wait_after(&self, zone: &TimeZone, after_us: i64) -> SignedDuration {
        SignedDuration::from_micros(self.next_after(zone, after_us) - after_us)
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::DailyAt { hour, minute } => write!(f, "daily {hour:02}:{minute:02}"),
            Spec::MinutesPast(set) => {
                f.write_str("minutes ")?;
                for (i, m) in set.minutes().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{m}")?;
                }
                Ok(())
            }
            Spec::Every { secs } => write!(f, "every {secs}s"),
        }
    }
}

impl FromStr for Spec {
    type Err = String;

    /// Parses `daily HH:MM`, `minutes M[,M…]` or `every Ns`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = s
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("{s:?}: expected `daily HH:MM`, `minutes M,M` or `every Ns`"))?;
        let rest = rest.trim();
        match kind {
            "daily" => {
                let (h, m) = rest
                    .split_once(':')
                    .ok_or_else(|| format!("{rest:?}: expected HH:MM"))?;
                let hour: u8 = h.parse().map_err(|_| format!("{h:?}: not an hour"))?;
                let minute: u8 = m.parse().map_err(|_| format!("{m:?}: not a minute"))?;
                if hour > 23 || minute > 59 || h.len() != 2 || m.len() != 2 {
                    return Err(format!("{rest:?}: expected HH:MM between 00:00 and 23:59"));
                }
                Ok(Spec::DailyAt { hour, minute })
            }
            "minutes" => {
                let minutes = rest
                    .split(',')
                    .map(|m| {
                        m.trim()
                            .parse::<u8>()
                            .map_err(|_| format!("{m:?}: not a minute"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                MinuteSet::new(minutes)
                    .map(Spec::MinutesPast)
                    .ok_or_else(|| format!("{rest:?}: expected minutes between 0 and 59"))
            }
            "every" => {
                let secs: u32 = rest
                    .strip_suffix('s')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("{rest:?}: expected seconds, e.g. 3600s"))?;
                if !(EVERY_SECS_MIN..=EVERY_SECS_MAX).contains(&secs) {
                    return Err(format!(
                        "{secs}s: expected {EVERY_SECS_MIN}s to {EVERY_SECS_MAX}s"
                    ));
                }
                Ok(Spec::Every { secs })
            }
            other => Err(format!(
                "{other:?}: expected `daily HH:MM`, `minutes M,M` or `every Ns`"
            )),
        }
    }
}

/// The tz-database zone named `name` (`Asia/Seoul`), from the copy bundled
/// into the binary.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| format!("{name:?} is not a time zone of the tz database"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(text: &str) -> i64 {
        // Zoned text, e.g. "2026-03-08T01:59:00-05:00[America/New_York]".
        text.parse::<jiff::Zoned>()
            .unwrap()
            .timestamp()
            .as_microsecond()
    }

    fn local(zone: &str, at: i64) -> String {
        Timestamp::from_microsecond(at)
            .unwrap()
            .to_zoned(TimeZone::get(zone).unwrap())
            .strftime("%F %T %:z")
            .to_string()
    }

    /// (zone, spec, after, expected next local time).
    fn check(cases: &[(&str, &str, &str, &str)]) {
        for &(tz, spec, after, expected) in cases {
            let spec: Spec = spec.parse().unwrap();
            let zone = TimeZone::get(tz).unwrap();
            let next = spec.next_after(&zone, us(after));
            assert_eq!(local(tz, next), expected, "{tz} {spec} after {after}");
        }
    }

    #[test]
    fn daily() {
        check(&[
            // Later today, then tomorrow once it has passed.
            (
                "Asia/Seoul",
                "daily 04:00",
                "2026-11-22T03:00:00+09:00[Asia/Seoul]",
                "2026-11-22 04:00:00 +09:00",
            ),
            (
                "Asia/Seoul",
                "daily 04:00",
                "2026-11-22T04:00:00+09:00[Asia/Seoul]",
                "2026-11-23 04:00:00 +09:00",
            ),
            (
                "Asia/Seoul",
                "daily 00:00",
                "2026-12-31T23:59:00+09:00[Asia/Seoul]",
                "2027-01-01 00:00:00 +09:00",
            ),
            // Spring forward: 02:30 does not exist on 8 March 2026 in New York.
            (
                "America/New_York",
                "daily 02:30",
                "2026-03-07T02:30:00-05:00[America/New_York]",
                "2026-03-08 03:30:00 -04:00",
            ),
            (
                "America/New_York",
                "daily 02:30",
                "2026-03-08T03:30:00-04:00[America/New_York]",
                "2026-03-09 02:30:00 -04:00",
            ),
            // Fall back: 01:30 happens twice on 1 November 2026; run once, at the first.
            (
                "America/New_York",
                "daily 01:30",
                "2026-10-31T01:30:00-04:00[America/New_York]",
                "2026-11-01 01:30:00 -04:00",
            ),
            (
                "America/New_York",
                "daily 01:30",
                "2026-11-01T01:30:00-04:00[America/New_York]",
                "2026-11-02 01:30:00 -05:00",
            ),
        ]);
    }

    #[test]
    fn minutes_past() {
        check(&[
            (
                "Asia/Seoul",
                "minutes 0,30",
                "2026-11-22T10:05:00+09:00[Asia/Seoul]",
                "2026-11-22 10:30:00 +09:00",
            ),
            (
                "Asia/Seoul",
                "minutes 0,30",
                "2026-11-22T10:30:00+09:00[Asia/Seoul]",
                "2026-11-22 11:00:00 +09:00",
            ),
            // Across midnight.
            (
                "Asia/Seoul",
                "minutes 5",
                "2026-11-22T23:55:00+09:00[Asia/Seoul]",
                "2026-11-23 00:05:00 +09:00",
            ),
            // A zone with a half-hour offset counts local minutes.
            (
                "Asia/Kolkata",
                "minutes 0",
                "2026-11-22T10:10:00+05:30[Asia/Kolkata]",
                "2026-11-22 11:00:00 +05:30",
            ),
            // Fall back: the repeated hour's :00 runs again an hour later.
            (
                "America/New_York",
                "minutes 0",
                "2026-11-01T01:00:00-04:00[America/New_York]",
                "2026-11-01 01:00:00 -05:00",
            ),
            // Spring forward: 02:00 does not exist; 03:00 is next.
            (
                "America/New_York",
                "minutes 0",
                "2026-03-08T01:00:00-05:00[America/New_York]",
                "2026-03-08 03:00:00 -04:00",
            ),
        ]);
    }

    #[test]
    fn every() {
        check(&[(
            "UTC",
            "every 3600s",
            "2026-11-22T10:05:00+00:00[UTC]",
            "2026-11-22 11:05:00 +00:00",
        )]);
    }

    #[test]
    fn parse_and_print() {
        for text in ["daily 04:00", "minutes 0,5,55", "every 3600s"] {
            assert_eq!(text.parse::<Spec>().unwrap().to_string(), text);
        }
        for bad in [
            "daily 24:00",
            "daily 4:00",
            "minutes",
            "minutes 60",
            "minutes a",
            "every 10s",
            "every 1h",
            "weekly 04:00",
        ] {
            assert!(bad.parse::<Spec>().is_err(), "{bad}");
        }
        assert!(zone("Asia/Seoul").is_ok());
        assert!(zone("Mars/Olympus").is_err());
    }
}
