//! Post-dose home exercises: the schedule a protocol assigns after a dose,
//! and a brief evaluative-conditioning exercise with attention checks.
//!
//! The exercise is **modeled on** the published automated self-association
//! training (ASAT; Price et al. 2022): words about oneself are shown paired
//! with positive words, round after round. It is not the validated task: the
//! trial's stimuli, timing and attention checks are not public. The word
//! lists are clinic-editable (`exercises/ec-words.toml`).
//!
//! Everything here is deterministic: a session's rounds follow from its seed
//! and the word list, so the server stores only the seed and the answers.

use crate::DomainError;
use crate::protocols::{Anchor, Protocol, SessionKind};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// The exercise definition and its word lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExerciseDef {
    pub id: String,
    pub version: String,
    pub name: String,
    /// The truthful label shown on every exercise page.
    pub label: String,
    pub blocks: u32,
    pub pairs_per_block: u32,
    pub minutes_min: u32,
    pub minutes_max: u32,
    pub rushed_below_minutes: u32,
    pub self_words: Vec<String>,
    pub positive_words: Vec<String>,
    pub neutral_words: Vec<String>,
}

/// The shipped definition.
pub const SHIPPED: &str = include_str!("../../../exercises/ec-words.toml");

impl ExerciseDef {
    pub fn shipped() -> Result<ExerciseDef, DomainError> {
        ExerciseDef::from_toml(SHIPPED)
    }

    /// Parses and validates a definition; errors name the field.
    pub fn from_toml(text: &str) -> Result<ExerciseDef, DomainError> {
        let def: ExerciseDef =
            toml::from_str(text).map_err(|e| DomainError::invalid("ec-words.toml", e.message().to_string()))?;
        def.validate()?;
        Ok(def)
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        let fail = |f: &str, why: String| Err(DomainError::invalid(f, why));
        if self.id.is_empty() || self.version.is_empty() || self.name.trim().is_empty() {
            return fail("id", "id, version and name are required".into());
        }
        if !self.label.contains("not the validated task") {
            return fail("label", "the label must say plainly that this is not the validated task".into());
        }
        if !(1..=20).contains(&self.blocks) {
            return fail("blocks", format!("{} is not between 1 and 20", self.blocks));
        }
        if !(4..=40).contains(&self.pairs_per_block) {
            return fail("pairs_per_block", format!("{} is not between 4 and 40", self.pairs_per_block));
        }
        if self.minutes_min == 0 || self.minutes_min > self.minutes_max {
            return fail("minutes_min", "minutes_min must be at least 1 and at most minutes_max".into());
        }
        let lists = [
            ("self_words", &self.self_words, 2),
            ("positive_words", &self.positive_words, 8),
            ("neutral_words", &self.neutral_words, 4),
        ];
        for (field, words, min) in lists {
            if words.len() < min {
                return fail(field, format!("needs at least {min} words, has {}", words.len()));
            }
            for w in words.iter() {
                if w.trim().is_empty() || w.chars().count() > 40 {
                    return fail(field, format!("`{w}` is empty or longer than 40 characters"));
                }
                if words.iter().filter(|x| x.eq_ignore_ascii_case(w)).count() > 1 {
                    return fail(field, format!("`{w}` appears twice"));
                }
            }
        }
        if let Some(w) =
            self.neutral_words.iter().find(|w| self.positive_words.iter().any(|p| p.eq_ignore_ascii_case(w)))
        {
            return fail("neutral_words", format!("`{w}` is also a positive word"));
        }
        Ok(())
    }

    /// The rounds of one session, from its seed.
    pub fn rounds(&self, seed: u64) -> Vec<Round> {
        let mut rng = SplitMix(seed);
        (0..self.blocks)
            .map(|b| {
                let mut positives = self.positive_words.clone();
                rng.shuffle(&mut positives);
                let pairs: Vec<(String, String)> = (0..self.pairs_per_block as usize)
                    .map(|i| {
                        let s = &self.self_words[(i + b as usize) % self.self_words.len()];
                        (s.clone(), positives[i % positives.len()].clone())
                    })
                    .collect();
                // The check: which of three words was shown this round?
                let shown = pairs[rng.below(pairs.len())].1.clone();
                let mut neutrals = self.neutral_words.clone();
                rng.shuffle(&mut neutrals);
                let mut options = vec![shown.clone(), neutrals[0].clone(), neutrals[1].clone()];
                rng.shuffle(&mut options);
                Round { number: b + 1, pairs, check: Check { options, answer: shown } }
            })
            .collect()
    }
}

