//! Psychotherapy notes: types, clinic-editable templates, the written
//! exposure therapy (WET) fields, and who may read what.
//!
//! A note is drafted, then signed; a signed note never changes, and a
//! correction is an amendment (who, when, why) shown beside the original.
//!
//! **Who reads a note** ([`access`]):
//!
//! | viewer | draft | signed |
//! |---|---|---|
//! | the author (a therapist) | full, with the WET narrative | full, with the WET narrative |
//! | a supervisor of the author (a therapist named by an admin) | nothing | full, without the narrative |
//! | another therapist, a prescriber | nothing | the summary line |
//! | nurse, coordinator, director, admin | nothing | nothing |
//!
//! "Supervisor" is not a role: an admin records which therapists supervise
//! which (a `supervisor → supervisee` relation kept in the database), so a
//! clinic chooses its supervisors and each sees only their supervisees'
//! notes.

use crate::DomainError;
use crate::encounter::EncounterKind;
use crate::ids::StaffId;
use crate::roles::{Permission, Roles};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The shipped templates (`therapy/note-templates.toml`).
pub const SHIPPED: &str = include_str!("../../../therapy/note-templates.toml");

/// Longest section text, narrative or amendment correction (characters).
pub const MAX_TEXT: usize = 20_000;
/// Longest summary line.
pub const MAX_SUMMARY: usize = 200;

crate::text_enum! {
    /// The kind of psychotherapy note.
    pub enum NoteKind {
        Preparation = "preparation",
        /// The therapist's support during a dosing session.
        DosingSupport = "dosing_support",
        Integration = "integration",
        IndividualTherapy = "individual_therapy",
        /// Cognitive behavioural therapy: agenda, thought records, homework.
        Cbt = "cbt",
        /// Written exposure therapy (Sloan & Marx; 5 sessions).
        Wet = "wet",
        Group = "group",
    }
}

impl NoteKind {
    /// The encounters a note of this kind may be written on.
    pub fn encounter_kinds(self) -> &'static [EncounterKind] {
        use EncounterKind as E;
        match self {
            NoteKind::Preparation => &[E::Preparation, E::Intake],
            NoteKind::DosingSupport => &[E::Dosing],
            NoteKind::Integration | NoteKind::IndividualTherapy | NoteKind::Cbt | NoteKind::Wet => {
                &[E::Integration, E::IndividualTherapy]
            }
            NoteKind::Group => &[E::Group],
        }
    }

    /// The note kinds that fit an encounter, the most likely first.
    pub fn for_encounter(kind: EncounterKind) -> Vec<NoteKind> {
        let mut v: Vec<NoteKind> =
            NoteKind::ALL.iter().copied().filter(|n| n.encounter_kinds().contains(&kind)).collect();
        if kind == EncounterKind::IndividualTherapy {
            v.sort_by_key(|n| *n != NoteKind::IndividualTherapy);
        }
        v
    }
}

crate::text_enum! {
    pub enum NoteStatus {
        Draft = "draft",
        /// Signed: immutable; corrections are amendments.
        Signed = "signed",
    }
}

/// One section of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub hint: String,
    /// Must be filled before the note is signed.
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub kind: NoteKind,
    pub label: String,
    pub sections: Vec<Section>,
}

/// The clinic's templates: exactly one per note kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    templates: Vec<Template>,
}

impl Templates {
    pub fn from_toml(text: &str) -> Result<Templates, DomainError> {
        let t: Templates = toml::from_str(text).map_err(|e| DomainError::invalid("note_templates", e.to_string()))?;
        t.validate()?;
        Ok(t)
    }

