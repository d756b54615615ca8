//! The coordinator's scheduling pages: propose a schedule for a site and a
//! range of weeks, review it (what lands where, which sessions fall in their
//! preferred window, what could not be scheduled and why), apply or discard
//! it, and repair an applied schedule after a change, seeing what moved.

use super::{Nav, UiAuth, api_auth, detail, page_error, render, ui_error};
use crate::api::schedule::{ProposalView, ProposeBody};
use crate::state::AppState;
use crate::usecase;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kairos_domain::ids::ProposalId;
use kairos_domain::roles::Permission;
use serde::Deserialize;
use std::collections::HashMap;

type PageResult = Result<Response, Response>;

pub struct ProposalRow {
    pub id: String,
    pub site: String,
    pub start: String,
    pub days: i64,
    pub status: String,
    pub repair: bool,
    pub created: String,
}

#[derive(Template)]
#[template(path = "schedule.html")]
struct SchedulePage {
    nav: Option<Nav>,
    sites: Vec<(String, String)>,
    start: String,
    rows: Vec<ProposalRow>,
    error: Option<String>,
}

async fn schedule_page(state: &AppState, auth: &UiAuth, error: Option<String>) -> PageResult {
    let nav = || Some(auth.nav("/schedule"));
    let sites = usecase::directory::sites(state).await.map_err(|e| ui_error(e, nav()))?;
    let names: HashMap<kairos_domain::ids::SiteId, &str> = sites.iter().map(|s| (s.id, s.name.as_str())).collect();
    let zones: HashMap<kairos_domain::ids::SiteId, jiff::tz::TimeZone> =
        sites.iter().map(|s| (s.id, s.time_zone.tz())).collect();
    // The first Monday to plan from: in the practice's time zone (each
    // proposal then runs in its own site's).
    let tz = state.practice_tz().await.map_err(|e| ui_error(e, nav()))?;
    let mut start = state.now().to_zoned(tz.clone()).date();
    while start.weekday() != jiff::civil::Weekday::Monday {
        start = start.tomorrow().unwrap_or(start);
    }
    let rows = usecase::schedule::recent(state, &api_auth(auth))
        .await
        .map_err(|e| ui_error(e, nav()))?
        .into_iter()
        .map(|p| ProposalRow {
            id: p.id.to_string(),
            site: names.get(&p.site_id).map(|n| n.to_string()).unwrap_or_default(),
            start: p.start_date.to_string(),
            days: p.days,
            status: p.status.clone(),
            repair: p.parent_id.is_some(),
            created: {
                let tz = zones.get(&p.site_id).cloned().unwrap_or_else(|| tz.clone());
                p.created_at.to_zoned(tz).strftime("%Y-%m-%d %H:%M %Z").to_string()
            },
        })
        .collect();
    Ok(render(&SchedulePage {
        nav: nav(),
        sites: sites.iter().map(|s| (s.id.to_string(), s.name.clone())).collect(),
        start: start.to_string(),
        rows,
        error,
    }))
}

pub async fn index(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    auth.require(Permission::PlanSchedules)?;
    schedule_page(&state, &auth, None).await
}

/// The propose form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProposeForm {
    pub site_id: String,
    /// The first day (a Monday), in the site's calendar.
    pub start: String,
    pub weeks: String,
}

pub async fn propose(State(state): State<AppState>, auth: UiAuth, Form(form): Form<ProposeForm>) -> PageResult {
    let weeks = match super::form::whole::<u32>("weeks", "Weeks", &form.weeks) {
        Ok(w) => w.unwrap_or(0),
        Err(r) => return schedule_page(&state, &auth, Some(r.message)).await,
    };
    let body = ProposeBody {
        site_id: form.site_id.trim().to_string(),
        start: form.start.trim().to_string(),
        days: weeks.saturating_mul(7),
    };
    match crate::usecase::schedule::propose(&state, &api_auth(&auth), &body).await {
        Ok(p) => Ok(Redirect::to(&format!("/schedule/proposals/{}", p.id)).into_response()),
        Err(e) => schedule_page(&state, &auth, Some(detail(e))).await,
    }
}

