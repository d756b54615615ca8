//! The engine: a constructive start (doses first, course by course with bounded
//! backtracking over the spacing; then sessions by best insertion) improved by a
//! large-neighbourhood search (ruin and recreate) with a seeded RNG.

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::exact;
use crate::model::{EvKind, Model, NONE, Place};
use crate::plan::{Assignment, EventKind, Moved, Plan, Slot, Summary, Unscheduled, WindowFit};
use crate::state::{State, W_CHAIR_DAY};

/// Solver options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// RNG seed: the same problem, seed and iteration budget give the same plan.
    pub seed: u64,
    /// Local-search iterations (the deterministic budget). `None`: automatic
    /// (scaled to the instance).
    pub iterations: Option<u64>,
    /// Wall-clock safety limit; when it ends the search first, the plan may differ between runs.
    pub time_limit: Duration,
    /// Repair: the node budget of the exact search over the affected client's
    /// appointments (`None`: 20,000 per stage).
    pub node_budget: Option<u64>,
}

impl Default for Options {
    fn default() -> Options {
        Options { seed: 0, iterations: None, time_limit: Duration::from_secs(10), node_budget: None }
    }
}

pub(crate) struct Search<'m> {
    pub st: State<'m>,
    rng: ChaCha8Rng,
    journal: Vec<(usize, Option<Place>)>,
    stamp: Vec<u64>,
    move_id: u64,
    cost_cache: Vec<i64>,
    pub iterations: u64,
    pub stopped_by: &'static str,
    /// Per session: prefix counts of starts where the site, the client and the
    /// continuing therapist (any therapist if none) are all statically available.
    pref_ok: Vec<Option<std::rc::Rc<Vec<u32>>>>,
    /// Per dose: the sessions tied to it, with (shift, pf, pt) offsets.
    tied: Vec<Vec<(usize, i64, i64, i64)>>,
    /// Per event: the starts where the site and the client are available for its whole
    /// length, in order (shared per client and length): the only starts `fit` can take.
    ev_list: Vec<Option<std::rc::Rc<Vec<u32>>>>,
    list_cache: std::collections::HashMap<(usize, u32), std::rc::Rc<Vec<u32>>>,
    pref_cache: std::collections::HashMap<(usize, u32), std::rc::Rc<Vec<u32>>>,
    /// Per course (lazily): the starts of its most constrained dose on a complete series.
    critical: std::collections::HashMap<usize, std::rc::Rc<(usize, Vec<u32>)>>,
    /// Per course (lazily): the most doses any plan can schedule (static rules).
    dose_cap: std::collections::HashMap<usize, usize>,
    /// Dose moves with the exact variants left for the search (`improve`).
    exact_dose_moves: u32,
    /// Per course (lazily), per slot from its first date: whether a dose of it starting
    /// there leaves its tied sessions a statically possible preferred start.
    pref_starts: Vec<Option<std::rc::Rc<Vec<bool>>>>,
    /// Per dose (lazily): `sessions_can_prefer` at every slot.
    can_prefer: Vec<Option<std::rc::Rc<Vec<bool>>>>,
    /// The moves for sessions outside their preferred window (ejection chains, courses
    /// moved off the starts that keep the window out of reach): in a solve, while no
    /// dose that could be scheduled is missing (off in repairs).
    pub pref_moves: bool,
}

const DFS_BUDGET: u32 = 40;
/// Node budget of one exact dose placement.
const EXACT_BUDGET: u64 = 2_000;
/// Dose moves with the exact variants in one search (after the walk before it).
const EXACT_DOSE_MOVES: u32 = 200;
/// The walk over dose moves stops after this many moves without fewer doses missing.
const WALK_STALL: u32 = 300;
/// The share of session moves on a session outside its window that are ejection chains.
const CHAIN_SHARE: f64 = 0.5;
/// The share of course moves on a session whose dose leaves it no preferred start that
/// take out the courses holding the starts that would (the others: a related course).
const SHIFT_SHARE: f64 = 0.8;

impl<'m> Search<'m> {
    pub(crate) fn new(st: State<'m>, seed: u64) -> Search<'m> {
        let n = st.m.events.len();
        let c = st.m.clients.len();
        let m = st.m;
        let mut tied = vec![vec![]; n];
        for (e, ev) in m.events.iter().enumerate() {
            let EvKind::Session { anchor, from_end, pf, pt, .. } = ev.kind else { continue };
            let shift = if from_end { i64::from(m.events[anchor].dur) } else { 0 };
            tied[anchor].push((e, shift, pf, pt));
        }
        Search {
            st,
            ev_list: vec![None; n],
            list_cache: Default::default(),
            pref_cache: Default::default(),
            pref_ok: vec![None; n],
            rng: ChaCha8Rng::seed_from_u64(seed),
            journal: vec![],
            stamp: vec![0; n],
            move_id: 1,
            cost_cache: vec![0; c],
            iterations: 0,
            stopped_by: "iterations",
            tied,
            critical: Default::default(),
            dose_cap: Default::default(),
            exact_dose_moves: EXACT_DOSE_MOVES,
            pref_starts: vec![None; m.courses.len()],
            can_prefer: vec![None; n],
            pref_moves: false,
        }
    }

    /// The statically possible starts of `e` (computed on first use).
    fn list(&mut self, e: usize) -> std::rc::Rc<Vec<u32>> {
        if let Some(l) = &self.ev_list[e] {
            return l.clone();
        }
        let m = self.st.m;
        let ev = &m.events[e];
        let l = self
            .list_cache
            .entry((ev.client, ev.dur))
            .or_insert_with(|| {
                let av = &m.clients[ev.client].avail;
                std::rc::Rc::new((0..m.n).filter(|&t| m.site.ok(t, t + ev.dur) && av.ok(t, t + ev.dur)).collect())
            })
            .clone();
        self.ev_list[e] = Some(l.clone());
        l
    }

    /// Fills `pref_ok` for the sessions tied to dose `d` (computed on first use).
    fn ensure_pref(&mut self, d: usize) {
        let m = self.st.m;
        for i in 0..self.tied[d].len() {
            let e = self.tied[d][i].0;
            if self.pref_ok[e].is_some() {
                continue;
            }
            let ev = &m.events[e];
            let arr = self
                .pref_cache
                .entry((ev.client, ev.dur))
                .or_insert_with(|| {
                    let ther = m.clients[ev.client].therapist;
                    let mut pre = Vec::with_capacity(m.n as usize + 1);
                    pre.push(0u32);
                    let mut acc = 0;
                    for t in 0..m.n {
                        let end = t + ev.dur;
                        let ok = m.site.ok(t, end)
                            && m.clients[ev.client].avail.ok(t, end)
                            && match ther {
                                Some(th) => m.staff[th].avail.ok(t, end),
                                None => m.staff.iter().any(|s| s.therapist && s.avail.ok(t, end)),
                            };
                        if ok {
                            acc += 1;
                        }
                        pre.push(acc);
                    }
                    std::rc::Rc::new(pre)
                })
                .clone();
            self.pref_ok[e] = Some(arr);
        }
    }

    /// `sessions_can_prefer(d, s)` for every slot `s` (computed on first use).
    fn can_prefer(&mut self, d: usize) -> std::rc::Rc<Vec<bool>> {
        if let Some(v) = &self.can_prefer[d] {
            return v.clone();
        }
        self.ensure_pref(d);
        let v = std::rc::Rc::new((0..self.st.m.n).map(|s| self.sessions_can_prefer(d, s)).collect::<Vec<bool>>());
        self.can_prefer[d] = Some(v.clone());
        v
    }

    /// Whether every session tied to dose `d` has a statically possible start in its
    /// preferred window if the dose starts at `s`.
    fn sessions_can_prefer(&self, d: usize, s: u32) -> bool {
        let n = i64::from(self.st.m.n);
        self.tied[d].iter().all(|&(e, shift, pf, pt)| {
            let Some(pre) = &self.pref_ok[e] else { return true };
            let a = i64::from(s) + shift;
            let lo = (a + pf).clamp(0, n);
            let hi = (a + pt + 1).clamp(0, n);
            lo < hi && pre[hi as usize] > pre[lo as usize]
        })
    }

    fn m(&self) -> &'m Model {
        self.st.m
    }

