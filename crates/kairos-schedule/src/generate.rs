//! A seeded instance generator for tests and benchmarks (synthetic data only).
//!
//! A mix of active courses in one horizon: IV induction (6 doses within 21 days, 48 h
//! apart, integration after each), PTSD ketamine + WET (6 doses, 5 WET sessions on
//! non-dosing days from dose 4 on), esketamine (weekly, 135 min with monitoring,
//! integration after every second dose) and IV maintenance (1-2 doses 10-21 days apart).

use jiff::civil::{Date, Time, date};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::problem::*;

/// Generator parameters (`kairos schedule generate --clients N --chairs C --therapists T --days D --seed S`).
#[derive(Debug, Clone, PartialEq)]
pub struct GenParams {
    /// Clients, one active course each.
    pub clients: usize,
    pub chairs: usize,
    pub therapists: usize,
    /// Medical monitors (capacity 3 each).
    pub monitors: usize,
    pub days: u32,
    pub seed: u64,
    /// First day of the horizon (default Monday 2026-03-02; US daylight saving starts on 2026-03-08).
    pub start: Date,
    pub time_zone: String,
}

impl Default for GenParams {
    fn default() -> GenParams {
        GenParams {
            clients: 200,
            chairs: 6,
            therapists: 10,
            monitors: 3,
            days: 28,
            seed: 1,
            start: date(2026, 3, 2),
            time_zone: "America/New_York".into(),
        }
    }
}

fn t(h: i8, m: i8) -> Time {
    Time::constant(h, m, 0, 0)
}

fn hours(days: &[Day], from: Time, to: Time) -> WeeklyHours {
    WeeklyHours { days: days.to_vec(), from, to }
}

const WEEKDAYS: [Day; 5] = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri];

fn integration(id: String, after: u32) -> SessionRequest {
    SessionRequest {
        id,
        kind: "integration".into(),
        after_dose: after,
        anchor: Anchor::Discharge,
        duration_minutes: 60,
        window: Window { open_hours: 0, preferred_from_hours: 24, preferred_to_hours: 72, close_hours: 168 },
        non_dosing_day: false,
        needs_room: true,
    }
}

