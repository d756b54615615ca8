//! Search state: placements, resource occupancy, feasibility and the objective.

use crate::model::{EvKind, Model, NONE, Place};
use crate::plan::Reason;

/// Objective weights (lower total is better). Priority order, from the issue:
/// doses scheduled; (repair) bookings kept; sessions in the preferred window; sessions
/// scheduled at all; continuing therapist; client days; chair-days.
pub const W_DOSE: i64 = 1_000_000_000_000_000;
pub const W_MOVE: i64 = 1_000_000_000_000;
/// In a repair, moving an appointment of a client the change touched (a cancelled
/// appointment's client, a client whose booking the change broke).
pub const W_MOVE_AFFECTED: i64 = 10_000_000_000;
/// In a repair, a dose the previous plan left unscheduled: worth scheduling, but not at the
/// price of moving a booked appointment.
pub const W_DOSE_NOT_BOOKED: i64 = 100_000_000_000;
pub const W_NOT_PREFERRED: i64 = 1_000_000_000;
pub const W_SESSION_UNSCHEDULED: i64 = 100_000;
pub const W_DISCONTINUITY: i64 = 1_000;
pub const W_CLIENT_DAY: i64 = 100;
pub const W_CHAIR_DAY: i64 = 1;

/// Exclusive use of a staff member (a session or a group) in `staff_load`.
const EXCL: u8 = 100;
/// Occupant marker for group blocks in room/client occupancy.
const BLOCK: u32 = NONE - 1;

#[derive(Clone)]
pub(crate) struct State<'m> {
    pub m: &'m Model,
    pub asg: Vec<Option<Place>>,
    chair_occ: Vec<Vec<u32>>,
    /// Per slot: chairs holding a dose (a quick test that no chair is free).
    chairs_busy: Vec<u16>,
    room_occ: Vec<Vec<u32>>,
    staff_load: Vec<Vec<u8>>,
    client_occ: Vec<Vec<u8>>,
    /// Per client, per day: doses.
    dose_day: Vec<Vec<u8>>,
    /// Per client, per day: placed non-dosing-day sessions.
    nd_day: Vec<Vec<u8>>,
    /// Per client, per day: placed events.
    client_day: Vec<Vec<u16>>,
    chair_day: Vec<Vec<u16>>,
    pub chair_days: i64,
    /// Events a booking fixes in place.
    pub locked: Vec<bool>,
    /// The booked place each event is compared to for "moved".
    pub reference: Vec<Option<Place>>,
    /// Doses whose absence costs `W_DOSE_NOT_BOOKED` instead of `W_DOSE` (repair).
    pub low_dose: Vec<bool>,
    /// The cost of moving each event's booking.
    pub move_weight: Vec<i64>,
}

