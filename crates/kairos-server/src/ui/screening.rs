//! Pages for the pre-treatment screen: record the findings, see what the
//! clinic's rules found, and (prescribers) sign eligibility.

use super::api_auth;
use super::{Nav, UiAuth, page_error, render, ui_error};
use crate::error::AppError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kairos_domain::Refusal;
use kairos_domain::ids::{CourseId, ScreenId};
use kairos_domain::roles::Permission;
use kairos_domain::screening::{
    Class, Decision, HepaticImpairment, History, MedicationClass, Pregnancy, ScreenFindings, SuicideRisk,
};
use serde::Deserialize;
use std::collections::BTreeMap;

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
    hepatic: Vec<(&'static str, &'static str)>,
    risks: Vec<&'static str>,
    /// What was typed, kept after a refusal.
    values: ScreenInput,
    error: Option<super::form::Refused>,
}

/// The screen form; after a refusal, with what was typed, the refusal beside
/// it and the API's status for the same refusal.
fn form_page(
    auth: &UiAuth,
    course: CourseId,
    client: String,
    values: ScreenInput,
    error: Option<super::form::Refused>,
) -> Response {
    let status = error.as_ref().map(|r| r.status);
    let mut page = render(&ScreenForm {
        nav: Some(auth.nav("/clients")),
        course_id: course,
        client,
        histories: History::ALL.iter().map(|h| h.as_str()).collect(),
        pregnancies: Pregnancy::ALL.iter().map(|p| (p.as_str(), p.as_str().replace('_', " "))).collect(),
        medications: MedicationClass::ALL.iter().map(|m| (m.as_str(), m.as_str().replace('_', " "))).collect(),
        hepatic: HepaticImpairment::ALL
            .iter()
            .map(|h| {
                let label = match h {
                    HepaticImpairment::None => "none",
                    HepaticImpairment::Mild => "mild (Child-Pugh A)",
                    HepaticImpairment::Moderate => "moderate (Child-Pugh B)",
                    HepaticImpairment::Severe => "severe (Child-Pugh C)",
                };
                (h.as_str(), label)
            })
            .collect(),
        risks: SuicideRisk::ALL.iter().map(|r| r.as_str()).collect(),
        values,
        error,
    });
    if let Some(s) = status {
        *page.status_mut() = s;
    }
    page
}

pub async fn new_screen(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::RecordScreening)?;
    let nav = || Some(auth.nav("/clients"));
    let course: CourseId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such course.", nav()))?;
    let client = crate::usecase::screening::client_of_course(&state, course).await.map_err(|e| ui_error(e, nav()))?;
    Ok(form_page(&auth, course, client, ScreenInput::default(), None))
}

/// The screen form as typed (`medications` repeats, one per class ticked).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ScreenInput {
    pub diagnosis: String,
    pub prior_treatments: String,
    pub psychosis: String,
    pub substance_use: String,
    pub cardiovascular_disease: Option<String>,
    pub systolic_bp: String,
    pub diastolic_bp: String,
    pub heart_rate: String,
    pub pregnancy: String,
    pub raised_intracranial_pressure: Option<String>,
    pub aneurysmal_vascular_disease: Option<String>,
    pub intracerebral_haemorrhage_history: Option<String>,
    pub medications: Vec<String>,
    pub weight_kg: String,
    pub allergies: String,
    pub ketamine_hypersensitivity: Option<String>,
    pub off_label_consent: Option<String>,
    pub bipolar_or_mania: String,
    pub hepatic_impairment: String,
    pub breastfeeding: Option<String>,
    pub sleep_apnoea_or_airway: Option<String>,
    pub glaucoma: Option<String>,
    pub suicide_risk: String,
}

impl ScreenInput {
    /// Whether the medicine class was ticked.
    pub fn takes(&self, class: &str) -> bool {
        self.medications.iter().any(|m| m == class)
    }

