//! Pages for safety alerts, self-report links, and the client's
//! questionnaire page (`/r/{token}`: no account, no script, phone-sized).

use super::{Nav, UiAuth, page_error, render, ui_error};
use crate::api::measures::{LinkCreate, is_escalated, required_text, score};
use crate::error::AppError;
use crate::extract::{Auth, RemoteAddr};
use crate::state::{AppState, Crisis};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use kairos_domain::ids::{AlertId, ClientId};
use kairos_domain::instruments::{AlertLevel, Instrument};
use kairos_domain::roles::Permission;
use kairos_store::measures::LinkState;
use serde::Deserialize;

type PageResult = Result<Response, Response>;

// ---- staff: the alert work list ------------------------------------------

pub struct AlertRow {
    pub id: AlertId,
    pub client_id: ClientId,
    pub client: String,
    pub urgent: bool,
    pub escalated: bool,
    pub message: String,
    pub raised: String,
    pub age: String,
    /// The dosing session a vital-sign alert came from.
    pub session: Option<kairos_domain::ids::DosingSessionId>,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    nav: Option<Nav>,
    rows: Vec<AlertRow>,
    escalate_hours: i64,
    can_acknowledge: bool,
    error: Option<String>,
}

pub fn age_of(since: Timestamp, now: Timestamp) -> String {
    let mins = now.duration_since(since).as_mins().max(0);
    match mins {
        0..=1 => "just now".into(),
        2..=119 => format!("{mins} min ago"),
        _ if mins < 48 * 60 => format!("{} h ago", mins / 60),
        _ => format!("{} days ago", mins / (24 * 60)),
    }
}

/// The open alerts this clinician must see, as rows (audited as a list).
pub async fn alert_rows(state: &AppState, auth: &UiAuth) -> Result<Vec<AlertRow>, Response> {
    let api_auth = Auth { staff: auth.staff.clone(), token: auth.token.clone(), remote_addr: auth.remote_addr.clone() };
    let list = crate::api::measures::open_alerts(state, &api_auth)
        .await
        .map_err(|e| ui_error(e, Some(auth.nav("/alerts"))))?;
    let now = state.now();
    // Each alert in its client's time zone.
    let clients: Vec<ClientId> = list.iter().map(|a| a.alert.client_id).collect();
    let zones = state.client_tzs(&clients).await.map_err(|e| ui_error(e, Some(auth.nav("/alerts"))))?;
    Ok(list
        .iter()
        .map(|a| AlertRow {
            id: a.alert.id,
            client_id: a.alert.client_id,
            client: a.client_name.clone(),
            urgent: a.alert.level == AlertLevel::Urgent,
            escalated: is_escalated(&a.alert, state.config.alert_escalation, now),
            message: a.alert.message.clone(),
            raised: a
                .alert
                .created_at
                .to_zoned(zones.get(&a.alert.client_id).cloned().unwrap_or(jiff::tz::TimeZone::UTC))
                .strftime("%a %-d %b %H:%M")
                .to_string(),
            age: age_of(a.alert.created_at, now),
            session: a.alert.dosing_session_id,
        })
        .collect())
}

async fn alerts_page(state: &AppState, auth: &UiAuth, error: Option<String>) -> PageResult {
    auth.require(Permission::ReadMeasures)?;
    let rows = alert_rows(state, auth).await?;
    Ok(render(&AlertsPage {
        nav: Some(auth.nav("/alerts")),
        rows,
        escalate_hours: state.config.alert_escalation.as_hours(),
        can_acknowledge: auth.staff.roles.allow(Permission::RecordMeasures),
        error,
    }))
}

pub async fn alerts(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    alerts_page(&state, &auth, None).await
}

#[derive(Deserialize)]
pub struct AckForm {
    action_note: String,
    /// Where to go back to (the chart or the alert list).
    back: Option<String>,
}

