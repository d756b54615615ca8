//! Psychotherapy notes (drafted, signed, amended), who supervises whom, and
//! the facts the plasticity window is computed from (doses and therapy
//! sessions). Every write commits with its audit entry; the immutability of
//! signed notes and amendments is also enforced by triggers (0008).

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::DomainError;
use kairos_domain::encounter::{EncounterKind, EncounterStatus};
use kairos_domain::ids::{ClientId, CourseId, DosingSessionId, EncounterId, NoteAmendmentId, NoteId, StaffId};
use kairos_domain::notes::{NoteAmendment, NoteBody, NoteKind, NoteStatus, SectionText, WetFields};
use serde::Serialize;
use sqlx::any::AnyRow;
use std::collections::HashMap;

/// A correction to a signed note, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoteAmendmentRecord {
    pub id: NoteAmendmentId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    pub by: StaffId,
    pub correction: String,
    pub reason: String,
}

/// A note as stored (callers decide how much of it a viewer sees).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub id: NoteId,
    pub client_id: ClientId,
    pub encounter_id: EncounterId,
    pub author_id: StaffId,
    pub kind: NoteKind,
    pub status: NoteStatus,
    pub sections: Vec<SectionText>,
    pub summary: Option<String>,
    pub wet: Option<WetFields>,
    pub narrative: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub signed_at: Option<Timestamp>,
    pub amendments: Vec<NoteAmendmentRecord>,
}

const COLS: &str = "id, client_id, encounter_id, author_id, kind, status, sections, summary, wet, narrative, \
     created_at, updated_at, signed_at";

fn json_corrupt(e: serde_json::Error) -> StoreError {
    StoreError::corrupt(format!("stored therapy note: {e}"))
}

fn note_of(r: &AnyRow) -> Result<Note> {
    Ok(Note {
        id: rows::get_id(r, "id")?,
        client_id: rows::get_id(r, "client_id")?,
        encounter_id: rows::get_id(r, "encounter_id")?,
        author_id: rows::get_id(r, "author_id")?,
        kind: NoteKind::parse("kind", &rows::get_str(r, "kind")?)?,
        status: NoteStatus::parse("status", &rows::get_str(r, "status")?)?,
        sections: serde_json::from_str(&rows::get_str(r, "sections")?).map_err(json_corrupt)?,
        summary: rows::get_opt_str(r, "summary")?,
        wet: rows::get_opt_str(r, "wet")?.map(|w| serde_json::from_str(&w)).transpose().map_err(json_corrupt)?,
        narrative: rows::get_opt_str(r, "narrative")?,
        created_at: rows::get_ts(r, "created_at")?,
        updated_at: rows::get_ts(r, "updated_at")?,
        signed_at: rows::get_opt_ts(r, "signed_at")?,
        amendments: Vec::new(),
    })
}

/// A new note on an encounter.
#[derive(Debug, Clone)]
pub struct NewNote {
    pub client_id: ClientId,
    pub encounter_id: EncounterId,
    pub kind: NoteKind,
    pub body: NoteBody,
}

/// A dose as the window sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoseFact {
    pub encounter_id: EncounterId,
    pub client_id: ClientId,
    /// Where the dose was given.
    pub site_id: kairos_domain::ids::SiteId,
    pub course_id: Option<CourseId>,
    pub protocol: Option<String>,
    pub dosing_session_id: Option<DosingSessionId>,
    pub start: Timestamp,
    /// Discharge; without one, the dosing encounter's actual or scheduled end.
    pub end: Timestamp,
    pub discharged: bool,
}

/// A therapy encounter (not cancelled, not missed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TherapyFact {
    pub encounter_id: EncounterId,
    pub client_id: ClientId,
    pub kind: EncounterKind,
    pub status: EncounterStatus,
    pub staff_id: Option<StaffId>,
    pub start: Timestamp,
}

fn author_only(note: &Note, actor: &Actor) -> Result<()> {
    if actor.staff_id != Some(note.author_id) {
        return Err(StoreError::Conflict { field: "author_id", detail: "only the note's author may change it".into() });
    }
    Ok(())
}