    /// The findings; a field that does not parse is refused naming it (as
    /// the API names it: `findings.systolic_bp`).
    fn findings(&self) -> Result<ScreenFindings, Refusal> {
        use super::form::{decimal, whole};
        let yes = |v: &Option<String>| v.as_deref() == Some("yes");
        let need = |v: Option<u16>, field: &str, what: &str| {
            v.ok_or_else(|| Refusal::invalid(field, format!("enter the {what}")))
        };
        let enumerated = |e: kairos_domain::DomainError| Refusal::from(e).within("findings");
        // A choice left unanswered stays `None`: the findings' own check
        // asks for it by name.
        fn chosen(v: &str) -> Option<&str> {
            Some(v.trim()).filter(|v| !v.is_empty())
        }
        Ok(ScreenFindings {
            diagnosis: self.diagnosis.trim().to_string(),
            prior_treatments: self
                .prior_treatments
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect(),
            psychosis: History::parse("psychosis", self.psychosis.trim()).map_err(enumerated)?,
            substance_use: History::parse("substance_use", self.substance_use.trim()).map_err(enumerated)?,
            cardiovascular_disease: yes(&self.cardiovascular_disease),
            systolic_bp: need(
                whole("findings.systolic_bp", "Systolic blood pressure", &self.systolic_bp)?,
                "findings.systolic_bp",
                "systolic blood pressure",
            )?,
            diastolic_bp: need(
                whole("findings.diastolic_bp", "Diastolic blood pressure", &self.diastolic_bp)?,
                "findings.diastolic_bp",
                "diastolic blood pressure",
            )?,
            heart_rate: need(
                whole("findings.heart_rate", "Heart rate", &self.heart_rate)?,
                "findings.heart_rate",
                "heart rate",
            )?,
            pregnancy: Pregnancy::parse("pregnancy", self.pregnancy.trim()).map_err(enumerated)?,
            raised_intracranial_pressure: yes(&self.raised_intracranial_pressure),
            aneurysmal_vascular_disease: yes(&self.aneurysmal_vascular_disease),
            intracerebral_haemorrhage_history: yes(&self.intracerebral_haemorrhage_history),
            medications: self
                .medications
                .iter()
                .map(|m| MedicationClass::parse("medications", m).map_err(enumerated))
                .collect::<Result<Vec<_>, _>>()?,
            weight_kg: decimal("findings.weight_kg", "Weight", &self.weight_kg)?
                .ok_or_else(|| Refusal::invalid("findings.weight_kg", "enter the weight"))?,
            allergies: self.allergies.trim().to_string(),
            ketamine_hypersensitivity: yes(&self.ketamine_hypersensitivity),
            off_label_consent: yes(&self.off_label_consent),
            bipolar_or_mania: chosen(&self.bipolar_or_mania)
                .map(|v| History::parse("bipolar_or_mania", v))
                .transpose()
                .map_err(enumerated)?,
            hepatic_impairment: chosen(&self.hepatic_impairment)
                .map(|v| HepaticImpairment::parse("hepatic_impairment", v))
                .transpose()
                .map_err(enumerated)?,
            breastfeeding: Some(yes(&self.breastfeeding)),
            sleep_apnoea_or_airway: Some(yes(&self.sleep_apnoea_or_airway)),
            glaucoma: Some(yes(&self.glaucoma)),
            suicide_risk: chosen(&self.suicide_risk)
                .map(|v| SuicideRisk::parse("suicide_risk", v))
                .transpose()
                .map_err(enumerated)?,
        })
    }
}

pub async fn record_screen(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let course: CourseId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such course.", nav()))?;
    let client = crate::usecase::screening::client_of_course(&state, course).await.map_err(|e| ui_error(e, nav()))?;
    let input: ScreenInput = match serde_html_form::from_bytes(&body) {
        Ok(i) => i,
        Err(e) => {
            let r = super::form::Refused::from(Refusal::invalid(
                "findings",
                format!("the form could not be read ({e}): send it again"),
            ));
            return Ok(form_page(&auth, course, client, ScreenInput::default(), Some(r)));
        }
    };
    let refused = |r: super::form::Refused| Ok(form_page(&auth, course, client.clone(), input.clone(), Some(r)));
    let findings = match input.findings() {
        Ok(f) => f,
        Err(r) => return refused(r.into()),
    };
    match crate::usecase::screening::record(&state, &api_auth(&auth), course, &findings).await {
        Ok(screen) => Ok(Redirect::to(&format!("/screens/{}", screen.id)).into_response()),
        Err(AppError::Forbidden(m)) => Err(page_error(StatusCode::FORBIDDEN, &m, nav())),
        Err(e) => refused(e.into()),
    }
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
    error: Option<super::form::Refused>,
}

