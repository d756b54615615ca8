//! Staff accounts in the browser (administrators): the list, a new account,
//! an account's name, e-mail, roles and active flag, its password, and its
//! weekly working hours (for the scheduler and booking suggestions). The
//! forms call the use cases the API calls; nobody changes their own roles or
//! deactivates themselves.

use super::form::{Refused, with_status};
use super::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::error::AppError;
use crate::state::AppState;
use crate::usecase;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kairos_domain::Refusal;
use kairos_domain::ids::StaffId;
use kairos_domain::roles::{Permission, Role, Roles};
use kairos_domain::staff::{Staff, StaffInput};
use kairos_schedule::{Day, WeeklyHours};
use kairos_store::staff_requests::{RequestKind, StaffRequest};
use serde::Deserialize;

type PageResult = Result<Response, Response>;

/// An account form as typed (`roles` repeats, one per box ticked).
/// No `Debug`: it holds a password.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct AccountForm {
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    /// New accounts: the first password (optional).
    pub password: String,
    /// Edits: ticked while the account stays active.
    pub active: Option<String>,
}

impl AccountForm {
    fn of(s: &Staff) -> AccountForm {
        AccountForm {
            name: s.name.clone(),
            email: s.email.to_string(),
            roles: s.roles.iter().map(|r| r.as_str().to_string()).collect(),
            password: String::new(),
            active: s.active.then(|| "yes".into()),
        }
    }

    fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    fn input(&self) -> Result<StaffInput, AppError> {
        let roles = self.roles.iter().map(|r| Role::parse("roles", r.trim())).collect::<Result<Vec<_>, _>>()?;
        Ok(StaffInput::parse(&self.name, &self.email, Roles::new(roles)?)?)
    }
}

fn read_form(body: &[u8], auth: &UiAuth) -> Result<AccountForm, Response> {
    serde_html_form::from_bytes(body)
        .map_err(|_| page_error(StatusCode::BAD_REQUEST, "The form could not be read.", Some(auth.nav("/admin/staff"))))
}

fn role_choices() -> Vec<(&'static str, &'static str)> {
    Role::ALL.iter().map(|r| (r.as_str(), r.label())).collect()
}

struct StaffRow {
    id: StaffId,
    name: String,
    email: String,
    roles: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    nav: Option<Nav>,
    pending: Vec<PendingRow>,
    decide_error: Option<Refused>,
    rows: Vec<StaffRow>,
    roles: Vec<(&'static str, &'static str)>,
    values: AccountForm,
    error: Option<Refused>,
}

/// A change waiting for a second administrator, as the pages show it.
struct PendingRow {
    id: String,
    staff_id: StaffId,
    account: String,
    change: String,
    asked_by: String,
    /// The signed-in administrator asked for it (or it is their account):
    /// another administrator decides.
    mine: bool,
}

fn labels(r: &Roles) -> String {
    r.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ")
}

fn pending_rows(auth: &UiAuth, reqs: &[StaffRequest], all: &[Staff]) -> Vec<PendingRow> {
    let name = |id: Option<StaffId>| {
        id.and_then(|id| all.iter().find(|s| s.id == id)).map(|s| s.name.clone()).unwrap_or_else(|| "the server".into())
    };
    reqs.iter()
        .map(|r| {
            let change = match r.kind {
                RequestKind::Password => "set a new password".to_string(),
                RequestKind::MfaReset => "reset two-step sign-in (set up again at the next sign-in)".to_string(),
                RequestKind::Access if !r.active_before && r.active_after => {
                    let pw = if r.sets_password { ", with its first password" } else { "" };
                    format!("activate with roles {}{pw}", labels(&r.roles_after))
                }
                RequestKind::Access => {
                    format!("roles {} → {}", labels(&r.roles_before), labels(&r.roles_after))
                }
            };
            PendingRow {
                id: r.id.clone(),
                staff_id: r.staff_id,
                account: name(Some(r.staff_id)),
                change,
                asked_by: name(r.requested_by),
                mine: r.requested_by == Some(auth.staff.id) || r.staff_id == auth.staff.id,
            }
        })
        .collect()
}

async fn list_page(state: &AppState, auth: &UiAuth, values: AccountForm, error: Option<Refused>) -> PageResult {
    list_page_with(state, auth, values, error, None).await
}

