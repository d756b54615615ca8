//! The two bulk loaders write the same rows: `Store::import` (sqlx, the
//! general path) and `ScratchLoad` (rusqlite, what `kairos demo` fills its
//! scratch file with) repeat each other's column encodings by hand, so a
//! batch loaded through each into a fresh SQLite file must leave the two
//! files equal, table by table, row by row, column by column, storage class
//! included. Only what each path stamps with its own clock (the sites',
//! rooms' and staff's `created_at`/`updated_at`, the audit entries' ids and
//! times, when the migrations ran) may differ, and is checked for its shape.

use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};
use kairos_domain::client::{Client, ClientDetails, ClientStatus};
use kairos_domain::course::{Course, Phase};
use kairos_domain::encounter::{Encounter, EncounterKind, EncounterStatus};
use kairos_domain::ids::{
    AdministrationId, AlertId, ClientId, CourseId, EncounterId, RoomId, ScreenId, SiteId, StaffId,
};
use kairos_domain::instruments::AlertLevel;
use kairos_domain::roles::{Role, Roles};
use kairos_domain::screening::{
    Class, Decision, Finding, HepaticImpairment, History, MedicationClass, Pregnancy, ScreenFindings, SuicideRisk,
};
use kairos_domain::site::{Room, RoomKind, Site, TimeZoneName};
use kairos_domain::staff::Staff;
use kairos_domain::text::Email;
use kairos_store::import::{ImportBatch, ScratchLoad};
use kairos_store::measures::{Acknowledgement, Administration, Alert, EnteredInError, MeasureSource};
use kairos_store::screens::{Screen, Signature};
use kairos_store::testing::TestDb;
use kairos_store::{Actor, Store, StoreOptions};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The tables either loader writes, each with the number of rows the batch
/// puts in it.
fn bulk_tables(b: &ImportBatch) -> Vec<(&'static str, usize)> {
    vec![
        ("sites", b.sites.len()),
        ("rooms", b.rooms.len()),
        ("staff", b.staff.len()),
        ("clients", b.clients.len()),
        ("courses", b.courses.len()),
        ("encounters", b.encounters.len()),
        ("measure_administrations", b.administrations.len()),
        ("alerts", b.administrations.iter().map(|a| a.alerts.len()).sum()),
        ("screens", b.screens.len()),
    ]
}

// ---------------------------------------------------------------------------
// The batch: small, but every optional field both set and unset, every enum
// value, text that is empty, quoted, accented or on two lines, instants with
// nanoseconds (stored as microseconds) and before 1970.
// ---------------------------------------------------------------------------

/// An instant `minutes` after a fixed base, with sub-microsecond digits that
/// the stored microseconds drop.
fn at(minutes: i64) -> Timestamp {
    let base = Timestamp::from_second(1_750_000_000).expect("base instant");
    base.checked_add(SignedDuration::from_mins(minutes) + SignedDuration::from_nanos(123_456_789)).expect("instant")
}

fn email(s: &str) -> Email {
    Email::parse("email", s).expect("e-mail")
}