pub async fn acknowledge(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<AckForm>,
) -> PageResult {
    auth.require(Permission::RecordMeasures)?;
    let id: AlertId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such alert.", Some(auth.nav(""))))?;
    let note = match required_text("action_note", &form.action_note, 2000) {
        Ok(n) => n,
        Err(_) => {
            return alerts_page(&state, &auth, Some("Write what you did before acknowledging the alert.".into())).await;
        }
    };
    crate::usecase::measures::acknowledge(&state, &super::api_auth(&auth), id, &note)
        .await
        .map_err(|e| ui_error(e, Some(auth.nav(""))))?;
    let back =
        form.back.filter(|b| b.starts_with("/clients/") && !b.contains("//")).unwrap_or_else(|| "/alerts".into());
    Ok(Redirect::to(&back).into_response())
}

// ---- staff: sending a self-report link -------------------------------------

#[derive(Template)]
#[template(path = "link_created.html")]
struct LinkCreatedPage {
    nav: Option<Nav>,
    client_id: ClientId,
    instrument: String,
    url: String,
    expires: String,
}

#[derive(Deserialize)]
pub struct LinkForm {
    instrument: String,
}

/// A link as staff copy it: without a configured public address, at the
/// address staff reached the server by.
fn shown_url(headers: &axum::http::HeaderMap, url: String) -> String {
    if url.starts_with('/') {
        let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        format!("http://{host}{url}")
    } else {
        url
    }
}

pub async fn send_link(
    State(state): State<AppState>,
    auth: UiAuth,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<LinkForm>,
) -> PageResult {
    auth.require(Permission::RecordMeasures)?;
    let nav = || Some(auth.nav("/clients"));
    let client: ClientId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", nav()))?;
    let api_auth = Auth { staff: auth.staff.clone(), token: auth.token.clone(), remote_addr: auth.remote_addr.clone() };
    let body = LinkCreate { instrument: form.instrument, course_id: None, expires_in_hours: None };
    let created = crate::usecase::measures::send_self_report_link(&state, &api_auth, client, &body)
        .await
        .map_err(|e| ui_error(e, nav()))?;
    let url = shown_url(&headers, created.url);
    let tz = state.client_tz(client).await.map_err(|e| ui_error(e, nav()))?;
    let instrument =
        state.config.instruments.get(&body.instrument).map(|i| i.short_name.clone()).unwrap_or(body.instrument.clone());
    Ok(render(&LinkCreatedPage {
        nav: nav(),
        client_id: client,
        instrument,
        url,
        expires: created.expires_at.to_zoned(tz).strftime("%A %-d %B %Y at %H:%M").to_string(),
    }))
}

/// The questionnaires one "send all due" sends (`instrument` repeats).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DueLinksForm {
    instrument: Vec<String>,
}

#[derive(Template)]
#[template(path = "links_created.html")]
struct LinksCreatedPage {
    nav: Option<Nav>,
    client_id: ClientId,
    client: String,
    /// (questionnaire, link)
    links: Vec<(String, String)>,
    expires: String,
}

/// Creates a self-report link for each questionnaire due (the same command
/// as one link, once per questionnaire) and shows them together.
pub async fn send_due_links(
    State(state): State<AppState>,
    auth: UiAuth,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    auth.require(Permission::RecordMeasures)?;
    let nav = || Some(auth.nav("/measures/due"));
    let client: ClientId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", nav()))?;
    let form: DueLinksForm = serde_html_form::from_bytes(&body)
        .map_err(|_| page_error(StatusCode::BAD_REQUEST, "The form could not be read.", nav()))?;
    // Each questionnaire once, in the order sent.
    let mut wanted: Vec<String> = Vec::new();
    for i in form.instrument {
        if !wanted.contains(&i) {
            wanted.push(i);
        }
    }
    if wanted.is_empty() {
        return Err(page_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "instrument: choose at least one questionnaire.",
            nav(),
        ));
    }
    let api_auth = Auth { staff: auth.staff.clone(), token: auth.token.clone(), remote_addr: auth.remote_addr.clone() };
    let mut links = Vec::new();
    let mut expires = None;
    for instrument in wanted {
        let body = LinkCreate { instrument, course_id: None, expires_in_hours: None };
        let created = crate::usecase::measures::send_self_report_link(&state, &api_auth, client, &body)
            .await
            .map_err(|e| ui_error(e, nav()))?;
        let url = shown_url(&headers, created.url);
        let name =
            state.config.instruments.get(&body.instrument).map(|i| i.short_name.clone()).unwrap_or(body.instrument);
        links.push((name, url));
        expires = Some(created.expires_at);
    }
    let tz = state.client_tz(client).await.map_err(|e| ui_error(e, nav()))?;
    let name = crate::usecase::clients::name(&state, client).await.map_err(|e| ui_error(e, nav()))?;
    Ok(render(&LinksCreatedPage {
        nav: nav(),
        client_id: client,
        client: name,
        links,
        expires: expires.map(|t| t.to_zoned(tz).strftime("%A %-d %B %Y at %H:%M").to_string()).unwrap_or_default(),
    }))
}