async fn list_page_with(
    state: &AppState,
    auth: &UiAuth,
    values: AccountForm,
    error: Option<Refused>,
    decide_error: Option<Refused>,
) -> PageResult {
    let all = usecase::directory::all_staff(state, &api_auth(auth))
        .await
        .map_err(|e| ui_error(e, Some(auth.nav("/admin/staff"))))?;
    let reqs = usecase::staff::pending(state, &api_auth(auth), None)
        .await
        .map_err(|e| ui_error(e, Some(auth.nav("/admin/staff"))))?;
    let status = error.clone().or(decide_error.clone());
    let page = render(&StaffPage {
        nav: Some(auth.nav("/admin/staff")),
        pending: pending_rows(auth, &reqs, &all),
        decide_error,
        rows: all
            .iter()
            .map(|s| StaffRow {
                id: s.id,
                name: s.name.clone(),
                email: s.email.to_string(),
                roles: s.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join(", "),
                active: s.active,
            })
            .collect(),
        roles: role_choices(),
        values,
        error,
    });
    Ok(with_status(page, &status))
}

pub async fn list(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    list_page(&state, &auth, AccountForm::default(), None).await
}

pub async fn create(State(state): State<AppState>, auth: UiAuth, body: axum::body::Bytes) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    let form = read_form(&body, &auth)?;
    let password = Some(form.password.clone()).filter(|p| !p.is_empty());
    let result = match form.input() {
        Ok(input) => usecase::staff::create(&state, &api_auth(&auth), &input, password).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((s, _)) => Ok(Redirect::to(&format!("/admin/staff/{}", s.id)).into_response()),
        Err(e) => {
            let values = AccountForm { password: String::new(), ..form };
            list_page(&state, &auth, values, Some(e.into())).await
        }
    }
}

#[derive(Template)]
#[template(path = "staff_account.html")]
struct AccountPage {
    nav: Option<Nav>,
    id: StaffId,
    /// The account is the signed-in administrator's own.
    own: bool,
    /// Its changes waiting for a second administrator.
    pending: Vec<PendingRow>,
    roles: Vec<(&'static str, &'static str)>,
    values: AccountForm,
    error: Option<Refused>,
    password_error: Option<Refused>,
    /// The weekly hours, a row per day (as typed after a refusal).
    hours: Vec<HoursRow>,
    /// The account works the clinic's hours (none of its own).
    clinic_hours: bool,
    /// A day has more periods than the form shows.
    more_periods: bool,
    hours_error: Option<Refused>,
}

/// The days of the week: (day, field prefix, label).
const DAYS: [(Day, &str, &str); 7] = [
    (Day::Mon, "mon", "Monday"),
    (Day::Tue, "tue", "Tuesday"),
    (Day::Wed, "wed", "Wednesday"),
    (Day::Thu, "thu", "Thursday"),
    (Day::Fri, "fri", "Friday"),
    (Day::Sat, "sat", "Saturday"),
    (Day::Sun, "sun", "Sunday"),
];

/// One day of the hours form: up to two periods (a split shift), "HH:MM".
#[derive(Debug, Clone, Default)]
pub struct HoursRow {
    pub key: &'static str,
    pub label: &'static str,
    pub periods: [(String, String); 2],
}

/// The form's rows for stored hours; whether a day had more periods than
/// the form shows.
fn rows_of(hours: &[WeeklyHours]) -> (Vec<HoursRow>, bool) {
    let mut more = false;
    let rows = DAYS
        .iter()
        .map(|(day, key, label)| {
            let mut periods: Vec<(jiff::civil::Time, jiff::civil::Time)> =
                hours.iter().filter(|h| h.days.contains(day)).map(|h| (h.from, h.to)).collect();
            periods.sort();
            more |= periods.len() > 2;
            let hm = |t: jiff::civil::Time| t.strftime("%H:%M").to_string();
            let mut row = HoursRow { key, label, periods: Default::default() };
            for (slot, (from, to)) in row.periods.iter_mut().zip(periods) {
                *slot = (hm(from), hm(to));
            }
            row
        })
        .collect();
    (rows, more)
}

/// The form's rows as typed.
fn rows_typed(fields: &[(String, String)]) -> Vec<HoursRow> {
    let get =
        |name: String| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    DAYS.iter()
        .map(|(_, key, label)| HoursRow {
            key,
            label,
            periods: [
                (get(format!("{key}_from")), get(format!("{key}_to"))),
                (get(format!("{key}_from2")), get(format!("{key}_to2"))),
            ],
        })
        .collect()
}