    pub fn shipped() -> Result<Templates, DomainError> {
        Templates::from_toml(SHIPPED)
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        let mut seen = BTreeSet::new();
        for (i, t) in self.templates.iter().enumerate() {
            let f = |s: &str| format!("templates[{i}].{s}");
            if !seen.insert(t.kind) {
                return Err(DomainError::invalid(f("kind"), format!("a second template for `{}`", t.kind)));
            }
            crate::text::required(&f("label"), &t.label, 100)?;
            if t.sections.is_empty() {
                return Err(DomainError::invalid(f("sections"), "a template needs at least one section"));
            }
            let mut ids = BTreeSet::new();
            for (j, s) in t.sections.iter().enumerate() {
                let fs = |x: &str| format!("templates[{i}].sections[{j}].{x}");
                let ok = !s.id.is_empty()
                    && s.id.len() <= 40
                    && s.id.starts_with(|c: char| c.is_ascii_lowercase())
                    && s.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !ok {
                    return Err(DomainError::invalid(fs("id"), "use lower-case letters, digits and _ (at most 40)"));
                }
                if !ids.insert(s.id.as_str()) {
                    return Err(DomainError::invalid(fs("id"), format!("`{}` appears twice", s.id)));
                }
                crate::text::required(&fs("label"), &s.label, 100)?;
                if s.hint.chars().count() > 500 {
                    return Err(DomainError::invalid(fs("hint"), "must be at most 500 characters"));
                }
            }
        }
        if let Some(missing) = NoteKind::ALL.iter().find(|k| !seen.contains(k)) {
            return Err(DomainError::invalid("templates", format!("no template for `{missing}`")));
        }
        Ok(())
    }

    pub fn get(&self, kind: NoteKind) -> &Template {
        // validate() guarantees one template per kind.
        self.templates.iter().find(|t| t.kind == kind).unwrap_or(&self.templates[0])
    }

    pub fn all(&self) -> &[Template] {
        &self.templates
    }
}

/// Multi-line free text: trimmed, bounded; control characters other than
/// line breaks and tabs refused. Empty is `None`.
pub fn free_text(field: &str, value: Option<&str>, max_chars: usize) -> Result<Option<String>, DomainError> {
    let v = value.map(|v| v.trim().replace("\r\n", "\n")).unwrap_or_default();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > max_chars {
        return Err(DomainError::invalid(field, format!("must be at most {max_chars} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(DomainError::invalid(field, "must not contain control characters"));
    }
    Ok(Some(v))
}

/// A section as written: the label is kept with the text, so a later
/// template change never alters a note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SectionText {
    pub id: String,
    pub label: String,
    pub text: String,
}

/// The structured part of a WET session (reference.md §1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WetFields {
    /// 1-5.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub session_number: u8,
    /// The manual's prompt id (never its text; the clinic keeps the text).
    #[cfg_attr(feature = "openapi", schema(pattern = "^\\s*[A-Za-z0-9._-]{1,40}\\s*$"))]
    pub prompt_id: String,
    /// When the 30-minute writing block started (the page shows its end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub writing_started_at: Option<jiff::Timestamp>,
    /// Minutes actually written (the protocol asks for 30).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 120))]
    pub writing_minutes: Option<u16>,
    /// Distress 0-100 just before the writing block.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub suds_before: Option<u8>,
    /// Distress 0-100 just after it.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub suds_after: Option<u8>,
}

/// The minutes a WET writing block lasts.
pub const WET_WRITING_MINUTES: i64 = 30;

impl WetFields {
    pub fn validate(&self) -> Result<(), DomainError> {
        if !(1..=5).contains(&self.session_number) {
            return Err(DomainError::invalid("wet.session_number", "WET has sessions 1 to 5"));
        }
        let p = self.prompt_id.trim();
        if p.is_empty() || p.len() > 40 || !p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(DomainError::invalid(
                "wet.prompt_id",
                "the prompt's id (letters, digits, - _ . ; at most 40), not its text",
            ));
        }
        if self.writing_minutes.is_some_and(|m| m > 120) {
            return Err(DomainError::invalid("wet.writing_minutes", "at most 120 minutes"));
        }
        for (f, v) in [("wet.suds_before", self.suds_before), ("wet.suds_after", self.suds_after)] {
            if v.is_some_and(|v| v > 100) {
                return Err(DomainError::invalid(f, "SUDS runs from 0 to 100"));
            }
        }
        Ok(())
    }

    fn complete(&self) -> Result<(), DomainError> {
        for (f, missing) in [
            ("wet.writing_minutes", self.writing_minutes.is_none()),
            ("wet.suds_before", self.suds_before.is_none()),
            ("wet.suds_after", self.suds_after.is_none()),
        ] {
            if missing {
                return Err(DomainError::invalid(f, "record it before signing"));
            }
        }
        Ok(())
    }
}

