//! The permission layer: every route of the server, API and pages alike,
//! declares who may call it, here (API) or beside its page (`ui::ROUTES`),
//! and the staff extractors enforce the declaration (`check`) before the
//! handler reads anything else.
//!
//! A route that is served but not declared is refused (fail closed); a test
//! walks every declared route × every role and compares what the running
//! server answers with the policy table (`kairos_domain::roles`).
//!
//! Where a rule also depends on the relation between the caller and the
//! record (the author of a note and their supervisors, a group's
//! facilitators, the client themself), the route names it and the use case
//! decides it over the record.

use crate::error::AppError;
use axum::extract::MatchedPath;
use axum::http::Method;
use axum::http::request::Parts;
use kairos_domain::roles::Permission;
use kairos_domain::staff::Staff;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: sign-in, health, the API document, the stylesheet, a
    /// self-report link (its token is the credential).
    Public,
    /// A client signed in to the portal (the handler reads their own record
    /// only).
    Client,
    /// Any signed-in staff member.
    SignedIn,
    /// Staff whose roles grant one of these permissions.
    Needs(&'static [Permission]),
}

/// The relation to the record that a route's use case checks beyond the
/// permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Reads: the note's author, or a supervisor of the author, see it in
    /// full; others with the permission see its one-line summary.
    NoteAuthorOrSupervisor,
    /// Changes: the note's author only (save, sign, amend).
    NoteAuthor,
    /// A new note: the therapist of the session's course or booking, or a
    /// supervisor of the course's therapist (`kairos_domain::notes::may_write`).
    SessionTherapist,
    /// A facilitator of the group.
    Facilitator,
}

/// One route's declaration.
#[derive(Debug, Clone, Copy)]
pub struct Declared {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub relation: Option<Relation>,
}

const fn d(method: &'static str, path: &'static str, access: Access) -> Declared {
    Declared { method, path, access, relation: None }
}

const fn r(method: &'static str, path: &'static str, access: Access, relation: Relation) -> Declared {
    Declared { method, path, access, relation: Some(relation) }
}

use Access::{Client, Needs, Public, SignedIn};
use Permission as P;