// ---- the client's questionnaire page ----------------------------------------

pub struct OptionView {
    pub value: i64,
    pub label: String,
    pub checked: bool,
}

pub struct ItemView {
    pub index: usize,
    pub text: String,
    pub required: bool,
    pub options: Vec<OptionView>,
}

#[derive(Template)]
#[template(path = "self_report.html")]
struct SelfReportPage {
    nav: Option<Nav>,
    title: String,
    instructions: String,
    items: Vec<ItemView>,
    key: String,
    error: Option<String>,
    crisis: CrisisView,
}

#[derive(Template)]
#[template(path = "self_report_done.html")]
struct SelfReportDone {
    nav: Option<Nav>,
    title: String,
    heading: String,
    message: String,
    /// What the client reported that calls for the crisis box, in the
    /// alert rule's own words; `None`: the plain crisis box.
    reported: Option<String>,
    crisis: CrisisView,
}

pub struct CrisisView {
    pub clinic_phone: Option<String>,
    pub emergency: String,
    pub crisis_line: String,
    pub crisis_line_phone: Option<String>,
}

impl From<&Crisis> for CrisisView {
    fn from(c: &Crisis) -> Self {
        CrisisView {
            clinic_phone: c.clinic_phone.clone(),
            emergency: c.emergency_number.clone(),
            crisis_line: c.crisis_line.clone(),
            crisis_line_phone: c.crisis_line_phone.clone(),
        }
    }
}

fn done(state: &AppState, status: StatusCode, heading: &str, message: &str, reported: Option<String>) -> Response {
    let page = SelfReportDone {
        nav: None,
        title: heading.to_string(),
        heading: heading.to_string(),
        message: message.to_string(),
        reported,
        crisis: CrisisView::from(&state.config.crisis),
    };
    let mut resp = render(&page);
    *resp.status_mut() = status;
    no_store(resp)
}

/// The page holds a client's answers: never cached, and its address (the
/// token) never sent to another site. `same-origin`, not `no-referrer`:
/// under `no-referrer` browsers post the form with `Origin: null`, which the
/// same-origin check rightly refuses.
fn no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    h.insert(axum::http::header::REFERRER_POLICY, axum::http::HeaderValue::from_static("same-origin"));
    resp
}

fn form_page(
    inst: &Instrument,
    state: &AppState,
    answers: &[Option<i64>],
    key: String,
    error: Option<String>,
) -> Response {
    let items = inst
        .items
        .iter()
        .enumerate()
        .map(|(n, item)| ItemView {
            index: n,
            text: item.text.clone().unwrap_or_default(),
            required: item.scored,
            options: item
                .options
                .as_deref()
                .unwrap_or(&inst.options)
                .iter()
                .map(|o| OptionView {
                    value: o.value,
                    label: o.label.clone().unwrap_or_else(|| o.value.to_string()),
                    checked: answers.get(n).copied().flatten() == Some(o.value),
                })
                .collect(),
        })
        .collect();
    let instructions = inst.instructions.clone().unwrap_or_else(|| format!("Think about {}.", inst.recall));
    no_store(render(&SelfReportPage {
        nav: None,
        title: inst.name.clone(),
        instructions,
        items,
        key,
        error,
        crisis: CrisisView::from(&state.config.crisis),
    }))
}

const NOT_VALID: &str =
    "This link is not valid. Please check you used the whole link, or ask your clinic for a new one.";
const USED: &str = "These answers have already been sent to your care team. Thank you. If you need to tell them something new, contact your clinic.";
const EXPIRED: &str = "This link has expired. Please ask your clinic for a new one.";