pub struct DayRow {
    pub date: String,
    pub items: Vec<ItemRow>,
}

pub struct ItemRow {
    pub time: String,
    pub what: String,
    pub client: String,
    pub place: String,
    pub staff: String,
    /// preferred, acceptable or empty (a dose).
    pub window: String,
}

pub struct MovedRow {
    pub what: String,
    pub client: String,
    pub from: String,
    pub to: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "schedule_proposal.html")]
struct ProposalPage {
    nav: Option<Nav>,
    id: String,
    status: String,
    heading: String,
    change: Option<String>,
    summary: Vec<(String, String)>,
    unscheduled: Vec<(String, String, String)>,
    moved: Vec<MovedRow>,
    /// After a repair: whether only the affected client's appointments moved,
    /// and if not, why another client's had to.
    own_only: Option<String>,
    days: Vec<DayRow>,
    /// For the repair form: (event id, label) of booked events.
    events: Vec<(String, String)>,
    staff: Vec<(String, String)>,
    chairs: Vec<(String, String)>,
    error: Option<String>,
}

fn event_label(event: &str) -> String {
    event.rsplit('/').next().unwrap_or(event).replace(['-', '_'], " ")
}

/// A plan's instant in the proposal's site's time zone.
fn local(ts: &str, fmt: &str, tz: &jiff::tz::TimeZone) -> String {
    ts.parse::<jiff::Zoned>()
        .map(|z| z.timestamp())
        .or_else(|_| ts.parse::<jiff::Timestamp>())
        .map(|t| t.to_zoned(tz.clone()).strftime(fmt).to_string())
        .unwrap_or_else(|_| ts.to_string())
}

/// What a repair answered, in words: who cannot come or is away, which
/// chair or room is out of service, and when (site time).
fn change_in_words(
    change: &kairos_schedule::Change,
    name: &dyn Fn(&str) -> String,
    booked: &dyn Fn(&str) -> String,
) -> String {
    use kairos_schedule::Change as C;
    let span = |from: &jiff::civil::DateTime, to: &jiff::civil::DateTime| {
        format!("from {} to {}", from.strftime("%a %Y-%m-%d %H:%M"), to.strftime("%a %Y-%m-%d %H:%M"))
    };
    match change {
        C::Cancel { event } => {
            format!("The client cannot come to {}; it is rebooked, never at its old time.", booked(event))
        }
        C::WithdrawCourse { course } => {
            format!("The course {} ends: its remaining appointments are released.", name(course))
        }
        C::StaffUnavailable { staff, from, to } => format!("{} is away {}.", name(staff), span(from, to)),
        C::ChairUnavailable { chair, from, to } => format!("{} is out of service {}.", name(chair), span(from, to)),
        C::RoomUnavailable { room, from, to } => format!("{} is out of service {}.", name(room), span(from, to)),
        C::ClientUnavailable { client, from, to } => format!("{} is away {}.", name(client), span(from, to)),
    }
}