/// The JSON API (`/api/v1` + path). A test checks that these are exactly
/// the operations of the OpenAPI document.
pub const API: &[Declared] = &[
    d("GET", "/healthz", Public),
    d("POST", "/auth/login", Public),
    d("POST", "/auth/logout", SignedIn),
    d("GET", "/auth/me", SignedIn),
    d("POST", "/me/password", SignedIn),
    d("GET", "/me/mfa", SignedIn),
    d("POST", "/me/mfa", SignedIn),
    d("DELETE", "/me/mfa", SignedIn),
    d("POST", "/me/mfa/confirm", SignedIn),
    d("POST", "/staff/{id}/mfa-reset", Needs(&[P::ManageStaff])),
    d("GET", "/audit", Needs(&[P::ReadAudit])),
    d("GET", "/sites", Needs(&[P::ReadDirectory])),
    d("POST", "/sites", Needs(&[P::ManageSites])),
    d("GET", "/sites/{id}", Needs(&[P::ReadDirectory])),
    d("PUT", "/sites/{id}", Needs(&[P::ManageSites])),
    d("GET", "/sites/{id}/rooms", Needs(&[P::ReadDirectory])),
    d("POST", "/sites/{id}/rooms", Needs(&[P::ManageSites])),
    d("PUT", "/rooms/{id}", Needs(&[P::ManageSites])),
    d("PUT", "/sites/{id}/hours", Needs(&[P::ManageSites])),
    d("GET", "/staff", Needs(&[P::ReadDirectory])),
    d("POST", "/staff", Needs(&[P::ManageStaff])),
    d("GET", "/staff/{id}", Needs(&[P::ReadDirectory])),
    d("PUT", "/staff/{id}", Needs(&[P::ManageStaff])),
    d("PUT", "/staff/{id}/password", Needs(&[P::ManageStaff])),
    d("GET", "/staff-requests", Needs(&[P::ManageStaff])),
    d("POST", "/staff-requests/{id}/approve", Needs(&[P::ManageStaff])),
    d("POST", "/staff-requests/{id}/decline", Needs(&[P::ManageStaff])),
    d("PUT", "/staff/{id}/hours", Needs(&[P::ManageStaff])),
    d("GET", "/staff/{id}/supervisees", Needs(&[P::ManageStaff])),
    d("PUT", "/staff/{id}/supervisees", Needs(&[P::ManageStaff])),
    d("GET", "/clients", Needs(&[P::ReadClients])),
    d("POST", "/clients", Needs(&[P::WriteClients])),
    d("GET", "/clients/{id}", Needs(&[P::ReadClients])),
    d("PUT", "/clients/{id}", Needs(&[P::WriteClients])),
    d("GET", "/clients/{id}/history", Needs(&[P::ReadClients])),
    // Emergency access: the roles are the clinic's setting, checked in
    // `usecase::emergency`.
    d("POST", "/clients/{id}/emergency-access", SignedIn),
    d("GET", "/clients/{id}/emergency-summary", SignedIn),
    d("GET", "/emergency-access", Needs(&[P::ReviewEmergencyAccess])),
    d("POST", "/emergency-access/{id}/review", Needs(&[P::ReviewEmergencyAccess])),
    d("POST", "/clients/{id}/amendment-requests", Needs(&[P::WriteClients])),
    d("POST", "/clients/{id}/disclosures", Needs(&[P::WriteClients])),
    d("GET", "/clients/{id}/disclosures", Needs(&[P::ReadClients])),
    d("POST", "/ledger/registrations/{id}/report/disclosures", Needs(&[P::ReadLedger])),
    d("GET", "/clients/{id}/amendment-requests", Needs(&[P::ReadClients])),
    d("GET", "/amendment-requests", Needs(&[P::DecideAmendments])),
    d("GET", "/amendment-requests/{id}", Needs(&[P::DecideAmendments])),
    d("POST", "/amendment-requests/{id}/extension", Needs(&[P::DecideAmendments])),
    d("POST", "/amendment-requests/{id}/decision", Needs(&[P::DecideAmendments])),
    d("POST", "/portal/amendment-requests", Client),
    d("GET", "/portal/amendment-requests", Client),
    d("POST", "/portal/amendment-requests/{id}/disagreement", Client),
    d("GET", "/clients/{id}/email-change", Needs(&[P::ReadClients])),
    d("DELETE", "/clients/{id}/email-change", Needs(&[P::WriteClients])),
    d("POST", "/clients/{id}/email-change/confirm", Needs(&[P::WriteClients])),
    d("PUT", "/clients/{id}/availability", Needs(&[P::BookEncounters])),
    d("GET", "/clients/{id}/courses", Needs(&[P::ReadClients])),
    d("POST", "/clients/{id}/courses", Needs(&[P::ManageCourses])),
    d("GET", "/courses/{id}", Needs(&[P::ReadClients])),
    d("POST", "/courses/{id}/phase", Needs(&[P::ManageCourses])),
    d("PUT", "/courses/{id}/care-team", Needs(&[P::ManageCourses])),
    d("GET", "/courses/{id}/plan", Needs(&[P::ReadClients])),
    d("POST", "/courses/{id}/plan", Needs(&[P::ManageCourses])),
    d("POST", "/planned-items/{id}/move", Needs(&[P::ManageCourses])),
    d("GET", "/encounters", Needs(&[P::ReadClients])),
    d("POST", "/encounters", Needs(&[P::BookEncounters])),
    d("GET", "/encounters/{id}", Needs(&[P::ReadClients])),
    d("PUT", "/encounters/{id}", Needs(&[P::BookEncounters])),
    d("POST", "/encounters/{id}/status", Needs(&[P::BookEncounters])),
    d("GET", "/instruments", Needs(&[P::ReadDirectory])),
    d("GET", "/instruments/{id}", Needs(&[P::ReadDirectory])),
    d("GET", "/clients/{id}/measures", Needs(&[P::ReadMeasures])),
    d("POST", "/clients/{id}/measures", Needs(&[P::RecordMeasures])),
    d("POST", "/measures/{id}/entered-in-error", Needs(&[P::RecordMeasures])),
    d("GET", "/alerts", Needs(&[P::ReadMeasures])),
    d("POST", "/alerts/{id}/acknowledge", Needs(&[P::RecordMeasures])),
    d("POST", "/clients/{id}/measure-requests", Needs(&[P::RecordMeasures])),
    d("GET", "/clients/{id}/outcomes", Needs(&[P::ReadMeasures])),
    d("GET", "/outcomes", Needs(&[P::ReadPracticeOutcomes])),
    d("GET", "/measures/due", Needs(&[P::ReadMeasures])),
    d("GET", "/clients/{id}/measure-schedule", Needs(&[P::ReadMeasures])),
    d("GET", "/screening/rules", Needs(&[P::ReadDirectory])),
    d("GET", "/courses/{id}/screens", Needs(&[P::ReadScreening])),
    d("POST", "/courses/{id}/screens", Needs(&[P::RecordScreening])),
    d("POST", "/screens/{id}/sign", Needs(&[P::SignEligibility])),
    d("GET", "/protocols", Needs(&[P::ReadDirectory])),
    d("GET", "/protocols/{id}", Needs(&[P::ReadDirectory])),
    d("POST", "/encounters/{id}/dosing-session", Needs(&[P::ChartDosing])),
    d("GET", "/dosing-sessions/{id}", Needs(&[P::ReadScreening])),
    d("POST", "/dosing-sessions/{id}/vitals", Needs(&[P::ChartDosing])),
    d("POST", "/dosing-sessions/{id}/discharge", Needs(&[P::ChartDosing])),
    d("POST", "/dosing-sessions/{id}/end-early", Needs(&[P::ChartDosing])),
    d("POST", "/dosing-sessions/{id}/sign", Needs(&[P::ChartDosing])),
    d("POST", "/dosing-sessions/{id}/events", Needs(&[P::ChartDosing])),
    d("POST", "/dosing-sessions/{id}/amendments", Needs(&[P::ChartDosing])),
    d("GET", "/dosing-sessions/{id}/rems", Needs(&[P::ReadLedger])),
    d("PUT", "/dosing-sessions/{id}/rems", Needs(&[P::RecordLedger])),
    d("GET", "/rems/due", Needs(&[P::ReadLedger])),
    d("GET", "/clients/{id}/rems-enrolment", Needs(&[P::ReadScreening])),
    d("POST", "/clients/{id}/rems-enrolment", Needs(&[P::SignEligibility])),
    d("GET", "/rems/settings", Needs(&[P::ReadLedger, P::ManageRegistrations])),
    d("PUT", "/sites/{id}/rems-setting", Needs(&[P::ManageRegistrations])),
    r(
        "GET",
        "/clients/{id}/notes",
        Needs(&[P::ReadNoteSummaries, P::ReadTherapyNotes]),
        Relation::NoteAuthorOrSupervisor,
    ),
    r("POST", "/clients/{id}/notes", Needs(&[P::WriteTherapyNotes]), Relation::SessionTherapist),
    r("GET", "/notes/{id}", Needs(&[P::ReadNoteSummaries, P::ReadTherapyNotes]), Relation::NoteAuthorOrSupervisor),
    r("PUT", "/notes/{id}", Needs(&[P::WriteTherapyNotes]), Relation::NoteAuthor),
    r("POST", "/notes/{id}/sign", Needs(&[P::WriteTherapyNotes]), Relation::NoteAuthor),
    r("POST", "/notes/{id}/amendments", Needs(&[P::WriteTherapyNotes]), Relation::NoteAuthor),
    d("GET", "/note-templates", Needs(&[P::ReadDirectory])),
    d("GET", "/clients/{id}/windows", Needs(&[P::ReadClients])),
    d("GET", "/windows/unbooked", Needs(&[P::ReadClients])),
    d("POST", "/schedule/proposals", Needs(&[P::PlanSchedules])),
    d("GET", "/schedule/proposals/{id}", Needs(&[P::PlanSchedules])),
    d("POST", "/schedule/proposals/{id}/apply", Needs(&[P::PlanSchedules])),
    d("POST", "/schedule/proposals/{id}/discard", Needs(&[P::PlanSchedules])),
    d("POST", "/schedule/proposals/{id}/repair", Needs(&[P::PlanSchedules])),
    d("GET", "/ledger/registrations", Needs(&[P::ReadLedger])),
    d("POST", "/ledger/registrations", Needs(&[P::ManageRegistrations])),
    d("POST", "/ledger/receipts", Needs(&[P::RecordLedger])),
    d("POST", "/ledger/initial-inventory", Needs(&[P::RecordLedger])),
    d("GET", "/ledger/stock", Needs(&[P::ReadLedger])),
    d("GET", "/ledger/stock/{id}", Needs(&[P::ReadLedger])),
    d("POST", "/ledger/stock/{id}/entries", Needs(&[P::RecordLedger])),
    d("GET", "/ledger/losses", Needs(&[P::ReadLedger])),
    d("POST", "/ledger/losses/{id}/notified", Needs(&[P::RecordLedger])),
    d("POST", "/ledger/losses/{id}/form106", Needs(&[P::RecordLedger])),
    d("GET", "/ledger/reconciliation", Needs(&[P::ReadLedger])),
    d("GET", "/ledger/registrations/{id}/report", Needs(&[P::ReadLedger])),
    d("GET", "/ledger/registrations/{id}/inventory", Needs(&[P::ReadLedger])),
    d("GET", "/ledger/registrations/{id}/inventories", Needs(&[P::ReadLedger])),
    d("POST", "/ledger/registrations/{id}/inventories", Needs(&[P::RecordLedger])),
    d("GET", "/ledger/inventories/{id}", Needs(&[P::ReadLedger])),
    d("GET", "/groups", Needs(&[P::ReadGroups, P::ManageGroups])),
    d("POST", "/groups", Needs(&[P::ManageGroups])),
    d("GET", "/groups/{id}", Needs(&[P::ReadGroups, P::ManageGroups])),
    d("POST", "/groups/{id}/members", Needs(&[P::ManageGroups])),
    d("DELETE", "/groups/{id}/members/{client_id}", Needs(&[P::ManageGroups])),
    d("GET", "/groups/{id}/sessions", Needs(&[P::ReadGroups, P::ManageGroups])),
    d("POST", "/groups/{id}/sessions", Needs(&[P::ManageGroups])),
    r("GET", "/groups/{id}/sessions/{sid}", Needs(&[P::ReadGroups, P::ManageGroups]), Relation::Facilitator),
    r("PUT", "/groups/{id}/sessions/{sid}/attendance", Needs(&[P::WriteTherapyNotes]), Relation::Facilitator),
    r("PUT", "/groups/{id}/sessions/{sid}/notes", Needs(&[P::WriteTherapyNotes]), Relation::Facilitator),
    d("GET", "/clients/{id}/groups", Needs(&[P::ReadClients])),
    d("POST", "/clients/{id}/portal-invitations", Needs(&[P::RecordMeasures])),
    d("GET", "/clients/{id}/shared-journal", Needs(&[P::ReadTherapyNotes])),
    d("GET", "/clients/{id}/exercise-adherence", Needs(&[P::ReadMeasures])),
    d("GET", "/portal/journal", Client),
    d("POST", "/portal/journal", Client),
    d("GET", "/portal/journal/{id}", Client),
    d("PUT", "/portal/journal/{id}/sharing", Client),
    d("GET", "/portal/exercises", Client),
    d("POST", "/portal/exercises", Client),
    d("GET", "/portal/exercises/{id}", Client),
    d("POST", "/portal/exercises/{id}/rounds", Client),
];

