//! The post-dose "plasticity window" on every therapy encounter and dose.
//!
//! A [`WindowDef`] is data: the clinic's default in `therapy/window.toml`
//! (shipped as an *unconfirmed* heuristic, reference.md §1.6), overridden for
//! a dose by its protocol's integration-session window when the protocol
//! declares one ([`for_dose`]).
//!
//! Hours are **elapsed** hours after the start of the dose. A dose given at
//! 10:00 the day before a daylight-saving change reaches 24 h at 09:00 (fall
//! back) or 11:00 (spring forward) on the clock; the clinic's time zone is
//! used only to show those instants. The window never opens before the
//! client is discharged.
//!
//! Positions ([`WindowPosition`]), with both preferred ends and the closing
//! instant inclusive:
//!
//! | instant `t` | position |
//! |---|---|
//! | `t < opens_at` (discharge, or `opens_hours` if later) | `before_open` |
//! | `opens_at ≤ t < preferred_from` | `opening` |
//! | `preferred_from ≤ t ≤ preferred_to` | `preferred` |
//! | `preferred_to < t ≤ closes_at` | `late` |
//! | `closes_at < t` | `closed` |

use crate::DomainError;
use crate::instruments::Provenance;
use crate::protocols::{Anchor, Protocol, SessionKind};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// The longest a window may stay open (60 days), so arithmetic stays in range.
pub const MAX_WINDOW_HOURS: i64 = 60 * 24;

/// The shipped default (`therapy/window.toml`).
pub const SHIPPED: &str = include_str!("../../../therapy/window.toml");

/// A window in elapsed hours after the start of a dose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WindowDef {
    /// Opens at discharge, or this many hours after the dose if later.
    pub opens_hours: i64,
    pub preferred_from_hours: i64,
    pub preferred_to_hours: i64,
    /// Acceptable up to this many hours (inclusive); flagged after.
    pub closes_hours: i64,
    #[serde(flatten)]
    pub provenance: Provenance,
}

impl WindowDef {
    pub fn from_toml(text: &str) -> Result<WindowDef, DomainError> {
        let w: WindowDef = toml::from_str(text).map_err(|e| DomainError::invalid("therapy_window", e.to_string()))?;
        w.validate()?;
        Ok(w)
    }

    pub fn shipped() -> Result<WindowDef, DomainError> {
        WindowDef::from_toml(SHIPPED)
    }

    /// `0 ≤ opens ≤ preferred_from ≤ preferred_to ≤ closes ≤ 60 days`.
    pub fn validate(&self) -> Result<(), DomainError> {
        let fields = [
            ("opens_hours", self.opens_hours),
            ("preferred_from_hours", self.preferred_from_hours),
            ("preferred_to_hours", self.preferred_to_hours),
            ("closes_hours", self.closes_hours),
        ];
        for (f, v) in fields {
            if !(0..=MAX_WINDOW_HOURS).contains(&v) {
                return Err(DomainError::invalid(f, format!("must be between 0 and {MAX_WINDOW_HOURS} hours")));
            }
        }
        for pair in fields.windows(2) {
            if pair[0].1 > pair[1].1 {
                return Err(DomainError::invalid(pair[1].0, format!("must not be before {}", pair[0].0)));
            }
        }
        if self.provenance.source.trim().is_empty() {
            return Err(DomainError::invalid("source", "say where the window comes from"));
        }
        Ok(())
    }

    /// The window of a protocol's tied session (hours after the dose's start).
    pub fn from_protocol(w: &crate::protocols::Window, provenance: Provenance) -> WindowDef {
        let clamp = |h: i64| h.clamp(0, MAX_WINDOW_HOURS);
        WindowDef {
            opens_hours: clamp(w.opens_hours),
            preferred_from_hours: clamp(w.preferred_from_hours),
            preferred_to_hours: clamp(w.preferred_to_hours),
            closes_hours: clamp(w.closes_hours),
            provenance,
        }
    }
}

/// Session kinds whose window is a dose's integration window, most specific first.
const INTEGRATION_KINDS: [SessionKind; 4] =
    [SessionKind::Integration, SessionKind::Wet, SessionKind::Cbt, SessionKind::IndividualTherapy];

