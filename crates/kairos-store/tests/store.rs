//! The store suite: every test runs on SQLite, and also on PostgreSQL when
//! `KAIROS_TEST_POSTGRES_URL` is set, each on a database of its own.

use jiff::{SignedDuration, Timestamp};
use kairos_domain::client::{ClientDetails, ClientInput, ClientStatus};
use kairos_domain::course::{NewCourse, Phase};
use kairos_domain::encounter::{EncounterKind, EncounterStatus, NewEncounter};
use kairos_domain::ids::{ClientId, SiteId, StaffId};
use kairos_domain::roles::{Role, Roles};
use kairos_domain::site::{RoomKind, SiteInput};
use kairos_domain::staff::StaffInput;
use kairos_store::sessions::SessionPolicy;
use kairos_store::sites::RoomInput;
use kairos_store::testing::TestDb;
use kairos_store::{Action, Actor, AuditQuery, PageRequest, Store, StoreError};
use std::future::Future;

async fn on_every_backend<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    for db in TestDb::every_backend().await {
        eprintln!("-- on {:?}", db.backend());
        let store = db.store().await;
        test(store.clone()).await;
        store.close().await;
    }
}

fn today() -> jiff::civil::Date {
    Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date()
}

fn details(given: &str, family: &str) -> ClientDetails {
    ClientDetails::parse(
        &ClientInput { given_name: given, family_name: family, date_of_birth: "1984-06-02", ..Default::default() },
        today(),
    )
    .expect("valid client")
}

async fn staff(store: &Store, name: &str, role: Role) -> StaffId {
    let input = StaffInput::parse(
        name,
        &format!("{}@test.kairos", name.to_lowercase().replace(' ', ".")),
        Roles::new([role]).expect("role"),
    )
    .expect("staff");
    store.create_staff(&Actor::system("test"), &input, None).await.expect("create staff").id
}

fn actor(id: StaffId, role: Role) -> Actor {
    Actor { staff_id: Some(id), roles: role.to_string(), remote_addr: Some("127.0.0.1".into()) }
}

async fn audit_for(store: &Store, client: ClientId) -> Vec<kairos_store::AuditRecord> {
    let q = AuditQuery { client_id: Some(client), page: PageRequest { limit: 200, offset: 0 }, ..Default::default() };
    store.list_audit(&q).await.expect("audit").items
}

async fn site_with_chair(store: &Store) -> (SiteId, kairos_domain::ids::RoomId) {
    let site = store
        .create_site(&Actor::system("test"), &SiteInput::parse("Main", "America/New_York").expect("site"))
        .await
        .expect("create site");
    let chair = store
        .create_room(
            &Actor::system("test"),
            site.id,
            &RoomInput { name: "Chair 1".into(), kind: RoomKind::InfusionChair },
        )
        .await
        .expect("room");
    (site.id, chair.id)
}

#[tokio::test]
async fn a_client_write_commits_with_its_audit_entry() {
    on_every_backend(|store| async move {
        let coord = staff(&store, "Cora Ordinator", Role::Coordinator).await;
        let c =
            store.create_client(&actor(coord, Role::Coordinator), &details("Robin", "Okafor")).await.expect("create");
        let audit = audit_for(&store, c.id).await;
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].action, "create");
        assert_eq!(audit[0].actor_id, Some(coord));
        assert_eq!(audit[0].actor_roles, "coordinator");
        assert_eq!(audit[0].remote_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(store.get_client(c.id).await.expect("read back").details.family_name, "Okafor");
    })
    .await;
}

#[tokio::test]
async fn a_refused_write_leaves_neither_record_nor_audit_entry() {
    on_every_backend(|store| async move {
        let presc = staff(&store, "Pat Rescriber", Role::Prescriber).await;
        let nurse = staff(&store, "Nia Urse", Role::Nurse).await;
        let c = store.create_client(&Actor::system("test"), &details("Ada", "Lin")).await.expect("client");
        let before = audit_for(&store, c.id).await.len();
        // A nurse is not a prescriber: the course must not be created.
        let new = NewCourse::parse(c.id, "apa-iv-induction", today(), Some(nurse), None, today()).expect("parse");
        let err = store.create_course(&actor(presc, Role::Prescriber), &new).await.expect_err("not a prescriber");
        assert!(matches!(&err, StoreError::Domain(e) if e.field() == "prescriber_id"), "{err}");
        assert!(store.courses_of(c.id).await.expect("courses").is_empty());
        assert_eq!(audit_for(&store, c.id).await.len(), before);
    })
    .await;
}

#[tokio::test]
async fn reading_a_chart_leaves_a_durable_audit_entry() {
    on_every_backend(|store| async move {
        let t = staff(&store, "Theo Rapist", Role::Therapist).await;
        let c = store.create_client(&Actor::system("test"), &details("Sam", "Ito")).await.expect("client");
        let chart = store.read_chart(&actor(t, Role::Therapist), c.id, Timestamp::now()).await.expect("chart");
        assert_eq!(chart.client.id, c.id);
        let reads: Vec<_> = audit_for(&store, c.id).await.into_iter().filter(|a| a.action == "read").collect();
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].actor_id, Some(t));
        assert_eq!(reads[0].record_id.as_deref(), Some(c.id.to_string().as_str()));
    })
    .await;
}