pub async fn self_report_form(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let req = match crate::usecase::measures::self_report_request(&state, &token).await {
        Ok(Some(r)) => r,
        Ok(None) => return done(&state, StatusCode::NOT_FOUND, "Link not valid", NOT_VALID, None),
        Err(e) => return ui_error(e, None),
    };
    match req.state(state.now()) {
        LinkState::Used => return done(&state, StatusCode::OK, "Already sent", USED, None),
        LinkState::Expired => return done(&state, StatusCode::GONE, "Link expired", EXPIRED, None),
        LinkState::Open => {}
    }
    let Some(inst) = state.config.instruments.get(&req.instrument) else {
        return done(&state, StatusCode::NOT_FOUND, "Link not valid", NOT_VALID, None);
    };
    form_page(inst, &state, &[], crate::auth::new_token(), None)
}

/// A self-report as sent from the client's phone: one answer per item
/// (`item_0`, `item_1`, ...) and the form's one-time key (a resend of the
/// same form is recognised, not stored twice).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SelfReportForm {
    pub key: String,
    #[serde(flatten)]
    pub items: std::collections::BTreeMap<String, String>,
}

pub async fn self_report_submit(
    State(state): State<AppState>,
    RemoteAddr(addr): RemoteAddr,
    Path(token): Path<String>,
    Form(form): Form<SelfReportForm>,
) -> Response {
    let req = match crate::usecase::measures::self_report_request(&state, &token).await {
        Ok(Some(r)) => r,
        Ok(None) => return done(&state, StatusCode::NOT_FOUND, "Link not valid", NOT_VALID, None),
        Err(e) => return ui_error(e, None),
    };
    let Some(inst) = state.config.instruments.get(&req.instrument) else {
        return done(&state, StatusCode::NOT_FOUND, "Link not valid", NOT_VALID, None);
    };
    let key = Some(form.key.clone()).filter(|k| !k.is_empty() && k.len() <= 128).unwrap_or_default();
    // A value that is not one of the options (only a tampered form sends
    // one) counts as unanswered, and the client is asked to answer it.
    let answers: Vec<Option<i64>> = (0..inst.items.len())
        .map(|n| form.items.get(&format!("item_{n}")).and_then(|v| v.trim().parse().ok()))
        .collect();
    if key.is_empty() {
        return form_page(inst, &state, &answers, crate::auth::new_token(), Some("Please send the form again.".into()));
    }
    let scored = match score(inst, Some(&answers), None) {
        Ok(s) => s,
        Err(e) => {
            let msg = match &e {
                AppError::Unprocessable { detail, .. } => plain_error(detail),
                other => other.to_string(),
            };
            return form_page(inst, &state, &answers, key, Some(msg));
        }
    };
    use crate::usecase::measures::{SelfReportOutcome, submit_self_report};
    match submit_self_report(&state, addr, &token, &key, inst, &answers, &scored).await {
        Ok(SelfReportOutcome::Sent { crisis }) => {
            let message = "Your answers were sent to your care team. Thank you for taking the time.";
            done(&state, StatusCode::OK, "Thank you", message, crisis)
        }
        Ok(SelfReportOutcome::Expired) => done(&state, StatusCode::GONE, "Link expired", EXPIRED, None),
        Ok(SelfReportOutcome::AlreadySent) => done(&state, StatusCode::CONFLICT, "Already sent", USED, None),
        Err(e) => ui_error(e, None),
    }
}

/// Turns a scoring error ("unanswered: item 2, item 5; PHQ-9 allows ...")
/// into a plain sentence for a client.
fn plain_error(detail: &str) -> String {
    // "answers: unanswered: ..." -> "unanswered: ..."
    let detail = detail.split_once(": ").map(|(_, d)| d).unwrap_or(detail);
    if let Some(rest) = detail.strip_prefix("unanswered: ") {
        let items = rest.split(';').next().unwrap_or(rest).replace("item ", "");
        return format!("Please answer question {items} before sending.");
    }
    if detail.contains("must be answered") {
        let item = detail.split_whitespace().nth(1).unwrap_or("");
        return format!("Please answer question {item} before sending. It matters for your safety.");
    }
    "Please check your answers and send again.".into()
}