/// One round: word pairs to read, then an attention check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Round {
    /// 1-based.
    pub number: u32,
    /// (word about you, positive word).
    pub pairs: Vec<(String, String)>,
    pub check: Check,
}

/// "Which of these words did you see in this round?"
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub options: Vec<String>,
    pub answer: String,
}

impl Check {
    pub fn is_correct(&self, given: &str) -> bool {
        given == self.answer
    }
}

/// A small deterministic generator (SplitMix64): rounds must be the same
/// every time a session's page is drawn.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// One scheduled home exercise after a dose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    /// 1-based, in time order, across the protocol's home-exercise rules.
    pub number: u32,
    pub total: u32,
    /// Day after the dose (1 = the first window).
    pub day: u32,
    /// Session within the day (1-based) and how many that day has.
    pub of_day: u32,
    pub per_day: u32,
    /// When it may be done.
    pub opens: Timestamp,
    pub closes: Timestamp,
    pub minutes: Option<u32>,
}

impl Slot {
    pub fn label(&self) -> String {
        format!("Day {} after your dose: exercise {} of {}", self.day, self.of_day, self.per_day)
    }

    pub fn is_open(&self, now: Timestamp) -> bool {
        self.opens <= now && now < self.closes
    }
}

/// The home exercises `protocol` assigns after its dose number `dose`
/// (1-based) given at `dose_start`: each `asat_home_exercise` rule anchored
/// at that dose. Each window (the k-th shifted by k × `every_hours`) is
/// split into `times_per_day` equal parts of its preferred span, one
/// exercise in each. Times are laid out on the clinic's wall clock in `tz`
/// (the same convention as [`crate::protocols::plan`]). Without such a rule
/// the list is empty.
pub fn schedule_for_dose(protocol: &Protocol, dose: u32, dose_start: Timestamp, tz: &TimeZone) -> Vec<Slot> {
    let start = tz.to_datetime(dose_start);
    let at = |hours: i64| -> Option<Timestamp> {
        let civil = start.checked_add(SignedDuration::from_hours(hours)).ok()?;
        tz.to_ambiguous_timestamp(civil).compatible().ok()
    };
    let mut raw: Vec<(Timestamp, Timestamp, u32, u32, u32, Option<u32>)> = Vec::new();
    for rule in protocol.sessions.iter().filter(|s| s.kind == SessionKind::AsatHomeExercise) {
        let applies = match rule.anchor {
            Anchor::AfterDose { dose: d } => d == dose,
            Anchor::AfterEachDose => true,
            Anchor::BetweenDoses => dose < protocol.doses.count,
            Anchor::BeforeFirstDose => false,
        };
        if !applies {
            continue;
        }
        let per_day = rule.times_per_day.max(1);
        for k in 0..rule.windows_per_anchor() {
            let base = i64::from(k) * rule.every_hours.unwrap_or(0);
            let (from, to) = (base + rule.window.preferred_from_hours, base + rule.window.preferred_to_hours);
            let span = (to - from).max(0);
            for s in 0..per_day {
                let a = from + span * i64::from(s) / i64::from(per_day);
                let b = from + span * i64::from(s + 1) / i64::from(per_day);
                if let (Some(opens), Some(closes)) = (at(a), at(b)) {
                    raw.push((opens, closes, k + 1, s + 1, per_day, rule.minutes));
                }
            }
        }
    }
    raw.sort_by_key(|r| r.0);
    let total = raw.len() as u32;
    raw.into_iter()
        .enumerate()
        .map(|(n, (opens, closes, day, of_day, per_day, minutes))| Slot {
            number: n as u32 + 1,
            total,
            day,
            of_day,
            per_day,
            opens,
            closes,
            minutes,
        })
        .collect()
}

/// How one session went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SessionScore {
    pub completed: bool,
    pub rounds_done: u32,
    pub rounds: u32,
    pub checks_total: u32,
    pub checks_correct: u32,
    /// Share of attention checks answered correctly (none answered: `None`).
    pub accuracy: Option<f64>,
    /// From start to finish (or to the last answer).
    pub duration: SignedDuration,
    /// Finished faster than the definition's `rushed_below_minutes`.
    pub rushed: bool,
    /// Finished inside its slot.
    pub on_time: bool,
}