/// Generates a problem. The same parameters give the same problem.
pub fn generate(p: &GenParams) -> Problem {
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let days = p.days.max(1);
    let chairs = (1..=p.chairs.max(1)).map(|i| Resource { id: format!("chair-{i}"), unavailable: vec![] }).collect();
    let n_rooms = (p.therapists * 2 / 3).max(2);
    let rooms = (1..=n_rooms).map(|i| Resource { id: format!("room-{i}"), unavailable: vec![] }).collect();
    let mut staff = Vec::new();
    let monitor_hours = [
        vec![hours(&WEEKDAYS, t(8, 0), t(16, 30))],
        vec![hours(&WEEKDAYS, t(9, 30), t(18, 0))],
        vec![
            hours(&[Day::Tue, Day::Wed, Day::Thu, Day::Fri], t(8, 0), t(18, 0)),
            hours(&[Day::Sat], t(9, 0), t(13, 0)),
        ],
    ];
    for i in 0..p.monitors.max(1) {
        staff.push(Staff {
            id: format!("monitor-{}", i + 1),
            roles: vec![Role::Monitor],
            hours: monitor_hours[i % 3].clone(),
            unavailable: vec![],
            monitor_capacity: 3,
        });
    }
    let therapist_hours = [
        vec![hours(&WEEKDAYS, t(9, 0), t(17, 0))],
        vec![hours(&WEEKDAYS, t(10, 0), t(18, 0))],
        vec![hours(&WEEKDAYS, t(8, 0), t(16, 0))],
        vec![hours(&[Day::Mon, Day::Tue, Day::Wed, Day::Thu], t(9, 0), t(18, 0))],
        vec![
            hours(&[Day::Tue, Day::Wed, Day::Thu, Day::Fri], t(8, 0), t(17, 0)),
            hours(&[Day::Sat], t(9, 0), t(13, 0)),
        ],
    ];
    for i in 0..p.therapists.max(1) {
        staff.push(Staff {
            id: format!("therapist-{}", i + 1),
            roles: vec![Role::Therapist],
            hours: therapist_hours[i % therapist_hours.len()].clone(),
            unavailable: vec![],
            monitor_capacity: 1,
        });
    }
    let client_patterns = [
        vec![hours(&WEEKDAYS, t(12, 0), t(18, 0))],
        vec![hours(&WEEKDAYS, t(8, 0), t(13, 0))],
        vec![hours(&WEEKDAYS, t(8, 0), t(18, 0))],
        vec![
            hours(&[Day::Mon, Day::Wed, Day::Fri], t(8, 0), t(18, 0)),
            hours(&[Day::Tue, Day::Thu], t(13, 0), t(18, 0)),
        ],
        vec![hours(&WEEKDAYS, t(10, 0), t(18, 0)), hours(&[Day::Sat], t(9, 0), t(13, 0))],
    ];
    let mut clients = Vec::new();
    let mut courses = Vec::new();
    let horizon_day = |d: u32| p.start.checked_add(jiff::Span::new().days(i64::from(d))).unwrap_or(p.start);
    for i in 0..p.clients {
        let cid = format!("client-{}", i + 1);
        let therapist = format!("therapist-{}", rng.gen_range(0..p.therapists.max(1)) + 1);
        clients.push(Client {
            id: cid.clone(),
            availability: client_patterns[rng.gen_range(0..client_patterns.len())].clone(),
            unavailable: vec![],
            therapist: Some(therapist),
        });
        let kid = format!("course-{}", i + 1);
        let r: f64 = rng.r#gen();
        let span = days.min(21);
        let (doses, sessions, earliest) = if r < 0.12 {
            let doses = DoseSeries {
                count: if days >= 14 { 6 } else { 3 },
                infusion_minutes: 40,
                monitoring_minutes: 80,
                min_gap_hours: 48,
                max_gap_hours: Some(120),
                max_span_days: Some(span),
            };
            let s = (1..=doses.count).map(|d| integration(format!("integration-{d}"), d)).collect();
            (doses, s, rng.gen_range(0..=days.saturating_sub(span).min(10)))
        } else if r < 0.17 {
            let count = if days >= 14 { 6 } else { 3 };
            let doses = DoseSeries {
                count,
                infusion_minutes: 40,
                monitoring_minutes: 80,
                min_gap_hours: 48,
                max_gap_hours: Some(96),
                max_span_days: Some(span.min(18)),
            };
            let wet = |j: u32, after: u32, open: i32, pf: i32, pt: i32, close: i32| SessionRequest {
                id: format!("wet-{j}"),
                kind: "wet".into(),
                after_dose: after.min(count),
                anchor: Anchor::Discharge,
                duration_minutes: 60,
                window: Window {
                    open_hours: open,
                    preferred_from_hours: pf,
                    preferred_to_hours: pt,
                    close_hours: close,
                },
                non_dosing_day: true,
                needs_room: true,
            };
            let s = vec![
                wet(1, 4, 0, 16, 30, 96),
                wet(2, 5, 0, 16, 30, 96),
                wet(3, 6, 0, 16, 30, 72),
                wet(4, 6, 40, 40, 78, 144),
                wet(5, 6, 88, 88, 150, 240),
            ];
            (doses, s, rng.gen_range(0..=days.saturating_sub(span).min(10)))
        } else if r < 0.25 {
            let count = (days / 7).clamp(1, 4);
            let doses = DoseSeries {
                count,
                infusion_minutes: 15,
                monitoring_minutes: 120,
                min_gap_hours: 120,
                max_gap_hours: Some(216),
                max_span_days: None,
            };
            let s = (1..=count).filter(|d| d % 2 == 0).map(|d| integration(format!("integration-{d}"), d)).collect();
            (doses, s, rng.gen_range(0..=days.saturating_sub(1).min(4)))
        } else {
            let count = if days >= 21 && rng.gen_bool(0.5) { 2 } else { 1 };
            let doses = DoseSeries {
                count,
                infusion_minutes: 40,
                monitoring_minutes: 80,
                min_gap_hours: 240,
                max_gap_hours: Some(504),
                max_span_days: None,
            };
            let s = (1..=count).map(|d| integration(format!("integration-{d}"), d)).collect();
            (doses, s, rng.gen_range(0..=days.saturating_sub(1).min(7)))
        };
        courses.push(Course {
            id: kid,
            client: cid,
            earliest: Some(horizon_day(earliest)),
            latest: None,
            doses,
            sessions,
        });
    }
    // Two weekly process groups.
    let mut groups = Vec::new();
    if p.clients >= 8 && p.therapists >= 1 {
        for (g, (day, h)) in [(1u32, 17i8), (3, 12)].into_iter().enumerate() {
            let mut members: Vec<String> = (1..=p.clients).map(|i| format!("client-{i}")).collect();
            members.shuffle(&mut rng);
            members.truncate(8);
            let meetings = (0..days)
                .filter(|d| d % 7 == day && h < 18)
                .map(|d| Meeting { start: horizon_day(d).to_datetime(t(h, 0)), minutes: 90 })
                .collect();
            groups.push(Group {
                id: format!("group-{}", g + 1),
                therapist: format!("therapist-{}", g % p.therapists.max(1) + 1),
                room: Some("room-1".into()),
                members,
                meetings,
            });
        }
    }
    Problem {
        time_zone: p.time_zone.clone(),
        horizon: Horizon { start: p.start, days },
        slot_minutes: 15,
        site_hours: vec![hours(&WEEKDAYS, t(8, 0), t(18, 0)), hours(&[Day::Sat], t(9, 0), t(13, 0))],
        closures: vec![],
        chairs,
        rooms,
        staff,
        clients,
        courses,
        groups,
        booked: vec![],
    }
}