/// What a therapist writes (a draft, or the draft about to be signed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoteInput {
    /// Section id → text.
    pub sections: BTreeMap<String, String>,
    pub summary: Option<String>,
    pub wet: Option<WetFields>,
    /// WET only: what the client wrote; seen by its author alone.
    pub narrative: Option<String>,
}

/// A validated note body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteBody {
    pub sections: Vec<SectionText>,
    pub summary: Option<String>,
    pub wet: Option<WetFields>,
    pub narrative: Option<String>,
}

impl NoteInput {
    /// Checks a draft against its template. Unknown sections, bad text and
    /// bad WET fields are refused naming the field; emptiness is allowed
    /// until [`NoteBody::ready_to_sign`].
    pub fn validate(&self, kind: NoteKind, templates: &Templates) -> Result<NoteBody, DomainError> {
        let t = templates.get(kind);
        if let Some(unknown) = self.sections.keys().find(|k| !t.sections.iter().any(|s| &s.id == *k)) {
            return Err(DomainError::invalid(
                format!("sections.{unknown}"),
                format!("the {} template has no such section", t.label),
            ));
        }
        let mut sections = Vec::new();
        for s in &t.sections {
            let text =
                free_text(&format!("sections.{}", s.id), self.sections.get(&s.id).map(String::as_str), MAX_TEXT)?;
            sections.push(SectionText { id: s.id.clone(), label: s.label.clone(), text: text.unwrap_or_default() });
        }
        let summary = free_text("summary", self.summary.as_deref(), MAX_SUMMARY)?;
        if summary.as_deref().is_some_and(|s| s.contains('\n')) {
            return Err(DomainError::invalid("summary", "one line"));
        }
        let (wet, narrative) = if kind == NoteKind::Wet {
            let w = self
                .wet
                .clone()
                .ok_or_else(|| DomainError::invalid("wet", "a WET note records the session number and prompt id"))?;
            w.validate()?;
            let w = WetFields { prompt_id: w.prompt_id.trim().to_string(), ..w };
            (Some(w), free_text("narrative", self.narrative.as_deref(), MAX_TEXT)?)
        } else {
            if self.wet.is_some() {
                return Err(DomainError::invalid("wet", "only a WET note has WET fields"));
            }
            if self.narrative.as_deref().is_some_and(|n| !n.trim().is_empty()) {
                return Err(DomainError::invalid("narrative", "only a WET note keeps a private narrative"));
            }
            (None, None)
        };
        Ok(NoteBody { sections, summary, wet, narrative })
    }
}

impl NoteBody {
    /// Refuses a signature while a required section, the summary or a WET
    /// measurement is missing.
    pub fn ready_to_sign(&self, kind: NoteKind, templates: &Templates) -> Result<(), DomainError> {
        for s in templates.get(kind).sections.iter().filter(|s| s.required) {
            if self.sections.iter().find(|x| x.id == s.id).is_none_or(|x| x.text.is_empty()) {
                return Err(DomainError::invalid(
                    format!("sections.{}", s.id),
                    format!("{} is required to sign", s.label),
                ));
            }
        }
        if self.summary.is_none() {
            return Err(DomainError::invalid("summary", "write the one-line summary the care team sees"));
        }
        if let Some(w) = &self.wet {
            w.complete()?;
        }
        Ok(())
    }
}

/// A correction to a signed note: the original stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoteAmendment {
    /// What the note should say (or what it omitted).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 20000, pattern = "\\S"))]
    pub correction: String,
    /// Why.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::text::Text1000))]
    pub reason: String,
}

impl NoteAmendment {
    pub fn validate(&self) -> Result<NoteAmendment, DomainError> {
        let correction = free_text("correction", Some(&self.correction), MAX_TEXT)?
            .ok_or_else(|| DomainError::invalid("correction", "must not be empty"))?;
        let reason = crate::text::required("reason", &self.reason, 1000)?;
        Ok(NoteAmendment { correction, reason })
    }
}

/// How much of a note a viewer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    None,
    /// Kind, date, author, status and the one-line summary.
    Summary,
    /// Everything but the WET narrative.
    Full,
    /// Everything, the WET narrative included: the author alone.
    Author,
}

/// Who is looking at a note.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub id: StaffId,
    pub roles: &'a Roles,
    /// The viewer supervises the note's author.
    pub supervises_author: bool,
}