/// Facts of a stored session, for scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFacts {
    pub rounds: u32,
    pub rounds_done: u32,
    pub checks_total: u32,
    pub checks_correct: u32,
    pub started: Timestamp,
    pub last_answer: Option<Timestamp>,
    pub finished: Option<Timestamp>,
    pub closes: Timestamp,
}

pub fn score(def: &ExerciseDef, f: &SessionFacts) -> SessionScore {
    let end = f.finished.or(f.last_answer).unwrap_or(f.started);
    let duration = end.duration_since(f.started);
    let completed = f.finished.is_some() && f.rounds_done >= f.rounds;
    SessionScore {
        completed,
        rounds_done: f.rounds_done,
        rounds: f.rounds,
        checks_total: f.checks_total,
        checks_correct: f.checks_correct,
        accuracy: (f.checks_total > 0).then(|| f64::from(f.checks_correct) / f64::from(f.checks_total)),
        duration,
        rushed: completed && duration < SignedDuration::from_mins(i64::from(def.rushed_below_minutes)),
        on_time: completed && f.finished.is_some_and(|t| t <= f.closes),
    }
}

/// Exercises due against done, for the therapist.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Adherence {
    /// Slots whose time has passed or which were done early.
    pub due: u32,
    /// Of those, completed (at any time).
    pub completed: u32,
    /// Completed inside their slot.
    pub on_time: u32,
    pub started_not_finished: u32,
    /// Over completed sessions.
    pub mean_accuracy: Option<f64>,
    pub mean_minutes: Option<f64>,
    pub rushed: u32,
    /// Slots still ahead (not yet due).
    pub upcoming: u32,
}

