//! Questionnaires and rating scales as data, and their scoring.
//!
//! An [`Instrument`] is read from a TOML file (`instruments/*.toml`; a clinic
//! can add its own or override a shipped one by id) and checked by
//! [`Instrument::validate`] before it is used. Scoring is pure:
//! [`Instrument::score`] turns item answers into a total, sub-scores, a
//! severity band, a provisional-diagnosis result and the alerts the answers
//! raise, or refuses them with an error naming the item.
//!
//! Every clinical rule in a definition (bands, prorating, response,
//! remission, reliable change, alerts) carries its `source` and whether that
//! source was `confirmed`; unconfirmed rules are shipped as editable defaults
//! and labelled as such wherever they are shown.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// Where a rule comes from, and whether that was checked against the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    pub source: String,
    /// `false`: a clinic-editable default that is not confirmed against its
    /// primary source (shown as "unconfirmed default").
    pub confirmed: bool,
}

crate::text_enum! {
    /// Who answers.
    pub enum Rater { SelfReport = "self_report", Clinician = "clinician" }
}

crate::text_enum! {
    /// `score_only`: Kairos may not ship the item text (licence), so only
    /// item scores or the total are entered; `content_note` says why.
    pub enum Content { Full = "full", ScoreOnly = "score_only" }
}

crate::text_enum! {
    pub enum ScoringMethod {
        /// Sum of the scored items.
        Sum = "sum",
        /// Sum over domains, each the maximum (or sum) of its items (QIDS-SR16).
        Domains = "domains",
        /// The first matching level of an ordered list (C-SSRS screener);
        /// the score is the level's rank.
        Triage = "triage",
    }
}

crate::text_enum! {
    pub enum DomainRule { Max = "max", Sum = "sum" }
}

