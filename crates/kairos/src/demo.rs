//! The demo practice: a realistic synthetic clinic, deterministic from a
//! seed (for a given anchor date). Every name, number and address is
//! invented: telephone numbers use the 555-01xx range reserved for fiction,
//! e-mails the example.org domain.
//!
//! Shape: one site per 150 clients (the default 120 clients make one site
//! with 6 infusion chairs and 10 staff), each client with one treatment
//! course whose phase follows from how long ago it started, and the
//! encounters of that course: intake, preparation, a six-dose induction
//! series with an integration session the day after each dose, then monthly
//! maintenance doses. Past encounters are completed (a few are no-shows or
//! cancelled); the next three weeks are booked. Each course past screening
//! has a prescriber-signed screen; each client answers PHQ-9 and GAD-7
//! along a synthetic trajectory (some respond, some relapse; more respond
//! when integration followed the doses), and item 9 answers raise alerts.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use kairos_domain::client::{Client, ClientDetails, ClientStatus};
use kairos_domain::course::{Course, Phase};
use kairos_domain::encounter::{Encounter, EncounterKind, EncounterStatus};
use kairos_domain::ids::{AdministrationId, AlertId};
use kairos_domain::ids::{ClientId, CourseId, EncounterId, RoomId, SiteId, StaffId};
use kairos_domain::instruments::{Instrument, Library};
use kairos_domain::roles::{Role, Roles};
use kairos_domain::site::{Room, RoomKind, Site, TimeZoneName};
use kairos_domain::staff::Staff;
use kairos_domain::text::Email;
use kairos_store::Actor;
use kairos_store::import::{ImportBatch, ScratchLoad};
use kairos_store::measures::{Acknowledgement, Administration, Alert, MeasureSource};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

pub const CLIENTS_PER_SITE: usize = 150;
pub const CHAIRS_PER_SITE: usize = 6;
/// Clients per import transaction.
pub const BATCH: usize = 2000;

/// What [`fill_scratch`] wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub clients: usize,
    pub encounters: usize,
}

/// Writes the whole practice through `load`: a thread of its own makes the
/// next batch while this one writes the previous. `progress` hears the
/// number of clients written after each batch.
pub fn fill_scratch(
    load: &mut ScratchLoad,
    mut generator: DemoGenerator,
    actor: &Actor,
    what: &str,
    mut progress: impl FnMut(usize),
) -> kairos_store::Result<Written> {
    let (tx, rx) = std::sync::mpsc::sync_channel(2);
    std::thread::scope(|s| {
        s.spawn(move || {
            while let Some(batch) = generator.next_batch() {
                // The writer has stopped (on an error): so does this thread.
                if tx.send(batch).is_err() {
                    break;
                }
            }
        });
        let mut written = Written::default();
        for batch in rx {
            load.import(actor, what, &batch)?;
            written.clients += batch.clients.len();
            written.encounters += batch.encounters.len();
            progress(written.clients);
        }
        Ok(written)
    })
}

/// The named demo accounts (all at the first site).
pub const DEMO_LOGINS: [(&str, &str, &[Role]); 10] = [
    ("admin", "Morgan Reyes", &[Role::Admin]),
    ("director", "Dr. Priya Natarajan", &[Role::Director]),
    ("prescriber", "Dr. Samuel Osei", &[Role::Prescriber]),
    ("prescriber2", "Dr. Lena Park", &[Role::Prescriber]),
    ("nurse", "Jordan Blake, RN", &[Role::Nurse]),
    ("nurse2", "Taylor Nguyen, RN", &[Role::Nurse]),
    ("therapist", "Dr. Maya Fischer", &[Role::Therapist]),
    ("therapist2", "Eli Thompson, LCSW", &[Role::Therapist]),
    ("therapist3", "Rosa Alvarez, LMFT", &[Role::Therapist]),
    ("coordinator", "Chris Okoro", &[Role::Coordinator]),
];