/// What someone may call whose roles require a second factor they have not
/// set up yet (`Config::mfa_required`): signing out, who they are, their
/// own password and setting up the second factor; everything else is
/// refused until it is set up (the pages send them to set it up).
pub const BEFORE_SECOND_FACTOR: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/me/password"),
    ("GET", "/api/v1/me/mfa"),
    ("POST", "/api/v1/me/mfa"),
    ("POST", "/api/v1/me/mfa/confirm"),
    ("POST", "/logout"),
    ("GET", "/account"),
    ("POST", "/account/password"),
    ("POST", "/account/mfa"),
    ("POST", "/account/mfa/confirm"),
    ("GET", "/static/kairos.css"),
];

/// Whether this request may go on for a staff member whose roles require a
/// second factor they have not set up (`BEFORE_SECOND_FACTOR`).
pub fn allowed_before_second_factor(parts: &Parts) -> bool {
    let Some(path) = parts.extensions.get::<MatchedPath>() else { return true };
    let m = if parts.method == Method::HEAD { "GET" } else { parts.method.as_str() };
    BEFORE_SECOND_FACTOR.iter().any(|(dm, dp)| *dm == m && *dp == path.as_str())
}

/// Routes outside the API document: the document itself and the API's
/// catch-all (which answers 404 problem documents).
pub const API_EXTRA: &[Declared] = &[d("GET", "/api/v1/openapi.json", Public), d("*", "/api/{*rest}", Public)];

