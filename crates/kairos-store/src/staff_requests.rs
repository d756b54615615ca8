//! Staff account changes that wait for a second administrator: a role added
//! to an account, an account activated (a new account starts inactive), or a
//! password set on someone else's account. One administrator asks; a
//! different administrator (or the `kairos` command on the server, for a
//! clinic with one administrator) approves or declines. Every step is
//! audited with the roles and active flag before and after; a password only
//! as "password set", and its hash is kept on the request only until the
//! request is decided.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::ids::StaffId;
use kairos_domain::roles::Roles;
use kairos_domain::staff::{Staff, StaffInput};
use kairos_domain::text::search_key;
use sqlx::any::AnyRow;

/// What a request changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// Roles and active flag (and, for a new account, its first password).
    Access,
    /// Someone else's password.
    Password,
    /// Someone else's second factor removed (they set it up again).
    MfaReset,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Access => "access",
            RequestKind::Password => "password",
            RequestKind::MfaReset => "mfa_reset",
        }
    }
}

/// One request, as stored (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRequest {
    pub id: String,
    pub staff_id: StaffId,
    pub kind: RequestKind,
    pub roles_before: Roles,
    pub roles_after: Roles,
    pub active_before: bool,
    pub active_after: bool,
    /// The request carries a password to set on approval.
    pub sets_password: bool,
    pub requested_by: Option<StaffId>,
    pub requested_at: Timestamp,
    /// `pending`, `approved`, `declined` or `superseded`.
    pub status: String,
    pub decided_by: Option<StaffId>,
    /// `api`, `ui` or `cli`.
    pub decided_via: Option<String>,
    pub decided_at: Option<Timestamp>,
}

impl StaffRequest {
    /// The change in the audit log's words: roles and active flag before
    /// and after, and whether a password is set (never the password).
    pub fn describe(&self) -> String {
        let mut d = format!(
            "roles: {} -> {}; active: {} -> {}",
            self.roles_before.to_list(),
            self.roles_after.to_list(),
            self.active_before,
            self.active_after
        );
        if self.sets_password {
            d.push_str("; password set");
        }
        if self.kind == RequestKind::MfaReset {
            d.push_str("; two-step sign-in reset");
        }
        d
    }
}

const COLS: &str = "id, staff_id, kind, roles_before, roles_after, active_before, active_after, \
    password_hash IS NOT NULL AS sets_password, requested_by, requested_at, status, decided_by, decided_via, decided_at";

fn request_of(r: &AnyRow) -> Result<StaffRequest> {
    let kind = match rows::get_str(r, "kind")?.as_str() {
        "access" => RequestKind::Access,
        "password" => RequestKind::Password,
        "mfa_reset" => RequestKind::MfaReset,
        other => return Err(StoreError::Corrupt(format!("staff request kind {other}"))),
    };
    let flag = |c: &str| -> Result<bool> { Ok(rows::get_i64(r, c)? == 1) };
    let sets_password = match sqlx::Row::try_get::<bool, _>(r, "sets_password") {
        Ok(b) => b,
        Err(_) => rows::get_i64(r, "sets_password")? == 1,
    };
    Ok(StaffRequest {
        id: rows::get_str(r, "id")?,
        staff_id: rows::get_id(r, "staff_id")?,
        kind,
        roles_before: Roles::parse_list(&rows::get_str(r, "roles_before")?)?,
        roles_after: Roles::parse_list(&rows::get_str(r, "roles_after")?)?,
        active_before: flag("active_before")?,
        active_after: flag("active_after")?,
        sets_password,
        requested_by: rows::get_opt_id(r, "requested_by")?,
        requested_at: rows::get_ts(r, "requested_at")?,
        status: rows::get_str(r, "status")?,
        decided_by: rows::get_opt_id(r, "decided_by")?,
        decided_via: rows::get_opt_str(r, "decided_via")?,
        decided_at: rows::get_opt_ts(r, "decided_at")?,
    })
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

pub(crate) async fn staff_in(tx: &mut Tx, id: StaffId) -> Result<Staff> {
    let row = sqlx::query("SELECT id, name, email, roles, active FROM staff WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "staff", id: id.to_string() })?;
    crate::staff::staff_of(&row)
}

async fn request_in(tx: &mut Tx, id: &str) -> Result<StaffRequest> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM staff_account_requests WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "staff account request", id: id.to_string() })?;
    request_of(&row)
}