async fn proposal_page(state: &AppState, auth: &UiAuth, id: ProposalId, error: Option<String>) -> PageResult {
    let nav = || Some(auth.nav("/schedule"));
    let (p, v): (_, ProposalView) =
        usecase::schedule::proposal(state, &api_auth(auth), id).await.map_err(|e| ui_error(e, nav()))?;
    let name = |id: &str| v.names.get(id).cloned().unwrap_or_else(|| id.to_string());
    // Times are shown in the site's own time zone, named in the heading.
    let tz = state.site_tz(p.site_id).await.map_err(|e| ui_error(e, nav()))?;
    let s = &v.plan.summary;
    let summary = vec![
        ("Doses scheduled".to_string(), format!("{} of {}", s.doses_scheduled, s.doses_requested)),
        ("Therapy sessions scheduled".to_string(), format!("{} of {}", s.sessions_scheduled, s.sessions_requested)),
        (
            "Sessions in their preferred window".to_string(),
            format!("{} of {} scheduled", s.sessions_in_preferred_window, s.sessions_scheduled),
        ),
        (
            "Sessions with the client's own therapist".to_string(),
            format!("{} of {}", s.sessions_with_continuing_therapist, s.sessions_scheduled),
        ),
        ("Bookings moved".to_string(), s.moved.to_string()),
    ];
    let mut by_day: std::collections::BTreeMap<String, Vec<(String, ItemRow)>> = Default::default();
    for a in &v.plan.assignments {
        let sort = a.start.clone();
        by_day.entry(local(&a.start, "%Y-%m-%d", &tz)).or_default().push((
            sort,
            ItemRow {
                time: format!("{}–{}", local(&a.start, "%H:%M", &tz), local(&a.end, "%H:%M", &tz)),
                what: event_label(&a.event),
                client: name(&a.client),
                place: a.chair.as_deref().or(a.room.as_deref()).map(name).unwrap_or_default(),
                staff: name(&a.staff),
                window: a.window.map(|w| format!("{w:?}").to_lowercase()).unwrap_or_default(),
            },
        ));
    }
    let days = by_day
        .into_iter()
        .map(|(d, mut items)| {
            items.sort_by(|a, b| a.0.cmp(&b.0));
            let label = items.first().map(|(s, _)| local(s, "%A %Y-%m-%d", &tz)).unwrap_or(d);
            DayRow { date: label, items: items.into_iter().map(|(_, i)| i).collect() }
        })
        .collect();
    let rooms = usecase::directory::rooms(state, p.site_id).await.map_err(|e| ui_error(e, nav()))?;
    let mut staff: Vec<(String, String)> = v
        .plan
        .assignments
        .iter()
        .map(|a| (a.staff.clone(), name(&a.staff)))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    staff.sort_by(|a, b| a.1.cmp(&b.1));
    // The engine names clients by id; the coordinator reads names.
    let own = s.own_only.as_ref();
    let named = |text: &str| match own {
        Some(o) => text.replace(&o.client, &name(&o.client)),
        None => text.to_string(),
    };
    let own_only = own.map(|o| named(&o.detail));
    Ok(render(&ProposalPage {
        nav: nav(),
        own_only,
        id: v.id.to_string(),
        status: v.status.clone(),
        heading: format!("{} days from {}, times in {}", v.days, v.start, tz.iana_name().unwrap_or("UTC")),
        change: v.change.as_ref().map(|c| {
            // The cancelled appointment, as it was booked before the repair.
            let booked = |event: &str| {
                let from = v.plan.moved.iter().find(|m| m.event == event).map(|m| m.from.start.clone());
                let client = v.plan.assignments.iter().find(|a| a.event == event).map(|a| name(&a.client));
                match (client, from) {
                    (Some(c), Some(f)) => {
                        format!("{} ({c}, {})", event_label(event), local(&f, "%a %Y-%m-%d %H:%M", &tz))
                    }
                    _ => event_label(event),
                }
            };
            change_in_words(c, &name, &booked)
        }),
        summary,
        unscheduled: v
            .plan
            .unscheduled
            .iter()
            .map(|u| (name(&u.client), event_label(&u.event), u.detail.clone()))
            .collect(),
        moved: v
            .plan
            .moved
            .iter()
            .map(|m| MovedRow {
                what: event_label(&m.event),
                client: v
                    .plan
                    .assignments
                    .iter()
                    .find(|a| a.event == m.event)
                    .map(|a| name(&a.client))
                    .unwrap_or_default(),
                from: local(&m.from.start, "%a %Y-%m-%d %H:%M", &tz),
                to: m
                    .to
                    .as_ref()
                    .map(|t| local(&t.start, "%a %Y-%m-%d %H:%M", &tz))
                    .unwrap_or_else(|| "not rebooked".into()),
                reason: named(&m.reason),
            })
            .collect(),
        days,
        events: v
            .plan
            .assignments
            .iter()
            .map(|a| {
                (
                    a.event.clone(),
                    format!(
                        "{} · {} · {}",
                        name(&a.client),
                        event_label(&a.event),
                        local(&a.start, "%a %m-%d %H:%M", &tz)
                    ),
                )
            })
            .collect(),
        staff,
        chairs: rooms.iter().map(|r| (r.id.to_string(), r.name.clone())).collect(),
        error,
    }))
}

fn proposal_id(auth: &UiAuth, id: &str) -> Result<ProposalId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such proposal.", Some(auth.nav("/schedule"))))
}