/// Every declaration, by full path, then method (a lookup borrows the
/// request's path: nothing is allocated per request).
fn table() -> &'static HashMap<String, Vec<Declared>> {
    static TABLE: OnceLock<HashMap<String, Vec<Declared>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: HashMap<String, Vec<Declared>> = HashMap::new();
        let api = API.iter().map(|x| (format!("/api/v1{}", x.path), *x));
        let rest = API_EXTRA.iter().chain(crate::ui::ROUTES.iter()).map(|x| (x.path.to_string(), *x));
        for (path, d) in api.chain(rest) {
            t.entry(path).or_default().push(d);
        }
        t
    })
}

/// The declaration of a served route, if any.
pub fn declared(method: &Method, path: &str) -> Option<Declared> {
    let m = if method == Method::HEAD { "GET" } else { method.as_str() };
    let here = table().get(path)?;
    here.iter().find(|d| d.method == m).or_else(|| here.iter().find(|d| d.method == "*")).copied()
}

/// Whether the signed-in staff member may call the route this request
/// matched, by its declaration. The staff extractors (`Auth`, `UiAuth`) call
/// it right after finding the session, before the handler reads its input,
/// so it costs nothing beyond a table lookup; a route that is served but not
/// declared is refused. The route walk test proves every route enforces its
/// declaration for every role.
pub fn check(parts: &Parts, staff: &Staff) -> Result<(), AppError> {
    // No matched route: the fallback (a 404 page), which reads nothing.
    let Some(path) = parts.extensions.get::<MatchedPath>() else { return Ok(()) };
    let Some(decl) = declared(&parts.method, path.as_str()) else {
        tracing::error!(method = %parts.method, path = path.as_str(), "a served route has no declared access; refused");
        return Err(AppError::Internal(format!("no access declared for {} {}", parts.method, path.as_str())));
    };
    match decl.access {
        Access::Public | Access::SignedIn => Ok(()),
        Access::Client => Err(AppError::Forbidden("this is for clients signed in to the portal".into())),
        Access::Needs(perms) if perms.iter().any(|p| staff.roles.allow(*p)) => Ok(()),
        Access::Needs(perms) => {
            let what = perms.first().map(|p| p.describe()).unwrap_or("do this");
            Err(AppError::Forbidden(format!("your role ({}) may not {what}", staff.roles.to_list())))
        }
    }
}