/// Inserts a pending request; an earlier pending request of the same kind
/// for the same account is superseded by it.
#[allow(clippy::too_many_arguments)]
async fn insert_request(
    tx: &mut Tx,
    actor: &Actor,
    staff: &Staff,
    kind: RequestKind,
    roles_after: &Roles,
    active_after: bool,
    password_hash: Option<&str>,
    now: Timestamp,
) -> Result<String> {
    sqlx::query(
        "UPDATE staff_account_requests SET status = 'superseded', password_hash = NULL, decided_at = $3 \
         WHERE staff_id = $1 AND kind = $2 AND status = 'pending'",
    )
    .bind(staff.id.to_string())
    .bind(kind.as_str())
    .bind(micros(now))
    .execute(&mut **tx)
    .await?;
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO staff_account_requests (id, staff_id, kind, roles_before, roles_after, active_before, \
         active_after, password_hash, requested_by, requested_at, status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')",
    )
    .bind(id.clone())
    .bind(staff.id.to_string())
    .bind(kind.as_str())
    .bind(staff.roles.to_list())
    .bind(roles_after.to_list())
    .bind(i64::from(staff.active))
    .bind(i64::from(active_after))
    .bind(password_hash.map(str::to_string))
    .bind(actor.staff_id.map(|s| s.to_string()))
    .bind(micros(now))
    .execute(&mut **tx)
    .await?;
    let req = request_in(tx, &id).await?;
    let entry = AuditEntry::new(Action::Create, "staff_account_request", &id).detail(format!(
        "{} for staff {}: {}",
        kind.as_str(),
        staff.id,
        req.describe()
    ));
    audit::insert_in(tx, actor, &entry, now).await?;
    Ok(id)
}