/// Weekly hours from the form's rows: a period is both times or neither;
/// days with the same period share one entry. Refusals name the field.
fn hours_of(rows: &[HoursRow]) -> Result<Vec<WeeklyHours>, Refusal> {
    let mut out: Vec<WeeklyHours> = Vec::new();
    for (row, (day, _, _)) in rows.iter().zip(DAYS.iter()) {
        for (i, (from, to)) in row.periods.iter().enumerate() {
            let suffix = if i == 0 { "" } else { "2" };
            let field = |end: &str| format!("{}_{end}{suffix}", row.key);
            let time = |end: &str, v: &str| {
                v.parse::<jiff::civil::Time>()
                    .map_err(|_| Refusal::invalid(field(end), format!("{}: give a time such as 08:30", row.label)))
            };
            let (from, to) = match (from.is_empty(), to.is_empty()) {
                (true, true) => continue,
                (false, true) => {
                    return Err(Refusal::invalid(field("to"), format!("{}: give when the hours end", row.label)));
                }
                (true, false) => {
                    return Err(Refusal::invalid(field("from"), format!("{}: give when the hours start", row.label)));
                }
                (false, false) => (time("from", from)?, time("to", to)?),
            };
            if from >= to {
                return Err(Refusal::invalid(field("to"), format!("{}: the end must be after the start", row.label)));
            }
            match out.iter_mut().find(|h| h.from == from && h.to == to) {
                Some(h) => h.days.push(*day),
                None => out.push(WeeklyHours { days: vec![*day], from, to }),
            }
        }
    }
    Ok(out)
}

/// The hours form as typed, with its refusal.
struct TypedHours {
    rows: Vec<HoursRow>,
    clinic: bool,
    error: Refused,
}

async fn account_page(
    state: &AppState,
    auth: &UiAuth,
    id: StaffId,
    values: Option<AccountForm>,
    error: Option<Refused>,
    password_error: Option<Refused>,
) -> PageResult {
    account_page_with(state, auth, id, values, error, password_error, None).await
}

async fn account_page_with(
    state: &AppState,
    auth: &UiAuth,
    id: StaffId,
    values: Option<AccountForm>,
    error: Option<Refused>,
    password_error: Option<Refused>,
    typed_hours: Option<TypedHours>,
) -> PageResult {
    let values = match values {
        Some(v) => v,
        None => {
            let s = usecase::staff::get(state, &api_auth(auth), id)
                .await
                .map_err(|e| ui_error(e, Some(auth.nav("/admin/staff"))))?;
            AccountForm::of(&s)
        }
    };
    let (hours, clinic_hours, more_periods, hours_error) = match typed_hours {
        Some(t) => (t.rows, t.clinic, false, Some(t.error)),
        None => {
            let stored = usecase::schedule::staff_hours(state, &api_auth(auth), id)
                .await
                .map_err(|e| ui_error(e, Some(auth.nav("/admin/staff"))))?;
            let (rows, more) = rows_of(stored.as_deref().unwrap_or_default());
            (rows, stored.is_none(), more, None)
        }
    };
    let status = error.clone().or(password_error.clone()).or(hours_error.clone());
    let all = usecase::directory::all_staff(state, &api_auth(auth))
        .await
        .map_err(|e| ui_error(e, Some(auth.nav("/admin/staff"))))?;
    let reqs = usecase::staff::pending(state, &api_auth(auth), Some(id))
        .await
        .map_err(|e| ui_error(e, Some(auth.nav("/admin/staff"))))?;
    let page = render(&AccountPage {
        nav: Some(auth.nav("/admin/staff")),
        id,
        own: id == auth.staff.id,
        pending: pending_rows(auth, &reqs, &all),
        roles: role_choices(),
        values,
        error,
        password_error,
        hours,
        clinic_hours,
        more_periods,
        hours_error,
    });
    Ok(with_status(page, &status))
}

fn staff_id(auth: &UiAuth, id: &str) -> Result<StaffId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such staff member.", Some(auth.nav("/admin/staff"))))
}

pub async fn show(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    let id = staff_id(&auth, &id)?;
    account_page(&state, &auth, id, None, None, None).await
}

pub async fn update(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    let id = staff_id(&auth, &id)?;
    let form = read_form(&body, &auth)?;
    let result = match form.input() {
        Ok(input) => usecase::staff::update(&state, &api_auth(&auth), id, &input, form.active.is_some()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to("/admin/staff").into_response()),
        Err(AppError::NotFound(m)) => Err(page_error(StatusCode::NOT_FOUND, &m, Some(auth.nav("/admin/staff")))),
        Err(e) => account_page(&state, &auth, id, Some(form), Some(e.into()), None).await,
    }
}

/// Approves a change waiting for a second administrator.
pub async fn approve(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    decide(state, auth, id, true).await
}

/// Declines a change waiting for a second administrator.
pub async fn decline(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    decide(state, auth, id, false).await
}

async fn decide(state: AppState, auth: UiAuth, id: String, approve: bool) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    let id = uuid::Uuid::parse_str(&id)
        .map_err(|_| page_error(StatusCode::NOT_FOUND, "No such request.", Some(auth.nav("/admin/staff"))))?
        .to_string();
    match usecase::staff::decide(&state, &api_auth(&auth), &id, approve, "ui").await {
        Ok(_) => Ok(Redirect::to("/admin/staff").into_response()),
        Err(AppError::NotFound(m)) => Err(page_error(StatusCode::NOT_FOUND, &m, Some(auth.nav("/admin/staff")))),
        Err(e) => list_page_with(&state, &auth, AccountForm::default(), None, Some(e.into())).await,
    }
}