// ---- staff: questionnaires due ---------------------------------------------

pub struct DueRow {
    pub client_id: ClientId,
    pub client: String,
    pub instrument: String,
    pub short_name: String,
    pub label: String,
    pub due: String,
    pub overdue: bool,
    pub status: &'static str,
}

/// The rows of a due list, each in its client's time zone (`tz_of`).
pub fn due_rows(
    list: &[crate::api::measures::DueMeasure],
    tz_of: impl Fn(ClientId) -> jiff::tz::TimeZone,
) -> Vec<DueRow> {
    use kairos_domain::measure_schedule::OccurrenceStatus as S;
    list.iter()
        .map(|d| DueRow {
            client_id: d.client_id,
            client: d.client_name.clone(),
            instrument: d.instrument.clone(),
            short_name: d.short_name.clone(),
            label: d.label.clone(),
            due: d.due_at.to_zoned(tz_of(d.client_id)).strftime("%a %-d %b %H:%M").to_string(),
            overdue: d.status == S::Overdue,
            status: match d.status {
                S::Upcoming => "upcoming",
                S::Due => "due",
                S::Overdue => "overdue",
                S::Missed => "missed",
                S::Done => "done",
            },
        })
        .collect()
}

/// One client's questionnaires due, with what a link can carry.
pub struct DueClient {
    pub client_id: ClientId,
    pub client: String,
    pub rows: Vec<DueRow>,
    /// The due self-report questionnaires a link can carry: (id, short name),
    /// each once.
    pub sendable: Vec<(String, String)>,
    pub overdue: bool,
}

#[derive(Template)]
#[template(path = "due.html")]
struct DuePage {
    nav: Option<Nav>,
    clients: Vec<DueClient>,
    total: usize,
    can_send: bool,
}

/// Groups a due list by client, keeping its order (overdue first).
fn by_client(state: &AppState, rows: Vec<DueRow>) -> Vec<DueClient> {
    use kairos_domain::instruments::{Content, Rater};
    let mut out: Vec<DueClient> = Vec::new();
    for r in rows {
        let i = match out.iter().position(|c| c.client_id == r.client_id) {
            Some(i) => i,
            None => {
                out.push(DueClient {
                    client_id: r.client_id,
                    client: r.client.clone(),
                    rows: Vec::new(),
                    sendable: Vec::new(),
                    overdue: false,
                });
                out.len() - 1
            }
        };
        let c = &mut out[i];
        let linkable = state
            .config
            .instruments
            .get(&r.instrument)
            .is_some_and(|x| x.rater == Rater::SelfReport && x.content == Content::Full);
        if linkable && !c.sendable.iter().any(|(id, _)| *id == r.instrument) {
            c.sendable.push((r.instrument.clone(), r.short_name.clone()));
        }
        c.overdue |= r.overdue;
        c.rows.push(r);
    }
    out
}

pub async fn due(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    auth.require(Permission::ReadMeasures)?;
    let nav = || Some(auth.nav("/measures/due"));
    let api_auth = Auth { staff: auth.staff.clone(), token: auth.token.clone(), remote_addr: auth.remote_addr.clone() };
    let list = crate::api::measures::due_for_me(&state, &api_auth).await.map_err(|e| ui_error(e, nav()))?;
    let clients: Vec<ClientId> = list.iter().map(|d| d.client_id).collect();
    let zones = state.client_tzs(&clients).await.map_err(|e| ui_error(e, nav()))?;
    let rows = due_rows(&list, |c| zones.get(&c).cloned().unwrap_or(jiff::tz::TimeZone::UTC));
    Ok(render(&DuePage {
        nav: nav(),
        total: rows.len(),
        clients: by_client(&state, rows),
        can_send: auth.staff.roles.allow(Permission::RecordMeasures),
    }))
}

// ---- director: practice outcomes --------------------------------------------

pub struct RateRow {
    pub group: String,
    pub n: u64,
    pub response: String,
    pub remission: String,
}

fn pct(r: &kairos_domain::outcomes::Rate) -> String {
    match (r.rate, r.lower, r.upper) {
        (Some(p), Some(lo), Some(hi)) => {
            format!("{:.1}% ({} of {}; 95% CI {:.1}-{:.1}%)", p * 100.0, r.count, r.n, lo * 100.0, hi * 100.0)
        }
        _ => "no assessable courses".into(),
    }
}