fn batch() -> ImportBatch {
    let mut b = ImportBatch::default();

    let zones = ["America/New_York", "Europe/Zurich", "Australia/Lord_Howe"];
    let names = ["Northside Clinic", "Café Süd — Zürich", "O'Hare \"Annex\""];
    for (name, zone) in names.iter().zip(zones) {
        b.sites.push(Site {
            id: SiteId::new(),
            name: (*name).to_string(),
            time_zone: TimeZoneName::parse("time_zone", zone).expect("zone"),
        });
    }
    for site in &b.sites {
        for (k, kind) in RoomKind::ALL.iter().enumerate() {
            b.rooms.push(Room {
                id: RoomId::new(),
                site_id: site.id,
                name: format!("{} {}", kind.as_str(), k + 1),
                kind: *kind,
            });
        }
    }

    // One per role, then several roles at once, inactive, without a password.
    for (i, role) in Role::ALL.iter().enumerate() {
        let staff = Staff {
            id: StaffId::new(),
            name: format!("Staff Ñúñez-{i} {}", role.label()),
            email: email(&format!("{}.{i}@test.kairos", role.as_str())),
            roles: Roles::new([*role]).expect("roles"),
            active: true,
        };
        let hash = (i % 2 == 0).then(|| format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${i}"));
        b.staff.push((staff, hash));
    }
    b.staff.push((
        Staff {
            id: StaffId::new(),
            name: "Dr. Zoë O'Brien".into(),
            email: email("Zoe.OBrien@Test.Kairos"),
            roles: Roles::new([Role::Therapist, Role::Prescriber, Role::Director]).expect("roles"),
            active: false,
        },
        None,
    ));
    b.staff.push((
        Staff {
            id: StaffId::new(),
            name: "Inactive With Hash".into(),
            email: email("inactive@test.kairos"),
            roles: Roles::new([Role::Nurse]).expect("roles"),
            active: false,
        },
        Some(String::new()),
    ));
    let staff: Vec<StaffId> = b.staff.iter().map(|(s, _)| s.id).collect();

    let given = ["Avery", "Zoë", "Ñandú", "Li", "Jean-Luc", "Ō", "Mary Ann", "X"];
    let family = ["Abernathy", "O'Brien", "Müller-Lüdenscheidt", "Ng", "de la Cruz", "Smith \"Jr\""];
    for i in 0..20_usize {
        // Client 0 has every optional field unset, client 1 every one set;
        // the others mix them (and use an empty string, which is not null).
        let pick = |n: usize| match i {
            0 => 0,
            1 => 1,
            _ => (i / n) % 3,
        };
        let opt = |n: usize, set: String| match pick(n) {
            0 => None,
            1 => Some(set),
            _ => Some(String::new()),
        };
        let details = ClientDetails {
            given_name: given[i % given.len()].to_string(),
            family_name: family[i % family.len()].to_string(),
            date_of_birth: date(1930 + (i as i16) * 4, (i % 12) as i8 + 1, (i % 28) as i8 + 1),
            pronouns: opt(1, "they/them".into()),
            email: match pick(2) {
                0 => None,
                _ => Some(email(&format!("Client.{i}@Example.org"))),
            },
            phone: opt(3, format!("+1 555-01{i:02}")),
            address: opt(4, format!("{i} Rue de l'Église\nApt. {i}, 75001 Paris")),
            emergency_contact_name: opt(5, "Sam \"Next of Kin\" Lee".into()),
            emergency_contact_phone: opt(6, format!("555-01{:02}", 99 - i)),
            status: ClientStatus::ALL[i % ClientStatus::ALL.len()],
        };
        let created = at(i as i64 * 7);
        let updated = if i % 3 == 0 { created } else { at(i as i64 * 7 + 90) };
        b.clients.push(Client { id: ClientId::new(), details, created_at: created, updated_at: updated });
    }

    // A course in every phase (closed ones ended), plus a second course for
    // client 0; prescriber and therapist set and unset.
    for (i, phase) in Phase::ALL.iter().chain([Phase::Completed, Phase::Discontinued].iter()).enumerate() {
        let client = &b.clients[if i >= Phase::ALL.len() { 0 } else { i }];
        let started_on: Date = date(2024, (i % 12) as i8 + 1, 3);
        b.courses.push(Course {
            id: CourseId::new(),
            client_id: client.id,
            protocol: if i % 2 == 0 { "ketamine-iv-6".into() } else { "esketamine, intranasal (off-label)".into() },
            phase: *phase,
            started_on,
            ended_on: phase.is_closed().then(|| started_on.checked_add(jiff::Span::new().days(90)).expect("date")),
            prescriber_id: (i % 3 != 2).then(|| staff[2]),
            therapist_id: (i % 2 == 0).then(|| staff[4]),
            created_at: at(1000 + i as i64),
            updated_at: at(2000 + i as i64 * 3),
        });
    }

    // Every kind in every status, with and without a course, room, staff
    // member and actual times.
    let mut j = 0_i64;
    for kind in EncounterKind::ALL {
        for status in EncounterStatus::ALL {
            let client = &b.clients[(j as usize * 3) % b.clients.len()];
            let course = b.courses.iter().find(|c| c.client_id == client.id).map(|c| c.id);
            let site = j as usize % b.sites.len();
            let room = b.rooms.iter().filter(|r| r.site_id == b.sites[site].id).nth(j as usize % 3).map(|r| r.id);
            let start = at(10_000 + j * 60);
            let end = start.checked_add(SignedDuration::from_mins(50 + j)).expect("end");
            let (actual_start, actual_end) = match status {
                EncounterStatus::Completed if j % 2 == 0 => (Some(start), Some(end)),
                EncounterStatus::Completed => (
                    Some(start.checked_add(SignedDuration::from_micros(7)).expect("start")),
                    Some(end.checked_sub(SignedDuration::from_secs(1)).expect("end")),
                ),
                EncounterStatus::Arrived if j % 2 == 0 => (Some(start), None),
                _ => (None, None),
            };
            b.encounters.push(Encounter {
                id: EncounterId::new(),
                client_id: client.id,
                course_id: if j % 4 == 0 { None } else { course },
                site_id: b.sites[site].id,
                room_id: if j % 5 == 1 { None } else { room },
                staff_id: if j % 3 == 1 { None } else { Some(staff[j as usize % staff.len()]) },
                kind: *kind,
                status: *status,
                scheduled_start: start,
                scheduled_end: end,
                actual_start,
                actual_end,
                // Before 1970: negative microseconds.
                created_at: at(-30_000_000 + j),
                updated_at: at(20_000 + j),
                status_reason: (*status == EncounterStatus::Cancelled).then(|| format!("reason {j}")),
            });
            j += 1;
        }
    }

    // Questionnaires: answers absent, empty, with gaps; subscores empty or
    // not; severity and provisional diagnosis set and unset; both sources;
    // alerts acknowledged or not, with and without their administration.
    for i in 0..10_usize {
        let client = &b.clients[i * 2];
        let course = b.courses.iter().find(|c| c.client_id == client.id).map(|c| c.id);
        let admin_id = AdministrationId::new();
        let answers = match i % 4 {
            0 => None,
            1 => Some(vec![]),
            2 => Some(vec![Some(0), None, Some(3), Some(2), None, Some(1), Some(0), Some(0), Some(2)]),
            _ => Some(vec![None]),
        };
        let subscores: BTreeMap<String, i64> = if i % 2 == 0 {
            BTreeMap::new()
        } else {
            [("somatic".to_string(), i as i64), ("cognitive \"affective\"".to_string(), -1)].into_iter().collect()
        };
        let mut alerts = Vec::new();
        if i % 3 == 0 {
            alerts.push(Alert {
                id: AlertId::new(),
                client_id: client.id,
                administration_id: Some(admin_id),
                instrument: Some("phq9".into()),
                item: Some("9".into()),
                item_value: Some(i as i64 % 4),
                level: AlertLevel::ALL[i % AlertLevel::ALL.len()],
                message: "Item 9 endorsed: thoughts of self-harm".into(),
                self_harm: true,
                created_at: at(30_000 + i as i64),
                acknowledged: (i % 2 == 0).then(|| Acknowledgement {
                    at: at(30_100 + i as i64),
                    by: staff[i % staff.len()],
                    action_note: if i == 0 { String::new() } else { "Called; safety plan reviewed.".into() },
                }),
                dosing_session_id: None,
                notify_staff_id: None,
            });
            alerts.push(Alert {
                id: AlertId::new(),
                client_id: client.id,
                administration_id: None,
                instrument: None,
                item: None,
                item_value: None,
                level: AlertLevel::Review,
                message: "Score rose by 5 or more".into(),
                self_harm: false,
                created_at: at(30_050 + i as i64),
                acknowledged: None,
                dosing_session_id: None,
                notify_staff_id: None,
            });
        }
        b.administrations.push(Administration {
            id: admin_id,
            client_id: client.id,
            course_id: if i % 3 == 1 { None } else { course },
            instrument: if i % 2 == 0 { "phq9".into() } else { "gad7".into() },
            instrument_version: "1.0.0".into(),
            completed_at: at(29_000 + i as i64 * 11),
            answers,
            score: match i {
                4 => 0,
                7 => i64::MAX,
                8 => -3,
                _ => i as i64 * 3,
            },
            prorated: i % 3 == 2,
            subscores,
            severity: match i % 3 {
                0 => None,
                1 => Some("moderate".into()),
                _ => Some(String::new()),
            },
            provisional_diagnosis: match i % 3 {
                0 => None,
                1 => Some(true),
                _ => Some(false),
            },
            source: if i % 2 == 0 { MeasureSource::Clinician } else { MeasureSource::SelfReport },
            entered_by: (i % 2 == 0).then(|| staff[(i + 1) % staff.len()]),
            created_at: at(29_001 + i as i64 * 11),
            // Neither loader writes the retraction of an imported record.
            entered_in_error: (i == 5).then(|| EnteredInError {
                reason: "wrong client".into(),
                by: Some(staff[0]),
                at: at(29_500),
            }),
            alerts,
        });
    }

    // Screens: unsigned (with and without who recorded it), signed eligible
    // (with a rationale), signed not eligible (with a note).
    let findings = |i: usize| ScreenFindings {
        diagnosis: if i == 0 { "MDD, treatment-resistant".into() } else { format!("PTSD; \"chronic\" ({i})") },
        prior_treatments: if i.is_multiple_of(2) { vec![] } else { vec!["sertraline".into(), "ECT ×6".into()] },
        psychosis: History::ALL[i % History::ALL.len()],
        substance_use: History::ALL[(i + 1) % History::ALL.len()],
        cardiovascular_disease: i % 2 == 1,
        systolic_bp: 118 + i as u16,
        diastolic_bp: 76,
        heart_rate: 64,
        pregnancy: Pregnancy::ALL[i % Pregnancy::ALL.len()],
        raised_intracranial_pressure: false,
        aneurysmal_vascular_disease: i == 3,
        intracerebral_haemorrhage_history: false,
        medications: MedicationClass::ALL.iter().copied().take(i).collect(),
        weight_kg: [72.5, 0.1 + 0.2 + 60.0, 101.0, 55.123_456_789][i % 4],
        allergies: if i == 2 { "none known".into() } else { "penicillin (rash)\nlatex".into() },
        ketamine_hypersensitivity: false,
        off_label_consent: i != 4,
        // Screens from before the later questions (i = 0) read them as not asked.
        bipolar_or_mania: (i > 0).then(|| History::ALL[i % History::ALL.len()]),
        hepatic_impairment: (i > 0).then(|| HepaticImpairment::ALL[i % HepaticImpairment::ALL.len()]),
        breastfeeding: (i > 0).then_some(i == 2),
        sleep_apnoea_or_airway: (i > 0).then_some(i == 3),
        glaucoma: (i > 0).then_some(false),
        suicide_risk: (i > 0).then(|| SuicideRisk::ALL[i % SuicideRisk::ALL.len()]),
    };
    let relative = Finding {
        rule: "hypertension".into(),
        class: Class::Relative,
        message: "Blood pressure ≥ 140/90".into(),
        source: "Clinic rules §2".into(),
        confirmed: true,
    };
    let absolute = Finding {
        rule: "aneurysm".into(),
        class: Class::Absolute,
        message: "Aneurysmal vascular disease".into(),
        source: "Label".into(),
        confirmed: false,
    };
    for i in 0..5_usize {
        let course = &b.courses[i];
        let classified = match i {
            0 | 2 => vec![],
            1 => vec![relative.clone()],
            _ => vec![absolute.clone(), relative.clone()],
        };
        let signature = match i {
            0 | 1 => None,
            2 => Some(Signature {
                decision: Decision { eligible: true, rationales: BTreeMap::new(), note: None },
                by: staff[2],
                at: at(40_010),
            }),
            3 => Some(Signature {
                decision: Decision { eligible: false, rationales: BTreeMap::new(), note: Some("Aneurysm.".into()) },
                by: staff[2],
                at: at(40_020),
            }),
            _ => Some(Signature {
                decision: Decision {
                    eligible: true,
                    rationales: [("hypertension".to_string(), "Controlled on amlodipine; monitor".to_string())]
                        .into_iter()
                        .collect(),
                    note: Some(String::new()),
                },
                by: staff[6],
                at: at(40_030),
            }),
        };
        b.screens.push(Screen {
            id: ScreenId::new(),
            course_id: course.id,
            client_id: course.client_id,
            findings: findings(i),
            classified,
            recorded_by: (i != 0).then(|| staff[2 + i % 2]),
            recorded_at: at(40_000 + i as i64),
            signature,
        });
    }
    b
}

/// Splits a batch in two by client, as the demo imports one batch of clients
/// after another: the first part has the sites, rooms and staff too, the
/// second refers to them.
fn split(b: &ImportBatch) -> [ImportBatch; 2] {
    let first: Vec<ClientId> = b.clients.iter().take(12).map(|c| c.id).collect();
    let part = |mine: bool| {
        let keep = |c: &ClientId| first.contains(c) == mine;
        ImportBatch {
            sites: if mine { b.sites.clone() } else { vec![] },
            rooms: if mine { b.rooms.clone() } else { vec![] },
            staff: if mine { b.staff.clone() } else { vec![] },
            clients: b.clients.iter().filter(|x| keep(&x.id)).cloned().collect(),
            courses: b.courses.iter().filter(|x| keep(&x.client_id)).cloned().collect(),
            encounters: b.encounters.iter().filter(|x| keep(&x.client_id)).cloned().collect(),
            administrations: b.administrations.iter().filter(|x| keep(&x.client_id)).cloned().collect(),
            screens: b.screens.iter().filter(|x| keep(&x.client_id)).cloned().collect(),
        }
    };
    [part(true), part(false)]
}

// ---------------------------------------------------------------------------
// Reading the files back.
// ---------------------------------------------------------------------------

fn open(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open database file")
}

fn strings(conn: &Connection, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    let text = |v: Value| match v {
        Value::Null => None,
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(f) => Some(f.to_string()),
        Value::Text(s) => Some(s),
        Value::Blob(b) => Some(format!("{b:?}")),
    };
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i).map(text)).collect())
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

