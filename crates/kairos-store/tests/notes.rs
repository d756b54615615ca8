//! The database itself keeps signed psychotherapy notes and their
//! amendments unchanged (triggers of migration 0008), on every backend.

use jiff::{SignedDuration, Timestamp};
use kairos_domain::client::{ClientDetails, ClientInput};
use kairos_domain::encounter::{EncounterKind, NewEncounter};
use kairos_domain::notes::{NoteAmendment, NoteInput, NoteKind, Templates};
use kairos_domain::roles::{Role, Roles};
use kairos_domain::site::SiteInput;
use kairos_domain::staff::StaffInput;
use kairos_store::notes::NewNote;
use kairos_store::testing::TestDb;
use kairos_store::{Actor, StoreError};

#[tokio::test]
async fn signed_notes_and_amendments_are_refused_any_change_by_the_database() {
    for db in TestDb::every_backend().await {
        let store = db.store().await;
        let sys = Actor::system("test");
        let input =
            StaffInput::parse("Tess Writer", "tess@test.kairos", Roles::new([Role::Therapist]).expect("r")).expect("s");
        let author = store.create_staff(&sys, &input, None).await.expect("staff").id;
        let me = Actor { staff_id: Some(author), roles: "therapist".into(), remote_addr: None };
        let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
        let details = ClientDetails::parse(
            &ClientInput { given_name: "Ari", family_name: "Stone", date_of_birth: "1980-01-02", ..Default::default() },
            today,
        )
        .expect("client");
        let client = store.create_client(&sys, &details).await.expect("client").id;
        let site =
            store.create_site(&sys, &SiteInput::parse("Main", "America/New_York").expect("s")).await.expect("site");
        let start = Timestamp::now() - SignedDuration::from_hours(3);
        let enc = store
            .create_encounter(
                &sys,
                &NewEncounter {
                    client_id: client,
                    course_id: None,
                    site_id: site.id,
                    room_id: None,
                    staff_id: None,
                    kind: EncounterKind::Integration,
                    scheduled_start: start,
                    scheduled_end: start + SignedDuration::from_hours(1),
                },
            )
            .await
            .expect("encounter");
        let templates = Templates::shipped().expect("templates");
        let mut text = NoteInput { summary: Some("ok".into()), ..NoteInput::default() };
        text.sections.insert("experience".into(), "x".into());
        text.sections.insert("plan".into(), "y".into());
        let body = text.validate(NoteKind::Integration, &templates).expect("body");
        let new = NewNote { client_id: client, encounter_id: enc.id, kind: NoteKind::Integration, body: body.clone() };
        // The decision sees the session and can refuse; then nothing is written.
        let refused = store
            .create_note(&me, &new, |s| {
                assert_eq!((s.booked_with, s.course_therapist), (None, None));
                Err(kairos_domain::Refusal::not_permitted("encounter_id", "not this writer"))
            })
            .await
            .expect_err("refused");
        assert!(matches!(refused, StoreError::Refused(_)), "{refused}");
        let note = store.create_note(&me, &new, |_| Ok(())).await.expect("draft");
        let note = store.sign_note(&me, note.id, |_| Ok(())).await.expect("sign");
        let err = store.update_note_draft(&me, note.id, &body).await.expect_err("signed");
        assert!(matches!(err, StoreError::Conflict { field: "status", .. }), "{err}");
        let id = note.id.to_string();
        for sql in [
            "UPDATE therapy_notes SET summary = 'rewritten' WHERE id = $1",
            "UPDATE therapy_notes SET status = 'draft', signed_at = NULL WHERE id = $1",
            "DELETE FROM therapy_notes WHERE id = $1",
        ] {
            let r = sqlx::query(sql).bind(&id).execute(store.pool()).await;
            assert!(r.is_err(), "{:?}: {sql}", db.backend());
        }
        let a = store
            .amend_note(&me, note.id, &NoteAmendment { correction: "z".into(), reason: "typo".into() })
            .await
            .expect("amend");
        for sql in [
            "UPDATE therapy_note_amendments SET reason = 'other' WHERE id = $1",
            "DELETE FROM therapy_note_amendments WHERE id = $1",
        ] {
            let r = sqlx::query(sql).bind(a.id.to_string()).execute(store.pool()).await;
            assert!(r.is_err(), "{:?}: {sql}", db.backend());
        }
        let draft = store.create_note(&me, &new, |_| Ok(())).await.expect("second draft");
        let r = sqlx::query(
            "INSERT INTO therapy_note_amendments (id, note_id, at, by_staff, correction, reason) VALUES ('x', $1, 0, $2, 'c', 'r')",
        )
        .bind(draft.id.to_string())
        .bind(author.to_string())
        .execute(store.pool())
        .await;
        assert!(r.is_err(), "a draft is never amended");
        assert_eq!(store.get_note(note.id).await.expect("note").amendments.len(), 1);
        store.close().await;
    }
}