const GIVEN: [&str; 48] = [
    "Avery", "Blake", "Camille", "Dario", "Elena", "Farah", "Gabriel", "Hana", "Idris", "Jonah", "Keiko", "Luca",
    "Marisol", "Nadia", "Omar", "Paloma", "Quinn", "Rafael", "Sana", "Tomas", "Uma", "Vera", "Wesley", "Ximena",
    "Yusuf", "Zara", "Amara", "Bruno", "Celeste", "Dmitri", "Esme", "Felix", "Greta", "Hugo", "Ines", "Jasper", "Kira",
    "Leon", "Mina", "Nico", "Orla", "Pavel", "Rhea", "Soren", "Talia", "Viktor", "Willa", "Yara",
];
const FAMILY: [&str; 56] = [
    "Abernathy",
    "Bellweather",
    "Castellano",
    "Delacroix",
    "Eastwood",
    "Fairbanks",
    "Galloway",
    "Hartigan",
    "Ingram",
    "Jablonski",
    "Kowalczyk",
    "Lindqvist",
    "Marchetti",
    "Novak",
    "Okonkwo",
    "Petrakis",
    "Quintero",
    "Rasmussen",
    "Szabo",
    "Takahashi",
    "Underhill",
    "Valdivia",
    "Whitcombe",
    "Yilmaz",
    "Zielinski",
    "Ashdown",
    "Brannigan",
    "Cordero",
    "Dunmore",
    "Esposito",
    "Fitzroy",
    "Grunewald",
    "Halvorsen",
    "Iwasaki",
    "Jovanovic",
    "Kirkland",
    "Lachance",
    "Mbeki",
    "Nakamura",
    "Oyelaran",
    "Pemberton",
    "Rosales",
    "Sandoval",
    "Thornbury",
    "Umarov",
    "Vasquez",
    "Winslow",
    "Xu",
    "Yamamoto",
    "Zamora",
    "Achterberg",
    "Brightwater",
    "Coelho",
    "Duval",
    "Ekwueme",
    "Fontaine",
];
const DEMO_STREETS: [&str; 8] = ["Alder", "Birch", "Cedar", "Juniper", "Larch", "Maple", "Rowan", "Willow"];
const PRONOUNS: [Option<&str>; 4] = [Some("she/her"), Some("he/him"), Some("they/them"), None];
const PROTOCOLS: [&str; 5] =
    ["apa_iv_induction", "ketamine_cbt_trd", "ketamine_wet_ptsd", "kap_sublingual_im", "esketamine_label"];
const ZONES: [&str; 4] = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"];

/// Staff of one site, by role.
struct SiteStaff {
    prescribers: Vec<StaffId>,
    nurses: Vec<StaffId>,
    therapists: Vec<StaffId>,
}

struct SiteInfo {
    site: Site,
    tz: TimeZone,
    chairs: Vec<RoomId>,
    therapy_rooms: Vec<RoomId>,
    staff: SiteStaff,
}

/// Produces the practice batch by batch (the first batch holds the sites,
/// rooms and staff).
pub struct DemoGenerator {
    rng: StdRng,
    today: Date,
    now: Timestamp,
    clients: usize,
    next_client: usize,
    sites: Vec<SiteInfo>,
    /// (site, day, slot) -> chairs taken.
    chair_use: HashMap<(usize, Date, u8), usize>,
    /// (therapist, day, hour) taken.
    therapist_use: HashMap<(StaffId, Date, i8), ()>,
    header: Option<ImportBatch>,
    phq9: Instrument,
    gad7: Instrument,
    screening: kairos_domain::screening::Rules,
}

