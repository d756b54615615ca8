//! Pages for the pre-treatment screen: record the findings, see what the
//! clinic's rules found, and (prescribers) sign eligibility.

use super::{Nav, UiAuth, page_error, render, ui_error};
use crate::error::AppError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kairos_domain::ids::{CourseId, ScreenId};
use kairos_domain::roles::Permission;
use kairos_domain::screening::{Class, Decision, History, MedicationClass, Pregnancy, ScreenFindings};
use kairos_store::{Action, AuditEntry};
use std::collections::{BTreeMap, HashMap};

use crate::state::AppState;

type PageResult = Result<Response, Response>;

#[derive(Template)]
#[template(path = "screen_form.html")]
struct ScreenForm {
    nav: Option<Nav>,
    course_id: CourseId,
    client: String,
    histories: Vec<&'static str>,
    pregnancies: Vec<(&'static str, String)>,
    medications: Vec<(&'static str, String)>,
    values: HashMap<String, String>,
    error: Option<String>,
}

fn form_page(
    auth: &UiAuth,
    course: CourseId,
    client: String,
    values: HashMap<String, String>,
    error: Option<String>,
) -> Response {
    render(&ScreenForm {
        nav: Some(auth.nav("/clients")),
        course_id: course,
        client,
        histories: History::ALL.iter().map(|h| h.as_str()).collect(),
        pregnancies: Pregnancy::ALL.iter().map(|p| (p.as_str(), p.as_str().replace('_', " "))).collect(),
        medications: MedicationClass::ALL.iter().map(|m| (m.as_str(), m.as_str().replace('_', " "))).collect(),
        values,
        error,
    })
}

async fn client_name(state: &AppState, course: CourseId) -> Result<String, AppError> {
    let c = state.store.get_course(course).await?;
    Ok(state.store.get_client(c.client_id).await?.details.display_name())
}

pub async fn new_screen(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::RecordScreening)?;
    let nav = || Some(auth.nav("/clients"));
    let course: CourseId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such course.", nav()))?;
    let client = client_name(&state, course).await.map_err(|e| ui_error(e, nav()))?;
    Ok(form_page(&auth, course, client, HashMap::new(), None))
}

/// The form's fields as typed findings; errors name the field.
fn findings_of(form: &[(String, String)]) -> Result<ScreenFindings, AppError> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let yes = |k: &str| get(k) == "yes";
    let num = |k: &str, what: &str| -> Result<f64, AppError> {
        get(k).parse::<f64>().map_err(|_| AppError::invalid(k, format!("{what} must be a number")))
    };
    let medications = form
        .iter()
        .filter(|(n, _)| n == "medications")
        .map(|(_, v)| MedicationClass::parse("medications", v))
        .collect::<Result<Vec<_>, _>>()?;
    let f = ScreenFindings {
        diagnosis: get("diagnosis"),
        prior_treatments: get("prior_treatments")
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
        psychosis: History::parse("psychosis", &get("psychosis"))?,
        substance_use: History::parse("substance_use", &get("substance_use"))?,
        cardiovascular_disease: yes("cardiovascular_disease"),
        systolic_bp: num("systolic_bp", "systolic blood pressure")? as u16,
        diastolic_bp: num("diastolic_bp", "diastolic blood pressure")? as u16,
        heart_rate: num("heart_rate", "heart rate")? as u16,
        pregnancy: Pregnancy::parse("pregnancy", &get("pregnancy"))?,
        raised_intracranial_pressure: yes("raised_intracranial_pressure"),
        aneurysmal_vascular_disease: yes("aneurysmal_vascular_disease"),
        intracerebral_haemorrhage_history: yes("intracerebral_haemorrhage_history"),
        medications,
        weight_kg: num("weight_kg", "weight")?,
        allergies: get("allergies"),
        ketamine_hypersensitivity: yes("ketamine_hypersensitivity"),
        off_label_consent: yes("off_label_consent"),
    };
    f.validate()?;
    Ok(f)
}