    fn note(&mut self, e: usize) {
        if self.stamp[e] != self.move_id {
            self.stamp[e] = self.move_id;
            self.journal.push((e, self.st.asg[e]));
        }
    }
    fn assign(&mut self, e: usize, p: Place) {
        self.note(e);
        self.st.assign(e, p);
    }
    fn unassign(&mut self, e: usize) {
        if self.st.asg[e].is_some() && !self.st.locked[e] {
            self.note(e);
            self.st.unassign(e);
        }
    }

    /// Unassigns a dose with every later dose of its course and the sessions tied to them.
    fn unassign_dose_cascade(&mut self, e: usize) {
        let m = self.m();
        let k = &m.courses[m.events[e].course];
        let EvKind::Dose { n } = m.events[e].kind else {
            self.unassign(e);
            return;
        };
        for &d in &k.doses[n as usize..] {
            if self.st.locked[d] {
                continue;
            }
            for &s in &k.sessions {
                if matches!(m.events[s].kind, EvKind::Session { anchor, .. } if anchor == d) {
                    self.unassign(s);
                }
            }
            self.unassign(d);
        }
    }

    fn unassign_course(&mut self, k: usize) {
        let m = self.m();
        for &s in &m.courses[k].sessions {
            self.unassign(s);
        }
        if let Some(&d0) = m.courses[k].doses.first() {
            self.unassign_dose_cascade(d0);
        }
    }