#[tokio::test]
async fn concurrent_reads_are_each_audited_through_group_commit() {
    on_every_backend(|store| async move {
        let t = staff(&store, "Theo Rapist", Role::Therapist).await;
        let c = store.create_client(&Actor::system("test"), &details("Sam", "Ito")).await.expect("client");
        let a = actor(t, Role::Therapist);
        let mut reads = tokio::task::JoinSet::new();
        for _ in 0..150 {
            let (store, a) = (store.clone(), a.clone());
            reads.spawn(async move { store.read_chart(&a, c.id, Timestamp::now()).await.map(|_| ()) });
        }
        while let Some(r) = reads.join_next().await {
            r.expect("task").expect("read");
        }
        let n = audit_for(&store, c.id).await.iter().filter(|x| x.action == Action::Read.as_str()).count();
        assert_eq!(n, 150);
    })
    .await;
}

#[tokio::test]
async fn read_audit_commits_on_sqlite_are_paced_so_reads_arriving_together_share_one() {
    let db = TestDb::sqlite().await;
    let interval = std::time::Duration::from_millis(300);
    let opts = kairos_store::StoreOptions { audit_commit_interval: interval, ..Default::default() };
    let store = Store::connect(&db.url, opts).await.expect("store");
    let t = staff(&store, "Theo Rapist", Role::Therapist).await;
    let c = store.create_client(&Actor::system("test"), &details("Sam", "Ito")).await.expect("client");
    let a = actor(t, Role::Therapist);
    let before = store.audit_commits();
    // After a quiet spell a read is committed at once.
    let started = std::time::Instant::now();
    store.read_chart(&a, c.id, Timestamp::now()).await.expect("first read");
    assert!(started.elapsed() < interval, "the first read waited {:?}", started.elapsed());
    assert_eq!(store.audit_commits() - before, 1);
    // Reads arriving right after wait for the interval, then share one commit.
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (store, a) = (store.clone(), a.clone());
        reads.spawn(async move { store.read_chart(&a, c.id, Timestamp::now()).await.map(|_| ()) });
    }
    while let Some(r) = reads.join_next().await {
        r.expect("task").expect("read");
    }
    assert!(started.elapsed() >= interval, "the second commit started {:?} after the first", started.elapsed());
    assert_eq!(store.audit_commits() - before, 2, "twenty reads, one commit");
    let n = audit_for(&store, c.id).await.iter().filter(|x| x.action == Action::Read.as_str()).count();
    assert_eq!(n, 21, "every read is audited");
    store.close().await;
}

#[tokio::test]
async fn the_audit_log_refuses_updates_and_deletes() {
    on_every_backend(|store| async move {
        let c = store.create_client(&Actor::system("test"), &details("Ada", "Lin")).await.expect("client");
        assert!(!audit_for(&store, c.id).await.is_empty());
        let upd = sqlx::query("UPDATE audit_log SET action = 'tampered'").execute(store.pool()).await;
        assert!(upd.is_err(), "update must be refused");
        let del = sqlx::query("DELETE FROM audit_log").execute(store.pool()).await;
        assert!(del.is_err(), "delete must be refused");
        assert_eq!(audit_for(&store, c.id).await[0].action, "create");
    })
    .await;
}

#[tokio::test]
async fn phase_changes_follow_the_allowed_path_and_are_recorded() {
    on_every_backend(|store| async move {
        let p = staff(&store, "Pat Rescriber", Role::Prescriber).await;
        let a = actor(p, Role::Prescriber);
        let c = store.create_client(&a, &details("Ada", "Lin")).await.expect("client");
        let course = store
            .create_course(
                &a,
                &NewCourse::parse(c.id, "apa-iv-induction", today(), Some(p), None, today()).expect("new"),
            )
            .await
            .expect("course");
        assert_eq!(course.phase, Phase::Screening);
        let err = store.change_course_phase(&a, course.id, Phase::Maintenance, None, today()).await.expect_err("skip");
        assert!(matches!(&err, StoreError::Domain(e) if e.field() == "phase"), "{err}");
        store.change_course_phase(&a, course.id, Phase::Preparation, None, today()).await.expect("prep");
        let done = store
            .change_course_phase(&a, course.id, Phase::Discontinued, Some("relocated"), today())
            .await
            .expect("stop");
        assert_eq!(done.ended_on, Some(today()));
        let err = store.change_course_phase(&a, course.id, Phase::Induction, None, today()).await.expect_err("closed");
        assert!(matches!(err, StoreError::Domain(_)));
        let hist = store.phase_history(course.id).await.expect("history");
        let path: Vec<_> = hist.iter().map(|h| h.to_phase).collect();
        assert_eq!(path, [Phase::Screening, Phase::Preparation, Phase::Discontinued]);
        assert_eq!(hist[2].reason.as_deref(), Some("relocated"));
        assert_eq!(store.get_course(course.id).await.expect("get").phase, Phase::Discontinued);
    })
    .await;
}