impl<'m> State<'m> {
    pub(crate) fn new(m: &'m Model) -> State<'m> {
        let n = m.n as usize;
        let nd = m.days.len();
        let mut st = State {
            m,
            asg: vec![None; m.events.len()],
            chair_occ: vec![vec![NONE; n]; m.chairs.len()],
            chairs_busy: vec![0; n],
            room_occ: vec![vec![NONE; n]; m.rooms.len()],
            staff_load: vec![vec![0; n]; m.staff.len()],
            client_occ: vec![vec![0; n]; m.clients.len()],
            dose_day: vec![vec![0; nd]; m.clients.len()],
            nd_day: vec![vec![0; nd]; m.clients.len()],
            client_day: vec![vec![0; nd]; m.clients.len()],
            chair_day: vec![vec![0; nd]; m.chairs.len()],
            chair_days: 0,
            locked: vec![false; m.events.len()],
            reference: m.bookings.iter().map(|b| b.map(|b| b.place)).collect(),
            low_dose: vec![false; m.events.len()],
            move_weight: vec![W_MOVE; m.events.len()],
        };
        for b in &m.blocks {
            for t in b.start..b.end {
                let t = t as usize;
                st.staff_load[b.staff][t] = st.staff_load[b.staff][t].saturating_add(EXCL);
                if let Some(r) = b.room {
                    st.room_occ[r][t] = BLOCK;
                }
                for &c in &b.clients {
                    st.client_occ[c][t] = st.client_occ[c][t].saturating_add(1);
                }
            }
        }
        st
    }

    // ---------- occupancy ----------

    pub(crate) fn assign(&mut self, e: usize, p: Place) {
        debug_assert!(self.asg[e].is_none());
        let ev = &self.m.events[e];
        let (s, en) = (p.start as usize, (p.start + ev.dur) as usize);
        let c = ev.client;
        let day = self.m.day(p.start);
        for t in s..en {
            self.client_occ[c][t] += 1;
        }
        self.client_day[c][day] += 1;
        match ev.kind {
            EvKind::Dose { .. } => {
                for t in s..en {
                    self.chair_occ[p.res as usize][t] = e as u32;
                    self.chairs_busy[t] += 1;
                    self.staff_load[p.staff as usize][t] += 1;
                }
                self.dose_day[c][day] += 1;
                let cd = &mut self.chair_day[p.res as usize][day];
                if *cd == 0 {
                    self.chair_days += 1;
                }
                *cd += 1;
            }
            EvKind::Session { non_dosing, .. } => {
                for t in s..en {
                    self.staff_load[p.staff as usize][t] += EXCL;
                    if p.res != NONE {
                        self.room_occ[p.res as usize][t] = e as u32;
                    }
                }
                if non_dosing {
                    self.nd_day[c][day] += 1;
                }
            }
        }
        self.asg[e] = Some(p);
    }

    pub(crate) fn unassign(&mut self, e: usize) -> Option<Place> {
        let p = self.asg[e].take()?;
        let ev = &self.m.events[e];
        let (s, en) = (p.start as usize, (p.start + ev.dur) as usize);
        let c = ev.client;
        let day = self.m.day(p.start);
        for t in s..en {
            self.client_occ[c][t] -= 1;
        }
        self.client_day[c][day] -= 1;
        match ev.kind {
            EvKind::Dose { .. } => {
                for t in s..en {
                    self.chair_occ[p.res as usize][t] = NONE;
                    self.chairs_busy[t] -= 1;
                    self.staff_load[p.staff as usize][t] -= 1;
                }
                self.dose_day[c][day] -= 1;
                let cd = &mut self.chair_day[p.res as usize][day];
                *cd -= 1;
                if *cd == 0 {
                    self.chair_days -= 1;
                }
            }
            EvKind::Session { non_dosing, .. } => {
                for t in s..en {
                    self.staff_load[p.staff as usize][t] -= EXCL;
                    if p.res != NONE {
                        self.room_occ[p.res as usize][t] = NONE;
                    }
                }
                if non_dosing {
                    self.nd_day[c][day] -= 1;
                }
            }
        }
        Some(p)
    }

    /// Doses (and exclusive uses, counted as 100) of staff member `st` at slot `t`.
    pub(crate) fn staff_load_at(&self, st: usize, t: u32) -> u8 {
        self.staff_load[st][t as usize]
    }

    pub(crate) fn chair_occupant(&self, ch: usize, t: u32) -> u32 {
        self.chair_occ[ch][t as usize]
    }

    // ---------- feasibility ----------

    #[inline]
    pub(crate) fn client_free(&self, c: usize, s: u32, e: u32) -> bool {
        self.client_occ[c][s as usize..e as usize].iter().all(|&x| x == 0)
    }
    /// Whether some chair has no dose throughout `[s, e)` as far as the per-slot counts
    /// tell (a necessary condition for [`Self::chair_free`] on some chair).
    #[inline]
    pub(crate) fn some_chair_left(&self, s: u32, e: u32) -> bool {
        let n = self.m.chairs.len();
        self.chairs_busy[s as usize..e as usize].iter().all(|&x| (x as usize) < n)
    }
    #[inline]
    pub(crate) fn chair_free(&self, ch: usize, s: u32, e: u32) -> bool {
        self.m.chairs[ch].avail.ok(s, e) && self.chair_occ[ch][s as usize..e as usize].iter().all(|&x| x == NONE)
    }
    #[inline]
    pub(crate) fn room_free(&self, r: usize, s: u32, e: u32) -> bool {
        self.m.rooms[r].avail.ok(s, e) && self.room_occ[r][s as usize..e as usize].iter().all(|&x| x == NONE)
    }
    #[inline]
    pub(crate) fn monitor_ok(&self, st: usize, s: u32, e: u32) -> bool {
        let sm = &self.m.staff[st];
        sm.monitor && sm.avail.ok(s, e) && self.staff_load[st][s as usize..e as usize].iter().all(|&x| x < sm.cap)
    }
    #[inline]
    pub(crate) fn therapist_ok(&self, st: usize, s: u32, e: u32) -> bool {
        let sm = &self.m.staff[st];
        sm.therapist && sm.avail.ok(s, e) && self.staff_load[st][s as usize..e as usize].iter().all(|&x| x == 0)
    }

    /// Inclusive range of allowed starts of event `e` from time rules alone
    /// (horizon, course dates, spacing to placed neighbouring doses, windows).
    /// `None` with a reason when empty.
    pub(crate) fn start_range(&self, e: usize) -> Result<(u32, u32), Reason> {
        let m = self.m;
        let ev = &m.events[e];
        let last = i64::from(m.n) - i64::from(ev.dur);
        match &ev.kind {
            EvKind::Dose { n } => {
                let k = &m.courses[ev.course];
                let n = *n as usize;
                let mut lo = i64::from(k.lo);
                let mut hi = last.min(i64::from(k.hi) - 1);
                if n > 0 {
                    match self.asg[k.doses[n - 1]] {
                        None => return Err(Reason::PreviousDoseUnscheduled),
                        Some(p) => {
                            lo = lo.max(i64::from(p.start) + i64::from(k.min_gap));
                            if let Some(g) = k.max_gap {
                                hi = hi.min(i64::from(p.start) + i64::from(g));
                            }
                        }
                    }
                }
                if let Some(q) = k.doses.get(n + 1).and_then(|&d| self.asg[d]) {
                    hi = hi.min(i64::from(q.start) - i64::from(k.min_gap));
                    if let Some(g) = k.max_gap {
                        lo = lo.max(i64::from(q.start) - i64::from(g));
                    }
                }
                if let Some(span) = k.max_span {
                    // The first dose (other than this one) and the last placed one.
                    let placed: Vec<u32> =
                        k.doses.iter().filter(|&&d| d != e).filter_map(|&d| self.asg[d].map(|p| p.start)).collect();
                    if let (Some(&mn), Some(&mx)) = (placed.iter().min(), placed.iter().max()) {
                        lo = lo.max(i64::from(mx) - i64::from(span));
                        hi = hi.min(i64::from(mn) + i64::from(span));
                    }
                }
                // Sessions already placed and tied to this dose keep their window.
                for &se in &k.sessions {
                    if let (Some(sp), EvKind::Session { anchor, from_end, open, close, .. }) =
                        (self.asg[se], &m.events[se].kind)
                        && *anchor == e
                    {
                        let shift = if *from_end { i64::from(ev.dur) } else { 0 };
                        let ss = i64::from(sp.start);
                        lo = lo.max(ss - close - shift);
                        hi = hi.min(ss - open - shift);
                    }
                }
                if lo > hi || hi < 0 {
                    return Err(Reason::Spacing);
                }
                Ok((lo.max(0) as u32, hi as u32))
            }
            EvKind::Session { anchor, open, close, .. } => {
                let Some(ap) = self.asg[*anchor] else {
                    return Err(Reason::AnchorDoseUnscheduled);
                };
                let a = m.anchor_slot(e, ap.start);
                let lo = (a + open).max(0);
                let hi = (a + close).min(last);
                if lo > hi {
                    return Err(Reason::WindowClosed);
                }
                Ok((lo as u32, hi as u32))
            }
        }
    }

    /// Time-feasibility of a start for the client (site, availability, busy, dosing days).
    #[inline]
    pub(crate) fn client_time_ok(&self, e: usize, s: u32) -> bool {
        let m = self.m;
        let ev = &m.events[e];
        let end = s + ev.dur;
        if !m.site.ok(s, end) || !m.clients[ev.client].avail.ok(s, end) || !self.client_free(ev.client, s, end) {
            return false;
        }
        let day = m.day(s);
        match ev.kind {
            EvKind::Dose { .. } => self.nd_day[ev.client][day] == 0,
            EvKind::Session { non_dosing, .. } => !non_dosing || self.dose_day[ev.client][day] == 0,
        }
    }

    /// The best resources for `e` at `s`, if any: (place, cost of the event there).
    pub(crate) fn fit(&self, e: usize, s: u32) -> Option<(Place, i64)> {
        let m = self.m;
        let ev = &m.events[e];
        // Doses: the per-slot chair counts first (the usual reason a start fails).
        if ev.is_dose() && (s + ev.dur > m.n || !self.some_chair_left(s, s + ev.dur)) {
            return None;
        }
        if !self.client_time_ok(e, s) {
            return None;
        }
        let end = s + ev.dur;
        let day = m.day(s);
        let reference = self.reference[e];
        let mut base = if self.client_day[ev.client][day] == 0 { W_CLIENT_DAY } else { 0 };
        match &ev.kind {
            EvKind::Dose { .. } => {
                // Keep the booking's own resources if it is kept in time.
                if let Some(r) = reference
                    && r.start == s
                    && self.chair_free(r.res as usize, s, end)
                    && self.monitor_ok(r.staff as usize, s, end)
                {
                    let c = base + if self.chair_day[r.res as usize][day] == 0 { W_CHAIR_DAY } else { 0 };
                    return Some((r, c));
                }
                let staff = m.monitors.iter().copied().find(|&st| self.monitor_ok(st, s, end))?;
                let mut best: Option<(usize, i64)> = None;
                for ch in 0..m.chairs.len() {
                    if self.chair_free(ch, s, end) {
                        let c = if self.chair_day[ch][day] == 0 { W_CHAIR_DAY } else { 0 };
                        if best.is_none_or(|(_, bc)| c < bc) {
                            best = Some((ch, c));
                            if c == 0 {
                                break;
                            }
                        }
                    }
                }
                let (ch, cc) = best?;
                base += cc;
                if reference.is_some() {
                    base += self.move_weight[e];
                }
                Some((Place { start: s, res: ch as u32, staff: staff as u32 }, base))
            }
            EvKind::Session { needs_room, pf, pt, .. } => {
                let a = m.anchor_slot(e, self.asg_anchor_start(e)?);
                let rel = i64::from(s) - a;
                if rel < *pf || rel > *pt {
                    base += W_NOT_PREFERRED;
                }
                let room = if *needs_room {
                    if let Some(r) = reference
                        && r.start == s
                        && r.res != NONE
                        && self.room_free(r.res as usize, s, end)
                    {
                        r.res
                    } else {
                        (0..m.rooms.len()).find(|&r| self.room_free(r, s, end))? as u32
                    }
                } else {
                    NONE
                };
                let pref = m.clients[ev.client].therapist;
                let keep = reference.filter(|r| r.start == s).map(|r| r.staff as usize);
                let staff = if let Some(k) = keep.filter(|&k| self.therapist_ok(k, s, end)) {
                    k
                } else if let Some(p) = pref.filter(|&p| self.therapist_ok(p, s, end)) {
                    p
                } else {
                    m.therapists.iter().copied().find(|&st| self.therapist_ok(st, s, end))?
                };
                if pref.is_some_and(|p| p != staff) {
                    base += W_DISCONTINUITY;
                }
                let place = Place { start: s, res: room, staff: staff as u32 };
                if reference.is_some_and(|r| r != place) {
                    base += self.move_weight[e];
                }
                Some((place, base))
            }
        }
    }

    /// The best resources for `e` at `s` for the exact search (see `exact`): the booked
    /// ones when the start is kept, a chair already in use that day, the continuing
    /// therapist first. `None` when `e` cannot start at `s`.
    pub(crate) fn exact_place(&self, e: usize, s: u32) -> Option<Place> {
        let m = self.m;
        let ev = &m.events[e];
        let end = s + ev.dur;
        if end > m.n || !self.client_time_ok(e, s) {
            return None;
        }
        let reference = self.reference[e].filter(|r| r.start == s);
        match &ev.kind {
            EvKind::Dose { .. } => {
                if !self.some_chair_left(s, end) {
                    return None;
                }
                if let Some(r) = reference
                    && (r.res as usize) < m.chairs.len()
                    && (r.staff as usize) < m.staff.len()
                    && self.chair_free(r.res as usize, s, end)
                    && self.monitor_ok(r.staff as usize, s, end)
                {
                    return Some(r);
                }
                let staff = (0..m.staff.len()).find(|&st| self.monitor_ok(st, s, end))?;
                let day = m.day(s);
                let mut best: Option<(usize, bool)> = None;
                for ch in 0..m.chairs.len() {
                    if self.chair_free(ch, s, end) {
                        let used = self.chair_day[ch][day] > 0;
                        if best.is_none_or(|(_, u)| used && !u) {
                            best = Some((ch, used));
                            if used {
                                break;
                            }
                        }
                    }
                }
                let (ch, _) = best?;
                Some(Place { start: s, res: ch as u32, staff: staff as u32 })
            }
            EvKind::Session { needs_room, .. } => {
                let room = if *needs_room {
                    match reference {
                        Some(r)
                            if r.res != NONE
                                && (r.res as usize) < m.rooms.len()
                                && self.room_free(r.res as usize, s, end) =>
                        {
                            r.res
                        }
                        _ => (0..m.rooms.len()).find(|&r| self.room_free(r, s, end))? as u32,
                    }
                } else {
                    NONE
                };
                let cont = m.clients[ev.client].therapist.filter(|&t| self.therapist_ok(t, s, end));
                let kept =
                    reference.map(|r| r.staff as usize).filter(|&t| t < m.staff.len() && self.therapist_ok(t, s, end));
                let staff = match (cont, kept) {
                    (Some(c), _) => c,
                    (None, Some(k)) => k,
                    (None, None) => (0..m.staff.len()).find(|&st| self.therapist_ok(st, s, end))?,
                };
                Some(Place { start: s, res: room, staff: staff as u32 })
            }
        }
    }

    pub(crate) fn asg_anchor_start(&self, e: usize) -> Option<u32> {
        match &self.m.events[e].kind {
            EvKind::Session { anchor, .. } => self.asg[*anchor].map(|p| p.start),
            EvKind::Dose { .. } => None,
        }
    }

    /// Whether a place is feasible for `e` against the current state.
    pub(crate) fn place_ok(&self, e: usize, p: Place) -> bool {
        let Ok((lo, hi)) = self.start_range(e) else { return false };
        if p.start < lo || p.start > hi || !self.client_time_ok(e, p.start) {
            return false;
        }
        let m = self.m;
        let end = p.start + m.events[e].dur;
        match &m.events[e].kind {
            EvKind::Dose { .. } => {
                (p.res as usize) < m.chairs.len()
                    && (p.staff as usize) < m.staff.len()
                    && self.chair_free(p.res as usize, p.start, end)
                    && self.monitor_ok(p.staff as usize, p.start, end)
            }
            EvKind::Session { needs_room, .. } => {
                let room_ok = if p.res == NONE {
                    !needs_room
                } else {
                    (p.res as usize) < m.rooms.len() && self.room_free(p.res as usize, p.start, end)
                };
                room_ok && (p.staff as usize) < m.staff.len() && self.therapist_ok(p.staff as usize, p.start, end)
            }
        }
    }

    /// Why `e` cannot be placed now: the first filter that leaves no start.
    pub(crate) fn diagnose(&self, e: usize) -> (Reason, String) {
        let m = self.m;
        let ev = &m.events[e];
        let (lo, hi) = match self.start_range(e) {
            Ok(r) => r,
            Err(r) => {
                let d = match r {
                    Reason::PreviousDoseUnscheduled => "the previous dose of the series is unscheduled".to_string(),
                    Reason::AnchorDoseUnscheduled => "the dose this session follows is unscheduled".to_string(),
                    Reason::WindowClosed => "the session's window lies outside the horizon".to_string(),
                    _ => "no start respects the dose spacing, the course's dates and the horizon".to_string(),
                };
                return (r, d);
            }
        };
        let is_dose = ev.is_dose();
        let mut cand: Vec<u32> = (lo..=hi).collect();
        let stage = |cand: &mut Vec<u32>, f: &dyn Fn(u32) -> bool| cand.retain(|&s| f(s));
        let dur = ev.dur;
        let c = ev.client;
        let day_ok = |s: u32| -> bool {
            let day = m.day(s);
            if is_dose {
                self.nd_day[c][day] == 0
            } else {
                !matches!(ev.kind, EvKind::Session { non_dosing: true, .. }) || self.dose_day[c][day] == 0
            }
        };
        type Filter<'a> = Box<dyn Fn(u32) -> bool + 'a>;
        let steps: Vec<(Reason, &str, Filter<'_>)> = vec![
            (Reason::SiteClosed, "the site is closed at every allowed start", Box::new(|s| m.site.ok_at(s))),
            (
                if is_dose { Reason::SiteClosesBeforeMonitoringEnds } else { Reason::SiteClosed },
                if is_dose {
                    "the site closes before monitoring would end at every allowed start"
                } else {
                    "the site closes before the session would end at every allowed start"
                },
                Box::new(move |s| m.site.ok(s, s + dur)),
            ),
            (
                Reason::ClientUnavailable,
                "the client is not available at any allowed start",
                Box::new(move |s| m.clients[c].avail.ok(s, s + dur)),
            ),
            (
                Reason::NonDosingDay,
                if is_dose {
                    "every remaining start is on a day kept free of doses for a session"
                } else {
                    "every remaining start is on a dosing day of this client"
                },
                Box::new(day_ok),
            ),
            (
                Reason::ClientBusy,
                "the client is booked elsewhere at every remaining start",
                Box::new(move |s| self.client_free(c, s, s + dur)),
            ),
        ];
        for (r, d, f) in &steps {
            stage(&mut cand, f.as_ref());
            if cand.is_empty() {
                return (*r, d.to_string());
            }
        }
        if is_dose {
            stage(&mut cand, &|s| (0..m.staff.len()).any(|st| m.staff[st].monitor && m.staff[st].avail.ok(s, s + dur)));
            if cand.is_empty() {
                return (Reason::MonitorUnavailable, "no medical monitor is on duty at any remaining start".into());
            }
            stage(&mut cand, &|s| (0..m.staff.len()).any(|st| self.monitor_ok(st, s, s + dur)));
            if cand.is_empty() {
                return (
                    Reason::MonitorCapacity,
                    "every monitor on duty is at capacity at every remaining start".into(),
                );
            }
            stage(&mut cand, &|s| (0..m.chairs.len()).any(|ch| self.chair_free(ch, s, s + dur)));
            if cand.is_empty() {
                return (Reason::NoChair, "no chair is free at any remaining start".into());
            }
        } else {
            stage(&mut cand, &|s| {
                (0..m.staff.len()).any(|st| m.staff[st].therapist && m.staff[st].avail.ok(s, s + dur))
            });
            if cand.is_empty() {
                return (Reason::TherapistUnavailable, "no therapist works at any remaining start".into());
            }
            stage(&mut cand, &|s| (0..m.staff.len()).any(|st| self.therapist_ok(st, s, s + dur)));
            if cand.is_empty() {
                return (Reason::TherapistBusy, "every therapist on duty is booked at every remaining start".into());
            }
            if matches!(ev.kind, EvKind::Session { needs_room: true, .. }) {
                stage(&mut cand, &|s| (0..m.rooms.len()).any(|r| self.room_free(r, s, s + dur)));
                if cand.is_empty() {
                    return (Reason::NoRoom, "no room is free at any remaining start".into());
                }
            }
        }
        (Reason::SearchLimit, "a start with free resources exists but the search did not reach it".into())
    }

    // ---------- objective ----------

    /// The objective part that belongs to one client.
    pub(crate) fn client_cost(&self, c: usize) -> i64 {
        let m = self.m;
        let mut cost = 0;
        for &e in &m.clients[c].events {
            let ev = &m.events[e];
            let p = self.asg[e];
            if let Some(r) = self.reference[e]
                && p != Some(r)
            {
                cost += self.move_weight[e];
            }
            match (&ev.kind, p) {
                (EvKind::Dose { .. }, None) => cost += if self.low_dose[e] { W_DOSE_NOT_BOOKED } else { W_DOSE },
                (EvKind::Dose { .. }, Some(_)) => {}
                (EvKind::Session { .. }, None) => cost += W_NOT_PREFERRED + W_SESSION_UNSCHEDULED,
                (EvKind::Session { .. }, Some(p)) => {
                    if !self.preferred(e, p.start) {
                        cost += W_NOT_PREFERRED;
                    }
                    if m.clients[c].therapist.is_some_and(|t| t as u32 != p.staff) {
                        cost += W_DISCONTINUITY;
                    }
                }
            }
        }
        cost + W_CLIENT_DAY * self.client_day[c].iter().filter(|&&x| x > 0).count() as i64
    }

    pub(crate) fn preferred(&self, e: usize, s: u32) -> bool {
        match &self.m.events[e].kind {
            EvKind::Session { pf, pt, .. } => match self.asg_anchor_start(e) {
                Some(a) => {
                    let rel = i64::from(s) - self.m.anchor_slot(e, a);
                    rel >= *pf && rel <= *pt
                }
                None => false,
            },
            EvKind::Dose { .. } => true,
        }
    }

    pub(crate) fn total_cost(&self) -> i64 {
        (0..self.m.clients.len()).map(|c| self.client_cost(c)).sum::<i64>() + W_CHAIR_DAY * self.chair_days
    }

    /// Local days on which client `c` has an event.
    pub(crate) fn days_of(&self, c: usize) -> usize {
        self.client_day[c].iter().filter(|&&x| x > 0).count()
    }

    /// Whether client `c` has an event on local day `day`.
    pub(crate) fn client_on_day(&self, c: usize, day: usize) -> bool {
        self.client_day[c][day] > 0
    }

    pub(crate) fn client_days(&self) -> usize {
        self.client_day.iter().map(|r| r.iter().filter(|&&x| x > 0).count()).sum()
    }
}

impl State<'_> {
    /// A sentence on why a booked place no longer fits (for the `moved` list).
    pub(crate) fn why_not(&self, e: usize, p: Place) -> String {
        let m = self.m;
        let ev = &m.events[e];
        let end = p.start + ev.dur;
        let in_range = self.start_range(e).map(|(lo, hi)| p.start >= lo && p.start <= hi);
        match in_range {
            Err(_) | Ok(false) => return "the booked time no longer fits the spacing or window rules".into(),
            Ok(true) => {}
        }
        if !m.site.ok(p.start, end) {
            return "the site is closed at the booked time".into();
        }
        if !m.clients[ev.client].avail.ok(p.start, end) {
            return format!("client '{}' is not available at the booked time", m.clients[ev.client].id);
        }
        if (p.staff as usize) < m.staff.len() && !m.staff[p.staff as usize].avail.ok(p.start, end) {
            return format!("'{}' is not working at the booked time", m.staff[p.staff as usize].id);
        }
        if ev.is_dose() {
            if (p.res as usize) < m.chairs.len() && !m.chairs[p.res as usize].avail.ok(p.start, end) {
                return format!("chair '{}' is out of service at the booked time", m.chairs[p.res as usize].id);
            }
        } else if p.res != NONE && (p.res as usize) < m.rooms.len() && !m.rooms[p.res as usize].avail.ok(p.start, end) {
            return format!("room '{}' is out of service at the booked time", m.rooms[p.res as usize].id);
        }
        "the booked place conflicts with another booking".into()
    }
}