    /// Best place for a session (lowest cost, earliest on ties).
    fn best_session(&mut self, e: usize) -> Option<(Place, i64)> {
        let (lo, hi) = self.st.start_range(e).ok()?;
        let mut best: Option<(Place, i64)> = None;
        if let Some(r) = self.st.reference[e]
            && r.start >= lo
            && r.start <= hi
            && self.st.place_ok(e, r)
        {
            return Some((r, 0));
        }
        let list = self.list(e);
        let m = self.m();
        // The preferred window first: any start in it costs less than every start outside
        // it (the other terms add less than `W_NOT_PREFERRED`, a move costs the same
        // everywhere but at the booked place, taken above), so when it has a start the
        // rest need no look; the result is that of the scan over the whole range.
        let pref = match (&m.events[e].kind, self.st.asg_anchor_start(e)) {
            (&EvKind::Session { pf, pt, .. }, Some(a)) => {
                let a = m.anchor_slot(e, a);
                let plo = (a + pf).max(i64::from(lo));
                let phi = (a + pt).min(i64::from(hi));
                (plo <= phi).then_some((plo as u32, phi as u32))
            }
            _ => None,
        };
        let scan = |st: &State<'_>, from: u32, to: u32, best: &mut Option<(Place, i64)>| {
            for &s in &list[list.partition_point(|&t| t < from)..list.partition_point(|&t| t <= to)] {
                if let Some((p, c)) = st.fit(e, s)
                    && best.is_none_or(|(_, bc)| c < bc)
                {
                    *best = Some((p, c));
                    if c == 0 {
                        return true;
                    }
                }
            }
            false
        };
        match pref {
            Some((plo, phi)) => {
                scan(&self.st, plo, phi, &mut best);
                if best.is_none() {
                    // Outside the window, earliest on ties: before it, then after it.
                    let done = plo > lo && scan(&self.st, lo, plo - 1, &mut best);
                    if !done && phi < hi {
                        scan(&self.st, phi + 1, hi, &mut best);
                    }
                }
            }
            None => {
                scan(&self.st, lo, hi, &mut best);
            }
        }
        best
    }

    fn insert_session(&mut self, e: usize) -> bool {
        if self.st.asg[e].is_some() {
            return true;
        }
        match self.best_session(e) {
            Some((p, _)) => {
                self.assign(e, p);
                true
            }
            None => false,
        }
    }

    /// Places the unplaced doses of course `k`: depth-first over the series with a
    /// bounded number of tries (booked places first); if the placed later doses leave
    /// no room, they are freed and the series is searched again; last, a plain greedy
    /// pass keeps the longest prefix it can.
    fn place_doses(&mut self, k: usize, jitter: bool) {
        let m = self.m();
        let doses = m.courses[k].doses.clone();
        if doses.iter().all(|&d| self.st.asg[d].is_some()) {
            return;
        }
        let shift = if jitter { self.rng.gen_range(0..(2 * 96u32)) } else { 0 };
        // First only starts that leave every tied session a preferred start, then any.
        let mut budget = DFS_BUDGET;
        if self.dfs(&doses, 0, &mut budget, shift, true) {
            return;
        }
        let mut budget = DFS_BUDGET;
        if self.dfs(&doses, 0, &mut budget, shift, false) {
            return;
        }
        // Free the series from the first unplaced dose on, and search again.
        self.normalize_course(k);
        let mut budget = DFS_BUDGET;
        if self.dfs(&doses, 0, &mut budget, shift, false) {
            return;
        }
        self.normalize_course(k);
        for &d in &doses {
            if self.st.asg[d].is_some() {
                continue;
            }
            let Ok((lo, hi)) = self.st.start_range(d) else { break };
            let mut placed = false;
            // Over the statically possible starts only (`fit` fails at the others).
            let list = self.list(d);
            for &s in &list[list.partition_point(|&t| t < lo)..list.partition_point(|&t| t <= hi)] {
                if let Some((p, _)) = self.st.fit(d, s) {
                    self.assign(d, p);
                    placed = true;
                    break;
                }
            }
            if !placed {
                break;
            }
        }
        // Sessions freed with their doses go back near their booked place.
        for &e in &m.courses[k].sessions {
            if self.st.asg[e].is_none() && self.st.reference[e].is_some() {
                self.insert_session(e);
            }
        }
    }

    fn dfs(&mut self, doses: &[usize], i: usize, budget: &mut u32, shift: u32, strict: bool) -> bool {
        if i == doses.len() {
            return true;
        }
        let d = doses[i];
        if self.st.asg[d].is_some() {
            return self.dfs(doses, i + 1, budget, 0, strict);
        }
        let Ok((lo, hi)) = self.st.start_range(d) else { return false };
        let span = hi - lo + 1;
        let sh = if span > 0 { shift % span } else { 0 };
        // A booked place first.
        let mut order_ref = None;
        if let Some(r) = self.st.reference[d]
            && r.start >= lo
            && r.start <= hi
            && self.st.place_ok(d, r)
        {
            order_ref = Some(r);
        }
        if let Some(r) = order_ref {
            self.assign(d, r);
            if self.dfs(doses, i + 1, budget, 0, strict) {
                return true;
            }
            self.st.unassign(d);
            *budget = budget.saturating_sub(1);
            if *budget == 0 {
                return false;
            }
        }
        let m = self.m();
        let mut skip_day = usize::MAX;
        // Starts that leave the tied sessions a preferred start first, then the rest;
        // each pass from lo + sh on, wrapping, over the statically possible starts only.
        let passes = if strict { 1 } else { 2 };
        let list = self.list(d);
        let can_prefer = self.can_prefer(d);
        let cand = &list[list.partition_point(|&t| t < lo)..list.partition_point(|&t| t <= hi)];
        let len = cand.len();
        let mut at = cand.partition_point(|&t| t < lo + sh);
        if at == len {
            at = 0;
        }
        for x in 0..passes * len {
            let good = x < len;
            let s = cand[at];
            at += 1;
            if at == len {
                at = 0;
            }
            if x == len {
                skip_day = usize::MAX;
            }
            if good != can_prefer[s as usize] {
                continue;
            }
            if m.day(s) == skip_day {
                continue;
            }
            if let Some((p, _)) = self.st.fit(d, s) {
                self.assign(d, p);
                if self.dfs(doses, i + 1, budget, 0, strict) {
                    return true;
                }
                self.st.unassign(d);
                *budget = budget.saturating_sub(1);
                if *budget == 0 {
                    return false;
                }
                // Another start the same day rarely changes what follows: try the next day.
                skip_day = m.day(s);
            }
        }
        false
    }

    /// Keeps the series a prefix: after the first unplaced dose, later doses are unplaced too.
    fn normalize_course(&mut self, k: usize) {
        let m = self.m();
        if let Some(&first) = m.courses[k].doses.iter().find(|&&d| self.st.asg[d].is_none()) {
            self.unassign_dose_cascade(first);
        }
    }

    fn recreate(&mut self, courses: &[usize], extra_sessions: &[usize]) {
        let m = self.m();
        for &k in courses {
            self.place_doses(k, true);
        }
        let mut sess: Vec<usize> = extra_sessions.to_vec();
        for &k in courses {
            sess.extend(m.courses[k].sessions.iter().copied());
        }
        let head = extra_sessions.len().min(1);
        sess[head..].shuffle(&mut self.rng);
        for e in sess {
            self.insert_session(e);
        }
    }

    /// Constructive start: fixed bookings, then doses course by course (most
    /// constrained first), then sessions in order of their anchor.
    pub(crate) fn construct(&mut self) {
        let m = self.m();
        let mut order: Vec<usize> = (0..m.courses.len()).collect();
        let slack = |k: usize| -> i64 {
            let c = &m.courses[k];
            let avail = (0..m.n).step_by(4).filter(|&s| m.clients[c.client].avail.ok_at(s)).count() as i64;
            avail - 20 * c.doses.len() as i64
        };
        // Long series first (their spacing leaves the least choice), then the least available client.
        let keys: Vec<(usize, i64)> = order.iter().map(|&k| (m.courses[k].doses.len(), slack(k))).collect();
        order.sort_by_key(|&k| (std::cmp::Reverse(keys[k].0), keys[k].1, k));
        for &k in &order {
            self.place_doses(k, false);
        }
        let mut sessions: Vec<usize> = (0..m.events.len()).filter(|&e| !m.events[e].is_dose()).collect();
        sessions.sort_by_key(|&e| (self.st.start_range(e).map(|r| r.1).unwrap_or(u32::MAX), e));
        for e in sessions {
            self.insert_session(e);
        }
    }

    fn refresh_costs(&mut self) -> i64 {
        for c in 0..self.m().clients.len() {
            self.cost_cache[c] = self.st.client_cost(c);
        }
        self.cost_cache.iter().sum::<i64>() + W_CHAIR_DAY * self.st.chair_days
    }

    /// Events worth working on: unscheduled, or sessions outside the preferred window or
    /// away from the continuing therapist.
    fn bad_events(&self) -> Vec<usize> {
        let m = self.m();
        (0..m.events.len())
            .filter(|&e| match self.st.asg[e] {
                None => !self.st.locked[e],
                Some(p) => {
                    !m.events[e].is_dose()
                        && !self.st.locked[e]
                        && (!self.st.preferred(e, p.start)
                            || m.clients[m.events[e].client].therapist.is_some_and(|t| t as u32 != p.staff))
                }
            })
            .collect()
    }

    /// Runs the large-neighbourhood search.
    pub(crate) fn improve(&mut self, iterations: u64, deadline: Instant) {
        let m = self.m();
        if m.events.is_empty() {
            return;
        }
        self.refresh_costs();
        let mut bad = self.bad_events();
        let mut bad_doses: Vec<usize> = vec![];
        let free_courses: Vec<usize> =
            (0..m.courses.len()).filter(|&k| m.courses[k].doses.iter().any(|&d| !self.st.locked[d])).collect();
        let sessions: Vec<usize> =
            (0..m.events.len()).filter(|&e| !m.events[e].is_dose() && !self.st.locked[e]).collect();
        let mut pref_moves = false;
        for it in 0..iterations {
            if it % 64 == 0 {
                if Instant::now() >= deadline {
                    self.stopped_by = "time_limit";
                    break;
                }
                bad = self.bad_events();
                bad_doses = bad.iter().copied().filter(|&e| m.events[e].is_dose()).collect();
                bad_doses.retain(|&e| self.can_gain(m.events[e].course));
                pref_moves = self.pref_moves && bad_doses.is_empty();
            }
            self.iterations += 1;
            self.move_id += 1;
            self.journal.clear();
            let chair_before = self.st.chair_days;
            let (target, r) = if !bad_doses.is_empty() && self.rng.gen_bool(0.5) {
                (Some(bad_doses[self.rng.gen_range(0..bad_doses.len())]), 0.5 + self.rng.gen_range(0.0..0.5))
            } else if !bad.is_empty() && self.rng.gen_bool(0.8) {
                (Some(bad[self.rng.gen_range(0..bad.len())]), self.rng.r#gen())
            } else {
                (None, self.rng.r#gen())
            };
            let dose_target = target.filter(|&e| m.events[e].is_dose() && self.st.asg[e].is_none());
            if let Some(d) = dose_target.filter(|_| self.rng.gen_bool(0.6)) {
                // The exact variants are dear: a budget of them per search.
                let exact_allowed = self.exact_dose_moves > 0;
                self.exact_dose_moves = self.exact_dose_moves.saturating_sub(1);
                self.dose_move(m.events[d].course, exact_allowed);
            } else if r < 0.45 && !sessions.is_empty() && !(pref_moves && self.dose_in_the_way(target)) {
                // Session ejection: the target session and sessions that occupy its window.
                let e = target
                    .filter(|&e| !m.events[e].is_dose())
                    .unwrap_or(sessions[self.rng.gen_range(0..sessions.len())]);
                let chain = pref_moves && target == Some(e) && self.rng.gen_bool(CHAIN_SHARE) && self.session_chain(e);
                if !chain {
                    self.ruin_sessions(e);
                }
            } else if !free_courses.is_empty() {
                let k = target
                    .map(|e| m.events[e].course)
                    .unwrap_or(free_courses[self.rng.gen_range(0..free_courses.len())]);
                let mut ks = vec![k];
                if pref_moves && self.dose_in_the_way(target) && self.rng.gen_bool(SHIFT_SHARE) {
                    // The courses whose doses hold the starts that would leave the
                    // sessions their windows.
                    let want = self.rng.gen_range(1..=3);
                    for o in self.pref_competitors(k, want) {
                        ks.push(o);
                    }
                    for &k in &ks {
                        self.unassign_course(k);
                    }
                    self.recreate(&ks, &[]);
                    self.accept(chair_before);
                    continue;
                }
                let extra = if r < 0.75 { 1 } else { self.rng.gen_range(1..=3) };
                for _ in 0..extra {
                    if let Some(o) = self.related_course(k)
                        && !ks.contains(&o)
                    {
                        ks.push(o);
                    }
                }
                for &k in &ks {
                    self.unassign_course(k);
                }
                self.recreate(&ks, &[]);
            }
            self.accept(chair_before);
        }
    }

    /// A move for course `k` with an unscheduled dose: take it out with competitors
    /// (its minimum-conflict ejection set, courses across its most constrained dose's
    /// starts, or courses at times its client could use), put its series back by the
    /// exact search, then the others (an ejected course left short takes its own
    /// ejection set once), then the sessions.
    fn dose_move(&mut self, k: usize, exact_allowed: bool) {
        let m = self.m();
        // Competitors: courses whose doses sit where this client could come in.
        let mut ks = vec![k];
        let want = self.rng.gen_range(1..=4);
        let pick: f64 = self.rng.r#gen();
        // Without the exact variants: the plain move (competitors, then re-insert).
        let pick = if exact_allowed { pick } else { 1.0 };
        let critical = pick < 0.6;
        let others = if pick < 0.4 {
            self.ejection_set(k).unwrap_or_else(|| self.critical_competitors(k, want))
        } else if critical {
            self.critical_competitors(k, want)
        } else {
            self.competitors(k, want)
        };
        for o in others {
            if !ks.contains(&o) {
                ks.push(o);
            }
        }
        for &k in &ks {
            self.unassign_course(k);
        }
        if critical {
            // The target's series by the exact search, then the others; an
            // ejected course left short takes its own ejection set once.
            self.place_doses_exact(k);
            for &o in &ks[1..] {
                self.place_doses(o, false);
                self.place_doses_exact(o);
            }
            let short: Vec<usize> = ks[1..]
                .iter()
                .copied()
                .filter(|&o| m.courses[o].doses.iter().any(|&d| self.st.asg[d].is_none()))
                .collect();
            if !short.is_empty() && pick < 0.4 {
                let protect: Vec<usize> = ks
                    .iter()
                    .flat_map(|&x| m.courses[x].doses.iter().copied())
                    .filter(|&d| self.st.asg[d].is_some() && !self.st.locked[d])
                    .collect();
                for &d in &protect {
                    self.st.locked[d] = true;
                }
                for o in short {
                    if let Some(more) = self.ejection_set(o) {
                        for &x in &more {
                            self.unassign_course(x);
                        }
                        self.place_doses_exact(o);
                        for &x in &more {
                            self.place_doses(x, false);
                            self.place_doses_exact(x);
                            if !ks.contains(&x) {
                                ks.push(x);
                            }
                        }
                    }
                }
                for &d in &protect {
                    self.st.locked[d] = false;
                }
            }
            let mut sess: Vec<usize> = ks.iter().flat_map(|&k| m.courses[k].sessions.iter().copied()).collect();
            sess.shuffle(&mut self.rng);
            for e in sess {
                self.insert_session(e);
            }
        } else {
            self.recreate(&ks, &[]);
        }
    }

    /// Keeps the move in the journal if the objective does not get worse, else reverts it.
    fn accept(&mut self, chair_before: i64) -> bool {
        let m = self.m();
        let mut clients: Vec<usize> = self.journal.iter().map(|&(e, _)| m.events[e].client).collect();
        clients.sort_unstable();
        clients.dedup();
        let mut delta = W_CHAIR_DAY * (self.st.chair_days - chair_before);
        let mut new_costs = Vec::with_capacity(clients.len());
        for &c in &clients {
            let nc = self.st.client_cost(c);
            delta += nc - self.cost_cache[c];
            new_costs.push(nc);
        }
        if delta <= 0 {
            for (i, &c) in clients.iter().enumerate() {
                self.cost_cache[c] = new_costs[i];
            }
            true
        } else {
            self.revert();
            false
        }
    }

    /// Whether course `k` schedules fewer doses than static rules allow (the unscheduled
    /// doses beyond that are proven impossible and not worth a move).
    fn can_gain(&mut self, k: usize) -> bool {
        let m = self.m();
        let placed = m.courses[k].doses.iter().filter(|&&d| self.st.asg[d].is_some()).count();
        if placed == m.courses[k].doses.len() {
            return false;
        }
        let cap =
            *self.dose_cap.entry(k).or_insert_with(|| exact::static_dose_limits(m, k).last().map_or(0, |&(_, c)| c));
        placed < cap
    }

    /// The doses missing from courses that could have more.
    pub(crate) fn missing_doses(&mut self) -> usize {
        let m = self.m();
        let mut n = 0;
        for k in 0..m.courses.len() {
            if self.can_gain(k) {
                n += m.courses[k].doses.iter().filter(|&&d| self.st.asg[d].is_none()).count();
            }
        }
        n
    }

    /// Dose moves for the courses short of doses, `attempts` in all (while the deadline
    /// lasts). `walk`: a move is kept if it schedules no fewer doses, whatever it does to
    /// the sessions (before the search, which then sees to them); otherwise only if the
    /// objective does not get worse.
    pub(crate) fn rescue_doses(&mut self, attempts: u32, deadline: Instant, walk: bool) {
        let m = self.m();
        self.refresh_costs();
        let (mut fewest, mut stall) = (usize::MAX, 0);
        for _ in 0..attempts {
            let mut short: Vec<usize> = (0..m.courses.len())
                .filter(|&k| m.courses[k].doses.iter().any(|&d| self.st.asg[d].is_none() && !self.st.locked[d]))
                .collect();
            short.retain(|&k| self.can_gain(k));
            if short.is_empty() || Instant::now() >= deadline {
                break;
            }
            if walk {
                let missing: usize = short
                    .iter()
                    .map(|&k| m.courses[k].doses.iter().filter(|&&d| self.st.asg[d].is_none()).count())
                    .sum();
                if missing < fewest {
                    (fewest, stall) = (missing, 0);
                } else {
                    stall += 1;
                    if stall >= WALK_STALL {
                        break;
                    }
                }
            }
            let k = short[self.rng.gen_range(0..short.len())];
            {
                self.move_id += 1;
                self.journal.clear();
                let chair_before = self.st.chair_days;
                let missing = |st: &State<'_>, ks: &[usize]| -> usize {
                    ks.iter().map(|&k| m.courses[k].doses.iter().filter(|&&d| st.asg[d].is_none()).count()).sum()
                };
                self.dose_move(k, true);
                if walk {
                    let mut ks: Vec<usize> = self.journal.iter().map(|&(e, _)| m.events[e].course).collect();
                    ks.sort_unstable();
                    ks.dedup();
                    let after = missing(&self.st, &ks);
                    // The state before the move, from the journal.
                    let mut before = after as i64;
                    for &(e, p) in &self.journal {
                        if m.events[e].is_dose() {
                            before += i64::from(p.is_none()) - i64::from(self.st.asg[e].is_none());
                        }
                    }
                    if (after as i64) > before {
                        self.revert();
                    }
                    continue;
                }
                self.accept(chair_before);
            }
        }
        self.refresh_costs();
    }

    fn revert(&mut self) {
        let journal = std::mem::take(&mut self.journal);
        for &(e, _) in &journal {
            if self.st.asg[e].is_some() {
                self.st.unassign(e);
            }
        }
        for &(e, p) in &journal {
            if let Some(p) = p {
                self.st.assign(e, p);
            }
        }
    }

    /// Up to `want` other courses with a dose placed at a time the client of `k` could use
    /// (available, within the course's dates).
    fn competitors(&mut self, k: usize, want: usize) -> Vec<usize> {
        let m = self.m();
        let c = &m.courses[k];
        let client = &m.clients[c.client];
        let dur = m.events[c.doses[0]].dur;
        let mut pool: Vec<usize> = vec![];
        for (e, p) in self.st.asg.iter().enumerate() {
            if let Some(p) = p
                && m.events[e].is_dose()
                && m.events[e].course != k
                && !self.st.locked[e]
                && p.start >= c.lo
                && p.start < c.hi
                && client.avail.ok(p.start, p.start + dur)
            {
                pool.push(m.events[e].course);
            }
        }
        pool.dedup();
        draw(&mut self.rng, pool, want)
    }

    /// Up to `want` other courses with a dose placed at a start that a dose of `k` could
    /// take with every tied session left a statically possible preferred start (client
    /// available, within the course's dates).
    fn pref_competitors(&mut self, k: usize, want: usize) -> Vec<usize> {
        let m = self.m();
        let c = &m.courses[k];
        let good = match &self.pref_starts[k] {
            Some(g) => g.clone(),
            None => {
                let client = &m.clients[c.client];
                let doses: Vec<usize> = c.doses.iter().copied().filter(|&d| !self.tied[d].is_empty()).collect();
                for &d in &doses {
                    self.ensure_pref(d);
                }
                let g: Vec<bool> = (c.lo..c.hi.max(c.lo))
                    .map(|t| {
                        doses.iter().any(|&d| client.avail.ok(t, t + m.events[d].dur) && self.sessions_can_prefer(d, t))
                    })
                    .collect();
                let g = std::rc::Rc::new(g);
                self.pref_starts[k] = Some(g.clone());
                g
            }
        };
        let mut pool: Vec<usize> = vec![];
        for (e, p) in self.st.asg.iter().enumerate() {
            if let Some(p) = p
                && m.events[e].is_dose()
                && m.events[e].course != k
                && !self.st.locked[e]
                && p.start >= c.lo
                && p.start < c.hi
                && good[(p.start - c.lo) as usize]
                && !pool.contains(&m.events[e].course)
            {
                pool.push(m.events[e].course);
            }
        }
        draw(&mut self.rng, pool, want)
    }

    /// Up to `want` other courses with a dose placed across a start of `k`'s most
    /// constrained dose that lies on a complete series (see `exact::critical_starts`).
    fn critical_competitors(&mut self, k: usize, want: usize) -> Vec<usize> {
        let m = self.m();
        let crit = self.critical.entry(k).or_insert_with(|| std::rc::Rc::new(exact::critical_starts(m, k))).clone();
        let dur = m.events[m.courses[k].doses[0]].dur;
        let mut pool: Vec<usize> = vec![];
        let mut last_start = 0u32;
        for &s in &crit.1 {
            // Scan each slot of the union of the intervals once.
            for t in s.max(last_start)..(s + dur).min(m.n) {
                for ch in 0..m.chairs.len() {
                    let x = self.st.chair_occupant(ch, t);
                    if x != NONE && (x as usize) < m.events.len() && !self.st.locked[x as usize] {
                        let o = m.events[x as usize].course;
                        if o != k && !pool.contains(&o) {
                            pool.push(o);
                        }
                    }
                }
            }
            last_start = s + dur;
        }
        draw(&mut self.rng, pool, want)
    }

    /// The courses to take out so that course `k` gets a complete series (see
    /// [`Self::series_in_the_way`], counting courses, ties broken at random); `None` if no
    /// series fits or more than 8 courses are in the way.
    fn ejection_set(&mut self, k: usize) -> Option<Vec<usize>> {
        let m = self.m();
        let crit = self.critical.entry(k).or_insert_with(|| std::rc::Rc::new(exact::critical_starts(m, k))).clone();
        if crit.1.is_empty() {
            return None;
        }
        let mut out: Vec<usize> = vec![];
        for set in self.series_in_the_way(k, true)? {
            let mut ks: Vec<usize> = set.iter().map(|&x| m.events[x].course).collect();
            ks.sort_unstable();
            for o in ks {
                if !out.contains(&o) {
                    out.push(o);
                }
            }
        }
        (out.len() <= 8).then_some(out)
    }

    /// The other clients' doses in the way of the cheapest complete series of course `k`
    /// against static rules: per start, the doses on the chair with the fewest in the way
    /// (courses when `per_course`, with a random tie-break; doses otherwise, deterministic),
    /// provided a monitor on duty then has room; a dynamic programme over the series picks
    /// the least total. Per dose of that series, the doses in its way; `None` if no
    /// series fits.
    fn series_in_the_way(&mut self, k: usize, per_course: bool) -> Option<Vec<Vec<usize>>> {
        let m = self.m();
        let c = &m.courses[k];
        let cnt = c.doses.len();
        let &d0 = c.doses.first()?;
        let dur = m.events[d0].dur;
        let n = m.n as usize;
        const INF: u32 = u32::MAX / 4;
        let mut cost = vec![INF; n];
        let mut sets: Vec<Vec<usize>> = vec![vec![]; n];
        let list = self.list(d0);
        for &s in &list[list.partition_point(|&t| t < c.lo)..list.partition_point(|&t| t < c.hi)] {
            let end = s + dur;
            if !self.st.client_free(c.client, s, end) {
                continue;
            }
            let mut best: Option<(usize, Vec<usize>)> = None;
            for ch in 0..m.chairs.len() {
                if best.as_ref().is_some_and(|(u, _)| *u == 0) {
                    // Nothing beats a free chair.
                    break;
                }
                if !m.chairs[ch].avail.ok(s, end) {
                    continue;
                }
                // A chair must beat the best so far (fewer units): the scan stops once
                // it cannot.
                let bound = best.as_ref().map_or(usize::MAX, |(u, _)| *u);
                let mut evs: Vec<usize> = vec![];
                let mut ks: Vec<usize> = vec![];
                let mut out = false;
                for t in s..end {
                    let x = self.st.chair_occupant(ch, t);
                    if x != NONE && (x as usize) < m.events.len() {
                        let x = x as usize;
                        if self.st.locked[x] || m.events[x].client == c.client {
                            out = true;
                            break;
                        }
                        if !evs.contains(&x) {
                            evs.push(x);
                            if per_course && !ks.contains(&m.events[x].course) {
                                ks.push(m.events[x].course);
                            }
                            if (if per_course { ks.len() } else { evs.len() }) >= bound {
                                out = true;
                                break;
                            }
                        }
                    }
                }
                let units = if per_course { ks.len() } else { evs.len() };
                if out || bound <= units {
                    continue;
                }
                // A monitor on duty with room once these doses are out.
                let monitor = m.monitors.iter().any(|&st| {
                    let sm = &m.staff[st];
                    sm.avail.ok(s, end)
                        && (s..end).all(|t| {
                            let freed = evs
                                .iter()
                                .filter(|&&x| {
                                    self.st.asg[x].is_some_and(|p| {
                                        p.staff as usize == st && p.start <= t && t < p.start + m.events[x].dur
                                    })
                                })
                                .count();
                            (self.st.staff_load_at(st, t) as usize) < usize::from(sm.cap) + freed
                        })
                });
                if monitor {
                    best = Some((units, evs));
                }
            }
            if let Some((units, evs)) = best {
                let jitter = if per_course { self.rng.gen_range(0..8) } else { 0 };
                cost[s as usize] = 8 * units as u32 + jitter;
                sets[s as usize] = evs;
            }
        }
        // Backward: the cheapest complete chain from dose j at s.
        let mut dp = vec![vec![INF; n]; cnt];
        dp[cnt - 1].copy_from_slice(&cost);
        let (lo_off, hi_off) = (c.min_gap as usize, c.max_gap.map(|g| g as usize));
        // Costs are finite in the course's dates only.
        let (a, b) = ((c.lo as usize).min(n), (c.hi as usize).min(n));
        for j in (0..cnt - 1).rev() {
            let next = exact::window_min(&dp[j + 1][a..b], lo_off, hi_off);
            for s in a..b {
                if cost[s] < INF && next[s - a] < INF {
                    dp[j][s] = cost[s] + next[s - a];
                }
            }
        }
        let s0 = (0..n).min_by_key(|&s| (dp[0][s], s))?;
        if dp[0][s0] >= INF {
            return None;
        }
        let mut out: Vec<Vec<usize>> = vec![std::mem::take(&mut sets[s0])];
        let mut p = s0;
        for dp_j in &dp[1..] {
            let lo = p + lo_off;
            let hi = hi_off.map_or(n - 1, |h| (p + h).min(n - 1));
            let t = (lo..=hi).filter(|&t| t < n).min_by_key(|&t| (dp_j[t], t))?;
            out.push(std::mem::take(&mut sets[t]));
            p = t;
        }
        Some(out)
    }

    /// Repair by ejection, for a client whose own appointments cannot absorb a change:
    /// take out only the other clients' doses on the cheapest complete series of each of
    /// the client's courses (fewest doses in the way), place the client's appointments by
    /// the exact search, then put each displaced client back by the exact search with
    /// everything else held (first only what was taken out, then, if a dose is still
    /// missing, all of that client's appointments). Deterministic.
    pub(crate) fn repair_by_ejection(&mut self, client: usize, budget: u64) {
        let m = self.m();
        let own: Vec<usize> = m.clients[client].events.iter().copied().filter(|&e| !self.st.locked[e]).collect();
        let mut out_order = own.clone();
        out_order.sort_by_key(|&e| (m.events[e].is_dose(), std::cmp::Reverse(e)));
        for &e in &out_order {
            self.unassign(e);
        }
        let mut courses: Vec<usize> = own.iter().map(|&e| m.events[e].course).collect();
        courses.dedup();
        let mut ejected: Vec<usize> = vec![];
        for k in courses {
            for x in self.series_in_the_way(k, false).unwrap_or_default().into_iter().flatten() {
                if self.st.asg[x].is_some() && !self.st.locked[x] {
                    self.unassign(x);
                    ejected.push(x);
                }
            }
        }
        self.place_exact(&own, budget);
        let mut others: Vec<usize> = ejected.iter().map(|&x| m.events[x].client).collect();
        others.sort_unstable();
        others.dedup();
        for o in others {
            let had = m.clients[o].events.iter().filter(|&&e| m.events[e].is_dose() && self.st.reference[e].is_some());
            let had = had.count();
            let out: Vec<usize> = m.clients[o]
                .events
                .iter()
                .copied()
                .filter(|&e| self.st.asg[e].is_none() && !self.st.locked[e])
                .collect();
            self.place_exact(&out, budget);
            let now =
                m.clients[o].events.iter().filter(|&&e| m.events[e].is_dose() && self.st.asg[e].is_some()).count();
            if now < had {
                let all: Vec<usize> = m.clients[o].events.iter().copied().filter(|&e| !self.st.locked[e]).collect();
                let mut order = all.clone();
                order.sort_by_key(|&e| (m.events[e].is_dose(), std::cmp::Reverse(e)));
                for &e in &order {
                    self.unassign(e);
                }
                self.place_exact(&all, budget);
            }
        }
    }

    /// Places `evs` (one client's, all unassigned) by the exact search.
    fn place_exact(&mut self, evs: &[usize], budget: u64) {
        let m = self.m();
        let out = exact::optimise(&mut self.st, evs, 7, budget, None);
        let mut places = out.places;
        places.sort_by_key(|&(e, _)| (!m.events[e].is_dose(), e));
        for (e, p) in places {
            if let Some(p) = p
                && self.st.place_ok(e, p)
            {
                self.assign(e, p);
            }
        }
    }

    /// Places the unplaced doses of course `k` by the exact search (the most doses the
    /// rest of the plan leaves room for; see `exact`).
    fn place_doses_exact(&mut self, k: usize) {
        let m = self.m();
        let doses: Vec<usize> =
            m.courses[k].doses.iter().copied().filter(|&d| self.st.asg[d].is_none() && !self.st.locked[d]).collect();
        if doses.is_empty() {
            return;
        }
        // Later placed doses of the course would be held: free them first.
        self.normalize_course(k);
        // With its unplaced sessions: a series that leaves them their windows.
        let c = &m.courses[k];
        let evs: Vec<usize> = c
            .doses
            .iter()
            .chain(c.sessions.iter())
            .copied()
            .filter(|&d| self.st.asg[d].is_none() && !self.st.locked[d])
            .collect();
        let out = exact::optimise(&mut self.st, &evs, 3, EXACT_BUDGET, None);
        for (e, p) in out.places {
            if let Some(p) = p
                && self.st.place_ok(e, p)
            {
                self.assign(e, p);
            }
        }
    }

    /// A course whose doses share a day with one of `k`'s doses (or window), if any.
    fn related_course(&mut self, k: usize) -> Option<usize> {
        let m = self.m();
        let c = &m.courses[k];
        let d = c.doses[self.rng.gen_range(0..c.doses.len().max(1)).min(c.doses.len().saturating_sub(1))];
        let day = match self.st.asg[d] {
            Some(p) => m.day(p.start),
            None => {
                let (lo, hi) = match self.st.start_range(d) {
                    Ok(r) => r,
                    Err(_) => (c.lo.min(m.n.saturating_sub(1)), c.lo.min(m.n.saturating_sub(1))),
                };
                m.day(self.rng.gen_range(lo..=hi.max(lo)))
            }
        };
        let ds = m.days[day].start;
        let de = m.days[day].end;
        // Doses on any chair that day.
        let ch = self.rng.gen_range(0..m.chairs.len().max(1));
        if ch >= m.chairs.len() {
            return None;
        }
        let mut cands: Vec<usize> = vec![];
        for t in (ds..de).step_by(2) {
            let x = self.st.chair_occupant(ch, t);
            if x != NONE && (x as usize) < m.events.len() {
                let kk = m.events[x as usize].course;
                if kk != k && !cands.contains(&kk) {
                    cands.push(kk);
                }
            }
        }
        if cands.is_empty() {
            return None;
        }
        Some(cands[self.rng.gen_range(0..cands.len())])
    }

    /// Whether `target` is a session whose dose leaves it no statically possible start
    /// in its preferred window (only moving the dose can help).
    fn dose_in_the_way(&mut self, target: Option<usize>) -> bool {
        let m = self.m();
        let Some(e) = target else { return false };
        let EvKind::Session { anchor, .. } = m.events[e].kind else { return false };
        let Some(p) = self.st.asg[anchor] else { return false };
        if self.st.locked[anchor] {
            return false;
        }
        self.ensure_pref(anchor);
        !self.sessions_can_prefer(anchor, p.start)
    }

    /// An ejection chain for session `e` outside its preferred window: a preferred start
    /// (at random among the statically possible ones), the sessions in its way there (of
    /// the continuing therapist or another, of one room, of the client) taken out, `e`
    /// placed there, then each taken-out session by best insertion. `false` when `e` has
    /// no preferred start to try (nothing changed).
    fn session_chain(&mut self, e: usize) -> bool {
        let m = self.m();
        let EvKind::Session { pf, pt, needs_room, .. } = m.events[e].kind else { return false };
        let Some(a) = self.st.asg_anchor_start(e) else { return false };
        let Ok((lo, hi)) = self.st.start_range(e) else { return false };
        let a = m.anchor_slot(e, a);
        let (plo, phi) = ((a + pf).max(i64::from(lo)), (a + pt).min(i64::from(hi)));
        if plo > phi {
            return false;
        }
        let list = self.list(e);
        let cand = &list[list.partition_point(|&t| i64::from(t) < plo)..list.partition_point(|&t| i64::from(t) <= phi)];
        if cand.is_empty() {
            return false;
        }
        let s = cand[self.rng.gen_range(0..cand.len())];
        let end = s + m.events[e].dur;
        let c = m.events[e].client;
        let ther = match m.clients[c].therapist {
            Some(t) if self.rng.gen_bool(0.8) => t as u32,
            _ if m.therapists.is_empty() => NONE,
            _ => m.therapists[self.rng.gen_range(0..m.therapists.len())] as u32,
        };
        let room = if needs_room && !m.rooms.is_empty() { self.rng.gen_range(0..m.rooms.len()) as u32 } else { NONE };
        let mut victims: Vec<usize> = vec![];
        for (v, p) in self.st.asg.iter().enumerate() {
            if let Some(p) = p
                && v != e
                && !m.events[v].is_dose()
                && !self.st.locked[v]
                && p.start < end
                && p.start + m.events[v].dur > s
                && (p.staff == ther || (room != NONE && p.res == room) || m.events[v].client == c)
            {
                victims.push(v);
            }
        }
        self.unassign(e);
        for &v in &victims {
            self.unassign(v);
        }
        match self.st.fit(e, s) {
            Some((p, _)) => self.assign(e, p),
            None => {
                self.insert_session(e);
            }
        }
        victims.shuffle(&mut self.rng);
        for v in victims {
            self.insert_session(v);
        }
        true
    }

    /// Unassigns session `e` and up to a few sessions of the same therapist inside its
    /// window, then re-inserts `e` first.
    fn ruin_sessions(&mut self, e: usize) {
        let m = self.m();
        let c = m.events[e].client;
        let (lo, hi) = match self.st.start_range(e) {
            Ok(r) => r,
            Err(_) => return,
        };
        let mut victims: Vec<usize> = vec![];
        let ther = m.clients[c].therapist;
        // Sessions of other clients with this client's therapist (or anyone's) inside the window.
        let lim = self.rng.gen_range(1..=4);
        let mut pool: Vec<usize> = vec![];
        for &s in &m.clients[c].events {
            if s != e && !m.events[s].is_dose() {
                pool.push(s);
            }
        }
        let start_scan = self.rng.gen_range(lo..=hi);
        let staff_pick = match ther {
            Some(t) if self.rng.gen_bool(0.7) => Some(t as u32),
            _ => None,
        };
        let mut seen = 0;
        for (ev, p) in self.st.asg.iter().enumerate() {
            if let Some(p) = p
                && p.start + m.events[ev].dur > start_scan.saturating_sub(8)
                && p.start < start_scan + 24
                && !m.events[ev].is_dose()
                && ev != e
                && staff_pick.is_none_or(|t| t == p.staff)
            {
                seen += 1;
                if victims.len() < lim {
                    victims.push(ev);
                } else if self.rng.gen_range(0..seen) < lim {
                    let i = self.rng.gen_range(0..lim);
                    victims[i] = ev;
                }
            }
        }
        if self.rng.gen_bool(0.5) {
            victims.extend(pool);
        }
        victims.sort_unstable();
        victims.dedup();
        self.unassign(e);
        for &v in &victims {
            self.unassign(v);
        }
        self.insert_session(e);
        victims.shuffle(&mut self.rng);
        for v in victims {
            self.insert_session(v);
        }
    }

    /// Final pass: try once more to place anything unplaced.
    pub(crate) fn fill(&mut self) {
        let m = self.m();
        for k in 0..m.courses.len() {
            self.place_doses(k, false);
        }
        for e in 0..m.events.len() {
            if !m.events[e].is_dose() {
                self.insert_session(e);
            }
        }
    }
}