pub async fn record_screen(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> PageResult {
    auth.require(Permission::RecordScreening)?;
    let nav = || Some(auth.nav("/clients"));
    let course: CourseId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such course.", nav()))?;
    let client = client_name(&state, course).await.map_err(|e| ui_error(e, nav()))?;
    let findings = match findings_of(&form) {
        Ok(f) => f,
        Err(e) => {
            let values = form.iter().filter(|(k, _)| k != "medications").cloned().collect();
            let msg = match e {
                AppError::Unprocessable { detail, .. } | AppError::BadRequest { detail, .. } => detail,
                other => other.to_string(),
            };
            return Ok(form_page(&auth, course, client, values, Some(msg)));
        }
    };
    let classified = state.config.screening.classify(&findings);
    let screen = state
        .store
        .record_screen(&auth.actor(), course, &findings, &classified)
        .await
        .map_err(|e| ui_error(e.into(), nav()))?;
    Ok(Redirect::to(&format!("/screens/{}", screen.id)).into_response())
}

pub struct FindingRow {
    pub rule: String,
    pub class: &'static str,
    pub message: String,
    pub source: String,
    pub confirmed: bool,
}

#[derive(Template)]
#[template(path = "screen.html")]
struct ScreenPage {
    nav: Option<Nav>,
    recorded: String,
    screen_id: ScreenId,
    client_id: kairos_domain::ids::ClientId,
    client: String,
    facts: Vec<(&'static str, String)>,
    findings: Vec<FindingRow>,
    has_absolute: bool,
    signed: Option<String>,
    rationales: Vec<(String, String)>,
    note: Option<String>,
    can_sign: bool,
    error: Option<String>,
}

async fn screen_page(state: &AppState, auth: &UiAuth, id: ScreenId, error: Option<String>) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let s = state.store.get_screen(id).await.map_err(|e| ui_error(e.into(), nav()))?;
    let client = state.store.get_client(s.client_id).await.map_err(|e| ui_error(e.into(), nav()))?;
    state
        .store
        .audit_read(&auth.actor(), AuditEntry::new(Action::Read, "screen", s.id).client(s.client_id).detail("screen"))
        .await
        .map_err(|e| ui_error(e.into(), nav()))?;
    let f = &s.findings;
    let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
    let facts = vec![
        ("Diagnosis", f.diagnosis.clone()),
        (
            "Prior treatments",
            if f.prior_treatments.is_empty() { "none recorded".into() } else { f.prior_treatments.join("; ") },
        ),
        ("Psychosis", f.psychosis.as_str().into()),
        ("Substance use disorder", f.substance_use.as_str().into()),
        ("Cardiovascular disease", yn(f.cardiovascular_disease)),
        ("Baseline blood pressure", format!("{}/{} mmHg, heart rate {}", f.systolic_bp, f.diastolic_bp, f.heart_rate)),
        ("Pregnancy", f.pregnancy.as_str().replace('_', " ")),
        ("Raised intracranial pressure", yn(f.raised_intracranial_pressure)),
        ("Aneurysmal vascular disease / AVM", yn(f.aneurysmal_vascular_disease)),
        ("Intracerebral haemorrhage", yn(f.intracerebral_haemorrhage_history)),
        (
            "Medications",
            if f.medications.is_empty() {
                "none of the listed classes".into()
            } else {
                f.medications.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
            },
        ),
        ("Weight", format!("{} kg", f.weight_kg)),
        ("Allergies", f.allergies.clone()),
        ("Ketamine hypersensitivity", yn(f.ketamine_hypersensitivity)),
        ("Consent to off-label use", yn(f.off_label_consent)),
    ];
    let tz = crate::api::clinic_tz(state).await.map_err(|e| ui_error(e, nav()))?;
    let people: Vec<kairos_domain::ids::StaffId> =
        s.recorded_by.into_iter().chain(s.signature.as_ref().map(|g| g.by)).collect();
    let names = state.store.staff_names(&people).await.map_err(|e| ui_error(e.into(), nav()))?;
    let name = |id: Option<kairos_domain::ids::StaffId>| {
        id.and_then(|i| names.get(&i).cloned()).unwrap_or_else(|| "unknown".into())
    };
    let recorded = format!(
        "Recorded by {} on {}",
        name(s.recorded_by),
        s.recorded_at.to_zoned(tz.clone()).strftime("%a %-d %b %Y %H:%M")
    );
    Ok(render(&ScreenPage {
        recorded,
        nav: nav(),
        screen_id: s.id,
        client_id: s.client_id,
        client: client.details.display_name(),
        facts,
        has_absolute: s.classified.iter().any(|x| x.class == Class::Absolute),
        findings: s
            .classified
            .iter()
            .map(|x| FindingRow {
                rule: x.rule.clone(),
                class: x.class.as_str(),
                message: x.message.clone(),
                source: x.source.clone(),
                confirmed: x.confirmed,
            })
            .collect(),
        signed: s.signature.as_ref().map(|g| {
            format!(
                "{} by {} on {}",
                if g.decision.eligible { "Signed eligible" } else { "Signed not eligible" },
                name(Some(g.by)),
                g.at.to_zoned(tz.clone()).strftime("%a %-d %b %Y %H:%M")
            )
        }),
        rationales: s
            .signature
            .as_ref()
            .map(|g| g.decision.rationales.clone().into_iter().collect())
            .unwrap_or_default(),
        note: s.signature.as_ref().and_then(|g| g.decision.note.clone()),
        can_sign: s.signature.is_none() && auth.staff.roles.allow(Permission::SignEligibility),
        error,
    }))
}

pub async fn show_screen(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadScreening)?;
    let id: ScreenId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such screen.", Some(auth.nav("/clients"))))?;
    screen_page(&state, &auth, id, None).await
}

pub async fn sign_screen(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> PageResult {
    auth.require(Permission::SignEligibility)?;
    let id: ScreenId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such screen.", Some(auth.nav("/clients"))))?;
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string());
    let rationales: BTreeMap<String, String> = form
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("rationale_").map(|r| (r.to_string(), v.trim().to_string())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let decision = Decision {
        eligible: get("eligible").as_deref() == Some("yes"),
        rationales,
        note: get("note").filter(|n| !n.is_empty()),
    };
    match state.store.sign_screen(&auth.actor(), id, &decision).await {
        Ok(_) => Ok(Redirect::to(&format!("/screens/{id}")).into_response()),
        Err(kairos_store::StoreError::Domain(d)) => screen_page(&state, &auth, id, Some(d.to_string())).await,
        Err(e) => Err(ui_error(e.into(), Some(auth.nav("/clients")))),
    }
}