/// The window for dose `number` (1-based) of a course: the protocol's first
/// tied psychotherapy session (integration first, then WET, CBT, individual
/// therapy) anchored on that dose, else the clinic default.
pub fn for_dose(protocol: Option<&Protocol>, number: u32, doses_planned: u32, default: &WindowDef) -> WindowDef {
    let Some(p) = protocol else { return default.clone() };
    for kind in INTEGRATION_KINDS {
        for s in p.sessions.iter().filter(|s| s.kind == kind) {
            let anchored = match s.anchor {
                Anchor::BeforeFirstDose => false,
                Anchor::AfterDose { dose } => dose == number,
                Anchor::AfterEachDose => true,
                Anchor::BetweenDoses => number < doses_planned,
            };
            if anchored {
                let provenance = Provenance {
                    source: format!("protocol {}: {} session window. {}", p.id, s.kind, s.provenance.source),
                    confirmed: s.provenance.confirmed && !s.unconfirmed.contains_key("window"),
                };
                return WindowDef::from_protocol(&s.window, provenance);
            }
        }
    }
    default.clone()
}

/// The longest any dose's window stays open after the dose starts, under
/// these protocols and the default: a dose started earlier than this has no
/// open window (the closing-windows list looks no further back).
pub fn longest_open_hours(protocols: &[Protocol], default: &WindowDef) -> i64 {
    protocols
        .iter()
        .flat_map(|p| p.sessions.iter().filter(|s| INTEGRATION_KINDS.contains(&s.kind)))
        .map(|s| WindowDef::from_protocol(&s.window, s.provenance.clone()).closes_hours)
        .chain([default.closes_hours])
        .max()
        .unwrap_or(MAX_WINDOW_HOURS)
}

crate::text_enum! {
    /// Where an instant falls in a dose's window.
    pub enum WindowPosition {
        /// Before discharge (or the protocol's opening hour).
        BeforeOpen = "before_open",
        /// Open, before the preferred part.
        Opening = "opening",
        Preferred = "preferred",
        /// Past the preferred part, still acceptable.
        Late = "late",
        /// Past the acceptable part: flagged.
        Closed = "closed",
    }
}

impl WindowPosition {
    pub fn label(self) -> &'static str {
        match self {
            WindowPosition::BeforeOpen => "before the window opens",
            WindowPosition::Opening => "window opening",
            WindowPosition::Preferred => "preferred window",
            WindowPosition::Late => "late in the window",
            WindowPosition::Closed => "window closed",
        }
    }

    /// Inside the window (opening, preferred or late).
    pub fn inside(self) -> bool {
        matches!(self, WindowPosition::Opening | WindowPosition::Preferred | WindowPosition::Late)
    }
}

/// One dose as given: its start and its end (discharge; for a dose charted
/// without a dosing session, the dosing encounter's actual or scheduled end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dose {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A window laid on one dose: the instants of its edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DoseWindow {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub dose_start: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub opens_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub preferred_from: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub preferred_to: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub closes_at: Timestamp,
}

impl DoseWindow {
    pub fn new(def: &WindowDef, dose: Dose) -> Result<DoseWindow, DomainError> {
        let at = |h: i64| {
            dose.start
                .checked_add(SignedDuration::from_hours(h))
                .map_err(|_| DomainError::invalid("dose_start", "out of range"))
        };
        let end = dose.end.max(dose.start);
        Ok(DoseWindow {
            dose_start: dose.start,
            opens_at: at(def.opens_hours)?.max(end),
            preferred_from: at(def.preferred_from_hours)?.max(end),
            preferred_to: at(def.preferred_to_hours)?.max(end),
            closes_at: at(def.closes_hours)?.max(end),
        })
    }

    pub fn classify(&self, t: Timestamp) -> WindowPosition {
        if t < self.opens_at {
            WindowPosition::BeforeOpen
        } else if t < self.preferred_from {
            WindowPosition::Opening
        } else if t <= self.preferred_to {
            WindowPosition::Preferred
        } else if t <= self.closes_at {
            WindowPosition::Late
        } else {
            WindowPosition::Closed
        }
    }

    /// Elapsed hours from the dose's start to `t` (one decimal).
    pub fn hours_after(&self, t: Timestamp) -> f64 {
        (t.duration_since(self.dose_start).as_secs_f64() / 360.0).round() / 10.0
    }
}

/// The index of the last dose that started before `t` (doses in time order).
pub fn last_dose_before(doses: &[Dose], t: Timestamp) -> Option<usize> {
    doses.iter().rposition(|d| d.start < t)
}

/// A therapy session that may integrate a dose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TherapySession<Id> {
    pub id: Id,
    pub start: Timestamp,
    /// Completed (`true`) or still booked (`false`); cancelled and missed
    /// sessions are left out by the caller.
    pub held: bool,
}