/// No `Debug`: it holds a password.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    password: String,
}

pub async fn set_password(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<PasswordForm>,
) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    let id = staff_id(&auth, &id)?;
    match usecase::staff::set_password(&state, &api_auth(&auth), id, form.password).await {
        Ok(_) => Ok(Redirect::to("/admin/staff").into_response()),
        Err(e) => account_page(&state, &auth, id, None, None, Some(e.into())).await,
    }
}

/// Asks to reset someone's two-step sign-in (waits for a second
/// administrator, as a password does).
pub async fn reset_mfa(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    let id = staff_id(&auth, &id)?;
    match usecase::staff::reset_mfa(&state, &api_auth(&auth), id).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/staff/{id}")).into_response()),
        Err(AppError::NotFound(m)) => Err(page_error(StatusCode::NOT_FOUND, &m, Some(auth.nav("/admin/staff")))),
        Err(e) => account_page(&state, &auth, id, None, None, Some(e.into())).await,
    }
}

/// Sets an account's weekly working hours from the form (or, ticked,
/// returns it to the clinic's hours).
pub async fn set_hours(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    let id = staff_id(&auth, &id)?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let clinic = fields.iter().any(|(k, v)| k == "clinic_hours" && !v.is_empty());
    let rows = rows_typed(&fields);
    // Ticked: the clinic's hours; otherwise at least one day's.
    let hours = match (clinic, hours_of(&rows)) {
        (true, _) => Ok(None),
        (false, Ok(h)) if h.is_empty() => {
            Err(Refusal::invalid("mon_from", "give at least one day's hours, or tick \"Works the clinic's hours\""))
        }
        (false, h) => h.map(Some),
    };
    let result = match hours {
        Ok(h) => {
            let of = kairos_store::proposals::HoursOf::Staff;
            usecase::schedule::set_hours(&state, &api_auth(&auth), of, &id.to_string(), h.as_deref()).await
        }
        Err(r) => Err(AppError::from(r)),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/admin/staff/{id}")).into_response()),
        Err(AppError::NotFound(m)) => Err(page_error(StatusCode::NOT_FOUND, &m, Some(auth.nav("/admin/staff")))),
        Err(e) => {
            let typed = TypedHours { rows, clinic, error: e.into() };
            account_page_with(&state, &auth, id, None, None, None, Some(typed)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(pairs: &[(&str, &str)]) -> Vec<HoursRow> {
        rows_typed(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
    }

    #[test]
    fn days_with_the_same_hours_share_one_period_and_a_split_shift_is_two() {
        let rows = typed(&[
            ("mon_from", "08:00"),
            ("mon_to", "12:00"),
            ("mon_from2", "13:00"),
            ("mon_to2", "17:30"),
            ("wed_from", "08:00"),
            ("wed_to", "12:00"),
            ("fri_from", "10:00"),
            ("fri_to", "16:00"),
        ]);
        let h = hours_of(&rows).expect("hours");
        let t = |s: &str| s.parse::<jiff::civil::Time>().expect("time");
        assert_eq!(
            h,
            vec![
                WeeklyHours { days: vec![Day::Mon, Day::Wed], from: t("08:00"), to: t("12:00") },
                WeeklyHours { days: vec![Day::Mon], from: t("13:00"), to: t("17:30") },
                WeeklyHours { days: vec![Day::Fri], from: t("10:00"), to: t("16:00") },
            ]
        );
        // Shown again, each day has its own periods in order.
        let (shown, more) = rows_of(&h);
        assert!(!more);
        assert_eq!(shown[0].periods, [("08:00".into(), "12:00".into()), ("13:00".into(), "17:30".into())]);
        assert_eq!(shown[2].periods[0], ("08:00".to_string(), "12:00".to_string()));
        assert_eq!(shown[1].periods, <[(String, String); 2]>::default());
    }

    #[test]
    fn a_period_needs_both_ends_in_order_and_the_refusal_names_the_field() {
        let r = hours_of(&typed(&[("tue_from", "09:00")])).expect_err("no end");
        assert_eq!((r.field.as_str(), r.message.as_str()), ("tue_to", "Tuesday: give when the hours end."));
        let r = hours_of(&typed(&[("thu_from2", "14:00"), ("thu_to2", "13:00")])).expect_err("backwards");
        assert_eq!(r.field, "thu_to2");
        let r = hours_of(&typed(&[("sat_from", "9am"), ("sat_to", "13:00")])).expect_err("not a time");
        assert_eq!(r.field, "sat_from");
        assert_eq!(hours_of(&typed(&[])).expect("none"), Vec::new());
    }
}