impl DemoGenerator {
    /// `password_hash` is set on the named demo accounts; other staff cannot
    /// sign in until an administrator sets a password.
    pub fn new(clients: usize, seed: u64, now: Timestamp, password_hash: &str) -> DemoGenerator {
        let mut rng = StdRng::seed_from_u64(seed);
        let n_sites = clients.div_ceil(CLIENTS_PER_SITE).max(1);
        let mut header = ImportBatch::default();
        let mut sites = Vec::with_capacity(n_sites);
        for s in 0..n_sites {
            let zone = if s == 0 { ZONES[0] } else { ZONES[s % ZONES.len()] };
            let tz_name = TimeZoneName::parse("time_zone", zone).expect("the demo zones are IANA names");
            let site = Site {
                id: SiteId(uuid_at(&mut rng, now)),
                name: if s == 0 { "Kairos Demo Clinic".into() } else { format!("Kairos Demo Clinic {}", s + 1) },
                time_zone: tz_name.clone(),
            };
            let mut room = |name: String, kind: RoomKind, rng: &mut StdRng| {
                let r = Room { id: RoomId(uuid_at(rng, now)), site_id: site.id, name, kind };
                header.rooms.push(r.clone());
                r.id
            };
            let chairs: Vec<RoomId> =
                (1..=CHAIRS_PER_SITE).map(|i| room(format!("Chair {i}"), RoomKind::InfusionChair, &mut rng)).collect();
            let therapy_rooms: Vec<RoomId> =
                (1..=3).map(|i| room(format!("Therapy room {i}"), RoomKind::TherapyRoom, &mut rng)).collect();
            room("Group room".into(), RoomKind::GroupRoom, &mut rng);
            let mut staff = SiteStaff { prescribers: vec![], nurses: vec![], therapists: vec![] };
            let mut add = |login: String, name: String, roles: &[Role], hash: Option<String>, rng: &mut StdRng| {
                let id = StaffId(uuid_at(rng, now));
                let email =
                    Email::parse("email", &format!("{login}@demo.kairos")).expect("demo logins are e-mail addresses");
                let roles = Roles::new(roles.iter().copied()).expect("every demo account has a role");
                for r in roles.iter() {
                    match r {
                        Role::Prescriber => staff.prescribers.push(id),
                        Role::Nurse => staff.nurses.push(id),
                        Role::Therapist => staff.therapists.push(id),
                        _ => {}
                    }
                }
                header.staff.push((Staff { id, name, email, roles, active: true }, hash));
            };
            if s == 0 {
                for (login, name, roles) in DEMO_LOGINS {
                    add(login.into(), name.into(), roles, Some(password_hash.to_string()), &mut rng);
                }
            } else {
                let n = s + 1;
                let person = |rng: &mut StdRng| {
                    format!("{} {}", GIVEN[rng.gen_range(0..GIVEN.len())], FAMILY[rng.gen_range(0..FAMILY.len())])
                };
                let p = person(&mut rng);
                add(format!("prescriber.site{n}"), format!("Dr. {p}"), &[Role::Prescriber], None, &mut rng);
                let p = person(&mut rng);
                add(format!("nurse.site{n}"), format!("{p}, RN"), &[Role::Nurse], None, &mut rng);
                for t in 1..=2 {
                    let p = person(&mut rng);
                    add(format!("therapist{t}.site{n}"), p, &[Role::Therapist], None, &mut rng);
                }
            }
            header.sites.push(site.clone());
            sites.push(SiteInfo { tz: tz_name.tz(), site, chairs, therapy_rooms, staff });
        }
        let today = now.to_zoned(sites[0].tz.clone()).date();
        DemoGenerator {
            rng,
            today,
            now,
            clients,
            next_client: 0,
            sites,
            chair_use: HashMap::new(),
            therapist_use: HashMap::new(),
            header: Some(header),
            phq9: Library::shipped()
                .ok()
                .and_then(|l| l.get("phq9").cloned())
                .expect("the shipped PHQ-9 definition loads (tested)"),
            gad7: Library::shipped()
                .ok()
                .and_then(|l| l.get("gad7").cloned())
                .expect("the shipped GAD-7 definition loads (tested)"),
            screening: kairos_domain::screening::Rules::shipped().expect("the shipped screening rules load (tested)"),
        }
    }

    /// The next batch, or `None` when the practice is complete.
    pub fn next_batch(&mut self) -> Option<ImportBatch> {
        let mut batch = self.header.take().unwrap_or_default();
        let end = (self.next_client + BATCH).min(self.clients);
        if self.next_client >= end && batch.sites.is_empty() {
            return None;
        }
        for i in self.next_client..end {
            self.client(i, &mut batch);
        }
        self.next_client = end;
        // Rows in key order fill the B-tree pages one after another.
        batch.clients.sort_by_key(|c| c.id);
        batch.courses.sort_by_key(|c| c.id);
        batch.encounters.sort_by_key(|e| e.id);
        batch.administrations.sort_by_key(|a| a.id);
        batch.screens.sort_by_key(|s| s.id);
        Some(batch)
    }