fn rate_row(g: &kairos_domain::practice::GroupOutcome) -> RateRow {
    RateRow {
        group: g.group.clone(),
        n: g.assessable,
        response: pct(&g.response),
        remission: g.remission.as_ref().map(pct).unwrap_or_else(|| "not defined".into()),
    }
}

pub struct AtRisk {
    pub day: String,
    pub at_risk: u64,
    pub survival: String,
}

#[derive(Template)]
#[template(path = "outcomes.html")]
struct OutcomesPage {
    nav: Option<Nav>,
    instruments: Vec<(String, String, bool)>,
    from: String,
    to: String,
    instrument_name: String,
    courses: u64,
    assessable: u64,
    not_assessable: u64,
    overall: RateRow,
    by_protocol: Vec<RateRow>,
    by_psychotherapy: Vec<RateRow>,
    km_svg: String,
    km_caption: String,
    at_risk: Vec<AtRisk>,
    relapse_excluded: u64,
    definitions: Vec<String>,
}

pub async fn outcomes(
    State(state): State<AppState>,
    auth: UiAuth,
    crate::extract::Query(q): crate::extract::Query<crate::api::measures::OutcomeQuery>,
) -> PageResult {
    auth.require(Permission::ReadPracticeOutcomes)?;
    let nav = || Some(auth.nav("/outcomes"));
    let out = crate::usecase::measures::practice_outcomes(&state, &super::api_auth(&auth), &q)
        .await
        .map_err(|e| ui_error(e, nav()))?;
    let r = &out.report;
    let inst = state.config.instruments.get(&r.instrument);
    let (km_svg, km_caption) = super::plots::km_plot(&r.relapse);
    // Numbers at risk every 30 days, as printed under survival curves.
    let mut at_risk = Vec::new();
    let last = r.relapse.steps.last().map(|s| s.time).unwrap_or(0.0);
    let mut day = 0.0;
    while day <= last {
        let after: Vec<&kairos_domain::outcomes::KmStep> = r.relapse.steps.iter().filter(|s| s.time >= day).collect();
        let before = r.relapse.steps.iter().rev().find(|s| s.time < day);
        at_risk.push(AtRisk {
            day: format!("{day:.0}"),
            at_risk: after.first().map(|s| s.at_risk).unwrap_or(0),
            survival: format!("{:.0}%", before.map(|s| s.survival).unwrap_or(1.0) * 100.0),
        });
        day += 30.0;
    }
    Ok(render(&OutcomesPage {
        nav: nav(),
        instruments: state
            .config
            .instruments
            .all()
            .iter()
            .filter(|i| i.response.is_some())
            .map(|i| (i.id.clone(), i.short_name.clone(), i.id == r.instrument))
            .collect(),
        from: out.from.to_string(),
        to: out.to.to_string(),
        instrument_name: inst.map(|i| i.short_name.clone()).unwrap_or_default(),
        courses: r.courses,
        assessable: r.assessable,
        not_assessable: r.not_assessable,
        overall: rate_row(&r.overall),
        by_protocol: r.by_protocol.iter().map(rate_row).collect(),
        by_psychotherapy: r.by_psychotherapy.iter().map(rate_row).collect(),
        km_svg,
        km_caption,
        at_risk,
        relapse_excluded: r.relapse_excluded,
        definitions: r.definitions.clone(),
    }))
}

// ---- the instrument library -------------------------------------------------

pub struct RuleRow {
    pub rule: String,
    pub value: String,
    pub source: String,
    pub confirmed: bool,
}

pub struct InstrumentView {
    pub id: String,
    pub name: String,
    pub short_name: String,
    pub version: String,
    pub citation: String,
    pub licence: String,
    pub rater: &'static str,
    pub score_only: Option<String>,
    pub recall: String,
    pub items: usize,
    pub range: String,
    pub loinc: String,
    pub rules: Vec<RuleRow>,
}