/// The read rule (see the module table).
pub fn access(viewer: Viewer<'_>, author: StaffId, status: NoteStatus) -> Access {
    let clinician = viewer.roles.allow(Permission::ReadTherapyNotes);
    if clinician && viewer.id == author {
        return Access::Author;
    }
    if status == NoteStatus::Draft {
        return Access::None;
    }
    if clinician && viewer.supervises_author {
        Access::Full
    } else if viewer.roles.allow(Permission::ReadNoteSummaries) {
        Access::Summary
    } else {
        Access::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::Role;

    fn templates() -> Templates {
        Templates::shipped().expect("shipped templates")
    }

    fn wet() -> WetFields {
        WetFields {
            session_number: 1,
            prompt_id: "wet-s1".into(),
            writing_started_at: None,
            writing_minutes: Some(30),
            suds_before: Some(70),
            suds_after: Some(55),
        }
    }

    #[test]
    fn the_shipped_templates_cover_every_kind() {
        let t = templates();
        for &k in NoteKind::ALL {
            assert_eq!(t.get(k).kind, k);
        }
        let cbt: Vec<&str> = t.get(NoteKind::Cbt).sections.iter().map(|s| s.id.as_str()).collect();
        assert!(cbt.contains(&"agenda") && cbt.contains(&"thought_records") && cbt.contains(&"homework"));
    }

    #[test]
    fn templates_are_validated_naming_the_field() {
        let dup = SHIPPED.replacen("id = \"set_and_setting\"", "id = \"intentions\"", 1);
        assert_eq!(Templates::from_toml(&dup).expect_err("dup").field(), "templates[0].sections[1].id");
        let bad = SHIPPED.replacen("id = \"intentions\"", "id = \"Intentions!\"", 1);
        assert_eq!(Templates::from_toml(&bad).expect_err("id").field(), "templates[0].sections[0].id");
        let missing = SHIPPED.replace("kind = \"group\"", "kind = \"wet\"");
        assert_eq!(Templates::from_toml(&missing).expect_err("two wet").field(), "templates[6].kind");
        let cut = SHIPPED.split("[[templates]]\nkind = \"group\"").next().expect("head").to_string();
        assert_eq!(Templates::from_toml(&cut).expect_err("no group").field(), "templates");
    }

    #[test]
    fn a_draft_may_be_empty_but_a_signature_needs_the_required_sections_and_summary() {
        let t = templates();
        let body = NoteInput::default().validate(NoteKind::Integration, &t).expect("empty draft");
        assert_eq!(body.sections.len(), 3);
        assert_eq!(body.ready_to_sign(NoteKind::Integration, &t).expect_err("empty").field(), "sections.experience");
        let mut input = NoteInput::default();
        input.sections.insert("experience".into(), "Felt held; saw her father's kitchen.\nCried.".into());
        input.sections.insert("plan".into(), "Journal daily".into());
        let body = input.validate(NoteKind::Integration, &t).expect("draft");
        assert_eq!(body.ready_to_sign(NoteKind::Integration, &t).expect_err("summary").field(), "summary");
        input.summary = Some("Integration of dose 1; engaged; plan set.".into());
        let body = input.validate(NoteKind::Integration, &t).expect("draft");
        body.ready_to_sign(NoteKind::Integration, &t).expect("ready");
        assert_eq!(body.sections[0].text, "Felt held; saw her father's kitchen.\nCried.", "line breaks are kept");
        input.sections.insert("homework".into(), "x".into());
        assert_eq!(input.validate(NoteKind::Integration, &t).expect_err("unknown").field(), "sections.homework");
    }

    #[test]
    fn wet_fields_are_checked_at_each_edge() {
        let t = templates();
        let mut input = NoteInput { wet: Some(wet()), summary: Some("WET 1 done".into()), ..NoteInput::default() };
        input.sections.insert("check_in".into(), "Wrote the whole time.".into());
        input.narrative = Some("private text".into());
        let body = input.validate(NoteKind::Wet, &t).expect("valid");
        body.ready_to_sign(NoteKind::Wet, &t).expect("ready");
        assert_eq!(body.narrative.as_deref(), Some("private text"));
        for (n, ok) in [(0, false), (1, true), (5, true), (6, false)] {
            let w = WetFields { session_number: n, ..wet() };
            assert_eq!(w.validate().is_ok(), ok, "session {n}");
        }
        for (s, ok) in [(0, true), (100, true), (101, false)] {
            assert_eq!(WetFields { suds_before: Some(s), ..wet() }.validate().is_ok(), ok, "suds {s}");
            assert_eq!(WetFields { suds_after: Some(s), ..wet() }.validate().is_ok(), ok, "suds {s}");
        }
        let text = WetFields { prompt_id: "Write about the worst part of the event".into(), ..wet() };
        assert_eq!(text.validate().expect_err("text").field(), "wet.prompt_id", "ids, never prompt text");
        assert_eq!(
            WetFields { writing_minutes: Some(121), ..wet() }.validate().expect_err("m").field(),
            "wet.writing_minutes"
        );
        let open = NoteInput { wet: Some(WetFields { suds_after: None, ..wet() }), ..input.clone() };
        let body = open.validate(NoteKind::Wet, &t).expect("draft without SUDS after");
        assert_eq!(body.ready_to_sign(NoteKind::Wet, &t).expect_err("suds").field(), "wet.suds_after");
        let no_wet = NoteInput { wet: None, ..input.clone() };
        assert_eq!(no_wet.validate(NoteKind::Wet, &t).expect_err("wet").field(), "wet");
        let stray = NoteInput { narrative: Some("x".into()), ..NoteInput::default() };
        assert_eq!(stray.validate(NoteKind::Cbt, &t).expect_err("narrative").field(), "narrative");
    }

    #[test]
    fn amendments_need_a_correction_and_a_reason() {
        let a = NoteAmendment { correction: "Dose 2, not dose 1.".into(), reason: " ".into() };
        assert_eq!(a.validate().expect_err("reason").field(), "reason");
        let a = NoteAmendment { correction: "".into(), reason: "typo".into() };
        assert_eq!(a.validate().expect_err("correction").field(), "correction");
    }

    #[test]
    fn notes_fit_their_encounters() {
        assert_eq!(NoteKind::for_encounter(EncounterKind::Integration)[0], NoteKind::Integration);
        assert_eq!(NoteKind::for_encounter(EncounterKind::IndividualTherapy)[0], NoteKind::IndividualTherapy);
        assert!(NoteKind::for_encounter(EncounterKind::IndividualTherapy).contains(&NoteKind::Wet));
        assert_eq!(NoteKind::for_encounter(EncounterKind::Dosing), vec![NoteKind::DosingSupport]);
        assert!(!NoteKind::Group.encounter_kinds().contains(&EncounterKind::Integration));
    }

    /// The read matrix: author, another therapist, a supervisor, prescriber,
    /// nurse, coordinator, director, admin; drafts and signed notes.
    #[test]
    fn the_read_matrix() {
        let author = StaffId::new();
        let roles = |r: Role| Roles::new([r]).expect("roles");
        let (therapist, prescriber) = (roles(Role::Therapist), roles(Role::Prescriber));
        let v = |id, roles, sup| Viewer { id, roles, supervises_author: sup };
        use Access as A;
        use NoteStatus::*;
        let other = StaffId::new();
        let cases: Vec<(Viewer<'_>, Access, Access)> = vec![
            (v(author, &therapist, false), A::Author, A::Author),
            (v(other, &therapist, false), A::None, A::Summary),
            (v(other, &therapist, true), A::None, A::Full),
            (v(other, &prescriber, false), A::None, A::Summary),
            // Supervision without the clinician's permission grants nothing more.
            (v(other, &prescriber, true), A::None, A::Summary),
        ];
        for (viewer, draft, signed) in cases {
            assert_eq!(access(viewer, author, Draft), draft, "{:?}", viewer.roles);
            assert_eq!(access(viewer, author, Signed), signed, "{:?}", viewer.roles);
        }
        for r in [Role::Nurse, Role::Coordinator, Role::Director, Role::Admin] {
            let rs = roles(r);
            let viewer = Viewer { id: other, roles: &rs, supervises_author: true };
            assert_eq!(access(viewer, author, Signed), A::None, "{r}");
        }
    }
}

/// Who may write a note on a session, and when: what the store loads in the
/// write transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSnapshot {
    pub encounter_kind: EncounterKind,
    pub status: crate::encounter::EncounterStatus,
    pub scheduled_start: jiff::Timestamp,
    /// The therapist the session is booked with, if any.
    pub booked_with: Option<StaffId>,
    /// The therapist of the session's course, if any.
    pub course_therapist: Option<StaffId>,
    /// Whether the writer supervises the course's therapist.
    pub writer_supervises_course_therapist: bool,
}

