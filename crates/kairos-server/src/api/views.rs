//! What the API sends back. Instants are RFC 3339 UTC; dates YYYY-MM-DD.

use kairos_domain::client::{Client, ClientStatus};
use kairos_domain::course::{Course, Phase};
use kairos_domain::encounter::{Encounter, EncounterKind, EncounterStatus};
use kairos_domain::ids::{ClientId, CourseId, EncounterId, RoomId, SiteId, StaffId};
use kairos_domain::roles::Role;
use kairos_domain::site::{Room, RoomKind, Site};
use kairos_domain::staff::Staff;
use kairos_store::Page;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One page of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// All matches, not just this page.
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
}

impl<T> Paged<T> {
    pub fn map<U>(p: Page<U>, f: impl Fn(&U) -> T) -> Paged<T> {
        Paged { items: p.items.iter().map(f).collect(), total: p.total, limit: p.limit, offset: p.offset }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StaffView {
    pub id: StaffId,
    pub name: String,
    pub email: String,
    pub roles: Vec<Role>,
    pub active: bool,
}

impl From<&Staff> for StaffView {
    fn from(s: &Staff) -> Self {
        StaffView {
            id: s.id,
            name: s.name.clone(),
            email: s.email.to_string(),
            roles: s.roles.iter().collect(),
            active: s.active,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SiteView {
    pub id: SiteId,
    pub name: String,
    /// IANA time zone used for display and scheduling.
    pub time_zone: String,
}

impl From<&Site> for SiteView {
    fn from(s: &Site) -> Self {
        SiteView { id: s.id, name: s.name.clone(), time_zone: s.time_zone.as_str().to_string() }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoomView {
    pub id: RoomId,
    pub site_id: SiteId,
    pub name: String,
    pub kind: RoomKind,
}

impl From<&Room> for RoomView {
    fn from(r: &Room) -> Self {
        RoomView { id: r.id, site_id: r.site_id, name: r.name.clone(), kind: r.kind }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientView {
    pub id: ClientId,
    pub given_name: String,
    pub family_name: String,
    #[schema(value_type = String, format = Date)]
    pub date_of_birth: String,
    pub pronouns: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub emergency_contact_name: Option<String>,
    pub emergency_contact_phone: Option<String>,
    pub status: ClientStatus,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: String,
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        let d = &c.details;
        ClientView {
            id: c.id,
            given_name: d.given_name.clone(),
            family_name: d.family_name.clone(),
            date_of_birth: d.date_of_birth.to_string(),
            pronouns: d.pronouns.clone(),
            email: d.email.as_ref().map(|e| e.to_string()),
            phone: d.phone.clone(),
            address: d.address.clone(),
            emergency_contact_name: d.emergency_contact_name.clone(),
            emergency_contact_phone: d.emergency_contact_phone.clone(),
            status: d.status,
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CourseView {
    pub id: CourseId,
    pub client_id: ClientId,
    pub protocol: String,
    pub phase: Phase,
    /// Phases this course may move to next.
    pub next_phases: Vec<Phase>,
    #[schema(value_type = String, format = Date)]
    pub started_on: String,
    #[schema(value_type = Option<String>, format = Date)]
    pub ended_on: Option<String>,
    pub prescriber_id: Option<StaffId>,
    pub therapist_id: Option<StaffId>,
}

impl From<&Course> for CourseView {
    fn from(c: &Course) -> Self {
        CourseView {
            id: c.id,
            client_id: c.client_id,
            protocol: c.protocol.clone(),
            phase: c.phase,
            next_phases: c.phase.next_allowed().to_vec(),
            started_on: c.started_on.to_string(),
            ended_on: c.ended_on.map(|d| d.to_string()),
            prescriber_id: c.prescriber_id,
            therapist_id: c.therapist_id,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EncounterView {
    pub id: EncounterId,
    pub client_id: ClientId,
    pub course_id: Option<CourseId>,
    pub site_id: SiteId,
    pub room_id: Option<RoomId>,
    pub staff_id: Option<StaffId>,
    pub kind: EncounterKind,
    pub status: EncounterStatus,
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_start: String,
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_end: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub actual_start: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub actual_end: Option<String>,
    /// Why the visit was cancelled or missed.
    pub status_reason: Option<String>,
}

impl From<&Encounter> for EncounterView {
    fn from(e: &Encounter) -> Self {
        EncounterView {
            id: e.id,
            client_id: e.client_id,
            course_id: e.course_id,
            site_id: e.site_id,
            room_id: e.room_id,
            staff_id: e.staff_id,
            kind: e.kind,
            status: e.status,
            scheduled_start: e.scheduled_start.to_string(),
            scheduled_end: e.scheduled_end.to_string(),
            actual_start: e.actual_start.map(|t| t.to_string()),
            actual_end: e.actual_end.map(|t| t.to_string()),
            status_reason: e.status_reason.clone(),
        }
    }
}

/// The chart summary.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChartView {
    pub client: ClientView,
    /// Newest first.
    pub courses: Vec<CourseView>,
    /// Booked or arrived, soonest first (at most 10).
    pub upcoming: Vec<EncounterView>,
    /// Before now, most recent first (at most 10).
    pub recent: Vec<EncounterView>,
}

impl From<&kairos_store::clients::Chart> for ChartView {
    fn from(c: &kairos_store::clients::Chart) -> Self {
        ChartView {
            client: ClientView::from(&c.client),
            courses: c.courses.iter().map(CourseView::from).collect(),
            upcoming: c.upcoming.iter().map(EncounterView::from).collect(),
            recent: c.recent.iter().map(EncounterView::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: String,
    pub actor_id: Option<StaffId>,
    pub actor_roles: String,
    /// create, update, read, list, login, login_failed, logout
    pub action: String,
    pub record_type: String,
    pub record_id: Option<String>,
    pub client_id: Option<ClientId>,
    pub remote_addr: Option<String>,
    pub detail: Option<String>,
}

impl From<&kairos_store::AuditRecord> for AuditView {
    fn from(a: &kairos_store::AuditRecord) -> Self {
        AuditView {
            id: a.id.to_string(),
            at: a.at.to_string(),
            actor_id: a.actor_id,
            actor_roles: a.actor_roles.clone(),
            action: a.action.clone(),
            record_type: a.record_type.clone(),
            record_id: a.record_id.clone(),
            client_id: a.client_id,
            remote_addr: a.remote_addr.clone(),
            detail: a.detail.clone(),
        }
    }
}