fn instrument_view(i: &Instrument) -> InstrumentView {
    use kairos_domain::instruments::Provenance;
    let row = |rule: &str, value: String, p: &Provenance| RuleRow {
        rule: rule.into(),
        value,
        source: p.source.clone(),
        confirmed: p.confirmed,
    };
    let mut rules = vec![row("Scoring", i.scoring.method.as_str().replace('_', " "), &i.scoring.provenance)];
    if let Some(b) = &i.severity {
        let bands: Vec<String> = b.bands.iter().map(|x| format!("{}-{} {}", x.min, x.max, x.label)).collect();
        rules.push(row("Severity bands", bands.join("; "), &b.provenance));
    }
    let required = if i.missing.required.is_empty() {
        String::new()
    } else {
        format!("; never prorated: item {}", i.missing.required.join(", item "))
    };
    rules.push(row(
        "Missing answers",
        format!("at most {} unanswered, prorated{required}", i.missing.max_missing),
        &i.missing.provenance,
    ));
    if let Some(r) = &i.response {
        rules.push(row("Response", format!("at least {}% below baseline", r.drop_pct), &r.provenance));
    }
    if let Some(r) = &i.remission {
        rules.push(row("Remission", format!("score at or below {}", r.max_score), &r.provenance));
    }
    if let Some(r) = &i.reliable_change {
        let v = r.threshold().map(|t| format!("{t:.1} points")).unwrap_or_default();
        rules.push(row("Reliable change", v, &r.provenance));
    }
    if let Some(d) = &i.diagnosis {
        let req: Vec<String> = d.require.iter().map(|r| format!("{} >= {}", r.subscale, r.count)).collect();
        rules.push(row(&d.name, format!("items >= {} endorsed; {}", d.endorsed_min, req.join(", ")), &d.provenance));
    }
    for a in &i.alerts {
        rules.push(row(
            &format!("Alert ({})", a.level.as_str()),
            format!("item {} >= {}: {}", a.item, a.min_value, a.message),
            &a.provenance,
        ));
    }
    let (lo, hi) = i.score_range();
    InstrumentView {
        id: i.id.clone(),
        name: i.name.clone(),
        short_name: i.short_name.clone(),
        version: i.version.clone(),
        citation: i.citation.clone(),
        licence: i.licence.clone(),
        rater: match i.rater {
            kairos_domain::instruments::Rater::SelfReport => "self-report",
            kairos_domain::instruments::Rater::Clinician => "clinician-rated",
        },
        score_only: i.content_note.clone().filter(|_| i.content == kairos_domain::instruments::Content::ScoreOnly),
        recall: i.recall.clone(),
        items: i.items.len(),
        range: format!("{lo}-{hi}"),
        loinc: i
            .loinc
            .as_ref()
            .map(|l| {
                [l.panel.as_ref().map(|p| format!("panel {p}")), l.total.as_ref().map(|t| format!("total {t}"))]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "not confirmed".into()),
        rules,
    }
}

#[derive(Template)]
#[template(path = "instruments.html")]
struct InstrumentsPage {
    nav: Option<Nav>,
    instruments: Vec<InstrumentView>,
}

pub async fn instruments(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    auth.require(Permission::ReadDirectory)?;
    Ok(render(&InstrumentsPage {
        nav: Some(auth.nav("/instruments")),
        instruments: state.config.instruments.all().iter().map(instrument_view).collect(),
    }))
}

// ---- clinician entry of a questionnaire ------------------------------------

pub struct EntryItem {
    pub index: usize,
    pub label: String,
    pub options: Vec<OptionView>,
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    nav: Option<Nav>,
    client_id: ClientId,
    client: String,
    instrument: String,
    short_name: String,
    note: Option<String>,
    items: Vec<EntryItem>,
    total_entry: bool,
    /// The safety items rated even with a total (MADRS item 10).
    total_needs: String,
    range: String,
    /// The total as typed, kept after a refusal.
    total: String,
    error: Option<super::form::Refused>,
}

fn record_page(
    auth: &UiAuth,
    client: ClientId,
    client_name: String,
    inst: &Instrument,
    answers: &[Option<i64>],
    total: &str,
    error: Option<super::form::Refused>,
) -> Response {
    let (lo, hi) = inst.score_range();
    render(&RecordPage {
        nav: Some(auth.nav("/clients")),
        client_id: client,
        client: client_name,
        instrument: inst.id.clone(),
        short_name: inst.short_name.clone(),
        note: inst.content_note.clone(),
        items: inst
            .items
            .iter()
            .enumerate()
            .map(|(n, item)| EntryItem {
                index: n,
                label: item.text.clone().or_else(|| item.label.clone()).unwrap_or_else(|| format!("Item {}", item.id)),
                options: item
                    .options
                    .as_deref()
                    .unwrap_or(&inst.options)
                    .iter()
                    .map(|o| OptionView {
                        value: o.value,
                        label: match &o.label {
                            Some(l) => format!("{} {l}", o.value),
                            None => o.value.to_string(),
                        },
                        checked: answers.get(n).copied().flatten() == Some(o.value),
                    })
                    .collect(),
            })
            .collect(),
        total_entry: inst.total_entry,
        total_needs: inst.missing.required.join(", "),
        range: format!("{lo}-{hi}"),
        total: total.to_string(),
        error,
    })
}

#[derive(Deserialize)]
pub struct RecordQuery {
    instrument: String,
}

pub async fn record_form(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    crate::extract::Query(q): crate::extract::Query<RecordQuery>,
) -> PageResult {
    auth.require(Permission::RecordMeasures)?;
    let nav = || Some(auth.nav("/clients"));
    let client: ClientId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", nav()))?;
    let name = crate::usecase::clients::name(&state, client).await.map_err(|e| ui_error(e, nav()))?;
    let inst = crate::api::measures::instrument(&state, "instrument", &q.instrument).map_err(|e| ui_error(e, nav()))?;
    Ok(record_page(&auth, client, name, inst, &[], "", None))
}

/// A questionnaire as typed on the entry page: the instrument, each item's
/// answer (`item_0`, `item_1`, ...; as many as the instrument has), or the
/// total alone.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MeasureForm {
    pub instrument: String,
    pub total: String,
    #[serde(flatten)]
    pub items: std::collections::BTreeMap<String, String>,
}