crate::text_enum! {
    /// Whether a dose had its integration session inside its window.
    pub enum IntegrationStatus {
        HeldInWindow = "held_in_window",
        HeldOutsideWindow = "held_outside_window",
        BookedInWindow = "booked_in_window",
        BookedOutsideWindow = "booked_outside_window",
        /// Nothing booked and the window is still open.
        NotBooked = "not_booked",
        /// Nothing held, and the window has closed or the next dose was
        /// given first (a session after it integrates that dose).
        Missed = "missed",
    }
}

impl IntegrationStatus {
    pub fn label(self) -> &'static str {
        match self {
            IntegrationStatus::HeldInWindow => "held in the window",
            IntegrationStatus::HeldOutsideWindow => "held outside the window",
            IntegrationStatus::BookedInWindow => "booked in the window",
            IntegrationStatus::BookedOutsideWindow => "booked outside the window",
            IntegrationStatus::NotBooked => "not booked",
            IntegrationStatus::Missed => "missed",
        }
    }

    /// Good (held or booked inside the window).
    pub fn is_ok(self) -> bool {
        matches!(self, IntegrationStatus::HeldInWindow | IntegrationStatus::BookedInWindow)
    }
}

/// One dose with its window and its integration session.
#[derive(Debug, Clone, PartialEq)]
pub struct DoseIntegration<Id> {
    /// 1-based, in time order.
    pub number: u32,
    pub window: DoseWindow,
    /// The session counted for the dose and where it fell.
    pub session: Option<(TherapySession<Id>, WindowPosition)>,
    pub status: IntegrationStatus,
    /// Where `now` falls in the window.
    pub now: WindowPosition,
}

impl<Id> DoseIntegration<Id> {
    /// The window is still open and no integration session is booked.
    pub fn needs_booking(&self) -> bool {
        self.status == IntegrationStatus::NotBooked && self.now != WindowPosition::Closed
    }
}