/// One stored value and its storage class as SQLite reports it (`typeof`).
#[derive(Debug, Clone, PartialEq)]
struct Cell {
    class: String,
    value: Value,
}

/// What may differ between the files: values each loader (or the migration
/// run) stamps with its own clock or makes up. Checked for their shape, not
/// compared.
#[derive(Debug, Clone, Copy)]
enum Stamped {
    /// Microseconds of an instant during the test.
    Now,
    /// A fresh UUID as text.
    NewId,
    /// An integer of the migrator's own (`installed_on`, `execution_time`).
    Integer,
    /// Text of the migrator's own.
    Text,
}

fn stamped(table: &str, column: &str) -> Option<Stamped> {
    match (table, column) {
        ("sites" | "rooms" | "staff", "created_at" | "updated_at") => Some(Stamped::Now),
        ("audit_log", "at") => Some(Stamped::Now),
        ("audit_log", "id") => Some(Stamped::NewId),
        ("_sqlx_migrations", "execution_time") => Some(Stamped::Integer),
        ("_sqlx_migrations", "installed_on") => Some(Stamped::Text),
        _ => None,
    }
}

struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

/// Every row of `table`, every column with its storage class, ordered by the
/// primary key (the audit log by time: its ids are new on each path).
fn read_table(conn: &Connection, table: &str) -> Table {
    let info = strings(conn, &format!("SELECT name, pk FROM pragma_table_info('{table}') ORDER BY cid"));
    let columns: Vec<String> = info.iter().map(|r| r[0].clone().expect("column name")).collect();
    let mut key: Vec<(i64, String)> = info
        .iter()
        .filter_map(|r| {
            let pk: i64 = r[1].as_deref().expect("pk").parse().expect("pk number");
            (pk > 0).then(|| (pk, r[0].clone().expect("column name")))
        })
        .collect();
    key.sort();
    let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let order: Vec<String> = match table {
        "audit_log" => vec!["at".into(), "action".into(), "record_type".into(), "detail".into(), "id".into()],
        _ if key.is_empty() => columns.clone(),
        _ => key.into_iter().map(|(_, c)| c).collect(),
    };
    let select: Vec<String> = columns.iter().map(|c| format!("{0}, typeof({0})", quote(c))).collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        select.join(", "),
        quote(table),
        order.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
    );
    let mut stmt = conn.prepare(&sql).expect("prepare table read");
    let rows = stmt
        .query_map([], |r| {
            (0..columns.len())
                .map(|i| Ok(Cell { value: r.get::<_, Value>(2 * i)?, class: r.get::<_, String>(2 * i + 1)? }))
                .collect::<rusqlite::Result<Vec<Cell>>>()
        })
        .expect("read table")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("rows");
    Table { columns, rows }
}