    fn client(&mut self, i: usize, batch: &mut ImportBatch) {
        let site_ix = (i / CLIENTS_PER_SITE).min(self.sites.len() - 1);
        let rng = &mut self.rng;
        let given = GIVEN[rng.gen_range(0..GIVEN.len())];
        let family = FAMILY[rng.gen_range(0..FAMILY.len())];
        let dob =
            Date::new(rng.gen_range(1952..=2004), rng.gen_range(1..=12), rng.gen_range(1..=28)).unwrap_or(self.today);
        // Courses started up to six months ago.
        let started_days_ago: i64 = rng.gen_range(0..=182);
        let started_on = self.today.checked_sub(started_days_ago.days()).unwrap_or(self.today);
        let discontinue_at: Option<i64> = rng.gen_bool(0.08).then(|| rng.gen_range(5..=120));
        let complete_at: i64 = if rng.gen_bool(0.5) { rng.gen_range(45..=70) } else { 10_000 };
        let elapsed = started_days_ago;
        let phase = phase_at(elapsed, discontinue_at, complete_at);
        let status = match phase {
            Phase::Completed => {
                if rng.gen_bool(0.5) {
                    ClientStatus::Discharged
                } else {
                    ClientStatus::Inactive
                }
            }
            Phase::Discontinued => ClientStatus::Inactive,
            Phase::Screening if rng.gen_bool(0.3) => ClientStatus::Prospective,
            _ => ClientStatus::Active,
        };
        let phone =
            format!("+1 {} 555-01{:02}", [212, 312, 415, 503, 617, 720][rng.gen_range(0..6)], rng.gen_range(0..100));
        let ec = rng.gen_bool(0.85).then(|| {
            (
                format!("{} {}", GIVEN[rng.gen_range(0..GIVEN.len())], family),
                format!("+1 {} 555-01{:02}", [212, 312, 415][rng.gen_range(0..3)], rng.gen_range(0..100)),
            )
        });
        let created = self
            .day_time(site_ix, started_on, 8, 0)
            .checked_sub(SignedDuration::from_hours(24 * 3))
            .unwrap_or(self.now);
        let client_id = ClientId(uuid_at(&mut self.rng, created));
        let details = ClientDetails {
            given_name: given.into(),
            family_name: family.into(),
            date_of_birth: dob,
            pronouns: PRONOUNS[self.rng.gen_range(0..PRONOUNS.len())].map(str::to_string),
            email: Email::parse("email", &format!("{}.{}{}@example.org", given, family, i).to_lowercase()).ok(),
            phone: Some(phone),
            // Synthetic: fictional streets in a fictional town.
            address: Some(format!(
                "{} {} Street, Fairhaven ZZ {:05}",
                10 + self.rng.gen_range(0..890),
                DEMO_STREETS[self.rng.gen_range(0..DEMO_STREETS.len())],
                self.rng.gen_range(0..100_000)
            )),
            emergency_contact_name: ec.as_ref().map(|e| e.0.clone()),
            emergency_contact_phone: ec.map(|e| e.1),
            status,
        };
        batch.clients.push(Client { id: client_id, details, created_at: created, updated_at: created });

        let site = &self.sites[site_ix];
        let prescriber = site.staff.prescribers[i % site.staff.prescribers.len()];
        let therapist = site.staff.therapists[i % site.staff.therapists.len()];
        let ended_on = match phase {
            Phase::Discontinued => discontinue_at.and_then(|d| started_on.checked_add(d.days()).ok()),
            Phase::Completed => started_on.checked_add(complete_at.days()).ok(),
            _ => None,
        };
        let course_id = CourseId(uuid_at(&mut self.rng, created));
        batch.courses.push(Course {
            id: course_id,
            client_id,
            protocol: PROTOCOLS[self.rng.gen_range(0..PROTOCOLS.len())].into(),
            phase,
            started_on,
            ended_on,
            prescriber_id: Some(prescriber),
            therapist_id: Some(therapist),
            created_at: created,
            updated_at: created,
        });

        self.screen(batch, client_id, course_id, prescriber, phase, self.day_time(site_ix, started_on, 10, 0));

        // The course's timeline in days from its start.
        let stop_day = discontinue_at.unwrap_or(i64::MAX).min(complete_at);
        let horizon = elapsed + 21;
        let mut plan: Vec<(i64, EncounterKind)> =
            vec![(0, EncounterKind::Intake), (7, EncounterKind::Preparation), (10, EncounterKind::Preparation)];
        for d in [14, 16, 18, 21, 23, 25] {
            plan.push((d, EncounterKind::Dosing));
            plan.push((d + 1, EncounterKind::Integration));
        }
        for m in 1..=5 {
            let d = 25 + 28 * m;
            plan.push((d, EncounterKind::Dosing));
            plan.push((d + 1, EncounterKind::Integration));
            plan.push((d + 7, EncounterKind::IndividualTherapy));
        }
        // A client comes in at most once a day.
        let first_encounter = batch.encounters.len();
        let mut busy_days = std::collections::HashSet::new();
        for (day, kind) in plan {
            if day > horizon || day > stop_day {
                continue;
            }
            let Ok(date) = started_on.checked_add(day.days()) else {
                continue;
            };
            self.encounter(batch, site_ix, client_id, course_id, prescriber, therapist, date, kind, &mut busy_days);
        }
        let start = self.day_time(site_ix, started_on, 9, 0);
        self.questionnaires(batch, first_encounter, client_id, course_id, therapist, start);
    }