crate::text_enum! {
    /// How soon a clinician must act on an alert.
    pub enum AlertLevel { Review = "review", Urgent = "urgent" }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AnswerOption {
    pub value: i64,
    /// Absent for score-only instruments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// The item's number or code as the instrument names it ("9", "Q6").
    pub id: String,
    /// The question as asked; absent for score-only instruments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A short name, e.g. "Apparent sadness" (used where text is not shipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `false` for items shown but not scored (PHQ-9 item 10).
    #[serde(default = "yes")]
    pub scored: bool,
    /// Overrides the instrument's default options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<AnswerOption>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Domain {
    pub name: String,
    pub items: Vec<String>,
    pub rule: DomainRule,
}

/// An item's answer at or above a value (the screening rules have a
/// `Condition` of their own, hence the schema's name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ItemCondition))]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub item: String,
    pub min_value: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TriageLevel {
    pub label: String,
    /// The level applies when any condition holds; the first level (in file
    /// order) that applies wins; the last level should have none (the default).
    #[serde(default)]
    pub any: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    pub method: ScoringMethod,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<Domain>,
    /// Highest rank first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triage: Vec<TriageLevel>,
    #[serde(flatten)]
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Subscale {
    pub id: String,
    pub name: String,
    pub items: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub min: i64,
    pub max: i64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Bands {
    pub bands: Vec<Band>,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// What happens when items are left unanswered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MissingRule {
    /// Most scoring units (items, or domains for `domains` scoring) that may
    /// be missing; the total is then prorated: the mean of the answered
    /// units times their number, rounded half away from zero.
    pub max_missing: usize,
    /// Items that must always be answered (safety items).
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(flatten)]
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResponseRule {
    /// Improvement from baseline, in percent of the baseline score.
    pub drop_pct: f64,
    #[serde(flatten)]
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RemissionRule {
    /// A score at or below this is remission.
    pub max_score: i64,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// A published threshold in points, or Jacobson-Truax from SD and reliability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReliableChangeRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliability: Option<f64>,
    #[serde(flatten)]
    pub provenance: Provenance,
}

impl ReliableChangeRule {
    /// The smallest change, in points, that counts as reliable: the published
    /// value, or 1.96 × SD × √2 × √(1 − r) (Jacobson & Truax 1991).
    pub fn threshold(&self) -> Option<f64> {
        match (self.points, self.sd, self.reliability) {
            (Some(p), _, _) => Some(p),
            (None, Some(sd), Some(r)) => Some(crate::outcomes::jt_minimum_reliable_change(sd, r)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub item: String,
    pub min_value: i64,
    pub level: AlertLevel,
    pub message: String,
    /// The answer endorses thoughts of self-harm: whoever submitted it is
    /// told at once what to do in a crisis.
    #[serde(default)]
    pub self_harm: bool,
    /// What the client is told they reported, in plain language, on the
    /// crisis page a self-harm alert shows them (e.g. "You told us you have
    /// been thinking of suicide or death"). Worded for what this item asks:
    /// the QIDS item 12 is not the PHQ-9's "better off dead".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_message: Option<String>,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// The crisis page's wording when a self-harm alert rule carries no
/// `client_message` of its own.
pub const DEFAULT_CLIENT_MESSAGE: &str = "You told us about thoughts of death, of suicide or of hurting yourself.";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClusterRequirement {
    pub subscale: String,
    pub count: usize,
}

/// A provisional diagnosis from endorsed items per cluster (PCL-5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DiagnosisRule {
    pub name: String,
    /// An item counts as endorsed at or above this value.
    pub endorsed_min: i64,
    pub require: Vec<ClusterRequirement>,
    #[serde(flatten)]
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Loinc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
}

/// One instrument definition, as in `instruments/*.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    /// Lower-case letters, digits and `_`; used in URLs and the API.
    pub id: String,
    pub name: String,
    pub short_name: String,
    pub version: String,
    pub citation: String,
    pub licence: String,
    pub rater: Rater,
    pub content: Content,
    /// Why the text is not shipped, for score-only instruments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_note: Option<String>,
    /// e.g. "the past 2 weeks".
    pub recall: String,
    /// The recall period in days (PHQ-9 14, PCL-5 30, QIDS-SR16 7); 0 for
    /// an instrument about the present moment or "since the last visit".
    /// Two administrations closer than this ask about overlapping days, so
    /// measure schedules are checked against it
    /// ([`crate::measure_schedule::Schedules::check_recall`]).
    pub recall_days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loinc: Option<Loinc>,
    #[serde(default = "yes")]
    pub higher_is_worse: bool,
    /// Default answer options for every item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<AnswerOption>,
    pub items: Vec<Item>,
    pub scoring: Scoring,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscales: Vec<Subscale>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Bands>,
    pub missing: MissingRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remission: Option<RemissionRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliable_change: Option<ReliableChangeRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<DiagnosisRule>,
    /// A clinician may enter the total alone (score-only instruments).
    #[serde(default)]
    pub total_entry: bool,
}

/// An alert the answers raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FiredAlert {
    pub item: String,
    pub value: i64,
    pub level: AlertLevel,
    pub message: String,
    pub self_harm: bool,
    /// What a client who sent these answers is told on the crisis page;
    /// `Some` exactly when `self_harm`.
    pub client_message: Option<String>,
}

/// The result of scoring one administration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub score: i64,
    /// Items were missing and the total was prorated.
    pub prorated: bool,
    /// Item ids left unanswered.
    pub missing: Vec<String>,
    pub subscores: BTreeMap<String, i64>,
    pub severity: Option<String>,
    /// `Some` when the instrument has a provisional-diagnosis rule and items were entered.
    pub provisional_diagnosis: Option<bool>,
    pub alerts: Vec<FiredAlert>,
}

impl Instrument {
    /// Parses and validates one TOML definition.
    pub fn from_toml(text: &str) -> Result<Instrument, DomainError> {
        let inst: Instrument = toml::from_str(text).map_err(|e| DomainError::invalid("instrument", e.to_string()))?;
        inst.validate()?;
        Ok(inst)
    }

    fn options_of<'a>(&'a self, item: &'a Item) -> &'a [AnswerOption] {
        item.options.as_deref().unwrap_or(&self.options)
    }

    fn item_index(&self, id: &str) -> Option<usize> {
        self.items.iter().position(|i| i.id == id)
    }

    fn item_range(&self, item: &Item) -> (i64, i64) {
        let values = self.options_of(item).iter().map(|o| o.value);
        (values.clone().min().unwrap_or(0), values.max().unwrap_or(0))
    }

    /// The lowest and highest possible score.
    pub fn score_range(&self) -> (i64, i64) {
        match self.scoring.method {
            ScoringMethod::Sum => self
                .items
                .iter()
                .filter(|i| i.scored)
                .map(|i| self.item_range(i))
                .fold((0, 0), |(lo, hi), (a, b)| (lo + a, hi + b)),
            ScoringMethod::Domains => self.scoring.domains.iter().fold((0, 0), |(lo, hi), d| {
                let ranges: Vec<(i64, i64)> = d
                    .items
                    .iter()
                    .filter_map(|id| self.item_index(id))
                    .map(|i| self.item_range(&self.items[i]))
                    .collect();
                let (a, b) = match d.rule {
                    DomainRule::Max => {
                        (ranges.iter().map(|r| r.0).max().unwrap_or(0), ranges.iter().map(|r| r.1).max().unwrap_or(0))
                    }
                    DomainRule::Sum => (ranges.iter().map(|r| r.0).sum(), ranges.iter().map(|r| r.1).sum()),
                };
                (lo + a, hi + b)
            }),
            ScoringMethod::Triage => (0, self.scoring.triage.len().saturating_sub(1) as i64),
        }
    }

    /// Checks that the definition is coherent: ids unique and known, options
    /// present, bands covering the score range without gaps or overlaps,
    /// domains covering every scored item once, rules referring to real items.
    pub fn validate(&self) -> Result<(), DomainError> {
        let bad = |field: &str, reason: String| Err(DomainError::invalid(format!("{}.{field}", self.id), reason));
        if self.id.is_empty() || !self.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return bad("id", "use lower-case letters, digits and _".into());
        }
        if self.items.is_empty() {
            return bad("items", "an instrument needs at least one item".into());
        }
        if self.content == Content::ScoreOnly && self.content_note.as_deref().unwrap_or("").trim().is_empty() {
            return bad("content_note", "say why the text of a score-only instrument is not shipped".into());
        }
        let mut seen = HashSet::new();
        for (n, item) in self.items.iter().enumerate() {
            if !seen.insert(item.id.as_str()) {
                return bad(&format!("items[{n}].id"), format!("item `{}` appears twice", item.id));
            }
            let opts = self.options_of(item);
            if opts.is_empty() {
                return bad(&format!("items[{n}].options"), format!("item `{}` has no answer options", item.id));
            }
            let mut values = HashSet::new();
            if opts.iter().any(|o| !values.insert(o.value)) {
                return bad(&format!("items[{n}].options"), format!("item `{}` repeats an option value", item.id));
            }
            match self.content {
                Content::Full if item.text.as_deref().unwrap_or("").trim().is_empty() => {
                    return bad(&format!("items[{n}].text"), format!("item `{}` has no text", item.id));
                }
                Content::ScoreOnly if item.text.is_some() => {
                    return bad(&format!("items[{n}].text"), "a score-only instrument ships no item text".into());
                }
                _ => {}
            }
        }
        let known = |id: &str| self.item_index(id).is_some();
        let check_items = |field: &str, ids: &[String]| -> Result<(), DomainError> {
            match ids.iter().find(|id| !known(id)) {
                Some(id) => Err(DomainError::invalid(format!("{}.{field}", self.id), format!("no item `{id}`"))),
                None => Ok(()),
            }
        };
        match self.scoring.method {
            ScoringMethod::Domains => {
                let mut covered = HashSet::new();
                for (n, d) in self.scoring.domains.iter().enumerate() {
                    check_items(&format!("scoring.domains[{n}].items"), &d.items)?;
                    for id in &d.items {
                        if !covered.insert(id.as_str()) {
                            return bad("scoring.domains", format!("item `{id}` is in two domains"));
                        }
                    }
                }
                if let Some(i) = self.items.iter().find(|i| i.scored && !covered.contains(i.id.as_str())) {
                    return bad("scoring.domains", format!("scored item `{}` is in no domain", i.id));
                }
            }
            ScoringMethod::Triage => {
                if self.scoring.triage.is_empty() {
                    return bad("scoring.triage", "triage scoring needs its levels".into());
                }
                for (n, l) in self.scoring.triage.iter().enumerate() {
                    let ids: Vec<String> = l.any.iter().map(|c| c.item.clone()).collect();
                    check_items(&format!("scoring.triage[{n}].any"), &ids)?;
                }
            }
            ScoringMethod::Sum => {}
        }
        for (n, s) in self.subscales.iter().enumerate() {
            check_items(&format!("subscales[{n}].items"), &s.items)?;
        }
        check_items("missing.required", &self.missing.required)?;
        for (n, a) in self.alerts.iter().enumerate() {
            check_items(&format!("alerts[{n}].item"), std::slice::from_ref(&a.item))?;
        }
        if let Some(d) = &self.diagnosis {
            for r in &d.require {
                if !self.subscales.iter().any(|s| s.id == r.subscale) {
                    return bad("diagnosis.require", format!("no subscale `{}`", r.subscale));
                }
            }
        }
        if let Some(bands) = &self.severity {
            let (lo, hi) = self.score_range();
            let mut next = lo;
            for b in &bands.bands {
                if b.min != next || b.max < b.min {
                    return bad(
                        "severity.bands",
                        format!(
                            "band `{}` starts at {} but must start at {next} (bands cover {lo}-{hi} in order)",
                            b.label, b.min
                        ),
                    );
                }
                next = b.max + 1;
            }
            if next != hi + 1 {
                return bad("severity.bands", format!("bands end at {} but scores reach {hi}", next - 1));
            }
        }
        if let Some(rc) = &self.reliable_change
            && rc.threshold().is_none()
        {
            return bad("reliable_change", "give `points`, or `sd` and `reliability`".into());
        }
        Ok(())
    }

    /// The severity label of a total.
    pub fn severity_of(&self, score: i64) -> Option<String> {
        self.severity.as_ref()?.bands.iter().find(|b| b.min <= score && score <= b.max).map(|b| b.label.clone())
    }

    /// Scores one administration: `answers` holds one entry per item, in the
    /// definition's order (`None` for unanswered).
    ///
    /// Items at the end that are not scored (PHQ-9's item 10, "how
    /// difficult have these problems made it...") may be left off, as
    /// paper and many electronic forms do.
    pub fn score(&self, answers: &[Option<i64>]) -> Result<Scored, DomainError> {
        let optional_tail = self.items.iter().rev().take_while(|i| !i.scored).count();
        let least = self.items.len() - optional_tail;
        if answers.len() > self.items.len() || answers.len() < least {
            let expected = if optional_tail == 0 {
                format!("{} items", self.items.len())
            } else {
                format!("{least} scored items and {optional_tail} optional unscored one(s) after them")
            };
            return Err(DomainError::invalid(
                "answers",
                format!("{} has {expected}; got {} answers", self.short_name, answers.len()),
            ));
        }
        let padded: Vec<Option<i64>>;
        let answers = if answers.len() < self.items.len() {
            padded = answers.iter().copied().chain(std::iter::repeat(None)).take(self.items.len()).collect();
            &padded[..]
        } else {
            answers
        };
        for (n, (item, a)) in self.items.iter().zip(answers).enumerate() {
            if let Some(v) = a {
                let opts = self.options_of(item);
                if !opts.iter().any(|o| o.value == *v) {
                    let allowed: Vec<String> = opts.iter().map(|o| o.value.to_string()).collect();
                    return Err(DomainError::invalid(
                        format!("answers[{n}]"),
                        format!("item {}: {v} is not one of {}", item.id, allowed.join(", ")),
                    ));
                }
            }
        }
        for id in &self.missing.required {
            if let Some(n) = self.item_index(id)
                && answers[n].is_none()
            {
                return Err(DomainError::invalid(
                    format!("answers[{n}]"),
                    format!("item {id} must be answered: it is a safety item and is never prorated"),
                ));
            }
        }
        let value = |id: &str| self.item_index(id).and_then(|n| answers[n]);
        let missing: Vec<String> = self
            .items
            .iter()
            .zip(answers)
            .filter(|(i, a)| i.scored && a.is_none())
            .map(|(i, _)| i.id.clone())
            .collect();
        // Scoring units: (value if answered) per item, or per domain.
        let units: Vec<Option<i64>> = match self.scoring.method {
            ScoringMethod::Sum => self.items.iter().zip(answers).filter(|(i, _)| i.scored).map(|(_, a)| *a).collect(),
            ScoringMethod::Domains => self
                .scoring
                .domains
                .iter()
                .map(|d| {
                    let vals: Vec<i64> = d.items.iter().filter_map(|id| value(id)).collect();
                    if vals.is_empty() {
                        None
                    } else {
                        Some(match d.rule {
                            DomainRule::Max => vals.iter().copied().max().unwrap_or(0),
                            DomainRule::Sum => vals.iter().sum(),
                        })
                    }
                })
                .collect(),
            ScoringMethod::Triage => Vec::new(),
        };
        let missing_units = units.iter().filter(|u| u.is_none()).count();
        if missing_units > self.missing.max_missing || (!units.is_empty() && missing_units == units.len()) {
            let what = if self.scoring.method == ScoringMethod::Domains { "domains" } else { "items" };
            return Err(DomainError::invalid(
                "answers",
                format!(
                    "unanswered: item {}; {} allows at most {} unanswered {what}",
                    missing.join(", item "),
                    self.short_name,
                    self.missing.max_missing
                ),
            ));
        }
        let (score, prorated) = match self.scoring.method {
            ScoringMethod::Triage => {
                if !missing.is_empty() {
                    return Err(DomainError::invalid(
                        "answers",
                        format!("unanswered: item {}; every triage question needs an answer", missing.join(", item ")),
                    ));
                }
                let levels = &self.scoring.triage;
                let rank = levels
                    .iter()
                    .position(|l| {
                        l.any.is_empty() || l.any.iter().any(|c| value(&c.item).is_some_and(|v| v >= c.min_value))
                    })
                    .unwrap_or(levels.len() - 1);
                ((levels.len() - 1 - rank) as i64, false)
            }
            _ => prorate(&units),
        };
        let subscores = self
            .subscales
            .iter()
            .map(|s| {
                let vals: Vec<Option<i64>> = s.items.iter().map(|id| value(id)).collect();
                (s.id.clone(), prorate(&vals).0)
            })
            .collect();
        let provisional_diagnosis = self.diagnosis.as_ref().map(|d| {
            d.require.iter().all(|r| {
                self.subscales.iter().find(|s| s.id == r.subscale).is_some_and(|s| {
                    s.items.iter().filter(|id| value(id).is_some_and(|v| v >= d.endorsed_min)).count() >= r.count
                })
            })
        });
        let severity = match self.scoring.method {
            ScoringMethod::Triage => {
                let levels = &self.scoring.triage;
                levels.get(levels.len() - 1 - score as usize).map(|l| l.label.clone())
            }
            _ => self.severity_of(score),
        };
        Ok(Scored {
            score,
            prorated,
            missing,
            subscores,
            severity,
            provisional_diagnosis,
            alerts: self.alerts_for(answers),
        })
    }

    /// Scores a total entered without its items (score-only instruments
    /// that allow it), with `answers` giving the instrument's safety items
    /// (`missing.required`, such as MADRS item 10) and no other: those are
    /// never left out, so their alerts fire as with a full entry. `answers`
    /// is empty, or one per item with only the safety items answered.
    pub fn score_total(&self, total: i64, answers: &[Option<i64>]) -> Result<Scored, DomainError> {
        if !self.total_entry {
            return Err(DomainError::invalid("total", format!("{} is scored from its items", self.short_name)));
        }
        let (lo, hi) = self.score_range();
        if !(lo..=hi).contains(&total) {
            return Err(DomainError::invalid(
                "total",
                format!("{total} is outside {}'s range {lo}-{hi}", self.short_name),
            ));
        }
        let none = vec![None; self.items.len()];
        let answers = match answers.len() {
            0 => &none[..],
            n if n == self.items.len() => answers,
            n => {
                return Err(DomainError::invalid(
                    "answers",
                    format!("{} has {} items; got {n} answers", self.short_name, self.items.len()),
                ));
            }
        };
        for (n, (item, a)) in self.items.iter().zip(answers).enumerate() {
            let required = self.missing.required.contains(&item.id);
            match a {
                Some(_) if !required => {
                    return Err(DomainError::invalid(
                        format!("answers[{n}]"),
                        format!(
                            "with a total, give only the safety item{} {}: enter every item instead to score from the items",
                            if self.missing.required.len() == 1 { "" } else { "s" },
                            self.missing.required.join(", ")
                        ),
                    ));
                }
                Some(v) if !self.options_of(item).iter().any(|o| o.value == *v) => {
                    let allowed: Vec<String> = self.options_of(item).iter().map(|o| o.value.to_string()).collect();
                    return Err(DomainError::invalid(
                        format!("answers[{n}]"),
                        format!("item {}: {v} is not one of {}", item.id, allowed.join(", ")),
                    ));
                }
                None if required => {
                    return Err(DomainError::invalid(
                        format!("answers[{n}]"),
                        format!(
                            "{} item {}{} must be rated with a total: it is a safety item",
                            self.short_name,
                            item.id,
                            item.label.as_ref().map(|l| format!(" ({l})")).unwrap_or_default()
                        ),
                    ));
                }
                _ => {}
            }
        }
        let given: i64 = answers.iter().flatten().sum();
        if given > total {
            return Err(DomainError::invalid(
                "total",
                format!("{total} is less than the items given with it ({given})"),
            ));
        }
        Ok(Scored {
            score: total,
            prorated: false,
            missing: Vec::new(),
            subscores: BTreeMap::new(),
            severity: self.severity_of(total),
            provisional_diagnosis: None,
            alerts: self.alerts_for(answers),
        })
    }

    /// The one alert an administration raises: of the rules its answers
    /// meet, the first of the most urgent level in file order (so a file
    /// lists a rule for a higher answer before the one for a lower answer
    /// to the same item). One administration is one clinical event: a
    /// QIDS item 12 answered 3 meets both its rules, and a C-SSRS with
    /// Q1, Q2 and Q4 "yes" meets three, but the clinician gets one alert,
    /// at the most urgent level met, and reads the answers in the record.
    /// `self_harm` is set when any rule met is a self-harm rule.
    fn alerts_for(&self, answers: &[Option<i64>]) -> Vec<FiredAlert> {
        let met: Vec<(&AlertRule, i64)> = self
            .alerts
            .iter()
            .filter_map(|rule| {
                let v = self.item_index(&rule.item).and_then(|n| answers[n])?;
                (v >= rule.min_value).then_some((rule, v))
            })
            .collect();
        let Some(top) = met.iter().map(|(r, _)| r.level).max() else {
            return Vec::new();
        };
        let self_harm = met.iter().any(|(r, _)| r.self_harm);
        let (rule, value) = met.iter().find(|(r, _)| r.level == top).copied().expect("a rule of the top level");
        let client_message = self_harm.then(|| {
            met.iter()
                .filter(|(r, _)| r.self_harm)
                .find_map(|(r, _)| r.client_message.clone())
                .unwrap_or_else(|| DEFAULT_CLIENT_MESSAGE.to_string())
        });
        vec![FiredAlert {
            item: rule.item.clone(),
            value,
            level: rule.level,
            message: rule.message.clone(),
            self_harm,
            client_message,
        }]
    }
}

/// Sum of the answered units, prorated to all units when some are missing:
/// mean × count, rounded half away from zero.
fn prorate(units: &[Option<i64>]) -> (i64, bool) {
    let answered: Vec<i64> = units.iter().flatten().copied().collect();
    let sum: i64 = answered.iter().sum();
    if answered.len() == units.len() || answered.is_empty() {
        return (sum, false);
    }
    let scaled = sum as f64 * units.len() as f64 / answered.len() as f64;
    (scaled.round() as i64, true)
}

/// The instruments Kairos ships, as `(file name, TOML text)`.
pub const SHIPPED: &[(&str, &str)] = &[
    ("phq9.toml", include_str!("../../../instruments/phq9.toml")),
    ("gad7.toml", include_str!("../../../instruments/gad7.toml")),
    ("pcl5.toml", include_str!("../../../instruments/pcl5.toml")),
    ("pcl5_week.toml", include_str!("../../../instruments/pcl5_week.toml")),
    ("qids_sr16.toml", include_str!("../../../instruments/qids_sr16.toml")),
    ("madrs.toml", include_str!("../../../instruments/madrs.toml")),
    ("cssrs_screener.toml", include_str!("../../../instruments/cssrs_screener.toml")),
    ("cadss6.toml", include_str!("../../../instruments/cadss6.toml")),
    ("safety_check.toml", include_str!("../../../instruments/safety_check.toml")),
];

/// The instruments in use: the shipped ones, with a clinic's own added or
/// replacing a shipped one of the same id.
#[derive(Debug, Clone, Default)]
pub struct Library {
    instruments: Vec<Instrument>,
}

impl Library {
    /// Loads `(name, text)` definitions; a later one replaces an earlier one
    /// with the same id. The error names the file.
    pub fn load<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Library, DomainError> {
        let mut lib = Library::default();
        for (name, text) in files {
            let inst = Instrument::from_toml(text).map_err(|e| DomainError::invalid(name, e.to_string()))?;
            match lib.instruments.iter_mut().find(|i| i.id == inst.id) {
                Some(slot) => *slot = inst,
                None => lib.instruments.push(inst),
            }
        }
        Ok(lib)
    }

    pub fn shipped() -> Result<Library, DomainError> {
        Library::load(SHIPPED.iter().copied())
    }

    pub fn get(&self, id: &str) -> Option<&Instrument> {
        self.instruments.iter().find(|i| i.id == id)
    }

    pub fn all(&self) -> &[Instrument] {
        &self.instruments
    }
}