fn draft_only(note: &Note) -> Result<()> {
    if note.status == NoteStatus::Signed {
        return Err(StoreError::Conflict {
            field: "status",
            detail: "this note is signed and never changes; add an amendment".into(),
        });
    }
    Ok(())
}

impl Store {
    /// Drafts a note on an encounter of the client (the note kind must fit
    /// the encounter). The actor is the author.
    /// Drafts a note on one of the client's encounters, when `decide`
    /// (over who the writer is to the session, and whether it has started)
    /// allows.
    pub async fn create_note(
        &self,
        actor: &Actor,
        new: &NewNote,
        decide: impl FnOnce(&kairos_domain::notes::WriteSnapshot) -> std::result::Result<(), kairos_domain::Refusal>,
    ) -> Result<Note> {
        let author = actor
            .staff_id
            .ok_or_else(|| StoreError::Conflict { field: "author_id", detail: "a note has a staff author".into() })?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM encounters WHERE id = $1",
            crate::encounters::COLS
        )))
        .bind(new.encounter_id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::UnknownReference {
            field: "encounter_id",
            record: "encounter",
            id: new.encounter_id.to_string(),
        })?;
        let enc = crate::encounters::encounter_of(&row)?;
        if enc.client_id != new.client_id {
            return Err(StoreError::UnknownReference {
                field: "encounter_id",
                record: "encounter of this client",
                id: new.encounter_id.to_string(),
            });
        }
        let course_therapist: Option<StaffId> = match enc.course_id {
            None => None,
            Some(c) => {
                let row: Option<(Option<String>,)> = sqlx::query_as("SELECT therapist_id FROM courses WHERE id = $1")
                    .bind(c.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                row.and_then(|r| r.0)
                    .map(|t| t.parse().map_err(|_| StoreError::corrupt("course therapist")))
                    .transpose()?
            }
        };
        let supervises = match course_therapist {
            None => false,
            Some(t) => {
                sqlx::query_as::<_, (i64,)>(
                    "SELECT COUNT(*) FROM note_supervision WHERE supervisor_id = $1 AND therapist_id = $2",
                )
                .bind(author.to_string())
                .bind(t.to_string())
                .fetch_one(&mut *tx)
                .await?
                .0 > 0
            }
        };
        decide(&kairos_domain::notes::WriteSnapshot {
            encounter_kind: enc.kind,
            status: enc.status,
            scheduled_start: enc.scheduled_start,
            booked_with: enc.staff_id,
            course_therapist,
            writer_supervises_course_therapist: supervises,
        })?;
        if !new.kind.encounter_kinds().contains(&enc.kind) {
            return Err(DomainError::invalid(
                "kind",
                format!(
                    "a {} note does not fit a {} encounter (fits: {})",
                    new.kind,
                    enc.kind,
                    NoteKind::for_encounter(enc.kind).iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
            .into());
        }
        let id = NoteId::new();
        let b = &new.body;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO therapy_notes ({COLS}) VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9, $10, $10, NULL)"
        )))
        .bind(id.to_string())
        .bind(new.client_id.to_string())
        .bind(new.encounter_id.to_string())
        .bind(author.to_string())
        .bind(new.kind.as_str())
        .bind(serde_json::to_string(&b.sections).map_err(json_corrupt)?)
        .bind(b.summary.clone())
        .bind(b.wet.as_ref().map(serde_json::to_string).transpose().map_err(json_corrupt)?)
        .bind(b.narrative.clone())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Create, "therapy_note", id)
            .client(new.client_id)
            .detail(format!("{} note drafted", new.kind));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        self.get_note(id).await
    }

    async fn locked_note(&self, tx: &mut sqlx::Transaction<'static, sqlx::Any>, id: NoteId) -> Result<Note> {
        // Touching the row first takes PostgreSQL's row lock (SQLite's
        // BEGIN IMMEDIATE holds the database lock already).
        if self.backend == crate::Backend::Postgres {
            sqlx::query("SELECT id FROM therapy_notes WHERE id = $1 FOR UPDATE")
                .bind(id.to_string())
                .fetch_optional(&mut **tx)
                .await?;
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM therapy_notes WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "therapy note", id: id.to_string() })?;
        note_of(&row)
    }

    /// Replaces a draft's text (its author only).
    pub async fn update_note_draft(&self, actor: &Actor, id: NoteId, body: &NoteBody) -> Result<Note> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let note = self.locked_note(&mut tx, id).await?;
        author_only(&note, actor)?;
        draft_only(&note)?;
        sqlx::query(
            "UPDATE therapy_notes SET sections = $1, summary = $2, wet = $3, narrative = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(serde_json::to_string(&body.sections).map_err(json_corrupt)?)
        .bind(body.summary.clone())
        .bind(body.wet.as_ref().map(serde_json::to_string).transpose().map_err(json_corrupt)?)
        .bind(body.narrative.clone())
        .bind(micros(now))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Update, "therapy_note", id).client(note.client_id).detail("draft saved");
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        self.get_note(id).await
    }

    /// Signs a draft (its author only) once `ready` accepts it; from then on
    /// the note never changes.
    pub async fn sign_note(
        &self,
        actor: &Actor,
        id: NoteId,
        ready: impl FnOnce(&Note) -> Result<(), DomainError>,
    ) -> Result<Note> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let note = self.locked_note(&mut tx, id).await?;
        author_only(&note, actor)?;
        draft_only(&note)?;
        ready(&note)?;
        sqlx::query("UPDATE therapy_notes SET status = 'signed', signed_at = $1, updated_at = $1 WHERE id = $2")
            .bind(micros(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let entry = AuditEntry::new(Action::Update, "therapy_note", id).client(note.client_id).detail("signed");
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        self.get_note(id).await
    }

    /// Amends a signed note (its author only): the original stays.
    pub async fn amend_note(&self, actor: &Actor, id: NoteId, a: &NoteAmendment) -> Result<NoteAmendmentRecord> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let note = self.locked_note(&mut tx, id).await?;
        author_only(&note, actor)?;
        if note.status != NoteStatus::Signed {
            return Err(StoreError::Conflict { field: "status", detail: "a draft is edited, not amended".into() });
        }
        let by = note.author_id;
        let rec = NoteAmendmentRecord {
            id: NoteAmendmentId::new(),
            at: now,
            by,
            correction: a.correction.clone(),
            reason: a.reason.clone(),
        };
        sqlx::query(
            "INSERT INTO therapy_note_amendments (id, note_id, at, by_staff, correction, reason) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(rec.id.to_string())
        .bind(id.to_string())
        .bind(micros(now))
        .bind(by.to_string())
        .bind(rec.correction.clone())
        .bind(rec.reason.clone())
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Create, "therapy_note_amendment", rec.id)
            .client(note.client_id)
            .detail(format!("amends note {id}"));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(rec)
    }

    /// A note with its amendments (not audited; callers audit what they show).
    pub async fn get_note(&self, id: NoteId) -> Result<Note> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM therapy_notes WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "therapy note", id: id.to_string() })?;
        let mut n = note_of(&row)?;
        n.amendments = self.amendments_of(&[id]).await?.into_iter().map(|(_, a)| a).collect();
        Ok(n)
    }

    async fn amendments_of(&self, ids: &[NoteId]) -> Result<Vec<(NoteId, NoteAmendmentRecord)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = (1..=ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT id, note_id, at, by_staff, correction, reason FROM therapy_note_amendments \
             WHERE note_id IN ({marks}) ORDER BY at, id"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(id.to_string());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    rows::get_id(r, "note_id")?,
                    NoteAmendmentRecord {
                        id: rows::get_id(r, "id")?,
                        at: rows::get_ts(r, "at")?,
                        by: rows::get_id(r, "by_staff")?,
                        correction: rows::get_str(r, "correction")?,
                        reason: rows::get_str(r, "reason")?,
                    },
                ))
            })
            .collect()
    }

    /// A client's notes, newest first, with their amendments (not audited).
    pub async fn notes_of(&self, client: ClientId) -> Result<Vec<Note>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM therapy_notes WHERE client_id = $1 ORDER BY created_at DESC, id DESC"
        )))
        .bind(client.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut notes = rows.iter().map(note_of).collect::<Result<Vec<_>>>()?;
        let ids: Vec<NoteId> = notes.iter().filter(|n| n.status == NoteStatus::Signed).map(|n| n.id).collect();
        for (note, a) in self.amendments_of(&ids).await? {
            if let Some(n) = notes.iter_mut().find(|n| n.id == note) {
                n.amendments.push(a);
            }
        }
        Ok(notes)
    }

    /// The therapists `supervisor` supervises.
    pub async fn supervisees(&self, supervisor: StaffId) -> Result<Vec<StaffId>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT therapist_id FROM note_supervision WHERE supervisor_id = $1 ORDER BY therapist_id")
                .bind(supervisor.to_string())
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(|(id,)| id.parse().map_err(|_| StoreError::corrupt("therapist id"))).collect()
    }

    /// Replaces the therapists `supervisor` supervises (an admin's setting).
    /// Every named staff member must exist and be a therapist.
    pub async fn set_supervisees(&self, actor: &Actor, supervisor: StaffId, therapists: &[StaffId]) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        crate::courses::check_staff_role(&mut tx, "supervisor_id", supervisor, kairos_domain::roles::Role::Therapist)
            .await?;
        for t in therapists {
            if *t == supervisor {
                return Err(DomainError::invalid("therapist_ids", "a therapist does not supervise themself").into());
            }
            crate::courses::check_staff_role(&mut tx, "therapist_ids", *t, kairos_domain::roles::Role::Therapist)
                .await?;
        }
        sqlx::query("DELETE FROM note_supervision WHERE supervisor_id = $1")
            .bind(supervisor.to_string())
            .execute(&mut *tx)
            .await?;
        let mut list: Vec<StaffId> = therapists.to_vec();
        list.sort();
        list.dedup();
        for t in &list {
            sqlx::query("INSERT INTO note_supervision (supervisor_id, therapist_id, created_at) VALUES ($1, $2, $3)")
                .bind(supervisor.to_string())
                .bind(t.to_string())
                .bind(micros(now))
                .execute(&mut *tx)
                .await?;
        }
        let entry = AuditEntry::new(Action::Update, "note_supervision", supervisor)
            .detail(format!("supervises: {}", list.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A client's doses (dosing encounters with a charted session, or
    /// completed without one), in time order.
    pub async fn dose_facts(&self, client: ClientId) -> Result<Vec<DoseFact>> {
        Ok(self.dose_facts_of(&[client]).await?.remove(&client).unwrap_or_default())
    }

    /// [`Store::dose_facts`] for several clients at once (a few queries,
    /// whatever the number of clients).
    pub async fn dose_facts_of(&self, clients: &[ClientId]) -> Result<HashMap<ClientId, Vec<DoseFact>>> {
        let mut out: HashMap<ClientId, Vec<DoseFact>> = HashMap::new();
        for chunk in clients.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT e.id, e.client_id, e.site_id, e.course_id, e.status, e.scheduled_start, e.scheduled_end, e.actual_start, \
                 e.actual_end, d.id AS session_id, d.started_at, d.discharged_at, c.protocol \
                 FROM encounters e LEFT JOIN dosing_sessions d ON d.encounter_id = e.id \
                 LEFT JOIN courses c ON c.id = e.course_id \
                 WHERE e.client_id IN ({}) AND e.kind = 'dosing' AND (d.id IS NOT NULL OR e.status = 'completed')",
                marks.join(",")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for c in chunk {
                q = q.bind(c.to_string());
            }
            for r in &q.fetch_all(&self.pool).await? {
                let fact = dose_fact(r)?;
                out.entry(fact.client_id).or_default().push(fact);
            }
        }
        for list in out.values_mut() {
            list.sort_by_key(|d| (d.start, d.encounter_id));
        }
        Ok(out)
    }

    /// A client's therapy encounters that may integrate a dose (integration
    /// and individual therapy; not cancelled or missed), in time order.
    pub async fn therapy_facts(&self, client: ClientId) -> Result<Vec<TherapyFact>> {
        Ok(self.therapy_facts_of(&[client]).await?.remove(&client).unwrap_or_default())
    }

    /// [`Store::therapy_facts`] for several clients at once.
    pub async fn therapy_facts_of(&self, clients: &[ClientId]) -> Result<HashMap<ClientId, Vec<TherapyFact>>> {
        let mut out: HashMap<ClientId, Vec<TherapyFact>> = HashMap::new();
        for chunk in clients.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, client_id, kind, status, staff_id, scheduled_start, actual_start FROM encounters \
                 WHERE client_id IN ({}) AND kind IN ('integration', 'individual_therapy') \
                 AND status NOT IN ('cancelled', 'no_show')",
                marks.join(",")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for c in chunk {
                q = q.bind(c.to_string());
            }
            for r in &q.fetch_all(&self.pool).await? {
                let fact = TherapyFact {
                    encounter_id: rows::get_id(r, "id")?,
                    client_id: rows::get_id(r, "client_id")?,
                    kind: EncounterKind::parse("kind", &rows::get_str(r, "kind")?)?,
                    status: EncounterStatus::parse("status", &rows::get_str(r, "status")?)?,
                    staff_id: rows::get_opt_id(r, "staff_id")?,
                    start: rows::get_opt_ts(r, "actual_start")?.unwrap_or(rows::get_ts(r, "scheduled_start")?),
                };
                out.entry(fact.client_id).or_default().push(fact);
            }
        }
        for list in out.values_mut() {
            list.sort_by_key(|t| (t.start, t.encounter_id));
        }
        Ok(out)
    }

    /// Doses started at or after `since` that are their client's latest and
    /// have no therapy encounter (integration or individual therapy, not
    /// cancelled or missed) after them, each with its number in its course
    /// (1-based, in the order of [`Store::dose_facts`]; doses with no course
    /// are numbered among the client's other doses with none): the doses
    /// whose window may be open with nothing booked, for the list of windows
    /// closing without an integration session, which lays each window by the
    /// domain's rules. An earlier dose with no session before the next was
    /// missed (a session after the next dose integrates that one). The rows
    /// are kept by every write that changes them (`integration_due`), so the
    /// list is one range read.
    pub async fn unbooked_doses(&self, since: Timestamp) -> Result<Vec<(DoseFact, u32)>> {
        let rows = sqlx::query(
            "SELECT e.id, e.client_id, e.site_id, e.course_id, e.scheduled_start, e.scheduled_end, e.actual_start, \
               e.actual_end, d.id AS session_id, d.started_at, d.discharged_at, c.protocol, u.number \
             FROM integration_due u JOIN encounters e ON e.id = u.encounter_id \
             LEFT JOIN dosing_sessions d ON d.encounter_id = e.id LEFT JOIN courses c ON c.id = e.course_id \
             WHERE u.dose_at >= $1",
        )
        .bind(micros(since))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let fact = dose_fact(r)?;
            let number = rows::get_i64(r, "number")?;
            out.push((fact, u32::try_from(number).map_err(|_| StoreError::corrupt("dose number"))?));
        }
        Ok(out)
    }
}