    /// The pre-treatment screen: none or unsigned while in screening, else
    /// signed eligible by the prescriber, some with relative
    /// contraindications explained and notes.
    fn screen(
        &mut self,
        batch: &mut ImportBatch,
        client: ClientId,
        course: CourseId,
        prescriber: StaffId,
        phase: Phase,
        start: Timestamp,
    ) {
        use kairos_domain::screening::{
            Context, Decision, HepaticImpairment, History, MedicationClass, Pregnancy, ScreenFindings, SuicideRisk,
        };
        let rng = &mut self.rng;
        if phase == Phase::Screening && rng.gen_bool(0.5) {
            return;
        }
        let mut f = ScreenFindings {
            diagnosis: "Major depressive disorder, recurrent, treatment-resistant".into(),
            prior_treatments: vec!["two antidepressant trials at adequate dose".into(), "psychotherapy (CBT)".into()],
            psychosis: History::None,
            substance_use: History::None,
            cardiovascular_disease: false,
            systolic_bp: rng.gen_range(108..=134),
            diastolic_bp: rng.gen_range(66..=86),
            heart_rate: rng.gen_range(58..=88),
            pregnancy: if rng.gen_bool(0.5) { Pregnancy::No } else { Pregnancy::NotApplicable },
            raised_intracranial_pressure: false,
            aneurysmal_vascular_disease: false,
            intracerebral_haemorrhage_history: false,
            medications: vec![],
            weight_kg: f64::from(rng.gen_range(50..=110)),
            allergies: "none known".into(),
            ketamine_hypersensitivity: false,
            off_label_consent: true,
            bipolar_or_mania: Some(History::None),
            hepatic_impairment: Some(HepaticImpairment::None),
            breastfeeding: Some(false),
            sleep_apnoea_or_airway: Some(rng.gen_bool(0.05)),
            glaucoma: Some(false),
            suicide_risk: Some(if rng.gen_bool(0.15) { SuicideRisk::Moderate } else { SuicideRisk::Low }),
        };
        if rng.gen_bool(0.12) {
            f.systolic_bp = rng.gen_range(140..=152);
        }
        if rng.gen_bool(0.04) {
            f.psychosis = History::Past;
        }
        if rng.gen_bool(0.1) {
            f.medications.push(MedicationClass::Benzodiazepine);
        }
        // Consent to off-label treatment is recorded on every demo screen, so
        // the course's label status changes nothing here; demo clients are adults.
        let classified = self.screening.classify(&f, &Context { off_label: true, age_years: None, route: None });
        let recorded = (start + SignedDuration::from_hours(24 * 2)).min(self.now - SignedDuration::from_hours(2));
        let signature = (phase != Phase::Screening).then(|| {
            let rationales = classified
                .iter()
                .filter(|x| x.class == kairos_domain::screening::Class::Relative)
                .map(|x| {
                    (x.rule.clone(), "Reviewed with the client; precautions in the dosing plan (demo).".to_string())
                })
                .collect();
            kairos_store::screens::Signature {
                decision: Decision { eligible: true, rationales, note: None },
                by: prescriber,
                at: (recorded + SignedDuration::from_hours(24)).min(self.now - SignedDuration::from_hours(1)),
            }
        });
        batch.screens.push(kairos_store::screens::Screen {
            id: kairos_domain::ids::ScreenId(uuid_at(rng, recorded)),
            course_id: course,
            client_id: client,
            findings: f,
            classified,
            recorded_by: Some(prescriber),
            recorded_at: recorded,
            signature,
        });
    }

