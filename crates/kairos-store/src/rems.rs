//! The esketamine REMS records beside the dosing chart: each client's
//! enrolment in the REMS (required before the first treatment; checked when
//! a dose starts, `dosing.rs`) and each site's details as a REMS-certified
//! healthcare setting (named on every Patient Monitoring Form).

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::ids::{ClientId, DosingSessionId, SiteId};
use kairos_domain::rems::{Enrolment, Sex};
use serde::Serialize;

/// A site's details as a REMS-certified healthcare setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = RemsSetting))]
pub struct Setting {
    pub site_id: SiteId,
    pub name: String,
    pub address: String,
    pub phone: String,
}

/// A setting's fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingInput {
    pub name: String,
    pub address: String,
    pub phone: String,
}

impl SettingInput {
    pub fn parse(name: &str, address: &str, phone: &str) -> std::result::Result<Self, kairos_domain::DomainError> {
        Ok(SettingInput {
            name: kairos_domain::text::required("name", name, 200)?,
            address: kairos_domain::text::required("address", address, 500)?,
            phone: kairos_domain::text::required("phone", phone, 40)?,
        })
    }
}

fn setting_of(r: &sqlx::any::AnyRow) -> Result<Setting> {
    Ok(Setting {
        site_id: rows::get_id(r, "site_id")?,
        name: rows::get_str(r, "name")?,
        address: rows::get_str(r, "address")?,
        phone: rows::get_str(r, "phone")?,
    })
}

fn enrolment_of(r: &sqlx::any::AnyRow) -> Result<Enrolment> {
    Ok(Enrolment {
        enrolled_on: rows::get_date(r, "enrolled_on")?,
        sex: Sex::parse("sex", &rows::get_str(r, "sex")?).map_err(|_| StoreError::corrupt("REMS enrolment sex"))?,
        rems_patient_id: rows::get_opt_str(r, "rems_patient_id")?,
    })
}

/// The client's enrolment, read in `tx` (a dose's start).
pub(crate) async fn enrolment_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    client: ClientId,
) -> Result<Option<Enrolment>> {
    let row = sqlx::query("SELECT enrolled_on, sex, rems_patient_id FROM rems_enrolments WHERE client_id = $1")
        .bind(client.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(enrolment_of).transpose()
}

impl Store {
    /// Records the client's REMS enrolment (one per client: a second is a
    /// conflict naming the first's date).
    pub async fn record_rems_enrolment(&self, actor: &Actor, client: ClientId, e: &Enrolment) -> Result<Enrolment> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        if let Some(before) = enrolment_in(&mut tx, client).await? {
            return Err(StoreError::Conflict {
                field: "enrolled_on",
                detail: format!("the client's REMS enrolment is already recorded, dated {}", before.enrolled_on),
            });
        }
        sqlx::query(
            "INSERT INTO rems_enrolments (client_id, enrolled_on, sex, rems_patient_id, recorded_by, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(client.to_string())
        .bind(e.enrolled_on.to_string())
        .bind(e.sex.as_str())
        .bind(e.rems_patient_id.clone())
        .bind(actor.staff_id.map(|s| s.to_string()))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Create, "rems_enrolment", client).client(client);
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(e.clone())
    }

    pub async fn rems_enrolment(&self, client: ClientId) -> Result<Option<Enrolment>> {
        let row = sqlx::query("SELECT enrolled_on, sex, rems_patient_id FROM rems_enrolments WHERE client_id = $1")
            .bind(client.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(enrolment_of).transpose()
    }

    /// The client's first esketamine (intranasal) session, if any.
    pub async fn first_esketamine_session(&self, client: ClientId) -> Result<Option<DosingSessionId>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM dosing_sessions WHERE client_id = $1 AND route = 'intranasal' \
             ORDER BY started_at, id LIMIT 1",
        )
        .bind(client.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(id,)| id.parse().map_err(|_| StoreError::corrupt("dosing session id"))).transpose()
    }

    /// Sets a site's REMS healthcare-setting details (audited with before
    /// and after: they are printed on every form).
    pub async fn set_rems_setting(&self, actor: &Actor, site: SiteId, input: &SettingInput) -> Result<Setting> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let before: Option<(String, String, String)> =
            sqlx::query_as("SELECT name, address, phone FROM rems_settings WHERE site_id = $1")
                .bind(site.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let sql = if before.is_some() {
            "UPDATE rems_settings SET name = $2, address = $3, phone = $4, updated_by = $5, updated_at = $6 \
             WHERE site_id = $1"
        } else {
            "INSERT INTO rems_settings (site_id, name, address, phone, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        };
        sqlx::query(sql)
            .bind(site.to_string())
            .bind(input.name.clone())
            .bind(input.address.clone())
            .bind(input.phone.clone())
            .bind(actor.staff_id.map(|s| s.to_string()))
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::unique(e, "site_id", "no such site"))?;
        let detail = match before {
            Some((n, a, p)) => {
                format!("before: {n}; {a}; {p} / after: {}; {}; {}", input.name, input.address, input.phone)
            }
            None => format!("set: {}; {}; {}", input.name, input.address, input.phone),
        };
        let action = if sql.starts_with("UPDATE") { Action::Update } else { Action::Create };
        audit::insert_in(&mut tx, actor, &AuditEntry::new(action, "rems_setting", site).detail(detail), now).await?;
        tx.commit().await?;
        Ok(Setting {
            site_id: site,
            name: input.name.clone(),
            address: input.address.clone(),
            phone: input.phone.clone(),
        })
    }

    /// Every site's REMS setting details that are set.
    pub async fn rems_settings(&self) -> Result<Vec<Setting>> {
        let rows = sqlx::query("SELECT site_id, name, address, phone FROM rems_settings ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(setting_of).collect()
    }

    /// One site's REMS setting details, if set.
    pub async fn rems_setting(&self, site: SiteId) -> Result<Option<Setting>> {
        let row = sqlx::query("SELECT site_id, name, address, phone FROM rems_settings WHERE site_id = $1")
            .bind(site.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(setting_of).transpose()
    }
}