/// Checks a stamped value's shape; the problem, if any.
fn check_stamped(kind: Stamped, cell: &Cell, window: (i64, i64)) -> Option<String> {
    let ok = match (kind, &cell.value) {
        (Stamped::Now, Value::Integer(v)) => cell.class == "integer" && (window.0..=window.1).contains(v),
        (Stamped::NewId, Value::Text(s)) => {
            cell.class == "text" && uuid::Uuid::parse_str(s).is_ok_and(|u| u.hyphenated().to_string() == *s)
        }
        (Stamped::Integer, Value::Integer(_)) => cell.class == "integer",
        (Stamped::Text, Value::Text(_)) => cell.class == "text",
        _ => false,
    };
    (!ok).then(|| format!("{kind:?} value {:?} ({}) out of shape (window {window:?})", cell.value, cell.class))
}

/// Every column whose values differ between the two files: one line per
/// column, with the number of rows that differ and the first of them.
fn compare_rows(general: &Connection, scratch: &Connection, window: (i64, i64)) -> Vec<String> {
    // The audit chain is made by a store's sealer (a bulk load has none):
    // the entries it would chain are compared in `audit_log`.
    let tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                      AND name NOT IN ('audit_chain', 'audit_checkpoint') ORDER BY name";
    let names = strings(general, tables_sql);
    assert_eq!(names, strings(scratch, tables_sql), "the two files have the same tables");
    // (table.column, rows that differ, the first difference)
    let mut diffs: Vec<(String, usize, String)> = Vec::new();
    let mut note = |at: String, example: String| match diffs.iter_mut().find(|d| d.0 == at) {
        Some(d) => d.1 += 1,
        None => diffs.push((at, 1, example)),
    };
    for name in names {
        let table = name[0].clone().expect("table name");
        let (g, s) = (read_table(general, &table), read_table(scratch, &table));
        assert_eq!(g.columns, s.columns, "{table}: same columns");
        if g.rows.len() != s.rows.len() {
            let example = format!("{} rows by Store::import, {} by ScratchLoad", g.rows.len(), s.rows.len());
            note(table.clone(), example);
            continue;
        }
        for (row_g, row_s) in g.rows.iter().zip(&s.rows) {
            let key = &row_g[0].value;
            for (i, column) in g.columns.iter().enumerate() {
                let (a, b) = (&row_g[i], &row_s[i]);
                let at = format!("{table}.{column}");
                match stamped(&table, column) {
                    Some(kind) => {
                        for (path, cell) in [("Store::import", a), ("ScratchLoad", b)] {
                            if let Some(problem) = check_stamped(kind, cell, window) {
                                note(at.clone(), format!("row {key:?} by {path}: {problem}"));
                            }
                        }
                    }
                    None if a != b => note(
                        at,
                        format!(
                            "row {key:?}: Store::import wrote {:?} ({}), ScratchLoad {:?} ({})",
                            a.value, a.class, b.value, b.class
                        ),
                    ),
                    None => {}
                }
            }
        }
    }
    diffs.into_iter().map(|(at, n, first)| format!("{at}: {n} row(s) differ; first: {first}")).collect()
}