async fn screen_page(state: &AppState, auth: &UiAuth, id: ScreenId, error: Option<super::form::Refused>) -> PageResult {
    let status = error.as_ref().map(|r| r.status);
    let nav = || Some(auth.nav("/clients"));
    let crate::usecase::screening::ScreenRead { screen: s, client_name, staff_names: names } =
        crate::usecase::screening::read(state, &api_auth(auth), id).await.map_err(|e| ui_error(e, nav()))?;
    let f = &s.findings;
    let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
    let asked = |v: Option<String>| v.unwrap_or_else(|| "not asked (screen recorded before this question)".into());
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
        // Asked since a later version of the screen: "not asked" on older ones.
        ("Bipolar disorder or mania", asked(f.bipolar_or_mania.map(|h| h.as_str().to_string()))),
        ("Suicide risk (structured assessment)", asked(f.suicide_risk.map(|r| r.as_str().to_string()))),
        ("Hepatic impairment", asked(f.hepatic_impairment.map(|h| h.as_str().to_string()))),
        ("Breastfeeding", asked(f.breastfeeding.map(yn))),
        ("Sleep apnoea or difficult airway", asked(f.sleep_apnoea_or_airway.map(yn))),
        ("Glaucoma or raised eye pressure", asked(f.glaucoma.map(yn))),
    ];
    let tz = state.client_tz(s.client_id).await.map_err(|e| ui_error(e, nav()))?;
    let name = |id: Option<kairos_domain::ids::StaffId>| {
        id.and_then(|i| names.get(&i).cloned()).unwrap_or_else(|| "unknown".into())
    };
    let recorded = format!(
        "Recorded by {} on {}",
        name(s.recorded_by),
        s.recorded_at.to_zoned(tz.clone()).strftime("%a %-d %b %Y %H:%M")
    );
    let mut page = render(&ScreenPage {
        recorded,
        nav: nav(),
        screen_id: s.id,
        client_id: s.client_id,
        client: client_name,
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
    });
    if let Some(s) = status {
        *page.status_mut() = s;
    }
    Ok(page)
}

pub async fn show_screen(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadScreening)?;
    let id: ScreenId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such screen.", Some(auth.nav("/clients"))))?;
    screen_page(&state, &auth, id, None).await
}

/// The eligibility decision as typed: `eligible`, a `rationale_<rule>` for
/// each relative contraindication, and a note.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SignInput {
    pub eligible: String,
    pub note: String,
    #[serde(flatten)]
    pub rationales: BTreeMap<String, String>,
}

pub async fn sign_screen(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<SignInput>,
) -> PageResult {
    let id: ScreenId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such screen.", Some(auth.nav("/clients"))))?;
    let rationales: BTreeMap<String, String> = form
        .rationales
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("rationale_").map(|r| (r.to_string(), v.trim().to_string())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let decision = Decision {
        eligible: form.eligible.trim() == "yes",
        rationales,
        note: Some(form.note.trim().to_string()).filter(|n| !n.is_empty()),
    };
    match crate::usecase::screening::sign(&state, &api_auth(&auth), id, &decision).await {
        Ok(_) => Ok(Redirect::to(&format!("/screens/{id}")).into_response()),
        Err(e @ (AppError::Unprocessable { .. } | AppError::Conflict { .. })) => {
            screen_page(&state, &auth, id, Some(super::form::Refused::from(e))).await
        }
        Err(e) => Err(ui_error(e, Some(auth.nav("/clients")))),
    }
}