impl Store {
    /// A new account that opens nothing until a second administrator
    /// approves it: stored inactive with its roles and without a password;
    /// the pending request activates it and sets `password_hash`.
    pub async fn create_staff_pending(
        &self,
        actor: &Actor,
        input: &StaffInput,
        password_hash: Option<&str>,
    ) -> Result<(Staff, StaffRequest)> {
        let now = Timestamp::now();
        let staff = Staff {
            id: StaffId::new(),
            name: input.name.clone(),
            email: input.email.clone(),
            roles: input.roles.clone(),
            active: false,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO staff (id, name, email, roles, password_hash, active, search_name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, NULL, 0, $5, $6, $6)",
        )
        .bind(staff.id.to_string())
        .bind(staff.name.clone())
        .bind(staff.email.to_string())
        .bind(staff.roles.to_list())
        .bind(search_key(&staff.name))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "email", "a staff member with this e-mail already exists"))?;
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Create, "staff", staff.id)
                .detail(format!("roles: {}; active: false until approved", staff.roles.to_list())),
            now,
        )
        .await?;
        let id =
            insert_request(&mut tx, actor, &staff, RequestKind::Access, &staff.roles, true, password_hash, now).await?;
        let req = request_in(&mut tx, &id).await?;
        tx.commit().await?;
        Ok((staff, req))
    }

    /// Changes an account's name and e-mail now and asks for its new roles
    /// and active flag, which wait for a second administrator.
    pub async fn request_staff_access(
        &self,
        actor: &Actor,
        id: StaffId,
        input: &StaffInput,
        active: bool,
    ) -> Result<(Staff, StaffRequest)> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let before = staff_in(&mut tx, id).await?;
        let staff = if before.name != input.name || before.email != input.email {
            let kept = StaffInput { name: input.name.clone(), email: input.email.clone(), roles: before.roles.clone() };
            crate::staff::update_staff_in(&mut tx, actor, &before, &kept, before.active, now).await?
        } else {
            before
        };
        let rid = insert_request(&mut tx, actor, &staff, RequestKind::Access, &input.roles, active, None, now).await?;
        let req = request_in(&mut tx, &rid).await?;
        tx.commit().await?;
        Ok((staff, req))
    }

    /// Asks to set another person's password (only its hash is kept, until
    /// the request is decided).
    pub async fn request_staff_password(
        &self,
        actor: &Actor,
        id: StaffId,
        password_hash: &str,
    ) -> Result<StaffRequest> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let staff = staff_in(&mut tx, id).await?;
        let rid = insert_request(
            &mut tx,
            actor,
            &staff,
            RequestKind::Password,
            &staff.roles,
            staff.active,
            Some(password_hash),
            now,
        )
        .await?;
        let req = request_in(&mut tx, &rid).await?;
        tx.commit().await?;
        Ok(req)
    }

    /// Asks to reset another person's second factor (they set it up again
    /// at their next sign-in).
    pub async fn request_mfa_reset(&self, actor: &Actor, id: StaffId) -> Result<StaffRequest> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let staff = staff_in(&mut tx, id).await?;
        let rid = insert_request(&mut tx, actor, &staff, RequestKind::MfaReset, &staff.roles, staff.active, None, now)
            .await?;
        let req = request_in(&mut tx, &rid).await?;
        tx.commit().await?;
        Ok(req)
    }

    /// One request.
    pub async fn staff_request(&self, id: &str) -> Result<StaffRequest> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM staff_account_requests WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "staff account request", id: id.to_string() })?;
        request_of(&row)
    }

    /// Requests still waiting, oldest first; with `staff`, that account's only.
    pub async fn pending_staff_requests(&self, staff: Option<StaffId>) -> Result<Vec<StaffRequest>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM staff_account_requests WHERE status = 'pending' AND ($1 IS NULL OR staff_id = $1) \
             ORDER BY requested_at, id"
        )))
        .bind(staff.map(|s| s.to_string()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request_of).collect()
    }

    /// Approves or declines a pending request, in one transaction with the
    /// change it approves and the audit entries. The person deciding is
    /// neither the one who asked nor the account concerned (the system
    /// actor, the `kairos` command on the server, may decide any). An
    /// approval is refused when the account's roles or active flag changed
    /// since the request (ask again).
    pub async fn decide_staff_request(
        &self,
        actor: &Actor,
        id: &str,
        approve: bool,
        via: &str,
    ) -> Result<StaffRequest> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let req = request_in(&mut tx, id).await?;
        if req.status != "pending" {
            return Err(StoreError::Conflict {
                field: "status",
                detail: format!("this request was already {}", req.status),
            });
        }
        if let Some(me) = actor.staff_id {
            if req.requested_by == Some(me) {
                return Err(StoreError::Conflict {
                    field: "requested_by",
                    detail: "a second administrator decides: not the one who asked".into(),
                });
            }
            if req.staff_id == me {
                return Err(StoreError::Conflict {
                    field: "staff_id",
                    detail: "nobody decides a change to their own account".into(),
                });
            }
        }
        let staff = staff_in(&mut tx, req.staff_id).await?;
        if approve {
            if staff.roles != req.roles_before || staff.active != req.active_before {
                return Err(StoreError::Conflict {
                    field: "roles",
                    detail: "the account's roles or active flag changed since this request; ask again".into(),
                });
            }
            if req.kind == RequestKind::Access {
                let input =
                    StaffInput { name: staff.name.clone(), email: staff.email.clone(), roles: req.roles_after.clone() };
                crate::staff::update_staff_in(&mut tx, actor, &staff, &input, req.active_after, now).await?;
            }
            if req.kind == RequestKind::MfaReset {
                crate::mfa::clear_mfa_in(&mut tx, staff.id).await?;
                crate::sessions::end_staff_sessions_in(&mut tx, staff.id, None, now).await?;
                audit::insert_in(
                    &mut tx,
                    actor,
                    &AuditEntry::new(Action::Update, "staff", staff.id)
                        .detail(format!("mfa reset; sessions ended (request {id})")),
                    now,
                )
                .await?;
            }
            if req.sets_password {
                sqlx::query(
                    "UPDATE staff SET password_hash = (SELECT password_hash FROM staff_account_requests WHERE id = $2), \
                     updated_at = $3 WHERE id = $1",
                )
                .bind(staff.id.to_string())
                .bind(id.to_string())
                .bind(micros(now))
                .execute(&mut *tx)
                .await?;
                crate::sessions::end_staff_sessions_in(&mut tx, staff.id, None, now).await?;
                audit::insert_in(
                    &mut tx,
                    actor,
                    &AuditEntry::new(Action::Update, "staff", staff.id)
                        .detail(format!("password set; sessions ended (request {id})")),
                    now,
                )
                .await?;
            }
        }
        let status = if approve { "approved" } else { "declined" };
        sqlx::query(
            "UPDATE staff_account_requests SET status = $2, password_hash = NULL, decided_by = $3, decided_via = $4, \
             decided_at = $5 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(status)
        .bind(actor.staff_id.map(|s| s.to_string()))
        .bind(via.to_string())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Update, "staff_account_request", id).detail(format!(
            "{status} ({via}) for staff {}: {}",
            req.staff_id,
            req.describe()
        ));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        let decided = request_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(decided)
    }
}