/// Asserts that two lists of `sqlite_master` entries are the same, naming
/// those that are not.
fn same_entries(what: &str, general: &[Vec<Option<String>>], scratch: &[Vec<Option<String>>]) {
    let only = |a: &[Vec<Option<String>>], b: &[Vec<Option<String>>]| {
        a.iter().filter(|x| !b.contains(x)).cloned().collect::<Vec<_>>()
    };
    let (missing, extra) = (only(general, scratch), only(scratch, general));
    assert!(
        missing.is_empty() && extra.is_empty() && general.len() == scratch.len(),
        "{what} differ: only after Store::import {missing:?}; only after ScratchLoad {extra:?}"
    );
}

fn count(conn: &Connection, table: &str) -> usize {
    conn.query_row(&format!("SELECT COUNT(*) FROM \"{table}\""), [], |r| r.get::<_, i64>(0))
        .expect("count")
        .try_into()
        .expect("count fits")
}

// ---------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch_load_writes_the_same_rows_as_store_import() {
    let whole = batch();
    let parts = split(&whole);
    assert!(parts.iter().all(|p| !p.clients.is_empty() && !p.encounters.is_empty()), "both parts carry clients");
    let actor =
        Actor { staff_id: Some(whole.staff[0].0.id), roles: "admin".into(), remote_addr: Some("192.0.2.7".into()) };
    let system = Actor::system("equivalence test");
    let before = Timestamp::now().as_microsecond();

    // The general path, on a store as the server opens it.
    let general = TestDb::sqlite().await;
    let store = general.store().await;
    store.import(&actor, "first part", &parts[0]).await.expect("Store::import, first part");
    store.import(&system, "second part", &parts[1]).await.expect("Store::import, second part");
    store.close().await;

    // The scratch path, as `kairos demo` runs it: the schema made by a store
    // opened for a scratch bulk load (left open meanwhile), then the loader on
    // a thread of its own, batch after batch, then the indexes built again.
    let scratch = TestDb::sqlite().await;
    let opts = StoreOptions { max_connections: 2, migrate: true, scratch_bulk_load: true, ..StoreOptions::default() };
    let loader = Store::connect(&scratch.url, opts).await.expect("create the scratch file");
    let scratch_path = PathBuf::from(scratch.url.sqlite_path().expect("a SQLite file"));
    let (path, load_parts, load_actors) = (scratch_path.clone(), parts.clone(), [actor.clone(), system.clone()]);
    tokio::task::spawn_blocking(move || -> kairos_store::Result<()> {
        let mut load = ScratchLoad::open(&path, 16 * 1024)?;
        load.import(&load_actors[0], "first part", &load_parts[0])?;
        load.import(&load_actors[1], "second part", &load_parts[1])?;
        load.finish()
    })
    .await
    .expect("loader thread")
    .expect("ScratchLoad");
    loader.close().await;
    let after = Timestamp::now().as_microsecond();

    let general_path = PathBuf::from(general.url.sqlite_path().expect("a SQLite file"));
    let (g, s) = (open(&general_path), open(&scratch_path));

    // Both wrote the whole batch.
    for (table, expected) in bulk_tables(&whole) {
        assert!(expected > 0, "the batch puts rows in {table}");
        assert_eq!(count(&g, table), expected, "{table} rows by Store::import");
        assert_eq!(count(&s, table), expected, "{table} rows by ScratchLoad");
    }
    assert_eq!(count(&s, "audit_log"), 2, "one audit entry per imported batch");
    // The doses waiting for an integration session: kept client by client by
    // Store::import, rebuilt whole by ScratchLoad::finish; compared below.
    assert!(count(&g, "integration_due") > 0, "the batch leaves doses with nothing booked after them");

    // Row for row, column for column, storage class included.
    let diffs = compare_rows(&g, &s, (before, after));
    assert!(diffs.is_empty(), "ScratchLoad and Store::import wrote different rows:\n{}", diffs.join("\n"));

    // The scratch file holds together, and has its indexes back.
    let fk = strings(&s, "SELECT \"table\", rowid, parent, fkid FROM pragma_foreign_key_check");
    assert!(fk.is_empty(), "foreign key violations in the ScratchLoad file: {fk:?}");
    let integrity = strings(&s, "PRAGMA integrity_check");
    assert_eq!(integrity, vec![vec![Some("ok".to_string())]], "integrity of the ScratchLoad file");
    let indexes = "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name";
    let general_indexes = strings(&g, indexes);
    assert!(general_indexes.iter().any(|r| r[0].as_deref() == Some("encounters_client")), "indexes listed");
    same_entries("indexes (name, table, definition)", &general_indexes, &strings(&s, indexes));
    let schema = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name";
    same_entries("schema entries", &strings(&g, schema), &strings(&s, schema));
}