#[tokio::test]
async fn a_chair_cannot_be_double_booked_but_a_group_shares_its_room() {
    on_every_backend(|store| async move {
        let (site, chair) = site_with_chair(&store).await;
        let n = staff(&store, "Nia Urse", Role::Nurse).await;
        let a = actor(n, Role::Nurse);
        let c1 = store.create_client(&a, &details("Ada", "Lin")).await.expect("c1");
        let c2 = store.create_client(&a, &details("Bo", "Chen")).await.expect("c2");
        let start: Timestamp = "2030-03-04T14:00:00Z".parse().expect("ts");
        let book = |client: ClientId, kind: EncounterKind, offset_min: i64| NewEncounter {
            client_id: client,
            course_id: None,
            site_id: site,
            room_id: Some(chair),
            staff_id: Some(n),
            kind,
            scheduled_start: start + SignedDuration::from_mins(offset_min),
            scheduled_end: start + SignedDuration::from_mins(offset_min + 120),
        };
        let first = store.create_encounter(&a, &book(c1.id, EncounterKind::Dosing, 0)).await.expect("first");
        let err = store.create_encounter(&a, &book(c2.id, EncounterKind::Dosing, 60)).await.expect_err("clash");
        assert!(matches!(&err, StoreError::Conflict { field: "room_id", .. }), "{err}");
        // Back to back is fine.
        store.create_encounter(&a, &book(c2.id, EncounterKind::Dosing, 120)).await.expect("adjacent");
        // Cancelling frees the chair.
        store
            .change_encounter_status(&a, first.id, EncounterStatus::Cancelled, Some("client unwell"))
            .await
            .expect("cancel");
        let c3 = store.create_client(&a, &details("Cy", "Diaz")).await.expect("c3");
        store.create_encounter(&a, &book(c3.id, EncounterKind::Dosing, -60)).await.expect("freed");
        // Two members of one group share the room and facilitator.
        let g1 = store.create_client(&a, &details("Gil", "One")).await.expect("g1");
        let g2 = store.create_client(&a, &details("Gus", "Two")).await.expect("g2");
        store.create_encounter(&a, &book(g1.id, EncounterKind::Group, 24 * 60)).await.expect("group 1");
        store.create_encounter(&a, &book(g2.id, EncounterKind::Group, 24 * 60)).await.expect("group 2");
    })
    .await;
}

#[tokio::test]
async fn encounter_status_follows_its_transitions() {
    on_every_backend(|store| async move {
        let (site, chair) = site_with_chair(&store).await;
        let a = Actor::system("test");
        let c = store.create_client(&a, &details("Ada", "Lin")).await.expect("c");
        let start = Timestamp::now() + SignedDuration::from_hours(1);
        let e = store
            .create_encounter(
                &a,
                &NewEncounter {
                    client_id: c.id,
                    course_id: None,
                    site_id: site,
                    room_id: Some(chair),
                    staff_id: None,
                    kind: EncounterKind::Intake,
                    scheduled_start: start,
                    scheduled_end: start + SignedDuration::from_mins(60),
                },
            )
            .await
            .expect("book");
        let err = store.change_encounter_status(&a, e.id, EncounterStatus::Completed, None).await.expect_err("skip");
        assert!(matches!(&err, StoreError::Domain(d) if d.field() == "status"));
        let arrived = store.change_encounter_status(&a, e.id, EncounterStatus::Arrived, None).await.expect("arrive");
        assert!(arrived.actual_start.is_some());
        let done = store.change_encounter_status(&a, e.id, EncounterStatus::Completed, None).await.expect("complete");
        assert!(done.actual_end.is_some());
        let chart = store.read_chart(&a, c.id, Timestamp::now()).await.expect("chart");
        assert!(chart.upcoming.is_empty(), "completed encounters are not upcoming");
    })
    .await;
}

#[tokio::test]
async fn client_search_is_a_case_insensitive_prefix_match() {
    on_every_backend(|store| async move {
        let a = Actor::system("test");
        for (g, f) in [("Robin", "Okafor"), ("Rosa", "Oka"), ("Kim", "Park"), ("Al", "100%_Real")] {
            store.create_client(&a, &details(g, f)).await.expect("client");
        }
        let names = |p: kairos_store::Page<kairos_domain::client::Client>| {
            p.items.into_iter().map(|c| c.details.family_name).collect::<Vec<_>>()
        };
        let page = PageRequest::default();
        assert_eq!(names(store.search_clients(&a, Some("OKA"), None, page).await.expect("s")), ["Oka", "Okafor"]);
        assert_eq!(names(store.search_clients(&a, Some("kim"), None, page).await.expect("s")), ["Park"]);
        assert_eq!(names(store.search_clients(&a, Some("robin ok"), None, page).await.expect("s")), ["Okafor"]);
        assert!(store.search_clients(&a, Some("%"), None, page).await.expect("s").items.is_empty(), "% is literal");
        let p = store.search_clients(&a, None, None, PageRequest { limit: 2, offset: 2 }).await.expect("page");
        assert_eq!(p.total, 4);
        assert_eq!(p.items.len(), 2);
        let none = store.search_clients(&a, None, Some(ClientStatus::Discharged), page).await.expect("status");
        assert_eq!(none.total, 0);
    })
    .await;
}

