//! The clinic's reference data that pages show beside records: sites,
//! rooms, staff members' names. None of it is a client's record, so none of
//! it is audited; the route's declared permission decides who sees the page.

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::ids::{RoomId, SiteId, StaffId};
use kairos_domain::roles::{Permission, Role};
use kairos_domain::site::{Room, RoomKind, Site};
use kairos_domain::staff::Staff;
use kairos_store::PageRequest;
use std::collections::HashMap;

/// Every site, by name.
pub async fn sites(state: &AppState) -> AppResult<Vec<Site>> {
    Ok(state.store.list_sites().await?)
}

/// One site.
pub async fn site(state: &AppState, id: SiteId) -> AppResult<Site> {
    Ok(state.store.get_site(id).await?)
}

/// The rooms and chairs of a site.
pub async fn rooms(state: &AppState, site: SiteId) -> AppResult<Vec<Room>> {
    Ok(state.store.list_rooms(site).await?)
}

/// The names of these staff members (only those asked for: a practice may
/// have thousands).
pub async fn staff_names(state: &AppState, ids: &[StaffId]) -> AppResult<HashMap<StaffId, String>> {
    Ok(state.store.staff_names(ids).await?)
}

/// The names of these staff members and rooms, read together.
pub async fn staff_and_room_names(
    state: &AppState,
    staff: &[StaffId],
    rooms: &[RoomId],
) -> AppResult<(HashMap<StaffId, String>, HashMap<RoomId, String>)> {
    Ok(tokio::try_join!(state.store.staff_names(staff), state.store.room_names(rooms))?)
}

/// Every group room, with its site.
pub async fn group_rooms(state: &AppState) -> AppResult<Vec<(Site, Room)>> {
    let mut out = Vec::new();
    for site in state.store.list_sites().await? {
        for room in state.store.list_rooms(site.id).await? {
            if room.kind == RoomKind::GroupRoom {
                out.push((site.clone(), room));
            }
        }
    }
    Ok(out)
}

/// The site a room belongs to; none for a room that does not exist.
pub async fn site_of_room(state: &AppState, room: RoomId) -> AppResult<Option<SiteId>> {
    for site in state.store.list_sites().await? {
        if state.store.list_rooms(site.id).await?.iter().any(|r| r.id == room) {
            return Ok(Some(site.id));
        }
    }
    Ok(None)
}

/// The active therapists, who may facilitate a group.
pub async fn active_therapists(state: &AppState) -> AppResult<Vec<Staff>> {
    let all = state.store.list_staff(None, PageRequest { limit: PageRequest::MAX_LIMIT, offset: 0 }).await?;
    Ok(all.items.into_iter().filter(|s| s.active && s.roles.contains(Role::Therapist)).collect())
}

/// The active staff who hold `role` (a form's choice of prescriber,
/// therapist or clinician), by name.
pub async fn active_with_role(state: &AppState, role: Role) -> AppResult<Vec<Staff>> {
    let all = state.store.list_staff(None, PageRequest { limit: PageRequest::MAX_LIMIT, offset: 0 }).await?;
    Ok(all.items.into_iter().filter(|s| s.active && s.roles.contains(role)).collect())
}

/// The active staff a visit may be booked with (prescribers, nurses and
/// therapists), by name.
pub async fn bookable_staff(state: &AppState) -> AppResult<Vec<Staff>> {
    let all = state.store.list_staff(None, PageRequest { limit: PageRequest::MAX_LIMIT, offset: 0 }).await?;
    Ok(all
        .items
        .into_iter()
        .filter(|s| s.active && [Role::Prescriber, Role::Nurse, Role::Therapist].iter().any(|r| s.roles.contains(*r)))
        .collect())
}

/// Every staff account, active or not, with e-mail and roles (staff
/// managers only).
pub async fn all_staff(state: &AppState, caller: &Auth) -> AppResult<Vec<Staff>> {
    require(caller, Permission::ManageStaff)?;
    Ok(state.store.all_staff().await?)
}
