//! Staff accounts.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Page, PageRequest, Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::ids::StaffId;
use kairos_domain::roles::Roles;
use kairos_domain::staff::{Staff, StaffInput};
use kairos_domain::text::{Email, search_key};
use sqlx::any::AnyRow;

pub(crate) fn staff_of(r: &AnyRow) -> Result<Staff> {
    Ok(Staff {
        id: rows::get_id(r, "id")?,
        name: rows::get_str(r, "name")?,
        email: Email::parse("email", &rows::get_str(r, "email")?)?,
        roles: Roles::parse_list(&rows::get_str(r, "roles")?)?,
        active: sqlx::Row::try_get::<i64, _>(r, "active")? == 1,
    })
}

impl Store {
    /// Creates a staff account. `password_hash` is a PHC string (argon2id),
    /// or `None` for an account that cannot sign in until a password is set.
    pub async fn create_staff(&self, actor: &Actor, input: &StaffInput, password_hash: Option<&str>) -> Result<Staff> {
        let now = Timestamp::now();
        let staff = Staff {
            id: StaffId::new(),
            name: input.name.clone(),
            email: input.email.clone(),
            roles: input.roles.clone(),
            active: true,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO staff (id, name, email, roles, password_hash, active, search_name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7)",
        )
        .bind(staff.id.to_string())
        .bind(staff.name.clone())
        .bind(staff.email.to_string())
        .bind(staff.roles.to_list())
        .bind(password_hash.map(str::to_string))
        .bind(search_key(&staff.name))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "email", "a staff member with this e-mail already exists"))?;
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Create, "staff", staff.id).detail(format!("roles: {}", staff.roles.to_list())),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(staff)
    }

    /// Changes name, e-mail, roles and whether the account is active.
    /// Deactivating an account ends its sessions in the same transaction.
    /// The audit entry holds what changed, before and after.
    pub async fn update_staff(&self, actor: &Actor, id: StaffId, input: &StaffInput, active: bool) -> Result<Staff> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT id, name, email, roles, active FROM staff WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "staff", id: id.to_string() })?;
        let before = staff_of(&row)?;
        let staff = update_staff_in(&mut tx, actor, &before, input, active, now).await?;
        tx.commit().await?;
        Ok(staff)
    }

    /// Sets a new password hash and ends every session of that account.
    pub async fn set_staff_password(&self, actor: &Actor, id: StaffId, password_hash: &str) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let res = sqlx::query("UPDATE staff SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(id.to_string())
            .bind(password_hash.to_string())
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound { record: "staff", id: id.to_string() });
        }
        crate::sessions::end_staff_sessions_in(&mut tx, id, None, now).await?;
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Update, "staff", id).detail("password set; sessions ended"),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes one's own password (the caller checked the current one) and
    /// ends the account's other sessions; the session it was changed from
    /// stays open.
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        id: StaffId,
        password_hash: &str,
        keep_session: &str,
    ) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let res = sqlx::query("UPDATE staff SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(id.to_string())
            .bind(password_hash.to_string())
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound { record: "staff", id: id.to_string() });
        }
        crate::sessions::end_staff_sessions_in(&mut tx, id, Some(keep_session), now).await?;
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Update, "staff", id).detail("own password changed; other sessions ended"),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_staff(&self, id: StaffId) -> Result<Staff> {
        let row = sqlx::query("SELECT id, name, email, roles, active FROM staff WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "staff", id: id.to_string() })?;
        staff_of(&row)
    }

    /// For sign-in: the account and its password hash, by e-mail.
    pub async fn staff_credentials(&self, email: &Email) -> Result<Option<(Staff, Option<String>)>> {
        let row = sqlx::query("SELECT id, name, email, roles, active, password_hash FROM staff WHERE email = $1")
            .bind(email.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((staff_of(&r)?, rows::get_opt_str(&r, "password_hash")?))).transpose()
    }

    pub async fn find_staff_by_email(&self, email: &Email) -> Result<Option<Staff>> {
        Ok(self.staff_credentials(email).await?.map(|(s, _)| s))
    }

    /// Staff whose name starts with `search` (any word start of the full
    /// name is not matched; the directory is small).
    pub async fn list_staff(&self, search: Option<&str>, page: PageRequest) -> Result<Page<Staff>> {
        let pattern = rows::like_prefix(&search.map(search_key).unwrap_or_default());
        let total: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM staff WHERE search_name LIKE $1 ESCAPE '\\'")
            .bind(pattern.clone())
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT id, name, email, roles, active FROM staff WHERE search_name LIKE $1 ESCAPE '\\' \
             ORDER BY search_name, id LIMIT $2 OFFSET $3",
        )
        .bind(pattern)
        .bind(i64::from(page.limit))
        .bind(i64::from(page.offset))
        .fetch_all(&self.pool)
        .await?;
        Ok(Page {
            items: rows.iter().map(staff_of).collect::<Result<_>>()?,
            total: total.0,
            limit: page.limit,
            offset: page.offset,
        })
    }
}