/// A dose from a row of encounter `id`, `client_id`, `site_id`, `course_id`,
/// `scheduled_start`, `scheduled_end`, `actual_start`, `actual_end`, its
/// session's `session_id`, `started_at` and `discharged_at`, and the course's
/// `protocol`: it starts when the session started, else at the visit's actual
/// or scheduled start, and ends at discharge, else at the visit's end.
fn dose_fact(r: &AnyRow) -> Result<DoseFact> {
    let started = rows::get_opt_ts(r, "started_at")?;
    let discharged = rows::get_opt_ts(r, "discharged_at")?;
    let start = match started {
        Some(s) => s,
        None => rows::get_opt_ts(r, "actual_start")?.unwrap_or(rows::get_ts(r, "scheduled_start")?),
    };
    let end = match discharged {
        Some(d) => d,
        None => rows::get_opt_ts(r, "actual_end")?.unwrap_or(rows::get_ts(r, "scheduled_end")?),
    };
    Ok(DoseFact {
        encounter_id: rows::get_id(r, "id")?,
        client_id: rows::get_id(r, "client_id")?,
        site_id: rows::get_id(r, "site_id")?,
        course_id: rows::get_opt_id(r, "course_id")?,
        protocol: rows::get_opt_str(r, "protocol")?,
        dosing_session_id: rows::get_opt_id(r, "session_id")?,
        start,
        end: end.max(start),
        discharged: discharged.is_some(),
    })
}
