//! Sites and rooms.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::ids::{RoomId, SiteId, StaffId};
use kairos_domain::site::{Room, RoomKind, Site, SiteInput, TimeZoneName};
use sqlx::any::AnyRow;

fn site_of(r: &AnyRow) -> Result<Site> {
    Ok(Site {
        id: rows::get_id(r, "id")?,
        name: rows::get_str(r, "name")?,
        time_zone: TimeZoneName::parse("time_zone", &rows::get_str(r, "time_zone")?)?,
    })
}

fn room_of(r: &AnyRow) -> Result<Room> {
    Ok(Room {
        id: rows::get_id(r, "id")?,
        site_id: rows::get_id(r, "site_id")?,
        name: rows::get_str(r, "name")?,
        kind: RoomKind::parse("kind", &rows::get_str(r, "kind")?)?,
    })
}

/// A validated room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInput {
    pub name: String,
    pub kind: RoomKind,
}

impl Store {
    pub async fn create_site(&self, actor: &Actor, input: &SiteInput) -> Result<Site> {
        let now = Timestamp::now();
        let site = Site { id: SiteId::new(), name: input.name.clone(), time_zone: input.time_zone.clone() };
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO sites (id, name, time_zone, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(site.id.to_string())
            .bind(site.name.clone())
            .bind(site.time_zone.as_str().to_string())
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::unique(e, "name", "a site with this name already exists"))?;
        audit::insert_in(&mut tx, actor, &AuditEntry::new(Action::Create, "site", site.id), now).await?;
        tx.commit().await?;
        Ok(site)
    }

    pub async fn update_site(&self, actor: &Actor, id: SiteId, input: &SiteInput) -> Result<Site> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let res = sqlx::query("UPDATE sites SET name = $2, time_zone = $3, updated_at = $4 WHERE id = $1")
            .bind(id.to_string())
            .bind(input.name.clone())
            .bind(input.time_zone.as_str().to_string())
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::unique(e, "name", "a site with this name already exists"))?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound { record: "site", id: id.to_string() });
        }
        audit::insert_in(&mut tx, actor, &AuditEntry::new(Action::Update, "site", id), now).await?;
        tx.commit().await?;
        Ok(Site { id, name: input.name.clone(), time_zone: input.time_zone.clone() })
    }

    pub async fn list_sites(&self) -> Result<Vec<Site>> {
        let rows = sqlx::query("SELECT id, name, time_zone FROM sites ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(site_of).collect()
    }

    /// The practice's first site (the earliest created: ids are
    /// time-ordered), if any.
    pub async fn first_site(&self) -> Result<Option<Site>> {
        let row =
            sqlx::query("SELECT id, name, time_zone FROM sites ORDER BY id LIMIT 1").fetch_optional(&self.pool).await?;
        row.as_ref().map(site_of).transpose()
    }

    pub async fn get_site(&self, id: SiteId) -> Result<Site> {
        let row = sqlx::query("SELECT id, name, time_zone FROM sites WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "site", id: id.to_string() })?;
        site_of(&row)
    }

    pub async fn create_room(&self, actor: &Actor, site_id: SiteId, input: &RoomInput) -> Result<Room> {
        let now = Timestamp::now();
        let room = Room { id: RoomId::new(), site_id, name: input.name.clone(), kind: input.kind };
        let mut tx = self.begin_write().await?;
        let site_exists = sqlx::query("SELECT id FROM sites WHERE id = $1")
            .bind(site_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if site_exists.is_none() {
            return Err(StoreError::NotFound { record: "site", id: site_id.to_string() });
        }
        sqlx::query(
            "INSERT INTO rooms (id, site_id, name, kind, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(room.id.to_string())
        .bind(site_id.to_string())
        .bind(room.name.clone())
        .bind(room.kind.as_str())
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "name", "this site already has a room with this name"))?;
        audit::insert_in(&mut tx, actor, &AuditEntry::new(Action::Create, "room", room.id), now).await?;
        tx.commit().await?;
        Ok(room)
    }

    pub async fn update_room(&self, actor: &Actor, id: RoomId, input: &RoomInput) -> Result<Room> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE rooms SET name = $2, kind = $3, updated_at = $4 WHERE id = $1 RETURNING id, site_id, name, kind",
        )
        .bind(id.to_string())
        .bind(input.name.clone())
        .bind(input.kind.as_str())
        .bind(micros(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "name", "this site already has a room with this name"))?
        .ok_or_else(|| StoreError::NotFound { record: "room", id: id.to_string() })?;
        audit::insert_in(&mut tx, actor, &AuditEntry::new(Action::Update, "room", id), now).await?;
        tx.commit().await?;
        room_of(&row)
    }

    pub async fn list_rooms(&self, site_id: SiteId) -> Result<Vec<Room>> {
        let rows = sqlx::query("SELECT id, site_id, name, kind FROM rooms WHERE site_id = $1 ORDER BY kind, name")
            .bind(site_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(room_of).collect()
    }

    pub async fn get_room(&self, id: RoomId) -> Result<Room> {
        let row = sqlx::query("SELECT id, site_id, name, kind FROM rooms WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "room", id: id.to_string() })?;
        room_of(&row)
    }
}

impl Store {
    /// Names of the given rooms (unknown ids are left out).
    pub async fn room_names(&self, ids: &[RoomId]) -> Result<std::collections::HashMap<RoomId, String>> {
        let rows = rows::names_by_ids(&self.pool, "rooms", ids).await?;
        Ok(rows.into_iter().filter_map(|(id, name)| Some((id.parse().ok()?, name))).collect())
    }

    /// Weekly hours as stored (JSON), for booking at these sites: each
    /// site's (none: the clinic's) and each staff member's who has their
    /// own, in two queries whatever the number of sites.
    pub async fn booking_hours(
        &self,
        sites: &[SiteId],
    ) -> Result<(std::collections::HashMap<SiteId, Option<String>>, std::collections::HashMap<StaffId, String>)> {
        let mut site_hours = std::collections::HashMap::new();
        for chunk in sites.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT id, hours FROM sites WHERE id IN ({})", marks.join(","));
            let mut q = sqlx::query_as::<_, (String, Option<String>)>(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                q = q.bind(s.to_string());
            }
            for (id, hours) in q.fetch_all(&self.pool).await? {
                site_hours.insert(id.parse().map_err(|_| StoreError::corrupt("site id"))?, hours);
            }
        }
        let staff: Vec<(String, String)> =
            sqlx::query_as("SELECT id, hours FROM staff WHERE hours IS NOT NULL").fetch_all(&self.pool).await?;
        let staff = staff
            .into_iter()
            .map(|(i, h)| Ok((i.parse().map_err(|_| StoreError::corrupt("staff id"))?, h)))
            .collect::<Result<_>>()?;
        Ok((site_hours, staff))
    }
}