/// The automatic iteration budget: 16 per event, 2,000 to 20,000.
pub(crate) fn auto_iterations(m: &Model) -> u64 {
    (m.events.len() as u64 * 16).clamp(2_000, 20_000)
}

/// Builds the plan from a state.
pub(crate) fn to_plan(
    st: &State<'_>,
    moved_reasons: &[(usize, String)],
    iterations: u64,
    stopped_by: &str,
    started: Instant,
) -> Plan {
    let m = st.m;
    let mut static_limits: std::collections::HashMap<usize, Vec<(crate::plan::Reason, usize)>> = Default::default();
    let mut plan = Plan::default();
    let mut sum = Summary::default();
    for (e, ev) in m.events.iter().enumerate() {
        let k = &m.courses[ev.course];
        let kind = if ev.is_dose() { EventKind::Dose } else { EventKind::Session };
        match ev.kind {
            EvKind::Dose { .. } => sum.doses_requested += 1,
            EvKind::Session { .. } => sum.sessions_requested += 1,
        }
        match st.asg[e] {
            Some(p) => {
                let (chair, room, window) = match ev.kind {
                    EvKind::Dose { .. } => {
                        sum.doses_scheduled += 1;
                        (Some(m.chairs[p.res as usize].id.clone()), None, None)
                    }
                    EvKind::Session { .. } => {
                        sum.sessions_scheduled += 1;
                        let pref = st.preferred(e, p.start);
                        if pref {
                            sum.sessions_in_preferred_window += 1;
                        }
                        if m.clients[ev.client].therapist == Some(p.staff as usize) {
                            sum.sessions_with_continuing_therapist += 1;
                        }
                        let room = (p.res != NONE).then(|| m.rooms[p.res as usize].id.clone());
                        (None, room, Some(if pref { WindowFit::Preferred } else { WindowFit::Acceptable }))
                    }
                };
                plan.assignments.push(Assignment {
                    event: ev.id.clone(),
                    kind,
                    course: k.id.clone(),
                    client: m.clients[ev.client].id.clone(),
                    start: m.fmt_slot(p.start),
                    end: m.fmt_slot(p.start + ev.dur),
                    chair,
                    room,
                    staff: m.staff[p.staff as usize].id.clone(),
                    window,
                });
            }
            None => {
                let (mut reason, mut detail) = st.diagnose(e);
                if let EvKind::Dose { n } = ev.kind {
                    let limits =
                        static_limits.entry(ev.course).or_insert_with(|| exact::static_dose_limits(m, ev.course));
                    // The first rule under which no series reaches this dose: proven impossible.
                    if let Some(&(r, most)) = limits.iter().find(|&&(_, most)| most <= n as usize) {
                        if n as usize == most {
                            reason = r;
                        }
                        detail = format!(
                            "{detail}; no plan can schedule dose {} of this course: {} (proven for the course alone, every chair and monitor free)",
                            n + 1,
                            static_why(r, most, k.doses.len())
                        );
                    }
                }
                plan.unscheduled.push(Unscheduled {
                    event: ev.id.clone(),
                    kind,
                    course: k.id.clone(),
                    client: m.clients[ev.client].id.clone(),
                    reason,
                    detail,
                });
            }
        }
        if let Some(r) = st.reference[e]
            && st.asg[e] != Some(r)
        {
            let reason = moved_reasons
                .iter()
                .find(|(x, _)| *x == e)
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| "moved to make room for a higher-priority change".into());
            plan.moved.push(Moved {
                event: ev.id.clone(),
                from: slot_of(m, e, r),
                to: st.asg[e].map(|p| slot_of(m, e, p)),
                reason,
            });
        }
    }
    sum.client_days = st.client_days();
    sum.chair_days = st.chair_days as usize;
    sum.moved = plan.moved.len();
    sum.objective = st.total_cost();
    sum.iterations = iterations;
    sum.stopped_by = stopped_by.to_string();
    sum.millis = started.elapsed().as_millis() as u64;
    plan.summary = sum;
    plan
}

