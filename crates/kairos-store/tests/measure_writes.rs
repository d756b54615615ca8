//! Recording questionnaires under load: on a SQLite file they go through the
//! group-commit writer (many submissions, each in a savepoint of its own, per
//! durable commit); on PostgreSQL, and on SQLite without the direct path, one
//! sqlx transaction each. Every path must store the same rows, refuse the same
//! submissions with the same errors, and acknowledge nothing it has not
//! committed.

use jiff::{SignedDuration, Timestamp};
use kairos_domain::client::{ClientDetails, ClientInput};
use kairos_domain::course::NewCourse;
use kairos_domain::ids::{ClientId, CourseId, StaffId};
use kairos_domain::instruments::Library;
use kairos_domain::roles::{Role, Roles};
use kairos_domain::staff::StaffInput;
use kairos_store::measures::{Administration, MeasureSource, NewAdministration, Submission};
use kairos_store::testing::TestDb;
use kairos_store::{Actor, AuditQuery, AuditRecord, Backend, PageRequest, Store, StoreError, StoreOptions};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

fn library() -> &'static Library {
    static LIB: OnceLock<Library> = OnceLock::new();
    LIB.get_or_init(|| Library::shipped().expect("shipped instruments"))
}

fn today() -> jiff::civil::Date {
    Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// The paths under test: the direct SQLite writer, the sqlx path on a SQLite
/// file (`scratch_bulk_load` turns the direct path off; its journal settings
/// do not matter here), and PostgreSQL when `KAIROS_TEST_POSTGRES_URL` is set.
async fn every_path() -> Vec<(&'static str, TestDb, Store)> {
    let mut out = Vec::new();
    for db in TestDb::every_backend().await {
        let store = db.store().await;
        let name = match db.backend() {
            Backend::Sqlite => "sqlite, group-commit writer",
            Backend::Postgres => "postgresql",
        };
        out.push((name, db, store));
    }
    let db = TestDb::sqlite().await;
    let store = Store::connect(&db.url, StoreOptions { scratch_bulk_load: true, ..StoreOptions::default() })
        .await
        .expect("connect without the direct path");
    out.push(("sqlite, sqlx path", db, store));
    out
}

async fn clinician(store: &Store) -> (StaffId, Actor) {
    let input = StaffInput::parse("Tess Therapist", "tess@test.kairos", Roles::new([Role::Therapist]).expect("role"))
        .expect("staff");
    let id = store.create_staff(&Actor::system("test"), &input, None).await.expect("create staff").id;
    (id, Actor { staff_id: Some(id), roles: "therapist".into(), remote_addr: Some("127.0.0.1".into()) })
}

async fn client(store: &Store, given: &str) -> ClientId {
    let details = ClientDetails::parse(
        &ClientInput { given_name: given, family_name: "Okafor", date_of_birth: "1984-06-02", ..Default::default() },
        today(),
    )
    .expect("valid client");
    store.create_client(&Actor::system("test"), &details).await.expect("create client").id
}

async fn course(store: &Store, client: ClientId) -> CourseId {
    let new = NewCourse::parse(client, "apa-iv-induction", today(), None, None, today()).expect("course");
    store.create_course(&Actor::system("test"), &new).await.expect("create course").id
}

/// A questionnaire scored by the shipped instrument.
fn scored(
    instrument: &str,
    client: ClientId,
    course: Option<CourseId>,
    answers: Option<Vec<Option<i64>>>,
    total: Option<i64>,
    by: StaffId,
) -> NewAdministration {
    let inst = library().get(instrument).expect("shipped instrument");
    let scored = match (&answers, total) {
        (Some(a), None) => inst.score(a).expect("valid answers"),
        (a, Some(t)) => inst.score_total(t, a.as_deref().unwrap_or(&[])).expect("valid total"),
        (None, None) => panic!("answers or a total"),
    };
    NewAdministration {
        client_id: client,
        course_id: course,
        instrument_id: inst.id.clone(),
        instrument_version: inst.version.clone(),
        completed_at: Timestamp::now() - SignedDuration::from_mins(5),
        answers,
        scored,
        source: MeasureSource::Clinician,
        entered_by: Some(by),
    }
}

/// PHQ-9 answers (item 10 answered 0): the `n`th varies, every 20th has item 9 = 1.
fn phq9_answers(n: usize) -> Vec<Option<i64>> {
    let mut v: Vec<Option<i64>> = (0..8).map(|i| Some(((n + i) % 4) as i64)).collect();
    v.push(Some(i64::from(n.is_multiple_of(20))));
    v.push(Some(0));
    v
}

fn phq9(client: ClientId, n: usize, by: StaffId) -> NewAdministration {
    scored("phq9", client, None, Some(phq9_answers(n)), None, by)
}

/// As stored: times to the microsecond (the record as returned keeps the
/// clock's nanoseconds).
fn as_stored(a: &Administration) -> Administration {
    let micros = |t: Timestamp| Timestamp::from_microsecond(t.as_microsecond()).expect("in range");
    let mut a = a.clone();
    a.completed_at = micros(a.completed_at);
    a.created_at = micros(a.created_at);
    for x in &mut a.alerts {
        x.created_at = micros(x.created_at);
    }
    a
}

async fn audit_of(store: &Store, client: ClientId) -> Vec<AuditRecord> {
    let q = AuditQuery { client_id: Some(client), page: PageRequest { limit: 200, offset: 0 }, ..Default::default() };
    store.list_audit(&q).await.expect("audit").items
}

fn measure_entries(audit: &[AuditRecord]) -> Vec<&AuditRecord> {
    audit.iter().filter(|r| r.action == "create" && r.record_type == "measure").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_submissions_are_all_stored_with_their_alerts_and_audit_entries() {
    for (name, _db, store) in every_path().await {
        eprintln!("-- {name}");
        let (staff, actor) = clinician(&store).await;
        let mut clients = Vec::new();
        for i in 0..10 {
            clients.push(client(&store, &format!("Robin{i}")).await);
        }
        let actor = Arc::new(actor);
        let mut tasks = Vec::new();
        for n in 0..200 {
            let (store, actor, new) = (store.clone(), actor.clone(), phq9(clients[n % 10], n, staff));
            tasks.push(tokio::spawn(async move { (n, store.record_measure(&actor, &new).await) }));
        }
        let mut stored = Vec::new();
        for t in tasks {
            let (n, r) = t.await.expect("task");
            let admin = r.unwrap_or_else(|e| panic!("{name}: submission {n}: {e}"));
            assert_eq!(admin.alerts.len(), usize::from(n.is_multiple_of(20)), "{name}: submission {n}");
            stored.push(admin);
        }
        for admin in &stored {
            let read = store.get_measure(admin.id).await.expect("stored");
            assert_eq!(read, as_stored(admin), "{name}: what was stored is what was acknowledged");
        }
        let mut alerts = 0;
        for &c in &clients {
            let audit = audit_of(&store, c).await;
            let entries = measure_entries(&audit);
            let mine: Vec<&Administration> = stored.iter().filter(|a| a.client_id == c).collect();
            assert_eq!(entries.len(), mine.len(), "{name}: one audit entry per questionnaire");
            for a in &mine {
                let e = entries
                    .iter()
                    .find(|e| e.record_id.as_deref() == Some(a.id.to_string().as_str()))
                    .expect("its audit entry");
                assert_eq!(e.detail.as_deref(), Some("phq9"), "the instrument, never its score");
                assert_eq!(e.actor_id, Some(staff));
                assert_eq!(e.at, as_stored(a).created_at, "{name}: audited in the same transaction, at the same time");
            }
            alerts += store.alerts_of(c).await.expect("alerts").len();
        }
        assert_eq!(alerts, 10, "{name}: every 20th submission raised its alert");
        if let Some(stats) = store.group_commit_stats() {
            eprintln!("{name}: {stats:?}");
            assert_eq!(stats.writes, 200);
            assert!(stats.batches >= 1 && stats.batches <= 200);
        }
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_submission_in_a_batch_fails_alone_and_the_others_are_stored() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let (staff, actor) = clinician(&store).await;
    let ada = client(&store, "Ada").await;
    let sam = client(&store, "Sam").await;
    let sams_course = course(&store, sam).await;
    let actor = Arc::new(actor);

    // Hold the write lock from another connection: the writer takes the
    // first submission and waits for the lock; the rest queue up behind it
    // and go into the next transaction together.
    let path = db.url.sqlite_path().expect("a SQLite file").to_string();
    let blocker = rusqlite::Connection::open(&path).expect("open");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    let submit = |new: NewAdministration| {
        let (store, actor) = (store.clone(), actor.clone());
        tokio::spawn(async move { store.record_measure(&actor, &new).await })
    };
    let first = submit(phq9(ada, 1, staff));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut good = Vec::new();
    for n in 0..10 {
        good.push(submit(phq9(ada, n * 2, staff)));
    }
    let unknown_client = submit(phq9(ClientId::new(), 3, staff));
    for n in 0..10 {
        good.push(submit(phq9(ada, n * 2 + 1, staff)));
    }
    let foreign_course = submit(scored("phq9", ada, Some(sams_course), Some(phq9_answers(4)), None, staff));
    let unknown_course = submit(scored("phq9", ada, Some(CourseId::new()), Some(phq9_answers(5)), None, staff));
    good.push(submit(scored("phq9", sam, Some(sams_course), Some(phq9_answers(20)), None, staff)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.execute_batch("ROLLBACK").expect("release the write lock");

    let mut ok = vec![first.await.expect("task").expect("the first submission")];
    for t in good {
        ok.push(t.await.expect("task").expect("a good submission next to a bad one is stored"));
    }
    let err = unknown_client.await.expect("task").expect_err("unknown client");
    assert!(matches!(err, StoreError::NotFound { record: "client", .. }), "{err}");
    let err = foreign_course.await.expect("task").expect_err("another client's course");
    assert!(matches!(&err, StoreError::Conflict { field: "course_id", .. }), "{err}");
    let err = unknown_course.await.expect("task").expect_err("unknown course");
    assert!(matches!(&err, StoreError::UnknownReference { field: "course_id", record: "course", .. }), "{err}");

    let stats = store.group_commit_stats().expect("the direct path is on");
    eprintln!("{stats:?}");
    assert!(stats.largest >= 20, "the queued submissions shared one transaction: {stats:?}");
    for a in &ok {
        assert_eq!(store.get_measure(a.id).await.expect("stored"), as_stored(a));
    }
    let stored: usize =
        store.measures_of(ada, None).await.expect("ada").len() + store.measures_of(sam, None).await.expect("sam").len();
    assert_eq!(stored, ok.len(), "nothing of the refused submissions was stored");
    let audited =
        measure_entries(&audit_of(&store, ada).await).len() + measure_entries(&audit_of(&store, sam).await).len();
    assert_eq!(audited, ok.len(), "nor audited");
    // Ada's only item 9 = 1 was submission n = 0; Sam's was n = 20.
    assert_eq!(store.alerts_of(ada).await.expect("alerts").len(), 1);
    assert_eq!(store.alerts_of(sam).await.expect("alerts").len(), 1);
    store.close().await;
}

#[tokio::test]
async fn an_unknown_client_and_an_unknown_or_foreign_course_are_refused_the_same_way_on_every_path() {
    for (name, _db, store) in every_path().await {
        eprintln!("-- {name}");
        let (staff, actor) = clinician(&store).await;
        let ada = client(&store, "Ada").await;
        let sam = client(&store, "Sam").await;
        let sams_course = course(&store, sam).await;
        let missing = ClientId::new();
        let err = store.record_measure(&actor, &phq9(missing, 0, staff)).await.expect_err("unknown client");
        assert!(
            matches!(&err, StoreError::NotFound { record: "client", id } if *id == missing.to_string()),
            "{name}: {err}"
        );
        let new = scored("phq9", ada, Some(sams_course), Some(phq9_answers(0)), None, staff);
        let err = store.record_measure(&actor, &new).await.expect_err("foreign course");
        assert!(
            matches!(&err, StoreError::Conflict { field: "course_id", detail } if detail == "that course belongs to another client"),
            "{name}: {err}"
        );
        let unknown = CourseId::new();
        let new = scored("phq9", ada, Some(unknown), Some(phq9_answers(0)), None, staff);
        let err = store.record_measure(&actor, &new).await.expect_err("unknown course");
        assert!(
            matches!(&err, StoreError::UnknownReference { field: "course_id", record: "course", id } if *id == unknown.to_string()),
            "{name}: {err}"
        );
        assert!(store.measures_of(ada, None).await.expect("list").is_empty(), "{name}: nothing stored");
        assert!(store.alerts_of(ada).await.expect("alerts").is_empty(), "{name}: no alert stored");
        assert!(measure_entries(&audit_of(&store, ada).await).is_empty(), "{name}: nothing audited");
        // The client's own course is accepted.
        let own = course(&store, ada).await;
        let new = scored("phq9", ada, Some(own), Some(phq9_answers(0)), None, staff);
        let admin = store.record_measure(&actor, &new).await.expect("own course");
        assert_eq!(admin.course_id, Some(own));
        store.close().await;
    }
}

#[tokio::test]
async fn when_its_audit_entry_cannot_be_written_the_questionnaire_is_not_stored_either() {
    for (name, _db, store) in every_path().await {
        eprintln!("-- {name}");
        let (staff, actor) = clinician(&store).await;
        let ada = client(&store, "Ada").await;
        let before = store.record_measure(&actor, &phq9(ada, 20, staff)).await.expect("before the trigger");
        let ddl: &[&str] = match store.backend() {
            Backend::Sqlite => &["CREATE TRIGGER refuse_measure_audit BEFORE INSERT ON audit_log \
                 WHEN NEW.record_type = 'measure' BEGIN SELECT RAISE(ABORT, 'audit refused'); END"],
            Backend::Postgres => &[
                "CREATE FUNCTION refuse_measure_audit() RETURNS trigger AS $$ BEGIN \
                 IF NEW.record_type = 'measure' THEN RAISE EXCEPTION 'audit refused'; END IF; RETURN NEW; END; \
                 $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_measure_audit BEFORE INSERT ON audit_log FOR EACH ROW \
                 EXECUTE FUNCTION refuse_measure_audit()",
            ],
        };
        for sql in ddl {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(store.pool()).await.expect("trigger");
        }
        let err = store.record_measure(&actor, &phq9(ada, 40, staff)).await.expect_err("no audit, no record");
        assert!(err.to_string().contains("audit refused"), "{name}: {err}");
        let list = store.measures_of(ada, None).await.expect("list");
        assert_eq!(list.len(), 1, "{name}: only the one recorded before");
        assert_eq!(list[0].id, before.id);
        assert_eq!(store.alerts_of(ada).await.expect("alerts").len(), 1, "{name}: the refused one's alert is gone too");
        store.close().await;
    }
}

/// What a stored questionnaire says, without its ids and times.
fn essence(a: &Administration) -> String {
    let alerts: Vec<String> = a
        .alerts
        .iter()
        .map(|x| {
            format!(
                "{:?} {:?} {:?} {:?} {} {} {:?}",
                x.instrument, x.item, x.item_value, x.level, x.message, x.self_harm, x.acknowledged
            )
        })
        .collect();
    format!(
        "{} {} {:?} {} {} {:?} {:?} {:?} {:?} {:?} {} {:?} {:?}",
        a.instrument,
        a.instrument_version,
        a.answers,
        a.score,
        a.prorated,
        a.subscores,
        a.severity,
        a.provisional_diagnosis,
        a.source,
        a.entered_in_error,
        a.course_id.is_some(),
        a.completed_at,
        alerts
    )
}

#[tokio::test]
async fn every_path_stores_the_same_rows() {
    let completed = Timestamp::now() - SignedDuration::from_hours(2);
    let mut results: Vec<(&str, Vec<String>, Vec<String>)> = Vec::new();
    let mut storage_classes: Vec<(&str, Vec<(String, String)>)> = Vec::new();
    for (name, _db, store) in every_path().await {
        let (staff, actor) = clinician(&store).await;
        let ada = client(&store, "Ada").await;
        let own = course(&store, ada).await;
        let mut phq_prorated = phq9_answers(20);
        phq_prorated[0] = None;
        let pcl = Some((0..20).map(|i| Some(i % 5)).collect::<Vec<_>>());
        let mut list = vec![
            scored("phq9", ada, Some(own), Some(phq9_answers(20)), None, staff),
            scored("phq9", ada, None, Some(phq_prorated), None, staff),
            scored(
                "gad7",
                ada,
                None,
                Some(vec![Some(3), Some(2), Some(1), Some(0), Some(3), Some(2), Some(1), Some(2)]),
                None,
                staff,
            ),
            scored("pcl5", ada, Some(own), pcl, None, staff),
            // A MADRS total with its safety item (item 10) rated.
            scored("madrs", ada, None, Some([None; 9].into_iter().chain([Some(2)]).collect()), Some(30), staff),
        ];
        for new in &mut list {
            new.completed_at = completed;
        }
        let mut stored = Vec::new();
        for new in &list {
            let admin = store.record_measure(&actor, new).await.expect("record");
            assert_eq!(store.get_measure(admin.id).await.expect("read back"), as_stored(&admin), "{name}");
            stored.push(essence(&admin));
        }
        let audit: Vec<String> = measure_entries(&audit_of(&store, ada).await)
            .iter()
            .rev()
            .map(|e| format!("{} {:?} {:?} {:?}", e.actor_roles, e.remote_addr, e.detail, e.actor_id == Some(staff)))
            .collect();
        if store.backend() == Backend::Sqlite {
            let mut classes = Vec::new();
            for (table, cols) in [
                (
                    "measure_administrations",
                    "id client_id course_id instrument_id instrument_version completed_at answers score prorated subscores severity provisional_diagnosis source entered_by request_id created_at",
                ),
                (
                    "alerts",
                    "id client_id administration_id instrument_id item item_value level message self_harm created_at",
                ),
                ("audit_log", "id at actor_id actor_roles action record_type record_id client_id remote_addr detail"),
            ] {
                for col in cols.split(' ') {
                    let sql = format!(
                        "SELECT COALESCE(group_concat(t, ','), '') FROM (SELECT DISTINCT typeof({col}) AS t FROM {table} \
                         WHERE client_id = $1 ORDER BY t)"
                    );
                    let (types,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(ada.to_string())
                        .fetch_one(store.pool())
                        .await
                        .expect("storage classes");
                    classes.push((format!("{table}.{col}"), types));
                }
            }
            storage_classes.push((name, classes));
        }
        results.push((name, stored, audit));
        store.close().await;
    }
    let (first, stored, audit) = &results[0];
    assert_eq!(audit.len(), 5);
    for (name, s, a) in &results[1..] {
        assert_eq!(s, stored, "{name} and {first} store the same questionnaires");
        assert_eq!(a, audit, "{name} and {first} write the same audit entries");
    }
    let (first, classes) = &storage_classes[0];
    for (name, c) in &storage_classes[1..] {
        assert_eq!(c, classes, "{name} and {first} store the same SQLite storage classes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_report_link_is_stored_once_and_a_retry_is_a_repeat_on_every_path() {
    for (name, _db, store) in every_path().await {
        eprintln!("-- {name}");
        let (_, actor) = clinician(&store).await;
        let ada = client(&store, "Ada").await;
        let phone = Actor { staff_id: None, roles: "client:self_report".into(), remote_addr: None };
        let expires = Timestamp::now() + SignedDuration::from_hours(24);
        let build = |r: &kairos_store::measures::MeasureRequest| {
            let mut new = scored("phq9", r.client_id, r.course_id, Some(phq9_answers(20)), None, StaffId::new());
            new.entered_by = None;
            new.source = MeasureSource::SelfReport;
            Ok(new)
        };
        store.create_measure_request(&actor, ada, None, "phq9", "link-token-0001", expires).await.expect("link");
        let stored = match store.submit_measure_request(&phone, "link-token-0001", "key-1", build).await {
            Ok(Submission::Stored(a)) => a,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(stored.alerts.len(), 1);
        match store.submit_measure_request(&phone, "link-token-0001", "key-1", build).await {
            Ok(Submission::Repeated(a)) => assert_eq!(a, as_stored(&stored), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        let err = store.submit_measure_request(&phone, "link-token-0001", "key-2", build).await.expect_err("used");
        assert!(matches!(&err, StoreError::Conflict { field: "token", detail } if detail.contains("already")), "{err}");
        let entries = audit_of(&store, ada).await;
        let entries = measure_entries(&entries);
        assert_eq!(entries.len(), 1, "{name}");
        assert_eq!(entries[0].detail.as_deref(), Some("phq9 via self-report link"), "{name}: no score");
        assert_eq!(entries[0].actor_roles, "client:self_report");

        // The same answers sent twice at once (a phone retrying): one is
        // stored, the other is its repeat; a different submission at the
        // same time is refused.
        store.create_measure_request(&actor, ada, None, "phq9", "link-token-0002", expires).await.expect("link");
        let twice = |key: &'static str| {
            let store = store.clone();
            let phone = phone.clone();
            tokio::spawn(async move { store.submit_measure_request(&phone, "link-token-0002", key, build).await })
        };
        let (a, b, c) = (twice("same"), twice("same"), twice("other"));
        let (a, b, c) = (a.await.expect("task"), b.await.expect("task"), c.await.expect("task"));
        let outcomes = [&a, &b, &c];
        let stored: Vec<&Administration> = outcomes
            .iter()
            .filter_map(|o| match o {
                Ok(Submission::Stored(x)) => Some(x),
                _ => None,
            })
            .collect();
        assert_eq!(stored.len(), 1, "{name}: stored once: {outcomes:?}");
        let refused = outcomes.iter().filter(|o| matches!(o, Err(StoreError::Conflict { field: "token", .. }))).count();
        let repeats = outcomes.iter().filter(|o| matches!(o, Ok(Submission::Repeated(_)))).count();
        assert_eq!(refused + repeats, 2, "{name}: {outcomes:?}");
        if matches!(c, Ok(Submission::Stored(_))) {
            assert_eq!(refused, 2, "{name}: both `same` refused when `other` won: {outcomes:?}");
        } else {
            assert!(matches!(c, Err(StoreError::Conflict { .. })), "{name}: {outcomes:?}");
            assert_eq!(repeats, 1, "{name}: the retry of the stored one is its repeat: {outcomes:?}");
        }
        assert_eq!(measure_entries(&audit_of(&store, ada).await).len(), 2, "{name}");

        let past = Timestamp::now() - SignedDuration::from_hours(1);
        store.create_measure_request(&actor, ada, None, "phq9", "link-token-0003", past).await.expect("link");
        let err = store.submit_measure_request(&phone, "link-token-0003", "k", build).await.expect_err("expired");
        assert!(matches!(&err, StoreError::Conflict { detail, .. } if detail.contains("expired")), "{err}");
        let err = store.submit_measure_request(&phone, "no-such-token", "k", build).await.expect_err("unknown");
        assert!(matches!(err, StoreError::NotFound { record: "link", .. }));
        assert_eq!(store.measures_of(ada, None).await.expect("list").len(), 2, "{name}");
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_submission_is_there_after_close_and_reopen() {
    for db in TestDb::every_backend().await {
        let store = db.store().await;
        let (staff, actor) = clinician(&store).await;
        let ada = client(&store, "Ada").await;
        let actor = Arc::new(actor);
        let submit = |n: usize| {
            let (s, actor, new) = (store.clone(), actor.clone(), phq9(ada, n, staff));
            tokio::spawn(async move { s.record_measure(&actor, &new).await })
        };
        let mut tasks: Vec<_> = (0..75).map(submit).collect();
        let mut acknowledged = Vec::new();
        // The first is answered before the close starts (else, on a fast
        // close, nothing might be).
        acknowledged.push(tasks.remove(0).await.expect("task").expect("before the close"));
        // Close while submissions are still arriving: those queued before
        // are committed and answered, the rest refused.
        let closing = store.clone();
        let closed = tokio::spawn(async move { closing.close().await });
        tasks.extend((75..150).map(submit));
        for t in tasks {
            if let Ok(a) = t.await.expect("task") {
                acknowledged.push(a);
            }
        }
        closed.await.expect("close");
        eprintln!("{:?}: {} acknowledged of 150", db.backend(), acknowledged.len());
        store.close().await;

        let reopened = db.store().await;
        for a in &acknowledged {
            assert_eq!(reopened.get_measure(a.id).await.expect("acknowledged, so stored"), as_stored(a));
        }
        let entries = audit_of(&reopened, ada).await;
        for a in &acknowledged {
            assert!(
                entries.iter().any(|e| e.record_id.as_deref() == Some(a.id.to_string().as_str())),
                "audited with it"
            );
        }
        // Every acknowledged alert is there (a submission the close cut off
        // after its commit but before its answer may be there too).
        let alerts = reopened.alerts_of(ada).await.expect("alerts");
        for a in acknowledged.iter().flat_map(|a| &a.alerts) {
            assert!(alerts.iter().any(|x| x.id == a.id), "acknowledged alert {} is stored", a.id);
        }
        reopened.close().await;
    }
}
