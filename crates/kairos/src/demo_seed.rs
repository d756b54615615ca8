//! The demo practice's records beyond the generated clients: the demo
//! sign-ins, the controlled-substance books, signed integration notes, a
//! process group, and a portal client with a charted dose and a journal.
//! Everything here is synthetic.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use kairos_store::{Actor, Store};

use crate::demo;

/// The demo password and whether it was generated here.
pub(crate) fn demo_password() -> (String, bool) {
    match std::env::var("KAIROS_DEMO_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => {
            use rand::Rng;
            const WORDS: [&str; 16] = [
                "amber", "brook", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "juniper", "kestrel",
                "lumen", "meadow", "north", "orchid", "prairie",
            ];
            let mut rng = rand::thread_rng();
            let words: Vec<&str> = (0..4).map(|_| WORDS[rng.gen_range(0..WORDS.len())]).collect();
            (format!("{}-{}", words.join("-"), rng.gen_range(10..100)), true)
        }
    }
}

pub(crate) fn print_demo_logins(password: &(String, bool), reused: bool) {
    println!();
    println!("Demo sign-ins (synthetic practice; no real person's data):");
    for (login, name, roles) in demo::DEMO_LOGINS {
        if !login.ends_with('2') && !login.ends_with('3') {
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            println!("  {login}@demo.kairos  ({name}, {})", roles.join(", "));
        }
    }
    match (password.1, reused) {
        (false, _) => println!("Password: the value of KAIROS_DEMO_PASSWORD when the practice was created"),
        (true, false) => {
            println!("Password: {}   (set KAIROS_DEMO_PASSWORD before the first run to choose it)", password.0)
        }
        (true, true) => println!(
            "Password: the one printed when this practice was created. To choose a new one:\n  \
             KAIROS_PASSWORD='new password' kairos user set-password --db DEMO.db --email admin@demo.kairos"
        ),
    }
    println!();
}

/// The demo practice's generator (the accounts' password checked and
/// hashed) and its progress bar.
pub(crate) fn demo_generator(clients: usize, seed: u64, password: &str) -> Result<(demo::DemoGenerator, ProgressBar)> {
    if password.chars().count() < kairos_domain::staff::MIN_PASSWORD_CHARS {
        bail!("KAIROS_DEMO_PASSWORD must be at least {} characters", kairos_domain::staff::MIN_PASSWORD_CHARS);
    }
    let hash = kairos_server::auth::hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let generator = demo::DemoGenerator::new(clients, seed, jiff::Timestamp::now(), &hash);
    let bar = ProgressBar::new(clients as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} clients ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("Generating the demo practice");
    Ok((generator, bar))
}