pub async fn show(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::PlanSchedules)?;
    let id = proposal_id(&auth, &id)?;
    proposal_page(&state, &auth, id, None).await
}

pub async fn apply(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::PlanSchedules)?;
    let id = proposal_id(&auth, &id)?;
    match crate::usecase::schedule::apply(&state, &api_auth(&auth), id).await {
        Ok(_) => Ok(Redirect::to(&format!("/schedule/proposals/{id}")).into_response()),
        Err(e) => proposal_page(&state, &auth, id, Some(detail(e))).await,
    }
}

pub async fn discard(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::PlanSchedules)?;
    let id = proposal_id(&auth, &id)?;
    match crate::usecase::schedule::discard(&state, &api_auth(&auth), id).await {
        Ok(()) => Ok(Redirect::to("/schedule").into_response()),
        Err(e) => proposal_page(&state, &auth, id, Some(detail(e))).await,
    }
}

/// A repair form as typed: what changed (`type`), for which appointment,
/// person or chair, and when (site-local date-times).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RepairForm {
    #[serde(rename = "type")]
    pub kind: String,
    pub event: String,
    pub staff: String,
    pub chair: String,
    pub from: String,
    pub to: String,
}

/// A repair from the form.
pub async fn repair(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<RepairForm>,
) -> PageResult {
    let id = proposal_id(&auth, &id)?;
    let (event, staff, chair, from, to) =
        (form.event.trim(), form.staff.trim(), form.chair.trim(), form.from.trim(), form.to.trim());
    let change = match form.kind.trim() {
        "cancel" => serde_json::json!({ "type": "cancel", "event": event }),
        "staff_unavailable" => {
            serde_json::json!({ "type": "staff_unavailable", "staff": staff, "from": from, "to": to })
        }
        "chair_unavailable" => {
            serde_json::json!({ "type": "chair_unavailable", "chair": chair, "from": from, "to": to })
        }
        _ => return proposal_page(&state, &auth, id, Some("Choose what changed.".into())).await,
    };
    let change: kairos_schedule::Change = match serde_json::from_value(change) {
        Ok(c) => c,
        Err(e) => {
            return proposal_page(&state, &auth, id, Some(format!("Give the dates and times in full: {e}"))).await;
        }
    };
    match crate::usecase::schedule::repair(&state, &api_auth(&auth), id, &change).await {
        Ok(p) => Ok(Redirect::to(&format!("/schedule/proposals/{}", p.id)).into_response()),
        Err(e) => proposal_page(&state, &auth, id, Some(detail(e))).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kairos_schedule::Change;

    #[test]
    fn a_repair_says_its_change_in_words_with_names_and_site_times() {
        let name = |id: &str| match id {
            "staff-1" => "Dr Ana Silva".to_string(),
            "chair-2" => "Chair 2".to_string(),
            other => other.to_string(),
        };
        let booked = |e: &str| format!("{} (Robin Okafor, Tue 2026-12-08 09:00)", event_label(e));
        let dt = |s: &str| s.parse::<jiff::civil::DateTime>().expect("datetime");
        let away = Change::StaffUnavailable {
            staff: "staff-1".into(),
            from: dt("2026-12-08T08:00"),
            to: dt("2026-12-09T18:00"),
        };
        assert_eq!(
            change_in_words(&away, &name, &booked),
            "Dr Ana Silva is away from Tue 2026-12-08 08:00 to Wed 2026-12-09 18:00."
        );
        let chair = Change::ChairUnavailable {
            chair: "chair-2".into(),
            from: dt("2026-12-10T12:00"),
            to: dt("2026-12-10T17:00"),
        };
        assert_eq!(
            change_in_words(&chair, &name, &booked),
            "Chair 2 is out of service from Thu 2026-12-10 12:00 to Thu 2026-12-10 17:00."
        );
        let cancel = Change::Cancel { event: "course-9/dose-3".into() };
        assert_eq!(
            change_in_words(&cancel, &name, &booked),
            "The client cannot come to dose 3 (Robin Okafor, Tue 2026-12-08 09:00); it is rebooked, never at its old time."
        );
    }
}