/// Adherence over `slots` with the scores of the sessions done for them
/// (`scores[i]` for `slots[i]`, `None` if never started).
pub fn adherence(slots: &[Slot], scores: &[Option<SessionScore>], now: Timestamp) -> Adherence {
    let mut a = Adherence::default();
    let (mut acc_sum, mut acc_n, mut min_sum) = (0.0, 0u32, 0.0);
    for (slot, sc) in slots.iter().zip(scores.iter().chain(std::iter::repeat(&None))) {
        let done = sc.is_some_and(|s| s.completed);
        if slot.closes <= now || done {
            a.due += 1;
        } else {
            a.upcoming += 1;
        }
        match sc {
            Some(s) if s.completed => {
                a.completed += 1;
                a.on_time += u32::from(s.on_time);
                a.rushed += u32::from(s.rushed);
                if let Some(x) = s.accuracy {
                    acc_sum += x;
                    acc_n += 1;
                }
                min_sum += s.duration.as_secs_f64() / 60.0;
            }
            Some(_) => a.started_not_finished += 1,
            None => {}
        }
    }
    a.mean_accuracy = (acc_n > 0).then(|| acc_sum / f64::from(acc_n));
    a.mean_minutes = (a.completed > 0).then(|| min_sum / f64::from(a.completed));
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::ProtocolLibrary;

    fn asat() -> Protocol {
        let lib = ProtocolLibrary::shipped(&["standard", "ptsd"]).expect("shipped");
        lib.get("ketamine_asat").expect("asat").clone()
    }

    #[test]
    fn the_shipped_word_list_is_valid_and_labelled_truthfully() {
        let d = ExerciseDef::shipped().expect("valid");
        assert!(d.label.contains("modeled on the published") || d.label.contains("Modeled on the published"));
        assert!(d.label.contains("not the validated task itself"));
        let mut bad = d.clone();
        bad.label = "ASAT".into();
        assert_eq!(bad.validate().expect_err("invalid").field(), "label");
        let mut bad = d.clone();
        bad.neutral_words.push("kind".into());
        assert_eq!(bad.validate().expect_err("invalid").field(), "neutral_words");
    }

    #[test]
    fn rounds_are_deterministic_and_checks_have_one_shown_word() {
        let d = ExerciseDef::shipped().expect("valid");
        let a = d.rounds(42);
        assert_eq!(a, d.rounds(42));
        assert_ne!(a, d.rounds(43));
        assert_eq!(a.len(), d.blocks as usize);
        for r in &a {
            assert_eq!(r.pairs.len(), d.pairs_per_block as usize);
            assert!(r.pairs.iter().all(|(s, p)| d.self_words.contains(s) && d.positive_words.contains(p)));
            assert_eq!(r.check.options.len(), 3);
            let shown: Vec<&String> = r.check.options.iter().filter(|o| r.pairs.iter().any(|(_, p)| p == *o)).collect();
            assert_eq!(shown, vec![&r.check.answer], "exactly one option was shown");
            assert!(r.check.is_correct(&r.check.answer));
        }
    }

    #[test]
    fn asat_assigns_twice_daily_exercises_on_days_1_to_4_after_the_dose() {
        let p = asat();
        let tz = TimeZone::get("America/New_York").expect("tz");
        let dose: Timestamp = "2026-03-02T15:00:00Z".parse().expect("ts");
        let slots = schedule_for_dose(&p, 1, dose, &tz);
        assert_eq!(slots.len(), 8);
        for (i, s) in slots.iter().enumerate() {
            let day = i as u32 / 2 + 1;
            assert_eq!((s.number, s.total, s.day, s.of_day, s.per_day), (i as u32 + 1, 8, day, i as u32 % 2 + 1, 2));
            let h = |t: Timestamp| t.duration_since(dose).as_hours();
            let first = 24 * i64::from(day) + 12 * i64::from(s.of_day - 1);
            assert_eq!((h(s.opens), h(s.closes)), (first, first + 12), "slot {}", s.number);
            assert_eq!(s.minutes, Some(20));
        }
        assert!(slots[0].opens >= dose + SignedDuration::from_hours(24), "not before 24 h");
        // No rule for dose 2 of a one-dose protocol, nor in a protocol without exercises.
        assert!(schedule_for_dose(&p, 2, dose, &tz).is_empty());
        let lib = ProtocolLibrary::shipped(&["standard", "ptsd"]).expect("shipped");
        assert!(schedule_for_dose(lib.get("apa_iv_induction").expect("apa"), 1, dose, &tz).is_empty());
    }

    #[test]
    fn wall_clock_days_hold_across_a_dst_change() {
        let p = asat();
        let tz = TimeZone::get("America/New_York").expect("tz");
        // 2026-03-08 is the spring-forward day in New York.
        let dose: Timestamp = "2026-03-06T15:00:00Z".parse().expect("ts");
        let slots = schedule_for_dose(&p, 1, dose, &tz);
        let local: Vec<String> =
            slots.iter().map(|s| s.opens.to_zoned(tz.clone()).strftime("%H:%M").to_string()).collect();
        assert!(local.iter().step_by(2).all(|t| t == "10:00"), "{local:?}");
    }

    fn facts(done: bool, minutes: i64, correct: u32, closes_h: i64) -> SessionFacts {
        let started: Timestamp = "2026-03-03T15:00:00Z".parse().expect("ts");
        let end = started + SignedDuration::from_mins(minutes);
        SessionFacts {
            rounds: 8,
            rounds_done: if done { 8 } else { 3 },
            checks_total: if done { 8 } else { 3 },
            checks_correct: correct,
            started,
            last_answer: Some(end),
            finished: done.then_some(end),
            closes: started + SignedDuration::from_hours(closes_h),
        }
    }

    #[test]
    fn scoring_and_adherence() {
        let d = ExerciseDef::shipped().expect("valid");
        let good = score(&d, &facts(true, 14, 7, 2));
        assert!(good.completed && good.on_time && !good.rushed);
        assert_eq!(good.accuracy, Some(7.0 / 8.0));
        let rushed = score(&d, &facts(true, 2, 8, 2));
        assert!(rushed.rushed);
        let late = score(&d, &facts(true, 14, 8, 0));
        assert!(late.completed && !late.on_time);
        let partial = score(&d, &facts(false, 6, 2, 2));
        assert!(!partial.completed);

        let p = asat();
        let dose: Timestamp = "2026-03-01T15:00:00Z".parse().expect("ts");
        let slots = schedule_for_dose(&p, 1, dose, &TimeZone::UTC);
        let now = dose + SignedDuration::from_hours(61); // slots 1-3 have closed; 4 is open
        let scores = vec![Some(good), None, Some(partial), Some(late)];
        let a = adherence(&slots, &scores, now);
        assert_eq!((a.due, a.completed, a.on_time, a.started_not_finished, a.upcoming), (4, 2, 1, 1, 4));
        assert_eq!(a.mean_accuracy, Some((7.0 / 8.0 + 1.0) / 2.0));
        assert_eq!(a.mean_minutes, Some(14.0));
    }
}