pub(crate) async fn generate_demo(store: &Store, clients: usize, seed: u64, password: &str) -> Result<()> {
    let started = std::time::Instant::now();
    let (mut generator, bar) = demo_generator(clients, seed, password)?;
    let actor = Actor::system("demo");
    // Generate the next batch while the previous one is being written.
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let producer = tokio::task::spawn_blocking(move || {
        while let Some(b) = generator.next_batch() {
            if tx.blocking_send(b).is_err() {
                break;
            }
        }
    });
    let (mut encounters, mut written) = (0usize, 0usize);
    while let Some(batch) = rx.recv().await {
        encounters += batch.encounters.len();
        written += batch.clients.len();
        store.import(&actor, &format!("demo practice (seed {seed})"), &batch).await?;
        bar.set_position(written as u64);
    }
    producer.await?;
    bar.finish_and_clear();

    println!(
        "Generated {written} clients and {encounters} encounters in {:.1} s (seed {seed}).",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The demo clinic's controlled-substance books: its DEA registration, an
/// initial inventory six months ago, and ketamine and esketamine receipts
/// since (all synthetic: check-digit-valid DEA numbers of no real registrant,
/// NDC-shaped codes with a 00000 labeler).
async fn demo_ledger(store: &Store) -> Result<()> {
    use kairos_domain::ledger::{
        BusinessTime, CountType, EntryDetail, EntryKind, LedgerPolicy, Party, Quantity, Substance, Unit,
    };
    use kairos_store::ledger::{NewEntry, NewRegistration, StockSpec};
    let Some(site) = store.list_sites().await?.into_iter().next() else { return Ok(()) };
    let staff = |login: &'static str| async move { demo_actor(store, login).await };
    let director = staff("director").await?;
    let nurse = staff("nurse").await?;
    let policy = LedgerPolicy::shipped()?;
    let reg = store
        .create_registration(
            &director,
            &NewRegistration {
                site_id: site.id,
                dea_number: "FK1234563".into(),
                registrant: "Dr. Priya Natarajan (demo)".into(),
                address: "100 Example Avenue, Suite 2, Fairhaven ZZ 00000".into(),
            },
        )
        .await?;
    // The site as a REMS healthcare setting (named on the monitoring forms).
    let setting = kairos_store::rems::SettingInput::parse(
        "Kairos Demo Clinic (demo)",
        "100 Example Avenue, Suite 2, Fairhaven ZZ 00000",
        "+1 555 0100",
    )?;
    store.set_rems_setting(&director, site.id, &setting).await?;
    let now = jiff::Timestamp::now();
    let days_ago = |d: i64| now - jiff::SignedDuration::from_hours(24 * d);
    let supplier = Party {
        name: "Synthetic Pharma Supply (demo)".into(),
        address: "9 Warehouse Road, Springfield ZZ 00000".into(),
        dea_number: "RS1234563".into(),
    };
    let vial = |lot: &str, expires: &str| StockSpec {
        registration_id: reg.id,
        substance: Substance::Ketamine,
        ndc: "00000-0100-10".into(),
        form: "Ketamine HCl 50 mg/mL injection, 10 mL multi-dose vial".into(),
        unit: Unit::Ml,
        mg_per_unit: 50.0,
        units_per_container: Quantity(10_000),
        lot: lot.into(),
        expires: expires.parse().ok(),
        storage: Some("Safe 1, medication room".into()),
    };
    let entry = |kind: EntryKind, at: jiff::Timestamp, quantity: Quantity, detail: EntryDetail| NewEntry {
        stock_id: kairos_domain::ids::StockId::new(),
        kind,
        occurred_at: at,
        quantity,
        detail,
        client_id: None,
        dosing_session_id: None,
        related_id: None,
        witnesses: vec![],
    };
    // Opened vials on hand when the clinic began keeping books in Kairos.
    let count = EntryDetail {
        count_type: Some(CountType::Initial),
        business_time: Some(BusinessTime::Opening),
        ..EntryDetail::default()
    };
    store
        .receive(
            &nurse,
            &policy,
            &vial("KET-DEMO-2605", "2027-05-31"),
            &entry(EntryKind::Count, days_ago(180), Quantity(18_500), count),
        )
        .await?;
    let receipt = |containers: u32, invoice: &str| EntryDetail {
        party: Some(supplier.clone()),
        containers: Some(containers),
        invoice: Some(invoice.into()),
        ..EntryDetail::default()
    };
    store
        .receive(
            &nurse,
            &policy,
            &vial("KET-DEMO-2609", "2027-09-30"),
            &entry(EntryKind::Receipt, days_ago(60), Quantity(100_000), receipt(10, "INV-DEMO-0917")),
        )
        .await?;
    store
        .receive(
            &nurse,
            &policy,
            &vial("KET-DEMO-2611", "2027-11-30"),
            &entry(EntryKind::Receipt, days_ago(10), Quantity(50_000), receipt(5, "INV-DEMO-1117")),
        )
        .await?;
    let device = StockSpec {
        registration_id: reg.id,
        substance: Substance::Esketamine,
        ndc: "00000-0200-02".into(),
        form: "Esketamine 28 mg nasal spray device".into(),
        unit: Unit::Device,
        mg_per_unit: 28.0,
        units_per_container: Quantity(1_000),
        lot: "ESK-DEMO-2610".into(),
        expires: "2027-10-31".parse().ok(),
        storage: Some("Safe 1, medication room".into()),
    };
    store
        .receive(
            &nurse,
            &policy,
            &device,
            &entry(EntryKind::Receipt, days_ago(30), Quantity(24_000), receipt(24, "INV-DEMO-1027")),
        )
        .await?;
    Ok(())
}

/// A few signed integration notes by the demo therapist on recent sessions,
/// and her supervision of the other two therapists (synthetic text).
async fn demo_notes(store: &Store) -> Result<()> {
    use kairos_domain::notes::{NoteInput, NoteKind, Templates};
    let staff = |login: &'static str| async move { demo_staff(store, login).await };
    let (lead, second, third) = (staff("therapist").await?, staff("therapist2").await?, staff("therapist3").await?);
    store.set_supervisees(&Actor::system("demo"), lead.id, &[second.id, third.id]).await?;
    let actor = Actor { staff_id: Some(lead.id), roles: lead.roles.to_list(), remote_addr: None };
    let templates = Templates::shipped()?;
    let now = jiff::Timestamp::now();
    let page = store
        .list_encounters(&kairos_store::encounters::EncounterQuery {
            site_id: None,
            client_id: None,
            staff_id: Some(lead.id),
            from: now - jiff::SignedDuration::from_hours(24 * 30),
            to: now,
            page: kairos_store::PageRequest { limit: kairos_store::PageRequest::MAX_LIMIT, offset: 0 },
        })
        .await?;
    let texts = [
        (
            "Described a sense of distance from the old story; tearful, then calm.",
            "Less alone with it.",
            "Walk after work; journal the image of the harbour.",
        ),
        (
            "Vivid colours, a memory of a grandparent's kitchen; some fear at the onset.",
            "Being cared for is possible.",
            "Call her sister this week; breathing practice mornings.",
        ),
        (
            "Little imagery; felt heavy then light. Noticed self-criticism softening.",
            "The critic is a voice, not the truth.",
            "Write three kind sentences to self daily.",
        ),
    ];
    let integration = page
        .items
        .iter()
        .filter(|e| {
            e.kind == kairos_domain::encounter::EncounterKind::Integration
                && e.status == kairos_domain::encounter::EncounterStatus::Completed
        })
        .take(8);
    let writer = actor.staff_id.ok_or_else(|| anyhow::anyhow!("the demo's notes have a staff author"))?;
    for (i, e) in integration.enumerate() {
        let (experience, meaning, plan) = texts[i % texts.len()];
        let input = NoteInput {
            sections: [("experience", experience), ("meaning", meaning), ("plan", plan)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            summary: Some("Integration session: engaged; plan agreed (demo)".into()),
            wet: None,
            narrative: None,
        };
        let body = input.validate(NoteKind::Integration, &templates)?;
        let note = store
            .create_note(
                &actor,
                &kairos_store::notes::NewNote {
                    client_id: e.client_id,
                    encounter_id: e.id,
                    kind: NoteKind::Integration,
                    body,
                },
                |s| kairos_domain::notes::may_write(s, writer, jiff::Timestamp::now()),
            )
            .await?;
        store.sign_note(&actor, note.id, |_| Ok(())).await?;
    }
    Ok(())
}

/// A weekly integration process group at the demo site, facilitated by the
/// demo therapists, with clients of the lead therapist in ongoing treatment,
/// three past sessions with attendance and the next two booked.
async fn demo_groups(store: &Store) -> Result<()> {
    use kairos_domain::course::Phase;
    use kairos_domain::groups::{Attendance, Day, Enrolment, GroupSpec, WeeklySlot, occurrences};
    let Some(site) = store.list_sites().await?.into_iter().next() else { return Ok(()) };
    let Some(room) =
        store.list_rooms(site.id).await?.into_iter().find(|r| r.kind == kairos_domain::site::RoomKind::GroupRoom)
    else {
        return Ok(());
    };
    let staff = |login: &'static str| async move { demo_staff(store, login).await };
    let (lead, co) = (staff("therapist").await?, staff("therapist2").await?);
    let actor = Actor { staff_id: Some(lead.id), roles: lead.roles.to_list(), remote_addr: None };
    let spec = GroupSpec {
        name: "Integration circle (Thursday)".into(),
        description: Some("A weekly process group for clients in ongoing ketamine treatment (demo).".into()),
        site_id: site.id,
        room_id: room.id,
        facilitator_ids: vec![lead.id, co.id],
        slots: vec![WeeklySlot { day: Day::Thursday, start: "17:30".into(), minutes: 90 }],
        capacity: 8,
        enrolment: Enrolment::Open,
        eligible_phases: vec![Phase::Induction, Phase::Integration, Phase::Maintenance],
    };
    let facts = store.group_spec_facts(&spec).await?;
    let spec = spec.validate(&facts)?;
    let group = store.create_group(&actor, &spec).await?;
    // Members: the lead therapist's clients whose course is in an eligible phase.
    let mut joined = 0;
    let today = jiff::Timestamp::now().to_zoned(site.time_zone.tz()).date();
    for k in store.courses_of_clinician(lead.id, today).await? {
        let eligible = k.therapist_id == Some(lead.id)
            && matches!(k.phase, Phase::Integration | Phase::Maintenance)
            && k.ended_on.is_none();
        if eligible && store.join_group(&actor, group.id, k.client_id, true, None).await.is_ok() {
            joined += 1;
            if joined == 6 {
                break;
            }
        }
    }
    if joined == 0 {
        return Ok(());
    }
    let tz = site.time_zone.tz();
    let from = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 21)).to_zoned(tz.clone()).date();
    let occ = occurrences(&group.slots, &tz, from, 5)?;
    let sessions = store.create_group_sessions(&actor, group.id, &occ).await?;
    let now = jiff::Timestamp::now();
    let marks = [
        Attendance::Present,
        Attendance::Present,
        Attendance::Late,
        Attendance::Present,
        Attendance::Excused,
        Attendance::Absent,
    ];
    for (i, sid) in sessions.iter().enumerate() {
        let s = store.get_group_session(*sid).await?;
        if s.ends_at > now {
            continue;
        }
        let m: Vec<_> =
            s.attendance.iter().enumerate().map(|(j, a)| (a.client_id, marks[(i + j) % marks.len()])).collect();
        store.record_attendance(&actor, *sid, &m, None).await?;
    }
    Ok(())
}

/// The demo portal client: Jules Marlowe (synthetic), on the single infusion +
/// ASAT protocol, screened and signed eligible, dosed 26 hours ago from the
/// demo vial (so the first home exercise is open), with a portal account and
/// journal entries, two of them shared with the therapist.
async fn demo_portal_client(store: &Store) -> Result<()> {
    use kairos_domain::client::{ClientDetails, ClientInput};
    use kairos_domain::course::NewCourse;
    use kairos_domain::encounter::{EncounterKind, EncounterStatus, NewEncounter};
    let Some(site) = store.list_sites().await?.into_iter().next() else { return Ok(()) };
    let staff = |login: &'static str| async move { demo_actor(store, login).await };
    let (prescriber, nurse, therapist) = (staff("prescriber").await?, staff("nurse").await?, staff("therapist").await?);
    let now = jiff::Timestamp::now();
    let tz = site.time_zone.tz();
    let today = now.to_zoned(tz.clone()).date();
    let details = ClientDetails::parse(
        &ClientInput {
            given_name: "Jules",
            family_name: "Marlowe",
            date_of_birth: "1988-09-14",
            pronouns: Some("they/them"),
            email: Some("jules.marlowe@example.org"),
            phone: Some("+1 212 555 0142"),
            address: Some("27 Juniper Street, Fairhaven ZZ 00000"),
            emergency_contact_name: None,
            emergency_contact_phone: None,
            status: Some("active"),
        },
        today,
    )?;
    let client = store.create_client(&prescriber, &details).await?;
    let course = store
        .create_course(
            &prescriber,
            &NewCourse {
                client_id: client.id,
                protocol: "ketamine_asat".into(),
                started_on: today - jiff::Span::new().days(7),
                prescriber_id: prescriber.staff_id,
                therapist_id: therapist.staff_id,
            },
        )
        .await?;
    screened_eligible(store, &nurse, &prescriber, course.id).await?;
    let chair =
        store.list_rooms(site.id).await?.into_iter().find(|r| r.kind == kairos_domain::site::RoomKind::InfusionChair);
    let dosed = now - jiff::SignedDuration::from_hours(26);
    let enc = store
        .create_encounter(
            &nurse,
            &NewEncounter {
                client_id: client.id,
                course_id: Some(course.id),
                site_id: site.id,
                room_id: chair.map(|c| c.id),
                staff_id: nurse.staff_id,
                kind: EncounterKind::Dosing,
                scheduled_start: dosed - jiff::SignedDuration::from_mins(15),
                scheduled_end: dosed + jiff::SignedDuration::from_mins(150),
            },
        )
        .await?;
    store.change_encounter_status(&nurse, enc.id, EncounterStatus::Arrived, None).await?;
    let stock = store.stocks(None).await?.into_iter().find(|s| s.lot == "KET-DEMO-2611").map(|s| s.id);
    let checklist = kairos_domain::dosing::Checklist {
        fasting_confirmed: true,
        nasal_medicines_clear: true,
        ride_home_arranged: true,
        no_driving_agreed: true,
        pregnancy_test: "negative".into(),
        mood_check: "anxious but hopeful".into(),
        pre_dose_note: None,
    };
    let vitals = |s: u16, d: u16, hr: u16| kairos_domain::dosing::Vitals {
        systolic: Some(s),
        diastolic: Some(d),
        heart_rate: Some(hr),
        spo2: Some(98),
        respiratory_rate: Some(14),
        moaas: Some(5),
    };
    // The session is charted through the same decisions as at the chair,
    // as if each entry were made when it happened.
    let protocols = kairos_domain::protocols::ProtocolLibrary::shipped(&["standard", "ptsd"])?;
    let policy = kairos_domain::dosing::SafetyPolicy::shipped()?;
    let cmd = kairos_domain::dosing::StartCommand {
        checklist,
        pre_vitals: vitals(124, 80, 72),
        override_reason: None,
        route: Some("iv".into()),
        mg_per_kg: Some(0.5),
        weight_kg: Some(72.0),
        dose_mg: None,
        stock_id: stock,
        drawn: None,
        lot: Some("KET-DEMO-2611".into()),
        started_at: Some(dosed),
        dose_exception: None,
        self_harm_review: None,
        prescriber_on_site: prescriber.staff_id,
    };
    let at = |m: i64| dosed + jiff::SignedDuration::from_mins(m);
    let ledger = kairos_domain::ledger::LedgerPolicy::shipped()?;
    let session = store
        .start_dosing_session(&nurse, enc.id, stock, prescriber.staff_id, &ledger, |snap| {
            let protocol = snap.course_protocol.as_deref().and_then(|p| protocols.get(p));
            kairos_domain::dosing::start(snap, protocol, &cmd, &policy, false, at(1))
        })
        .await?;
    for (m, v) in [(15, vitals(132, 84, 80)), (40, vitals(136, 86, 82)), (90, vitals(126, 80, 74))] {
        store
            .add_vitals(&nurse, session.id, &v, |s| {
                kairos_domain::dosing::record_vitals(s, Some(at(m)), &v, &policy, at(m))
            })
            .await?;
    }
    let dissociation = kairos_domain::dosing::SessionEvent::Dissociation { cadss6: 6 };
    store
        .add_session_event(&nurse, session.id, &dissociation, |s| {
            kairos_domain::dosing::record_event(s, Some(at(45)), &dissociation, at(45))
        })
        .await?;
    store
        .discharge(&nurse, session.id, |s, ready| {
            kairos_domain::dosing::discharge(s, ready, Some(at(130)), "Sam Marlowe (partner)", None, false, at(130))
        })
        .await?;
    store.sign_dosing_session(&nurse, session.id, kairos_domain::dosing::sign).await?;
    store.change_encounter_status(&nurse, enc.id, EncounterStatus::Completed, None).await?;
    // The portal account and the journal.
    let code = kairos_server::auth::new_token();
    let email = kairos_domain::text::Email::parse("email", "jules.marlowe@example.org")?;
    let mail = kairos_store::portal::OutgoingEmail {
        to: email.as_str().to_string(),
        subject: "Your invitation to the client portal".into(),
        body: "You are invited to the client portal (demo).".into(),
    };
    store
        .invite_to_portal(&therapist, client.id, &email, &code, now + jiff::SignedDuration::from_hours(24 * 7), &mail)
        .await?;
    let me = kairos_store::portal::client_actor(client.id, None);
    let entries = [
        (4, "Before the infusion I wrote down what I hope for: to feel less stuck in the mornings.", Some(4), true),
        (1, "After the infusion: colours, and a long quiet. I felt far from the usual noise.", Some(6), true),
        (0, "Slept well. Did the first exercise; the words felt strange but kind.", Some(6), false),
    ];
    for (days_ago, text, mood, shared) in entries {
        store
            .create_journal_entry(
                &me,
                client.id,
                &kairos_store::portal::NewJournalEntry {
                    date: today - jiff::Span::new().days(days_ago),
                    body: text,
                    mood,
                    shared,
                    help_now: false,
                },
            )
            .await?;
    }
    Ok(())
}

/// A fresh one-time sign-in link for the demo portal client, printed when
/// the demo starts (the e-mail is queued too, as for any client).
pub(crate) async fn demo_portal_link(store: &Store, base: &str) -> Result<Option<String>> {
    let Some((account, _)) = store.portal_account_by_email("jules.marlowe@example.org").await? else { return Ok(None) };
    let code = kairos_server::auth::new_token();
    let link = format!("{base}/portal/auth/{code}");
    let mail = kairos_store::portal::OutgoingEmail {
        to: account.email.clone(),
        subject: "Your sign-in link".into(),
        body: format!("Sign in to the client portal: {link}\n"),
    };
    store
        .create_sign_in_code(
            account.client_id,
            &code,
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(12),
            &mail,
            None,
        )
        .await?;
    Ok(Some(link))
}

/// A demo staff member by login (`nurse` is `nurse@demo.kairos`).
async fn demo_staff(store: &Store, login: &str) -> Result<kairos_domain::staff::Staff> {
    let email = kairos_domain::text::Email::parse("email", &format!("{login}@demo.kairos"))?;
    let (s, _) = store.staff_credentials(&email).await?.ok_or_else(|| anyhow::anyhow!("no {login} in the demo"))?;
    Ok(s)
}

/// Records a screen with unremarkable synthetic findings on a course and
/// signs the client eligible.
async fn screened_eligible(
    store: &Store,
    nurse: &Actor,
    prescriber: &Actor,
    course: kairos_domain::ids::CourseId,
) -> Result<()> {
    use kairos_domain::screening::{
        Context, Decision, HepaticImpairment, History, Pregnancy, Rules, ScreenFindings, SuicideRisk,
    };
    let findings = ScreenFindings {
        diagnosis: "Major depressive disorder, recurrent".into(),
        prior_treatments: vec!["escitalopram".into(), "behavioural activation".into()],
        psychosis: History::None,
        substance_use: History::None,
        cardiovascular_disease: false,
        systolic_bp: 122,
        diastolic_bp: 78,
        heart_rate: 68,
        pregnancy: Pregnancy::No,
        raised_intracranial_pressure: false,
        aneurysmal_vascular_disease: false,
        intracerebral_haemorrhage_history: false,
        medications: vec![],
        weight_kg: 72.0,
        allergies: "none known".into(),
        ketamine_hypersensitivity: false,
        off_label_consent: true,
        bipolar_or_mania: Some(History::None),
        hepatic_impairment: Some(HepaticImpairment::None),
        breastfeeding: Some(false),
        sleep_apnoea_or_airway: Some(false),
        glaucoma: Some(false),
        suicide_risk: Some(SuicideRisk::Low),
    };
    let rules = Rules::shipped()?;
    let ctx = Context { off_label: true, age_years: None, route: None };
    let screen = store.record_screen(nurse, course, &findings, &rules.classify(&findings, &ctx)).await?;
    store
        .sign_screen(prescriber, screen.id, &Decision { eligible: true, rationales: Default::default(), note: None })
        .await?;
    Ok(())
}

/// Courses waiting to be scheduled, so that the coordinator's "Propose"
/// has work: synthetic clients in preparation, signed eligible, on a library
/// protocol, with no visit booked.
async fn demo_waiting_courses(store: &Store) -> Result<()> {
    use kairos_domain::client::{ClientDetails, ClientInput};
    use kairos_domain::course::{NewCourse, Phase};
    const WAITING: [(&str, &str, &str, &str); 8] = [
        ("Ari", "Lindqvist", "1979-02-11", "apa_iv_induction"),
        ("Bea", "Nakamura", "1991-07-30", "kap_sublingual_im"),
        ("Cyril", "Adeyemi", "1985-11-03", "apa_iv_induction"),
        ("Dana", "Moreau", "1996-04-19", "ketamine_wet_ptsd"),
        ("Eli", "Varga", "1972-09-25", "kap_sublingual_im"),
        ("Fern", "Castillo", "1988-01-07", "apa_iv_induction"),
        ("Gus", "Holloway", "1983-06-14", "ketamine_wet_ptsd"),
        ("Hana", "Petrov", "1999-12-02", "apa_iv_induction"),
    ];
    let Some(site) = store.list_sites().await?.into_iter().next() else { return Ok(()) };
    let (prescriber, nurse, therapist) = (
        demo_actor(store, "prescriber").await?,
        demo_actor(store, "nurse").await?,
        demo_actor(store, "therapist").await?,
    );
    let today = jiff::Timestamp::now().to_zoned(site.time_zone.tz()).date();
    for (given, family, born, protocol) in WAITING {
        let details = ClientDetails::parse(
            &ClientInput {
                given_name: given,
                family_name: family,
                date_of_birth: born,
                pronouns: None,
                email: None,
                phone: Some("+1 212 555 0100"),
                address: None,
                emergency_contact_name: None,
                emergency_contact_phone: None,
                status: Some("active"),
            },
            today,
        )?;
        let client = store.create_client(&prescriber, &details).await?;
        let course = store
            .create_course(
                &prescriber,
                &NewCourse {
                    client_id: client.id,
                    protocol: protocol.into(),
                    started_on: today - jiff::Span::new().days(5),
                    prescriber_id: prescriber.staff_id,
                    therapist_id: therapist.staff_id,
                },
            )
            .await?;
        screened_eligible(store, &nurse, &prescriber, course.id).await?;
        store.change_course_phase(&prescriber, course.id, Phase::Preparation, None, today).await?;
    }
    Ok(())
}

/// A demo staff member as the actor of the records the demo writes.
async fn demo_actor(store: &Store, login: &str) -> Result<Actor> {
    let s = demo_staff(store, login).await?;
    Ok(Actor { staff_id: Some(s.id), roles: s.roles.to_list(), remote_addr: None })
}

/// What the bulk import does not make: the ledger, notes, a group, the
/// portal client (run once the indexes are back).
pub(crate) async fn demo_extras(store: &Store) -> Result<()> {
    demo_ledger(store).await.context("the demo controlled-substance ledger")?;
    demo_notes(store).await.context("the demo therapy notes")?;
    demo_groups(store).await.context("the demo process group")?;
    demo_portal_client(store).await.context("the demo portal client")?;
    demo_waiting_courses(store).await.context("the demo courses waiting to be scheduled")?;
    Ok(())
}