/// Each dose (in time order) with its window and integration session: the
/// first session inside the window, else the first after the dose; only
/// sessions before the next dose count, so a dose with none before the next
/// was missed even while its window is open. `window` gives the definition
/// for dose `n` (1-based).
pub fn integration<Id: Clone>(
    doses: &[Dose],
    sessions: &[TherapySession<Id>],
    window: impl Fn(u32) -> WindowDef,
    now: Timestamp,
) -> Result<Vec<DoseIntegration<Id>>, DomainError> {
    let mut out = Vec::with_capacity(doses.len());
    for (i, d) in doses.iter().enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let w = DoseWindow::new(&window(number), *d)?;
        let next = doses.get(i + 1).map(|n| n.start);
        let mut after: Vec<&TherapySession<Id>> =
            sessions.iter().filter(|s| s.start > d.start && next.is_none_or(|n| s.start < n)).collect();
        after.sort_by_key(|s| s.start);
        let chosen = after.iter().find(|s| w.classify(s.start).inside()).or(after.first()).copied();
        let session = chosen.map(|s| (s.clone(), w.classify(s.start)));
        let status = match &session {
            Some((s, pos)) => match (s.held, pos.inside()) {
                (true, true) => IntegrationStatus::HeldInWindow,
                (true, false) => IntegrationStatus::HeldOutsideWindow,
                (false, true) => IntegrationStatus::BookedInWindow,
                (false, false) => IntegrationStatus::BookedOutsideWindow,
            },
            None if now > w.closes_at || next.is_some_and(|n| n <= now) => IntegrationStatus::Missed,
            None => IntegrationStatus::NotBooked,
        };
        out.push(DoseIntegration { number, window: w, session, status, now: w.classify(now) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    fn default() -> WindowDef {
        WindowDef::shipped().expect("shipped window")
    }

    /// An instant from clinic wall-clock time (offset given, zone checked).
    fn ny(s: &str) -> Timestamp {
        let z: jiff::Zoned = s.parse().expect("zoned");
        assert_eq!(z.time_zone(), &TimeZone::get("America/New_York").expect("tz"));
        z.timestamp()
    }

    fn local(t: Timestamp) -> String {
        t.to_zoned(TimeZone::get("America/New_York").expect("tz")).strftime("%Y-%m-%d %H:%M %Z").to_string()
    }

    fn secs(n: i64) -> SignedDuration {
        SignedDuration::from_secs(n)
    }

    #[test]
    fn the_shipped_default_is_the_unconfirmed_24_to_72_hour_heuristic() {
        let w = default();
        assert_eq!((w.opens_hours, w.preferred_from_hours, w.preferred_to_hours, w.closes_hours), (0, 24, 72, 168));
        assert!(!w.provenance.confirmed, "§1.6: a heuristic, not evidence");
        assert!(w.provenance.source.contains("§1.6"));
    }

    /// Dose at 10:00 EDT on Saturday 31 October 2026, discharged at 12:00;
    /// clocks fall back from 02:00 EDT to 01:00 EST on Sunday 1 November.
    /// Elapsed hours, so 24 h after the dose is 09:00 EST on the clock.
    #[test]
    fn each_edge_across_the_fall_back_change_in_new_york() {
        let dose = Dose {
            start: ny("2026-10-31T10:00-04:00[America/New_York]"),
            end: ny("2026-10-31T12:00-04:00[America/New_York]"),
        };
        let w = DoseWindow::new(&default(), dose).expect("window");
        assert_eq!(local(w.opens_at), "2026-10-31 12:00 EDT", "opens at discharge");
        assert_eq!(local(w.preferred_from), "2026-11-01 09:00 EST");
        assert_eq!(local(w.preferred_to), "2026-11-03 09:00 EST");
        assert_eq!(local(w.closes_at), "2026-11-07 09:00 EST");
        use WindowPosition::*;
        let cases = [
            (dose.start, BeforeOpen),
            (w.opens_at - secs(1), BeforeOpen),
            (w.opens_at, Opening),
            (w.preferred_from - secs(1), Opening),
            // 09:30 EST is 23.5 h on the clock but 24.5 h elapsed.
            (ny("2026-11-01T09:30-05:00[America/New_York]"), Preferred),
            // 08:30 EST is 24.5 h on the clock but 23.5 h elapsed.
            (ny("2026-11-01T08:30-05:00[America/New_York]"), Opening),
            (w.preferred_from, Preferred),
            (w.preferred_to, Preferred),
            (w.preferred_to + secs(1), Late),
            (w.closes_at, Late),
            (w.closes_at + secs(1), Closed),
        ];
        for (t, want) in cases {
            assert_eq!(w.classify(t), want, "{}", local(t));
        }
        assert_eq!(w.hours_after(ny("2026-11-01T09:30-05:00[America/New_York]")), 24.5);
    }

    /// Spring forward: 02:00 EST becomes 03:00 EDT on Sunday 8 March 2026.
    #[test]
    fn each_edge_across_the_spring_forward_change_in_new_york() {
        let dose = Dose {
            start: ny("2026-03-07T10:00-05:00[America/New_York]"),
            end: ny("2026-03-07T11:00-05:00[America/New_York]"),
        };
        let w = DoseWindow::new(&default(), dose).expect("window");
        assert_eq!(local(w.preferred_from), "2026-03-08 11:00 EDT");
        assert_eq!(local(w.closes_at), "2026-03-14 11:00 EDT");
        use WindowPosition::*;
        assert_eq!(w.classify(ny("2026-03-08T10:30-04:00[America/New_York]")), Opening, "23.5 h elapsed");
        assert_eq!(w.classify(ny("2026-03-08T11:00-04:00[America/New_York]")), Preferred);
        assert_eq!(w.classify(ny("2026-03-14T11:00-04:00[America/New_York]")), Late);
        assert_eq!(w.classify(ny("2026-03-14T11:00:01-04:00[America/New_York]")), Closed);
    }

    #[test]
    fn a_late_discharge_holds_the_window_shut_until_the_client_leaves() {
        let start: Timestamp = "2026-06-01T14:00:00Z".parse().expect("ts");
        let def = WindowDef { opens_hours: 3, ..default() };
        let early = DoseWindow::new(&def, Dose { start, end: start + SignedDuration::from_hours(1) }).expect("w");
        assert_eq!(early.opens_at, start + SignedDuration::from_hours(3), "the protocol's hour when later");
        let late = DoseWindow::new(&def, Dose { start, end: start + SignedDuration::from_hours(5) }).expect("w");
        assert_eq!(late.opens_at, start + SignedDuration::from_hours(5), "discharge when later");
        assert_eq!(late.classify(start + SignedDuration::from_hours(4)), WindowPosition::BeforeOpen);
    }

    #[test]
    fn a_protocol_integration_window_overrides_the_default() {
        let lib = crate::protocols::ProtocolLibrary::shipped(&["standard", "ptsd"]).expect("protocols");
        let kap = lib.get("kap_sublingual_im").expect("kap");
        let w = for_dose(Some(kap), 2, 4, &default());
        assert_eq!((w.opens_hours, w.preferred_from_hours, w.closes_hours), (3, 24, 168));
        assert!(w.provenance.source.contains("kap_sublingual_im"));
        // WET sessions are anchored on dose 4 only: other doses use the default.
        let wet = lib.get("ketamine_wet_ptsd").expect("wet");
        assert_eq!(for_dose(Some(wet), 4, 6, &default()).closes_hours, 72);
        assert_eq!(for_dose(Some(wet), 1, 6, &default()), default());
        assert_eq!(for_dose(None, 1, 1, &default()), default());
    }

    #[test]
    fn the_longest_open_window_bounds_how_far_back_open_windows_are_looked_for() {
        let lib = crate::protocols::ProtocolLibrary::shipped(&["standard", "ptsd"]).expect("protocols");
        // The shipped default and the protocols' integration windows all
        // close within 7 days of the dose.
        assert_eq!(longest_open_hours(lib.all(), &default()), 168);
        let long = WindowDef { closes_hours: 240, ..default() };
        assert_eq!(longest_open_hours(lib.all(), &long), 240, "a clinic's longer default");
        assert_eq!(longest_open_hours(&[], &default()), 168);
    }

    #[test]
    fn window_files_are_validated_naming_the_field() {
        let bad = SHIPPED.replace("closes_hours = 168", "closes_hours = 48");
        assert_eq!(WindowDef::from_toml(&bad).expect_err("closes before preferred_to").field(), "closes_hours");
        let bad = SHIPPED.replace("opens_hours = 0", "opens_hours = -4");
        assert_eq!(WindowDef::from_toml(&bad).expect_err("negative").field(), "opens_hours");
        assert_eq!(WindowDef::from_toml("x = 1").expect_err("shape").field(), "therapy_window");
    }

    #[test]
    fn each_dose_gets_the_first_session_in_its_window_before_the_next_dose() {
        let t0: Timestamp = "2026-06-01T14:00:00Z".parse().expect("ts");
        let h = |n: i64| t0 + SignedDuration::from_hours(n);
        let doses = [
            Dose { start: t0, end: h(2) },
            Dose { start: h(96), end: h(98) },
            Dose { start: h(192), end: h(194) },
            Dose { start: h(400), end: h(402) },
        ];
        let sessions = [
            TherapySession { id: "a", start: h(26), held: true }, // dose 1, preferred
            TherapySession { id: "b", start: h(99), held: false }, // dose 2, opening (booked)
            TherapySession { id: "c", start: h(193), held: true }, // dose 3, before discharge
            TherapySession { id: "d", start: h(192 + 80), held: true }, // dose 3, late
        ];
        let now = h(420);
        let r = integration(&doses, &sessions, |_| default(), now).expect("integration");
        let got: Vec<_> = r.iter().map(|d| (d.number, d.session.as_ref().map(|s| s.0.id), d.status)).collect();
        use IntegrationStatus::*;
        assert_eq!(
            got,
            vec![
                (1, Some("a"), HeldInWindow),
                (2, Some("b"), BookedInWindow),
                (3, Some("d"), HeldInWindow),
                (4, None, NotBooked)
            ]
        );
        assert_eq!(r[2].session.as_ref().map(|s| s.1), Some(WindowPosition::Late));
        assert!(r[3].needs_booking());
        assert_eq!(r[3].now, WindowPosition::Opening);
        let later = integration(&doses, &sessions, |_| default(), h(400 + 169)).expect("integration");
        assert_eq!(later[3].status, Missed);
        assert!(!later[3].needs_booking());
        // Twice-weekly doses with nothing booked between: the first dose's
        // window (7 days) is open at the second, but a session booked now
        // would integrate the second dose, so the first was missed.
        let twice = [Dose { start: t0, end: h(2) }, Dose { start: h(72), end: h(74) }];
        let none: [TherapySession<&str>; 0] = [];
        let r = integration(&twice, &none, |_| default(), h(80)).expect("integration");
        assert_eq!((r[0].status, r[0].now), (Missed, WindowPosition::Late));
        assert!(!r[0].needs_booking());
        assert_eq!(r[1].status, NotBooked);
        assert!(r[1].needs_booking());
        // Before the second dose is given, the first still needs its session.
        let r = integration(&twice, &none, |_| default(), h(70)).expect("integration");
        assert_eq!(r[0].status, NotBooked);
        let only_outside = [TherapySession { id: "x", start: h(1), held: true }];
        let r = integration(&doses[..1], &only_outside, |_| default(), now).expect("integration");
        assert_eq!(r[0].status, HeldOutsideWindow);
        assert_eq!(last_dose_before(&doses, h(97)), Some(1));
        assert_eq!(last_dose_before(&doses, t0), None);
    }
}