/// What an author may do with their own note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Save,
    Sign,
    Amend,
}

/// A note is saved, signed and amended by its author alone: a supervisor
/// reads it in full, but a note records what its author did and wrote.
pub fn author_only(author: StaffId, caller: StaffId, change: Change) -> Result<(), crate::Refusal> {
    if author == caller {
        return Ok(());
    }
    let what = match change {
        Change::Save => "change",
        Change::Sign => "sign",
        Change::Amend => "amend",
    };
    Err(crate::Refusal::not_permitted("author_id", format!("only the note's author may {what} it")))
}

/// A psychotherapy note is written by the course's therapist, the therapist
/// who holds the session, or a supervisor of the course's therapist, and
/// only once the session has started (a note on a future or cancelled
/// session would be a record of something that did not happen).
pub fn may_write(s: &WriteSnapshot, writer: StaffId, now: jiff::Timestamp) -> Result<(), crate::Refusal> {
    use crate::encounter::EncounterStatus as S;
    let related =
        s.course_therapist == Some(writer) || s.booked_with == Some(writer) || s.writer_supervises_course_therapist;
    if !related {
        return Err(crate::Refusal::not_permitted(
            "encounter_id",
            "only the course's therapist, the therapist who holds the session, or their supervisor may write its note",
        ));
    }
    match s.status {
        S::Cancelled | S::NoShow => Err(crate::Refusal::conflict(
            "encounter_id",
            format!("the session was {}: there is no session to write a note on", s.status.as_str().replace('_', "-")),
        )),
        S::Booked if s.scheduled_start > now => Err(crate::Refusal::conflict(
            "encounter_id",
            "the session has not started yet: write its note once it has begun",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod write_tests {
    #[test]
    fn only_the_author_saves_signs_and_amends_a_note() {
        let (author, supervisor) = (StaffId::new(), StaffId::new());
        for change in [Change::Save, Change::Sign, Change::Amend] {
            assert!(author_only(author, author, change).is_ok());
            let r = author_only(author, supervisor, change).expect_err("not the author");
            assert_eq!(r.kind, crate::refusal::RefusalKind::NotPermitted);
        }
        assert_eq!(
            author_only(author, supervisor, Change::Sign).map_err(|r| r.message),
            Err("Only the note's author may sign it.".to_string())
        );
    }

    use super::*;
    use crate::RefusalKind;
    use crate::encounter::EncounterStatus;

    #[test]
    fn only_the_courses_therapist_the_sessions_therapist_or_a_supervisor_write_and_only_once_it_started() {
        let (course_t, booked_t, other) = (StaffId::new(), StaffId::new(), StaffId::new());
        let now: jiff::Timestamp = "2026-12-04T15:00:00Z".parse().expect("now");
        let s = WriteSnapshot {
            encounter_kind: EncounterKind::Integration,
            status: EncounterStatus::Arrived,
            scheduled_start: now,
            booked_with: Some(booked_t),
            course_therapist: Some(course_t),
            writer_supervises_course_therapist: false,
        };
        may_write(&s, course_t, now).expect("the course's therapist");
        may_write(&s, booked_t, now).expect("the session's therapist");
        let r = may_write(&s, other, now).expect_err("anyone else");
        assert_eq!(r.kind, RefusalKind::NotPermitted);
        may_write(&WriteSnapshot { writer_supervises_course_therapist: true, ..s }, other, now).expect("a supervisor");
        let future = WriteSnapshot {
            status: EncounterStatus::Booked,
            scheduled_start: now + jiff::SignedDuration::from_mins(1),
            ..s
        };
        assert!(may_write(&future, course_t, now).expect_err("future").message.contains("not started yet"));
        may_write(&WriteSnapshot { scheduled_start: now, ..future }, course_t, now).expect("booked, at its start");
        let r = may_write(&WriteSnapshot { status: EncounterStatus::NoShow, ..s }, course_t, now).expect_err("no-show");
        assert_eq!(
            (r.kind, r.message.as_str()),
            (RefusalKind::Conflict, "The session was no-show: there is no session to write a note on.")
        );
    }
}