#[tokio::test]
async fn duplicate_staff_email_is_a_conflict() {
    on_every_backend(|store| async move {
        staff(&store, "Ana Dmin", Role::Admin).await;
        let input =
            StaffInput::parse("Other", "ANA.DMIN@test.kairos", Roles::new([Role::Nurse]).expect("r")).expect("in");
        let err = store.create_staff(&Actor::system("test"), &input, None).await.expect_err("dup");
        assert!(matches!(err, StoreError::Conflict { field: "email", .. }), "{err}");
    })
    .await;
}

#[tokio::test]
async fn sessions_expire_when_idle_and_end_when_revoked() {
    on_every_backend(|store| async move {
        let id = staff(&store, "Theo Rapist", Role::Therapist).await;
        let s = store.get_staff(id).await.expect("staff");
        let policy = SessionPolicy::default();
        store.create_session(&s, "token-a", &policy, None).await.expect("session");
        let live = store.authenticate_session("token-a", &policy).await.expect("auth");
        assert_eq!(live.map(|i| i.staff.id), Some(id));
        assert!(store.authenticate_session("token-b", &policy).await.expect("auth").is_none());
        assert!(store.revoke_session("token-a").await.expect("revoke"));
        assert!(store.authenticate_session("token-a", &policy).await.expect("auth").is_none());

        let short = SessionPolicy { idle: SignedDuration::from_millis(1000), ..policy };
        store.create_session(&s, "token-c", &short, None).await.expect("session");
        assert!(store.authenticate_session("token-c", &short).await.expect("auth").is_some());
        tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
        assert!(store.authenticate_session("token-c", &short).await.expect("auth").is_none(), "idle too long");
    })
    .await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    on_every_backend(|store| async move {
        assert!(store.migrate().await.expect("migrate again").is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_online_backup_is_a_consistent_copy() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    store.create_client(&Actor::system("test"), &details("Ada", "Lin")).await.expect("client");
    let dest = std::env::temp_dir().join(format!("kairos-backup-{}.db", uuid::Uuid::now_v7().simple()));
    store.backup_sqlite(&dest.to_string_lossy()).await.expect("backup");
    let copy = Store::connect(&dest.to_string_lossy().parse().expect("url"), Default::default()).await.expect("open");
    assert_eq!(copy.count_clients().await.expect("count"), 1);
    copy.close().await;
    let _ = std::fs::remove_file(&dest);
}

#[tokio::test]
async fn a_backup_appears_only_whole_and_never_replaces_a_file() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    store.create_client(&Actor::system("test"), &details("Ada", "Lin")).await.expect("client");
    let dir = std::env::temp_dir().join(format!("kairos-backups-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let dest = dir.join("copy.db");
    store.backup_sqlite(&dest.to_string_lossy()).await.expect("backup");
    // Written under another name and renamed once checked: nothing else is
    // left beside the copy.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // With the copy of the default audit key beside it, so the copy verifies.
    assert_eq!(names, vec!["copy.db".to_string(), "copy.db.audit-key".to_string()]);
    // A second backup to the same name is refused and the first copy kept.
    let before = std::fs::read(&dest).expect("read");
    let err = store.backup_sqlite(&dest.to_string_lossy()).await.expect_err("exists");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&dest).expect("read"), before);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sessions_that_ended_over_a_day_ago_are_purged_and_live_ones_kept() {
    on_every_backend(|store| async move {
        let id = staff(&store, "Theo Rapist", Role::Therapist).await;
        let s = store.get_staff(id).await.expect("staff");
        let policy = SessionPolicy::default();
        store.create_session(&s, "live", &policy, None).await.expect("live");
        let two_days_ago = (Timestamp::now() - SignedDuration::from_hours(48)).as_microsecond();
        sqlx::query(
            "INSERT INTO sessions (token_hash, staff_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $3)",
        )
        .bind(kairos_store::sessions::token_hash("old"))
        .bind(id.to_string())
        .bind(two_days_ago)
        .execute(store.pool())
        .await
        .expect("old session");
        assert_eq!(store.purge_sessions(&policy).await.expect("purge"), 1);
        assert!(store.authenticate_session("live", &policy).await.expect("auth").is_some());
    })
    .await;
}

#[tokio::test]
async fn sqlite_commits_are_durable_wal_with_full_sync_and_foreign_keys() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let mut conn = store.pool().acquire().await.expect("conn");
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(&mut *conn).await.expect("mode");
    let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous").fetch_one(&mut *conn).await.expect("sync");
    let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys").fetch_one(&mut *conn).await.expect("fk");
    assert_eq!(mode, "wal");
    assert_eq!(sync, 2, "synchronous=FULL");
    assert_eq!(fk, 1);
    drop(conn);
    store.close().await;
}

#[tokio::test]
async fn when_the_audit_entry_cannot_be_written_the_record_is_not_written_either() {
    on_every_backend(|store| async move {
        // Make every audit insert about a client fail, after the client row
        // itself has been inserted in the same transaction.
        let ddl: &[&str] = match store.backend() {
            kairos_store::Backend::Sqlite => &["CREATE TRIGGER refuse_client_audit BEFORE INSERT ON audit_log \
                 WHEN NEW.record_type = 'client' BEGIN SELECT RAISE(ABORT, 'audit refused'); END"],
            kairos_store::Backend::Postgres => &[
                "CREATE FUNCTION refuse_client_audit() RETURNS trigger AS $$ BEGIN \
                 IF NEW.record_type = 'client' THEN RAISE EXCEPTION 'audit refused'; END IF; RETURN NEW; END; \
                 $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_client_audit BEFORE INSERT ON audit_log FOR EACH ROW \
                 EXECUTE FUNCTION refuse_client_audit()",
            ],
        };
        for sql in ddl {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(store.pool()).await.expect("trigger");
        }
        let err = store.create_client(&Actor::system("test"), &details("Ada", "Lin")).await;
        assert!(err.is_err(), "the write must fail with its audit entry");
        assert_eq!(store.count_clients().await.expect("count"), 0, "no client without its audit entry");
    })
    .await;
}

#[tokio::test]
async fn an_outbox_message_is_recorded_only_under_the_claim_that_holds_it() {
    on_every_backend(|store| async move {
        let id = store.queue_email("a@example.test", "Subject", "Body").await.expect("queue");
        let now = jiff::Timestamp::now();
        let first = store.claim_emails(10, now).await.expect("claim");
        assert_eq!(first.len(), 1);
        assert!(store.claim_emails(10, now).await.expect("claim").is_empty(), "leased to the first worker");
        // The first worker stalls past its lease; a second worker takes the message over.
        let later = now + kairos_store::outbox::LEASE + jiff::SignedDuration::from_secs(1);
        let second = store.claim_emails(10, later).await.expect("claim");
        assert_eq!(second.len(), 1);
        assert_ne!(first[0].lease, second[0].lease);
        // The stalled worker's failure or success no longer changes anything ...
        assert!(!store.email_failed(&id, &first[0].lease, "timeout", later).await.expect("failed"));
        assert!(!store.email_sent(&id, &first[0].lease, later).await.expect("sent"));
        assert_eq!(store.outbox_counts().await.expect("counts"), (1, 0, 0));
        assert!(store.claim_emails(10, later).await.expect("claim").is_empty(), "still leased to the second");
        // ... the holder's does, once.
        assert!(store.email_sent(&id, &second[0].lease, later).await.expect("sent"));
        assert_eq!(store.outbox_counts().await.expect("counts"), (0, 1, 0));
        assert!(!store.email_sent(&id, &second[0].lease, later).await.expect("sent"), "recorded once");
    })
    .await;
}

async fn chart_reads(store: &Store, who: StaffId, role: Role, client: ClientId, n: usize) {
    for _ in 0..n {
        store.read_chart(&actor(who, role), client, Timestamp::now()).await.expect("chart");
    }
}

/// A client's audit, checked for order, paging and the actor filter; returns
/// (reads, reads by `nurse`).
async fn checked_audit(store: &Store, client: ClientId, nurse: StaffId) -> (usize, usize) {
    let all = audit_for(store, client).await;
    assert!(all.iter().all(|e| e.client_id == Some(client)), "only this client's entries");
    assert_eq!(all.iter().filter(|e| e.action == "create").count(), 1, "the write-path entry");
    let listed: Vec<String> = all.iter().map(|e| e.id.to_string()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(listed, sorted, "newest first");
    sorted.dedup();
    assert_eq!(sorted.len(), listed.len(), "each entry once");
    let q = AuditQuery { client_id: Some(client), page: PageRequest { limit: 2, offset: 1 }, ..Default::default() };
    let page = store.list_audit(&q).await.expect("page");
    assert_eq!(page.total as usize, all.len());
    let paged: Vec<String> = page.items.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(paged, listed[1..3].to_vec(), "pages in the same order");
    // A bounded count says "more than" with one entry past the bound, and
    // the exact number within it; the page itself is the same.
    assert!(all.len() >= 3, "entries to count: {}", all.len());
    let capped = AuditQuery { count_at_most: Some(1), ..q.clone() };
    let c = store.list_audit(&capped).await.expect("capped");
    assert_eq!(c.total, 2, "one past the bound");
    assert_eq!(c.items.iter().map(|e| e.id.to_string()).collect::<Vec<_>>(), paged);
    let roomy = AuditQuery { count_at_most: Some(10_000), ..q.clone() };
    assert_eq!(store.list_audit(&roomy).await.expect("roomy").total as usize, all.len());
    let q = AuditQuery { client_id: Some(client), actor_id: Some(nurse), ..Default::default() };
    let by_nurse = store.list_audit(&q).await.expect("actor").items;
    assert!(by_nurse.iter().all(|e| e.actor_id == Some(nurse) && e.client_id == Some(client)));
    (all.iter().filter(|e| e.action == "read").count(), by_nurse.len())
}

#[tokio::test]
async fn a_clients_audit_shows_every_read_once_before_and_after_the_reads_are_filed() {
    on_every_backend(|store| async move {
        let t = staff(&store, "Theo Rapist", Role::Therapist).await;
        let n = staff(&store, "Nell Urse", Role::Nurse).await;
        let c = store.create_client(&Actor::system("test"), &details("Sam", "Ito")).await.expect("client");
        let other = store.create_client(&Actor::system("test"), &details("Ola", "Berg")).await.expect("client");
        chart_reads(&store, t, Role::Therapist, c.id, 3).await;
        chart_reads(&store, n, Role::Nurse, c.id, 1).await;
        chart_reads(&store, t, Role::Therapist, other.id, 1).await;
        assert_eq!(checked_audit(&store, c.id, n).await, (4, 1), "not filed yet: found after the watermark");
        store.roll_up_audit().await.expect("file");
        assert_eq!(checked_audit(&store, c.id, n).await, (4, 1), "filed by client");
        chart_reads(&store, n, Role::Nurse, c.id, 1).await;
        chart_reads(&store, t, Role::Therapist, c.id, 1).await;
        assert_eq!(checked_audit(&store, c.id, n).await, (6, 2), "filed ones and newer ones together");
        store.roll_up_audit().await.expect("again");
        store.roll_up_audit().await.expect("nothing new");
        assert_eq!(checked_audit(&store, c.id, n).await, (6, 2));
        let reads_of_other = audit_for(&store, other.id).await.iter().filter(|e| e.action == "read").count();
        assert_eq!(reads_of_other, 1);
    })
    .await;
}

#[tokio::test]
async fn a_backup_copy_files_its_audit_reads_anew_and_a_stale_filing_is_redone() {
    let db = kairos_store::testing::TestDb::sqlite().await;
    let store = db.store().await;
    let t = staff(&store, "Theo Rapist", Role::Therapist).await;
    let n = staff(&store, "Nell Urse", Role::Nurse).await;
    let c = store.create_client(&Actor::system("test"), &details("Sam", "Ito")).await.expect("client");
    chart_reads(&store, t, Role::Therapist, c.id, 2).await;
    chart_reads(&store, n, Role::Nurse, c.id, 1).await;
    store.roll_up_audit().await.expect("file");
    let path = std::path::PathBuf::from(db.url.sqlite_path().expect("a file"));
    let copy = path.with_file_name("copy.db");
    store.backup_sqlite(copy.to_str().expect("utf-8")).await.expect("backup");
    store.close().await;
    // The copy is one file: the reads were folded into its own log.
    let mut copy_log = copy.as_os_str().to_owned();
    copy_log.push(".read-audit");
    assert!(!std::path::Path::new(&copy_log).exists());
    let folded: i64 = rusqlite::Connection::open(&copy)
        .expect("copy")
        .query_row("SELECT COUNT(*) FROM audit_log WHERE action = 'read'", [], |r| r.get(0))
        .expect("count");
    assert_eq!(folded, 3);
    // The copy has no filing of its own: every read is still found, once.
    let url: kairos_store::DatabaseUrl = copy.to_str().expect("utf-8").parse().expect("url");
    let restored = Store::connect(&url, kairos_store::StoreOptions::default()).await.expect("open copy");
    assert_eq!(checked_audit(&restored, c.id, n).await, (3, 1));
    restored.roll_up_audit().await.expect("file");
    assert_eq!(checked_audit(&restored, c.id, n).await, (3, 1));
    // A filing whose watermark names another entry (rows numbered anew) is redone.
    let mut reads = copy.as_os_str().to_owned();
    reads.push(".audit-index");
    rusqlite::Connection::open(std::path::PathBuf::from(reads))
        .expect("derived file")
        .execute("UPDATE audit_rollup SET upto_id = 'another entry'", [])
        .expect("skew");
    restored.roll_up_audit().await.expect("file again");
    assert_eq!(checked_audit(&restored, c.id, n).await, (3, 1));
    // Reads of the copy go to its own read-audit file, and are found with
    // the folded ones.
    chart_reads(&restored, n, Role::Nurse, c.id, 1).await;
    assert_eq!(checked_audit(&restored, c.id, n).await, (4, 2));
    restored.roll_up_audit().await.expect("file both logs");
    assert_eq!(checked_audit(&restored, c.id, n).await, (4, 2));
    restored.close().await;
}

#[tokio::test]
async fn a_backup_put_back_beside_the_read_audit_file_it_folded_counts_each_read_once() {
    let db = kairos_store::testing::TestDb::sqlite().await;
    let path = std::path::PathBuf::from(db.url.sqlite_path().expect("a file"));
    let store = db.store().await;
    let t = staff(&store, "Theo Rapist", Role::Therapist).await;
    let n = staff(&store, "Nell Urse", Role::Nurse).await;
    let c = store.create_client(&Actor::system("test"), &details("Sam", "Ito")).await.expect("client");
    chart_reads(&store, t, Role::Therapist, c.id, 2).await;
    let copy = path.with_file_name("backup.db");
    store.backup_sqlite(copy.to_str().expect("utf-8")).await.expect("backup");
    chart_reads(&store, n, Role::Nurse, c.id, 1).await; // after the backup
    store.close().await;
    // The backup is put back in place of the database; the read-audit file stays.
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
    std::fs::rename(&copy, &path).expect("restore");
    let store = db.store().await;
    assert_eq!(checked_audit(&store, c.id, n).await, (2, 0), "the backup's reads, each once");
    let dir = path.parent().expect("dir");
    let aside: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.starts_with("kairos.db.read-audit.folded-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let kept: i64 = rusqlite::Connection::open(dir.join(&aside[0]))
        .expect("set-aside file")
        .query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0))
        .expect("count");
    assert_eq!(kept, 3, "the set-aside file keeps every read, the one after the backup too");
    chart_reads(&store, n, Role::Nurse, c.id, 1).await;
    store.roll_up_audit().await.expect("file");
    assert_eq!(checked_audit(&store, c.id, n).await, (3, 1));
    store.close().await;
}

#[tokio::test]
async fn on_sqlite_reads_are_audited_in_the_read_audit_file_and_leave_the_database_file_unchanged() {
    let db = kairos_store::testing::TestDb::sqlite().await;
    let store = db.store().await;
    let t = staff(&store, "Theo Rapist", Role::Therapist).await;
    let c = store.create_client(&Actor::system("test"), &details("Sam", "Ito")).await.expect("client");
    let path = std::path::PathBuf::from(db.url.sqlite_path().expect("a file"));
    // `data_version` changes when another connection commits to the file:
    // what makes SQLite drop the chart readers' page caches.
    let watcher = rusqlite::Connection::open(&path).expect("open");
    let version = || -> i64 { watcher.query_row("PRAGMA data_version", [], |r| r.get(0)).expect("data_version") };
    let before = version();
    chart_reads(&store, t, Role::Therapist, c.id, 3).await;
    assert_eq!(version(), before, "audited reads did not touch the database file");
    let in_main: i64 =
        watcher.query_row("SELECT COUNT(*) FROM audit_log WHERE action = 'read'", [], |r| r.get(0)).expect("count");
    assert_eq!(in_main, 0);
    let mut log = path.as_os_str().to_owned();
    log.push(".read-audit");
    let log = rusqlite::Connection::open(std::path::PathBuf::from(log)).expect("read-audit file");
    let in_log: i64 =
        log.query_row("SELECT COUNT(*) FROM audit_log WHERE action = 'read'", [], |r| r.get(0)).expect("count");
    assert_eq!(in_log, 3, "each read durable in the read-audit file");
    assert!(log.execute("DELETE FROM audit_log", []).is_err(), "append-only there too");
    // A sign-in event stays in the database's log (the lockout counts it).
    store
        .audit_event(&actor(t, Role::Therapist), kairos_store::AuditEntry::new(Action::Login, "staff", "theo"))
        .await
        .expect("event");
    assert_ne!(version(), before);
    // The whole log, newest first, holds both.
    let everything = AuditQuery { page: PageRequest { limit: 200, offset: 0 }, ..Default::default() };
    let all = store.list_audit(&everything).await.expect("all");
    let actions: Vec<&str> = all.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(&actions[..4], &["login", "read", "read", "read"], "{actions:?}");
    assert_eq!(all.total as usize, all.items.len());
    let mine = AuditQuery { actor_id: Some(t), page: PageRequest { limit: 200, offset: 0 }, ..Default::default() };
    assert_eq!(store.list_audit(&mine).await.expect("by actor").total, 4);
    // Counted up to a bound across both logs.
    let capped = AuditQuery { count_at_most: Some(2), ..everything.clone() };
    assert_eq!(store.list_audit(&capped).await.expect("capped").total, 3);
    store.close().await;
}

#[tokio::test]
async fn a_clients_site_is_where_they_were_last_seen_else_where_they_are_next_booked() {
    on_every_backend(|store| async move {
        let a = Actor::system("test");
        let site = |name: &'static str, tz: &'static str| {
            let store = store.clone();
            async move { store.create_site(&Actor::system("test"), &SiteInput::parse(name, tz).expect("site")).await }
        };
        let (chicago, tokyo) = (
            site("Lakeside", "America/Chicago").await.expect("site"),
            site("Ginza", "Asia/Tokyo").await.expect("site"),
        );
        assert_eq!(store.first_site().await.expect("first").map(|s| s.id), Some(chicago.id), "the earliest created");
        let now = Timestamp::now();
        let book = |client: ClientId, site: SiteId, hours: i64| NewEncounter {
            client_id: client,
            course_id: None,
            site_id: site,
            room_id: None,
            staff_id: None,
            kind: EncounterKind::Intake,
            scheduled_start: now + SignedDuration::from_hours(hours),
            scheduled_end: now + SignedDuration::from_hours(hours + 1),
        };
        let seen = store.create_client(&a, &details("Ada", "Seen")).await.expect("c").id;
        let booked = store.create_client(&a, &details("Ben", "Booked")).await.expect("c").id;
        let new = store.create_client(&a, &details("Cy", "New")).await.expect("c").id;
        // Seen in Chicago two days ago and yesterday in Tokyo; next in Chicago.
        for (client, site, hours) in [
            (seen, chicago.id, -48),
            (seen, tokyo.id, -24),
            (seen, chicago.id, 24),
            (booked, tokyo.id, 72),
            (booked, chicago.id, 96),
        ] {
            store.create_encounter(&a, &book(client, site, hours)).await.expect("book");
        }
        let homes = store.home_sites(&[seen, booked, new], now).await.expect("homes");
        assert_eq!(homes.get(&seen), Some(&tokyo.id), "the latest visit that has started");
        assert_eq!(homes.get(&booked), Some(&tokyo.id), "no visit yet: the next one");
        assert_eq!(homes.get(&new), None, "no visit at all");
    })
    .await;
}

/// Sets `PRAGMA max_page_count` on every connection of a two-connection
/// pool (the limit is per connection).
async fn cap_pages(store: &Store, pages: i64) {
    use sqlx::Executor;
    let mut a = store.pool().acquire().await.expect("a");
    let mut b = store.pool().acquire().await.expect("b");
    for c in [&mut a, &mut b] {
        c.execute(sqlx::AssertSqlSafe(format!("PRAGMA max_page_count = {pages}"))).await.expect("pragma");
    }
}

#[tokio::test]
async fn a_full_disk_refuses_writes_and_once_there_is_room_writes_work_again() {
    let db = TestDb::sqlite().await;
    let store = Store::connect(&db.url, kairos_store::StoreOptions { max_connections: 2, ..Default::default() })
        .await
        .expect("store");
    let a = Actor::system("test");
    store.create_client(&a, &details("Ada", "Before")).await.expect("a first client");
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(store.pool()).await.expect("page count");
    cap_pages(&store, pages + 2).await;
    // Fill the file until SQLite answers "database or disk is full"; every
    // write after that is refused for that reason only (never because the
    // connection was left unusable) or succeeds on a fresh connection.
    let mut full = 0;
    for i in 0..2000 {
        if let Err(e) = store.create_client(&a, &details("Filler", &format!("N{i}"))).await {
            assert!(e.to_string().contains("full"), "{e}");
            full += 1;
        } else if full > 0 {
            break;
        }
    }
    assert!(full > 0, "the capped file filled up");
    // Room again: every connection takes writes (a connection whose
    // transaction SQLite rolled back itself is not put back in use).
    cap_pages(&store, 1_000_000).await;
    for i in 0..6 {
        let r = store.create_client(&a, &details("After", &format!("N{i}"))).await;
        assert!(r.is_ok(), "write {i} after the disk had room again: {:?}", r.err());
    }
    store.close().await;
}

#[tokio::test]
async fn a_queued_one_time_link_is_stored_sealed_opened_only_to_send_and_never_sent_once_expired() {
    on_every_backend(|store| async move {
        let c = store.create_client(&Actor::system("test"), &details("Noor", "Haddad")).await.expect("client");
        let email = kairos_domain::text::Email::parse("email", "noor@example.test").expect("email");
        let code = "LiveCode_0123456789abcdef";
        let mail = kairos_store::portal::OutgoingEmail {
            to: email.as_str().to_string(),
            subject: "Your invitation".into(),
            body: format!("Open https://k.example/portal/auth/{code} to sign in."),
        };
        let now = Timestamp::now();
        let lifetime = jiff::SignedDuration::from_hours(72);
        store
            .invite_to_portal(&Actor::system("test"), c.id, &email, code, now + lifetime, &mail)
            .await
            .expect("invite");
        // What a reader of the database sees: no code anywhere in the row.
        let (body, sealed): (String, Option<String>) =
            sqlx::query_as("SELECT body, sealed_links FROM email_outbox WHERE to_address = $1")
                .bind(email.as_str().to_string())
                .fetch_one(store.pool())
                .await
                .expect("row");
        assert_eq!(body, "Open https://k.example/portal/auth/[sealed-link-0] to sign in.");
        let sealed = sealed.expect("the code is kept sealed");
        assert!(!sealed.contains(code) && !sealed.contains("LiveCode"), "{sealed}");
        // The worker opens it to send.
        let now = Timestamp::now();
        let claimed = store.claim_emails(10, now).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].body, mail.body, "sent with its live link");
        assert!(store.email_sent(&claimed[0].id, &claimed[0].lease, now).await.expect("sent"));
        let (body, sealed): (String, Option<String>) =
            sqlx::query_as("SELECT body, sealed_links FROM email_outbox WHERE to_address = $1")
                .bind(email.as_str().to_string())
                .fetch_one(store.pool())
                .await
                .expect("row");
        assert_eq!((body.as_str(), sealed), ("Open https://k.example/portal/auth/[sent] to sign in.", None));

        // A sign-in link not sent within its lifetime is never sent.
        let signin = kairos_store::portal::OutgoingEmail { subject: "Your sign-in link".into(), ..mail.clone() };
        let expires = now + jiff::SignedDuration::from_mins(15);
        store.create_sign_in_code(c.id, "OtherCode_0123456789", expires, &signin, None).await.expect("sign-in link");
        let late = expires + jiff::SignedDuration::from_secs(1);
        assert!(store.claim_emails(10, late).await.expect("claim").is_empty(), "expired, not sent");
        let (expired, sealed): (Option<i64>, Option<String>) =
            sqlx::query_as("SELECT expired_at, sealed_links FROM email_outbox WHERE subject = 'Your sign-in link'")
                .fetch_one(store.pool())
                .await
                .expect("row");
        assert!(expired.is_some() && sealed.is_none(), "marked expired, its sealed code dropped");
    })
    .await;
}