impl Store {
    /// Every staff member, by name (the directory is small: tens, not thousands).
    pub async fn all_staff(&self) -> Result<Vec<Staff>> {
        let rows = sqlx::query("SELECT id, name, email, roles, active FROM staff ORDER BY search_name, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(staff_of).collect()
    }
}

impl Store {
    /// Names of the given staff members (unknown ids are left out).
    pub async fn staff_names(&self, ids: &[StaffId]) -> Result<std::collections::HashMap<StaffId, String>> {
        let rows = rows::names_by_ids(&self.pool, "staff", ids).await?;
        Ok(rows.into_iter().filter_map(|(id, name)| Some((id.parse().ok()?, name))).collect())
    }
}

/// What changed on an account, for its audit entry: each changed field
/// before and after (never a password).
pub(crate) fn account_change(before: &Staff, after: &Staff) -> String {
    let mut parts = Vec::new();
    if before.name != after.name {
        parts.push(format!("name: {} -> {}", before.name, after.name));
    }
    if before.email != after.email {
        parts.push(format!("email: {} -> {}", before.email, after.email));
    }
    if before.roles != after.roles {
        parts.push(format!("roles: {} -> {}", before.roles.to_list(), after.roles.to_list()));
    }
    if before.active != after.active {
        parts.push(format!("active: {} -> {}", before.active, after.active));
    }
    if parts.is_empty() { "no change".into() } else { parts.join("; ") }
}

/// Writes an account's new name, e-mail, roles and active flag inside the
/// caller's transaction, with the audit entry of the change (before and
/// after); deactivating ends its sessions.
pub(crate) async fn update_staff_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    actor: &Actor,
    before: &Staff,
    input: &StaffInput,
    active: bool,
    now: Timestamp,
) -> Result<Staff> {
    let id = before.id;
    let row = sqlx::query(
        "UPDATE staff SET name = $2, email = $3, roles = $4, active = $5, search_name = $6, updated_at = $7 \
         WHERE id = $1 RETURNING id, name, email, roles, active",
    )
    .bind(id.to_string())
    .bind(input.name.clone())
    .bind(input.email.to_string())
    .bind(input.roles.to_list())
    .bind(i64::from(active))
    .bind(search_key(&input.name))
    .bind(micros(now))
    .fetch_optional(&mut **tx)
    .await
    .map_err(|e| StoreError::unique(e, "email", "a staff member with this e-mail already exists"))?
    .ok_or_else(|| StoreError::NotFound { record: "staff", id: id.to_string() })?;
    if !active {
        crate::sessions::end_staff_sessions_in(tx, id, None, now).await?;
    }
    let after = staff_of(&row)?;
    audit::insert_in(
        tx,
        actor,
        &AuditEntry::new(Action::Update, "staff", id).detail(account_change(before, &after)),
        now,
    )
    .await?;
    Ok(after)
}