    /// PHQ-9 and GAD-7 for one course: baseline at the start, before induction doses
    /// 1, 3 and 6 and before every maintenance dose, then every four weeks
    /// after the last dose. Each client follows a synthetic trajectory: more
    /// respond when most doses were followed by an integration session
    /// within 72 h, some responders relapse, and a few answers endorse item
    /// 9, raising an alert (acknowledged unless raised in the last 2 days).
    fn questionnaires(
        &mut self,
        batch: &mut ImportBatch,
        first_encounter: usize,
        client: ClientId,
        course: CourseId,
        therapist: StaffId,
        start: Timestamp,
    ) {
        let encounters = &batch.encounters[first_encounter..];
        let doses: Vec<Timestamp> = encounters
            .iter()
            .filter(|e| e.kind == EncounterKind::Dosing && e.status == EncounterStatus::Completed)
            .map(|e| e.scheduled_start)
            .collect();
        let integrated = doses
            .iter()
            .filter(|d| {
                encounters.iter().any(|e| {
                    e.kind == EncounterKind::Integration
                        && e.status == EncounterStatus::Completed
                        && e.scheduled_start > **d
                        && e.scheduled_start.duration_since(**d) <= SignedDuration::from_hours(72)
                })
            })
            .count();
        let therapy_in_window = !doses.is_empty() && integrated * 3 >= doses.len() * 2;
        let rng = &mut self.rng;
        let responder = rng.gen_bool(if therapy_in_window { 0.62 } else { 0.42 });
        let baseline: f64 = rng.gen_range(12.0..=24.0);
        let drop: f64 = if responder { rng.gen_range(0.55..0.85) } else { rng.gen_range(0.05..0.4) };
        let relapse_after_days: Option<i64> = (responder && rng.gen_bool(0.3)).then(|| rng.gen_range(40..150));
        let mut times: Vec<(Timestamp, usize)> = vec![(start, 0)];
        for (n, d) in doses.iter().enumerate() {
            if [0, 2, 5].contains(&n) || n >= 6 {
                times.push((*d - SignedDuration::from_mins(20), n));
            }
        }
        if let Some(last) = doses.last() {
            let mut t = *last + SignedDuration::from_hours(24 * 28);
            while t < self.now {
                times.push((t, doses.len()));
                t += SignedDuration::from_hours(24 * 28);
            }
        }
        let first_dose = doses.first().copied();
        for (at, doses_before) in times {
            if at >= self.now {
                continue;
            }
            let progress = (doses_before as f64 / 4.0).min(1.0);
            let mut mean = baseline * (1.0 - drop * progress);
            if let (Some(days), Some(first)) = (relapse_after_days, first_dose)
                && at > first + SignedDuration::from_hours(24 * days)
            {
                mean = baseline * 0.85;
            }
            let noise: f64 = rng.gen_range(-2.0..=2.0);
            let total = (mean + noise).round().clamp(0.0, 27.0) as i64;
            let item9 = i64::from(total >= 14 && rng.gen_bool(0.1));
            let mut answers = spread(rng, total - item9, 8);
            answers.push(Some(item9));
            answers.push(Some(rng.gen_range(0..=2)));
            let Ok(scored) = self.phq9.score(&answers) else { continue };
            let id = AdministrationId(uuid_at(rng, at));
            let source = if rng.gen_bool(0.6) { MeasureSource::SelfReport } else { MeasureSource::Clinician };
            let alerts = scored
                .alerts
                .iter()
                .map(|f| {
                    // The last two days' alerts are left open for the demo's clinicians to work.
                    let acknowledged = (at < self.now - SignedDuration::from_hours(48)).then(|| Acknowledgement {
                        at: at + SignedDuration::from_mins(rng.gen_range(20..200)),
                        by: therapist,
                        action_note: "Phoned the client the same day; safety plan reviewed; no current intent.".into(),
                    });
                    Alert {
                        id: AlertId(uuid_at(rng, at)),
                        client_id: client,
                        administration_id: Some(id),
                        instrument: Some("phq9".into()),
                        item: Some(f.item.clone()),
                        item_value: Some(f.value),
                        level: f.level,
                        message: f.message.clone(),
                        self_harm: f.self_harm,
                        created_at: at,
                        acknowledged,
                        dosing_session_id: None,
                        notify_staff_id: None,
                    }
                })
                .collect();
            batch.administrations.push(Administration {
                id,
                client_id: client,
                course_id: Some(course),
                instrument: "phq9".into(),
                instrument_version: self.phq9.version.clone(),
                completed_at: at,
                answers: Some(answers),
                score: scored.score,
                prorated: scored.prorated,
                subscores: scored.subscores,
                severity: scored.severity,
                provisional_diagnosis: scored.provisional_diagnosis,
                source,
                entered_by: (source == MeasureSource::Clinician).then_some(therapist),
                created_at: at,
                entered_in_error: None,
                alerts,
            });
            // GAD-7 at the same visit, tracking the same course more loosely.
            let anxiety = ((mean / 27.0 * 21.0 * 0.8) + rng.gen_range(-2.0..=2.0)).round().clamp(0.0, 21.0) as i64;
            let mut g = spread(rng, anxiety, 7);
            g.push(Some(rng.gen_range(0..=2)));
            let Ok(scored) = self.gad7.score(&g) else { continue };
            batch.administrations.push(Administration {
                id: AdministrationId(uuid_at(rng, at)),
                client_id: client,
                course_id: Some(course),
                instrument: "gad7".into(),
                instrument_version: self.gad7.version.clone(),
                completed_at: at,
                answers: Some(g),
                score: scored.score,
                prorated: scored.prorated,
                subscores: scored.subscores,
                severity: scored.severity,
                provisional_diagnosis: scored.provisional_diagnosis,
                source,
                entered_by: (source == MeasureSource::Clinician).then_some(therapist),
                created_at: at,
                entered_in_error: None,
                alerts: Vec::new(),
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn encounter(
        &mut self,
        batch: &mut ImportBatch,
        site_ix: usize,
        client: ClientId,
        course: CourseId,
        prescriber: StaffId,
        therapist: StaffId,
        mut date: Date,
        kind: EncounterKind,
        busy_days: &mut std::collections::HashSet<Date>,
    ) {
        // Weekends are closed, and the client already has a visit that day:
        // move to the next open weekday.
        while matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) || busy_days.contains(&date) {
            date = date.tomorrow().unwrap_or(date);
        }
        let (start, end, room, staff) = if kind == EncounterKind::Dosing {
            // Four dosing slots a day, each holding a chair for two hours.
            const SLOTS: [(i8, i8); 4] = [(8, 0), (10, 30), (13, 0), (15, 30)];
            let mut found = None;
            'days: for _ in 0..14 {
                for (s, (h, m)) in SLOTS.iter().enumerate() {
                    let used = self.chair_use.entry((site_ix, date, s as u8)).or_insert(0);
                    if *used < CHAIRS_PER_SITE {
                        *used += 1;
                        found = Some((*h, *m, *used - 1));
                        break 'days;
                    }
                }
                date = next_client_day(date, busy_days);
            }
            let Some((h, m, chair)) = found else { return };
            busy_days.insert(date);
            let site = &self.sites[site_ix];
            let nurse = site.staff.nurses[chair % site.staff.nurses.len()];
            let start = self.day_time(site_ix, date, h, m);
            (start, start + SignedDuration::from_mins(120), Some(site.chairs[chair]), nurse)
        } else {
            let who = if kind == EncounterKind::Intake { prescriber } else { therapist };
            let mut found = None;
            'days: for _ in 0..14 {
                for h in 9..17 {
                    if let std::collections::hash_map::Entry::Vacant(v) = self.therapist_use.entry((who, date, h)) {
                        v.insert(());
                        found = Some(h);
                        break 'days;
                    }
                }
                date = next_client_day(date, busy_days);
            }
            let Some(h) = found else { return };
            busy_days.insert(date);
            let site = &self.sites[site_ix];
            let room = site.therapy_rooms[(h as usize) % site.therapy_rooms.len()];
            let start = self.day_time(site_ix, date, h, 0);
            let mins = if kind == EncounterKind::Intake { 60 } else { 50 };
            (start, start + SignedDuration::from_mins(mins), Some(room), who)
        };
        let past = end < self.now;
        let roll = if past { self.rng.gen_range(0..100) } else { 100 };
        let status = if past {
            match roll {
                0..=3 => EncounterStatus::NoShow,
                4..=9 => EncounterStatus::Cancelled,
                _ => EncounterStatus::Completed,
            }
        } else if start < self.now {
            EncounterStatus::Arrived
        } else {
            EncounterStatus::Booked
        };
        // A cancellation says why (the record requires it); a no-show
        // sometimes carries what the front desk learned.
        let status_reason = match roll {
            0 | 1 => Some("no answer by phone"),
            4 | 5 => Some("client unwell"),
            6 | 7 => Some("no driver available after the dose"),
            8 => Some("rescheduled at the client's request"),
            9 => Some("blood pressure high at the pre-dose check"),
            _ => None,
        }
        .map(str::to_string);
        let (actual_start, actual_end) = match status {
            EncounterStatus::Completed => {
                let late = SignedDuration::from_mins(self.rng.gen_range(0..10));
                (Some(start + late), Some(end + late))
            }
            EncounterStatus::Arrived => (Some(start), None),
            _ => (None, None),
        };
        let booked_at = start.checked_sub(SignedDuration::from_hours(24 * 7)).unwrap_or(start).min(self.now);
        batch.encounters.push(Encounter {
            id: EncounterId(uuid_at(&mut self.rng, booked_at)),
            client_id: client,
            course_id: Some(course),
            site_id: self.sites[site_ix].site.id,
            room_id: room,
            staff_id: Some(staff),
            kind,
            status,
            scheduled_start: start,
            scheduled_end: end,
            actual_start,
            actual_end,
            created_at: booked_at,
            updated_at: actual_end.unwrap_or(booked_at).min(self.now),
            status_reason,
        });
    }

    fn day_time(&self, site_ix: usize, date: Date, h: i8, m: i8) -> Timestamp {
        date.at(h, m, 0, 0).to_zoned(self.sites[site_ix].tz.clone()).map(|z| z.timestamp()).unwrap_or(self.now)
    }
}

/// `total` spread at random over `n` items scored 0-3.
fn spread(rng: &mut StdRng, total: i64, n: usize) -> Vec<Option<i64>> {
    let mut items = vec![0i64; n];
    let mut left = total.min(3 * n as i64);
    while left > 0 {
        let k = rng.gen_range(0..n);
        if items[k] < 3 {
            items[k] += 1;
            left -= 1;
        }
    }
    items.into_iter().map(Some).collect()
}

/// The next weekday on which the client has no visit yet.
fn next_client_day(d: Date, busy: &std::collections::HashSet<Date>) -> Date {
    let mut n = d.tomorrow().unwrap_or(d);
    while matches!(n.weekday(), Weekday::Saturday | Weekday::Sunday) || busy.contains(&n) {
        n = n.tomorrow().unwrap_or(n);
    }
    n
}

/// The phase a course is in `elapsed` days after it started.
fn phase_at(elapsed: i64, discontinue_at: Option<i64>, complete_at: i64) -> Phase {
    if discontinue_at.is_some_and(|d| elapsed >= d) {
        return Phase::Discontinued;
    }
    if elapsed >= complete_at {
        return Phase::Completed;
    }
    match elapsed {
        0..=6 => Phase::Screening,
        7..=13 => Phase::Preparation,
        14..=26 => Phase::Induction,
        27..=52 => Phase::Integration,
        _ => Phase::Maintenance,
    }
}

/// A UUIDv7 for `at` whose random part comes from the seeded generator, so
/// the practice is the same on every run with the same seed and date.
fn uuid_at(rng: &mut StdRng, at: Timestamp) -> uuid::Uuid {
    let mut bytes = [0u8; 10];
    rng.fill(&mut bytes);
    let ms = u64::try_from(at.as_millisecond()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(ms, &bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn practice(n: usize, seed: u64) -> Vec<ImportBatch> {
        let now: Timestamp = "2026-11-27T15:00:00Z".parse().expect("ts");
        let mut g = DemoGenerator::new(n, seed, now, "hash");
        std::iter::from_fn(|| g.next_batch()).collect()
    }

    #[test]
    fn the_default_practice_has_one_site_six_chairs_ten_staff_and_every_phase() {
        let b = practice(120, 7);
        let all: ImportBatch = b.into_iter().fold(ImportBatch::default(), |mut acc, x| {
            acc.sites.extend(x.sites);
            acc.rooms.extend(x.rooms);
            acc.staff.extend(x.staff);
            acc.clients.extend(x.clients);
            acc.courses.extend(x.courses);
            acc.encounters.extend(x.encounters);
            acc
        });
        assert_eq!(all.sites.len(), 1);
        assert_eq!(all.rooms.iter().filter(|r| r.kind == RoomKind::InfusionChair).count(), 6);
        assert_eq!(all.staff.len(), 10);
        assert_eq!(all.clients.len(), 120);
        for p in Phase::ALL {
            assert!(all.courses.iter().any(|c| c.phase == *p), "no course in {p}");
        }
        assert!(all.encounters.iter().any(|e| e.status == EncounterStatus::Booked));
        assert!(all.encounters.iter().any(|e| e.status == EncounterStatus::Completed));
        // No client has two visits on one day (so never two at once).
        let mut visits = std::collections::HashSet::new();
        for e in &all.encounters {
            let day = e.scheduled_start.to_zoned(TimeZone::UTC).date();
            assert!(visits.insert((e.client_id, day)), "client booked twice on {day}");
        }
        // No chair is double-booked.
        let mut seen = std::collections::HashSet::new();
        for e in all.encounters.iter().filter(|e| e.kind == EncounterKind::Dosing) {
            assert!(seen.insert((e.room_id, e.scheduled_start)), "chair double-booked");
        }
    }

    #[test]
    fn every_course_past_screening_has_a_signed_eligible_screen_its_findings_support() {
        let now: Timestamp = "2026-11-27T15:00:00Z".parse().expect("ts");
        let b = practice(300, 11);
        let courses: Vec<&Course> = b.iter().flat_map(|x| &x.courses).collect();
        let screens: Vec<&kairos_store::screens::Screen> = b.iter().flat_map(|x| &x.screens).collect();
        let rules = kairos_domain::screening::Rules::shipped().expect("rules");
        for c in &courses {
            let s = screens.iter().find(|s| s.course_id == c.id);
            if c.phase == Phase::Screening {
                assert!(s.is_none_or(|s| s.signature.is_none()), "not signed while screening");
                continue;
            }
            let s = s.expect("a screen for every course past screening");
            assert!(s.recorded_at < now && s.signature.as_ref().is_some_and(|g| g.at <= now && g.at > s.recorded_at));
            assert_eq!(
                s.classified,
                rules.classify(
                    &s.findings,
                    &kairos_domain::screening::Context { off_label: true, age_years: None, route: None }
                ),
                "classified by the shipped rules"
            );
            let d = &s.signature.as_ref().expect("signed").decision;
            assert!(d.eligible);
            d.check(&s.classified).expect("each relative contraindication has a rationale");
        }
        assert!(screens.iter().any(|s| !s.classified.is_empty()), "some screens have findings");
    }

    #[test]
    fn the_same_seed_gives_the_same_practice() {
        let ids = |b: Vec<ImportBatch>| {
            b.into_iter().flat_map(|x| x.clients).map(|c| (c.id, c.details.family_name)).collect::<Vec<_>>()
        };
        assert_eq!(ids(practice(50, 1)), ids(practice(50, 1)));
        assert_ne!(ids(practice(50, 1)), ids(practice(50, 2)));
    }

    #[test]
    fn phases_follow_elapsed_time() {
        assert_eq!(phase_at(0, None, 10_000), Phase::Screening);
        assert_eq!(phase_at(20, None, 10_000), Phase::Induction);
        assert_eq!(phase_at(60, None, 10_000), Phase::Maintenance);
        assert_eq!(phase_at(60, None, 50), Phase::Completed);
        assert_eq!(phase_at(60, Some(30), 50), Phase::Discontinued);
    }
}
