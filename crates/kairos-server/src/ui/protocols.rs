//! The protocol library pages: what each protocol asks for, a sample plan,
//! and its evidence with the weaknesses stated.

use super::{Nav, UiAuth, page_error, render, ui_error};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::civil::Weekday;
use kairos_domain::protocols::{Anchor, DoseUnit, Protocol, plan};
use kairos_domain::roles::Permission;

use crate::state::AppState;

type PageResult = Result<Response, Response>;

pub struct ProtocolRow {
    pub id: String,
    pub name: String,
    pub indication: String,
    pub designs: String,
    pub randomized: bool,
}

#[derive(Template)]
#[template(path = "protocols.html")]
struct ProtocolsPage {
    nav: Option<Nav>,
    rows: Vec<ProtocolRow>,
}

pub async fn list(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    auth.require(Permission::ReadDirectory)?;
    let rows = state
        .config
        .protocols
        .all()
        .iter()
        .map(|p| ProtocolRow {
            id: p.id.clone(),
            name: p.name.clone(),
            indication: p.indication.clone(),
            designs: p.evidence.iter().map(|e| e.design.describe()).collect::<Vec<_>>().join("; "),
            randomized: p.evidence.iter().any(|e| e.design.is_randomized()),
        })
        .collect();
    Ok(render(&ProtocolsPage { nav: Some(auth.nav("/protocols")), rows }))
}

pub struct EvidenceRow {
    pub citation: String,
    pub doi: Option<String>,
    pub design: &'static str,
    pub n: String,
    pub result: String,
    pub caveats: Vec<String>,
}

#[derive(Template)]
#[template(path = "protocol.html")]
struct ProtocolPage {
    nav: Option<Nav>,
    name: String,
    summary: String,
    indication: String,
    dose: String,
    series: String,
    monitoring: String,
    checks: Vec<String>,
    sessions: Vec<String>,
    evidence: Vec<EvidenceRow>,
    unconfirmed: Vec<(String, String)>,
    plan_start: String,
    plan_doses: Vec<(u32, String, String)>,
    plan_sessions: Vec<(String, String, String)>,
}

fn dose_text(p: &Protocol) -> String {
    let d = &p.dose;
    let unit = match d.unit {
        DoseUnit::MgPerKg => "mg/kg",
        DoseUnit::Mg => "mg",
    };
    let amount = match (d.amount, d.min, d.max) {
        (Some(a), Some(lo), Some(hi)) => format!("{a} {unit} (range {lo}-{hi})"),
        (Some(a), _, _) => format!("{a} {unit}"),
        (None, Some(lo), Some(hi)) => format!("{lo}-{hi} {unit}"),
        _ => "see titration".into(),
    };
    let infusion = d.infusion_minutes.map(|m| format!(" over {m} min")).unwrap_or_default();
    format!("{} {amount}{infusion}", d.route.as_str().to_uppercase())
}

fn session_text(p: &Protocol, i: usize) -> String {
    let s = &p.sessions[i];
    let anchor = match &s.anchor {
        Anchor::BeforeFirstDose => "before the first dose".to_string(),
        Anchor::AfterDose { dose } => format!("after dose {dose}"),
        Anchor::AfterEachDose => "after each dose".to_string(),
        Anchor::BetweenDoses => "between doses".to_string(),
    };
    let w = &s.window;
    let mut t = format!(
        "{} × {} {anchor}: window {} h to {} h, preferred {}-{} h",
        s.planned_count(p.doses.count),
        s.kind.as_str().replace('_', " "),
        w.opens_hours,
        w.closes_hours,
        w.preferred_from_hours,
        w.preferred_to_hours
    );
    if s.non_dosing_days_only {
        t.push_str(", on non-dosing days only");
    }
    if let Some(c) = &s.condition {
        t.push_str(&format!(" ({c})"));
    }
    t
}

pub async fn show(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadDirectory)?;
    let nav = || Some(auth.nav("/protocols"));
    let p =
        state.config.protocols.get(&id).ok_or_else(|| page_error(StatusCode::NOT_FOUND, "No such protocol.", nav()))?;
    // A sample plan from next Monday at 10:00 in the practice's time zone.
    let tz = state.practice_tz().await.map_err(|e| ui_error(e, nav()))?;
    let mut day = state.now().to_zoned(tz.clone()).date();
    loop {
        day = day.tomorrow().map_err(|e| ui_error(crate::error::AppError::Internal(e.to_string()), nav()))?;
        if day.weekday() == Weekday::Monday {
            break;
        }
    }
    let start = day
        .at(10, 0, 0, 0)
        .to_zoned(tz.clone())
        .map_err(|e| ui_error(crate::error::AppError::Internal(e.to_string()), nav()))?
        .timestamp();
    let fmt = |t: jiff::Timestamp| t.to_zoned(tz.clone()).strftime("%a %-d %b %H:%M").to_string();
    let sample = plan(p, start, &tz).map_err(|e| ui_error(e.into(), nav()))?;
    let series = {
        let d = &p.doses;
        let mut t = format!("{} dose{}", d.count, if d.count == 1 { "" } else { "s" });
        if let (Some(lo), Some(hi)) = (d.min_spacing_hours, d.max_spacing_hours) {
            t.push_str(&format!(", {lo}-{hi} h apart"));
        }
        if let Some(w) = d.max_per_week {
            t.push_str(&format!(", at most {w} in any 7 days"));
        }
        if let Some(days) = &d.day_pattern {
            t.push_str(&format!(", on days {}", days.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")));
        }
        t
    };
    Ok(render(&ProtocolPage {
        nav: nav(),
        name: p.name.clone(),
        summary: p.summary.clone(),
        indication: p.indication.clone(),
        dose: dose_text(p),
        series,
        monitoring: format!("at least {} minutes after each dose", p.monitoring.minutes),
        checks: p.monitoring.checks.clone(),
        sessions: (0..p.sessions.len()).map(|i| session_text(p, i)).collect(),
        evidence: p
            .evidence
            .iter()
            .map(|e| EvidenceRow {
                citation: e.citation.clone(),
                doi: e.doi.clone(),
                design: e.design.describe(),
                n: e.n.map(|n| n.to_string()).unwrap_or_else(|| "not reported".into()),
                result: e.result.clone(),
                caveats: e.caveats.clone(),
            })
            .collect(),
        unconfirmed: p.unconfirmed().into_iter().map(|u| (u.field, u.note)).collect(),
        plan_start: fmt(start),
        plan_doses: sample.doses.iter().map(|d| (d.number, fmt(d.target), fmt(d.monitoring_ends))).collect(),
        plan_sessions: sample
            .sessions
            .iter()
            .map(|s| (s.label.clone(), fmt(s.target), format!("{} to {}", fmt(s.opens), fmt(s.closes))))
            .collect(),
    }))
}