impl MeasureForm {
    fn command(&self, inst: &Instrument) -> Result<crate::usecase::measures::RecordCommand, kairos_domain::Refusal> {
        let mut answers = Vec::with_capacity(inst.items.len());
        for (n, item) in inst.items.iter().enumerate() {
            let v = self.items.get(&format!("item_{n}")).map(String::as_str).unwrap_or("");
            answers.push(super::form::whole(&format!("answers[{n}]"), &format!("Item {}", item.id), v)?);
        }
        Ok(crate::usecase::measures::RecordCommand {
            instrument: self.instrument.clone(),
            answers: answers.iter().any(Option::is_some).then_some(answers),
            total: super::form::whole("total", "Total", &self.total)?,
            completed_at: None,
            course_id: None,
        })
    }
}

pub async fn record_submit(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<MeasureForm>,
) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let client: ClientId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", nav()))?;
    let name = crate::usecase::clients::name(&state, client).await.map_err(|e| ui_error(e, nav()))?;
    let inst =
        crate::api::measures::instrument(&state, "instrument", &form.instrument).map_err(|e| ui_error(e, nav()))?;
    // What was ticked, to show again beside a refusal.
    let ticked: Vec<Option<i64>> = (0..inst.items.len())
        .map(|n| form.items.get(&format!("item_{n}")).and_then(|v| v.trim().parse().ok()))
        .collect();
    let refused = |r: super::form::Refused| {
        let status = r.status;
        let mut page = record_page(&auth, client, name.clone(), inst, &ticked, &form.total, Some(r));
        *page.status_mut() = status;
        page
    };
    let cmd = match form.command(inst) {
        Ok(cmd) => cmd,
        Err(r) => return Ok(refused(r.into())),
    };
    match crate::usecase::measures::record(&state, &crate::ui::api_auth(&auth), client, &cmd).await {
        Ok(_) => Ok(Redirect::to(&format!("/clients/{client}")).into_response()),
        Err(AppError::Forbidden(m)) => Err(page_error(StatusCode::FORBIDDEN, &m, nav())),
        Err(e) => Ok(refused(e.into())),
    }
}