/// Why at most `most` of `count` doses fit, by the first rule that caps the series.
fn static_why(r: crate::plan::Reason, most: usize, count: usize) -> String {
    use crate::plan::Reason::*;
    let rule = match r {
        Spacing => "the course's dates, the dose spacing and the horizon leave",
        SiteClosed => "the site's opening days leave",
        SiteClosesBeforeMonitoringEnds => "the site's hours (monitoring must end before closing) leave",
        ClientUnavailable => "the client's availability leaves",
        MonitorUnavailable => "the medical monitors' hours leave",
        _ => "the chairs in service leave",
    };
    format!("{rule} room for at most {most} of the {count} doses")
}

pub(crate) fn slot_of(m: &Model, e: usize, p: Place) -> Slot {
    let dose = m.events[e].is_dose();
    Slot {
        start: m.fmt_slot(p.start),
        chair: (dose && p.res != NONE).then(|| m.chairs[p.res as usize].id.clone()),
        room: (!dose && p.res != NONE).then(|| m.rooms[p.res as usize].id.clone()),
        staff: m.staff[p.staff as usize].id.clone(),
    }
}

/// Up to `want` items drawn at random from `pool`, without repeats.
fn draw(rng: &mut ChaCha8Rng, mut pool: Vec<usize>, want: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(want.min(pool.len()));
    while out.len() < want && !pool.is_empty() {
        let i = rng.gen_range(0..pool.len());
        out.push(pool.swap_remove(i));
    }
    out
}
