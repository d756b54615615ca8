//! Email: appointment reminders queued in the database and a worker that
//! sends the outbox through the clinic's SMTP server (lettre), marking a
//! message sent only once the server accepted it and retrying failures with
//! growing delays. Messages carry no clinical content: a time, a place and
//! the clinic's phone number.

use jiff::{SignedDuration, Timestamp};
use kairos_store::outbox::DueReminder;
use kairos_store::{Actor, Store};
use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

/// Where and how mail goes out.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://host:port` (plain, for a relay on the same host or network),
    /// `smtp://user:password@host:587?tls=required` (STARTTLS) or
    /// `smtps://user:password@host:465`: lettre's connection URL. A secret:
    /// never in `Debug` output or the log.
    pub smtp_url: secrecy::SecretString,
    /// The sender, e.g. `Kairos Clinic <no-reply@clinic.example>`.
    pub from: String,
    /// How often the outbox is checked.
    pub poll: SignedDuration,
    /// Appointment reminders are queued this long before the start.
    pub reminder_ahead: SignedDuration,
    /// The clinic's name and phone number for the reminder text.
    pub clinic_name: String,
    pub clinic_phone: Option<String>,
    /// Where clients reach the portal (e.g. `https://kairos.clinic.example`),
    /// for the link in exercise reminders.
    pub public_url: Option<String>,
    /// The protocols, for the home exercises each dose assigns.
    pub protocols: std::sync::Arc<kairos_domain::protocols::ProtocolLibrary>,
}

/// The reminder for one appointment: when and where, nothing clinical.
pub fn reminder_text(r: &DueReminder, cfg: &MailConfig) -> (String, String) {
    let when = jiff::tz::TimeZone::get(&r.time_zone)
        .map(|tz| r.start.to_zoned(tz).strftime("%A %-d %B at %H:%M").to_string())
        .unwrap_or_else(|_| r.start.to_string());
    let subject = format!("Reminder: your appointment on {when}");
    let phone = cfg.clinic_phone.as_deref().map(|p| format!(" call {p} or")).unwrap_or_default();
    let body = format!(
        "Hello,\n\nThis is a reminder of your appointment at {} on {when}.\n\nTo change it,{phone} reply to this message.\n\n{}\n",
        r.site_name, cfg.clinic_name
    );
    (subject, body)
}

/// Queues reminders for appointments starting within the reminder window.
pub async fn queue_reminders(store: &Store, cfg: &MailConfig, now: Timestamp) -> kairos_store::Result<usize> {
    let actor = Actor::system("reminders");
    let mut queued = 0;
    for r in store.due_reminders(now, cfg.reminder_ahead).await? {
        let (subject, body) = reminder_text(&r, cfg);
        if store.queue_reminder(&actor, &r, &subject, &body).await? {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Queues a reminder for each home-exercise slot that is open now, not yet
/// done, for clients with an active portal account: once per slot, with a
/// link to the portal and nothing clinical.
pub async fn queue_exercise_reminders(store: &Store, cfg: &MailConfig, now: Timestamp) -> kairos_store::Result<usize> {
    let actor = Actor::system("reminders");
    let mut queued = 0;
    let since = now - SignedDuration::from_hours(24 * 8);
    let tz = match store.list_sites().await?.first() {
        Some(s) => s.time_zone.tz(),
        None => jiff::tz::TimeZone::UTC,
    };
    for account in store.portal_accounts_dosed_since(since).await? {
        let client = account.client_id;
        let done: Vec<(kairos_domain::ids::EncounterId, u32)> = store
            .exercise_sessions_of(client)
            .await?
            .into_iter()
            .filter(|s| s.finished_at.is_some())
            .map(|s| (s.dose_encounter_id, s.slot))
            .collect();
        let mut per_course = std::collections::HashMap::new();
        for d in store.dose_facts(client).await? {
            let n = per_course.entry(d.course_id).or_insert(0u32);
            *n += 1;
            let Some(p) = d.protocol.as_deref().and_then(|p| cfg.protocols.get(p)) else { continue };
            for slot in kairos_domain::exercises::schedule_for_dose(p, *n, d.start, &tz) {
                if !slot.is_open(now) || done.contains(&(d.encounter_id, slot.number)) {
                    continue;
                }
                let link = cfg
                    .public_url
                    .as_deref()
                    .map(|u| format!("{}/portal", u.trim_end_matches('/')))
                    .unwrap_or_else(|| "your portal".into());
                let body = format!(
                    "Hello,\n\nAn activity is waiting for you in your portal until {}: {link}\n\n{}\n",
                    slot.closes.to_zoned(tz.clone()).strftime("%A %H:%M"),
                    cfg.clinic_name
                );
                let kind = format!("exercise-{}", slot.number);
                let subject = "An activity is waiting in your portal";
                if store
                    .queue_reminder_of(&actor, d.encounter_id, client, &kind, &account.email, subject, &body)
                    .await?
                {
                    queued += 1;
                }
            }
        }
    }
    Ok(queued)
}

/// Sends what is due in the outbox; returns (sent, failed).
pub async fn send_due(store: &Store, cfg: &MailConfig, now: Timestamp) -> kairos_store::Result<(usize, usize)> {
    let batch = store.claim_emails(20, now).await?;
    if batch.is_empty() {
        return Ok((0, 0));
    }
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(cfg.smtp_url.expose_secret()) {
        Ok(b) => b.timeout(Some(std::time::Duration::from_secs(20))).build(),
        Err(e) => {
            for m in &batch {
                store.email_failed(&m.id, &m.lease, &format!("SMTP URL: {e}"), now).await?;
            }
            return Ok((0, batch.len()));
        }
    };
    let (mut sent, mut failed) = (0, 0);
    for m in batch {
        let message = (|| -> Result<Message, String> {
            let from: Mailbox = cfg.from.parse().map_err(|e| format!("from address: {e}"))?;
            let to: Mailbox = m.to.parse().map_err(|e| format!("to address: {e}"))?;
            Message::builder()
                .from(from)
                .to(to)
                .subject(m.subject.clone())
                .body(m.body.clone())
                .map_err(|e| e.to_string())
        })();
        let result = match message {
            Ok(msg) => transport.send(msg).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                if !store.email_sent(&m.id, &m.lease, Timestamp::now()).await? {
                    tracing::warn!(email = %m.id, "an email was sent after its lease ran out; another worker holds it now");
                }
                sent += 1;
            }
            Err(e) => {
                tracing::warn!(email = %m.id, attempts = m.attempts + 1, error = %e, "sending an email failed; it will be retried");
                store.email_failed(&m.id, &m.lease, &e, Timestamp::now()).await?;
                failed += 1;
            }
        }
    }
    Ok((sent, failed))
}

/// The worker: every `poll`, queue due reminders and send the outbox.
pub async fn run(store: Store, cfg: MailConfig) {
    let poll = std::time::Duration::from_millis(u64::try_from(cfg.poll.as_millis()).unwrap_or(5_000).max(100));
    let mut tick = tokio::time::interval(poll);
    loop {
        tick.tick().await;
        let now = Timestamp::now();
        if let Err(e) = queue_reminders(&store, &cfg, now).await {
            tracing::warn!(error = %e, "queueing reminders failed");
        }
        if let Err(e) = queue_exercise_reminders(&store, &cfg, now).await {
            tracing::warn!(error = %e, "queueing exercise reminders failed");
        }
        if let Err(e) = send_due(&store, &cfg, now).await {
            tracing::warn!(error = %e, "sending the outbox failed");
        }
    }
}
