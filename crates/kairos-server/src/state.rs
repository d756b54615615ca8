use kairos_domain::instruments::Library;
use kairos_store::Store;
use kairos_store::sessions::SessionPolicy;
use std::sync::Arc;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub session: SessionPolicy,
    /// Mark the session cookie `Secure` (HTTPS only). On by default; off for
    /// plain-HTTP development on loopback.
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed: a request from
    /// one of these is recorded (audit, sign-in throttling) under the
    /// client's address it forwarded, not the proxy's. Empty: the peer's.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// Staff sign-in throttling: growing delays by account and address
    /// together and by address alone (`kairos_domain::signin`).
    pub sign_in_throttle: kairos_domain::signin::ThrottlePolicy,
    /// Roles whose holders must sign in with a second factor (`crate::mfa`):
    /// after the password, someone holding one of these without a second
    /// factor set up can do nothing but set it up.
    pub mfa_required: Vec<kairos_domain::roles::Role>,
    /// Roles whose holders may open a client's emergency summary with a
    /// stated reason (`usecase::emergency`, ONC (d)(6)); empty: nobody.
    pub break_glass_roles: Vec<kairos_domain::roles::Role>,
    /// How long one emergency access lasts.
    pub break_glass_lifetime: jiff::SignedDuration,
    /// Portal password sign-ins per account within `lockout_window` before
    /// further attempts are refused until the window passes.
    pub max_failed_logins: u32,
    pub lockout_window: jiff::SignedDuration,
    /// The questionnaires in use: the shipped ones plus a clinic's own.
    pub instruments: Arc<Library>,
    /// The protocol library: the shipped protocols plus a clinic's own.
    pub protocols: Arc<kairos_domain::protocols::ProtocolLibrary>,
    /// The clinic's dosing-session safety policy (thresholds).
    pub safety: Arc<kairos_domain::dosing::SafetyPolicy>,
    /// Outgoing email (reminders, portal sign-in links); none: messages
    /// stay queued in the outbox until SMTP is configured.
    pub mail: Option<crate::mailer::MailConfig>,
    /// Defaults for the scheduler (hours, monitor capacity, session length).
    pub scheduling: Arc<crate::api::schedule::SchedulingDefaults>,
    /// The clinic's controlled-substance ledger policy.
    pub ledger: Arc<kairos_domain::ledger::LedgerPolicy>,
    /// The clinic's screening rules (contraindications and notes).
    pub screening: Arc<kairos_domain::screening::Rules>,
    /// When questionnaires are due during and after a course.
    pub measure_schedules: Arc<kairos_domain::measure_schedule::Schedules>,
    /// The clinic's default post-dose window (`therapy/window.toml`); a
    /// protocol's integration-session window overrides it.
    pub therapy_window: Arc<kairos_domain::window::WindowDef>,
    /// Psychotherapy note templates (`therapy/note-templates.toml`).
    pub note_templates: Arc<kairos_domain::notes::Templates>,
    /// What a client is told when an answer endorses thoughts of self-harm.
    pub crisis: Crisis,
    /// An unacknowledged alert is shown as escalated after this long.
    pub alert_escalation: jiff::SignedDuration,
    /// Default lifetime of a self-report link.
    pub link_lifetime: jiff::SignedDuration,
    /// Scheme, host and port clients reach the server at, for the links
    /// staff send (e.g. `https://kairos.example-clinic.org`); without it
    /// links are shown relative to the address staff use.
    pub public_url: Option<String>,
    /// The client portal: sessions, sign-in links, the home exercise.
    pub portal: Arc<crate::api::portal::PortalConfig>,
    /// Where "now" comes from for the clinical decisions (tests set it).
    pub clock: Arc<dyn crate::clock::Clock>,
}

/// Crisis information shown to clients wherever they can say how they feel.
/// Clinic-set; the defaults are for the United States.
#[derive(Debug, Clone)]
pub struct Crisis {
    /// The clinic's own number for urgent help, if it has one.
    pub clinic_phone: Option<String>,
    /// Emergency services, e.g. "911".
    pub emergency_number: String,
    /// A crisis line, e.g. "988 Suicide & Crisis Lifeline: call or text 988".
    pub crisis_line: String,
    /// The crisis line's number for a tap-to-call button, e.g. "988".
    pub crisis_line_phone: Option<String>,
}

impl Default for Crisis {
    fn default() -> Self {
        Crisis {
            clinic_phone: None,
            emergency_number: "911".into(),
            crisis_line: "988 Suicide & Crisis Lifeline: call or text 988".into(),
            crisis_line_phone: Some("988".into()),
        }
    }
}

impl Config {
    /// The measure schedule of a course: its protocol's, else `standard`.
    pub fn schedule_for(&self, protocol: &str) -> &kairos_domain::measure_schedule::MeasureSchedule {
        self.protocols
            .get(protocol)
            .and_then(|p| self.measure_schedules.get(&p.measure_schedule))
            .unwrap_or_else(|| self.measure_schedules.standard())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session: SessionPolicy::default(),
            secure_cookies: true,
            trusted_proxies: Arc::new(Vec::new()),
            sign_in_throttle: kairos_domain::signin::ThrottlePolicy::default(),
            mfa_required: vec![
                kairos_domain::roles::Role::Admin,
                kairos_domain::roles::Role::Director,
                kairos_domain::roles::Role::Prescriber,
            ],
            break_glass_roles: vec![kairos_domain::roles::Role::Admin, kairos_domain::roles::Role::Coordinator],
            break_glass_lifetime: jiff::SignedDuration::from_mins(60),
            max_failed_logins: 5,
            lockout_window: jiff::SignedDuration::from_mins(15),
            // The shipped definitions are validated by tests; a clinic's own
            // are loaded (and refused with the file named) by the binary.
            instruments: Arc::new(Library::shipped().expect("the shipped instrument definitions are valid")),
            protocols: Arc::new(
                kairos_domain::protocols::ProtocolLibrary::shipped(&["standard", "ptsd"])
                    .expect("the shipped protocols are valid"),
            ),
            safety: Arc::new(
                kairos_domain::dosing::SafetyPolicy::shipped().expect("the shipped safety policy is valid"),
            ),
            mail: None,
            scheduling: Arc::new(
                crate::api::schedule::SchedulingDefaults::from_toml(crate::api::schedule::SHIPPED_DEFAULTS)
                    .expect("the shipped scheduling defaults are valid"),
            ),
            ledger: Arc::new(
                kairos_domain::ledger::LedgerPolicy::shipped().expect("the shipped ledger policy is valid"),
            ),
            screening: Arc::new(
                kairos_domain::screening::Rules::shipped().expect("the shipped screening rules are valid"),
            ),
            measure_schedules: Arc::new(
                kairos_domain::measure_schedule::Schedules::shipped(&[
                    "phq9",
                    "gad7",
                    "pcl5",
                    "pcl5_week",
                    "qids_sr16",
                    "safety_check",
                ])
                .expect("the shipped measure schedules are valid"),
            ),
            therapy_window: Arc::new(
                kairos_domain::window::WindowDef::shipped().expect("the shipped therapy window is valid"),
            ),
            note_templates: Arc::new(
                kairos_domain::notes::Templates::shipped().expect("the shipped note templates are valid"),
            ),
            crisis: Crisis::default(),
            alert_escalation: jiff::SignedDuration::from_hours(4),
            link_lifetime: jiff::SignedDuration::from_hours(72),
            public_url: None,
            portal: Arc::new(crate::api::portal::PortalConfig::default()),
            clock: Arc::new(crate::clock::SystemClock),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub(crate) dummy_hash: Arc<String>,
}

impl AppState {
    /// Now, by the configured clock.
    pub fn now(&self) -> jiff::Timestamp {
        self.config.clock.now()
    }

    /// The practice's own time zone, for what belongs to no site (a
    /// practice-wide report's dates, a client before any visit): its first
    /// site's (the earliest created), or UTC before any site exists.
    pub async fn practice_tz(&self) -> Result<jiff::tz::TimeZone, crate::error::AppError> {
        Ok(self.store.first_site().await?.map(|s| s.time_zone.tz()).unwrap_or(jiff::tz::TimeZone::UTC))
    }

    /// A client's time zone: their site's (where they were last seen, else
    /// where they are next booked), or the practice's before any visit.
    pub async fn client_tz(
        &self,
        client: kairos_domain::ids::ClientId,
    ) -> Result<jiff::tz::TimeZone, crate::error::AppError> {
        Ok(self.client_tzs(&[client]).await?.remove(&client).unwrap_or(jiff::tz::TimeZone::UTC))
    }

    /// [`Self::client_tz`] for many clients at once (every one is in the map).
    pub async fn client_tzs(
        &self,
        clients: &[kairos_domain::ids::ClientId],
    ) -> Result<std::collections::HashMap<kairos_domain::ids::ClientId, jiff::tz::TimeZone>, crate::error::AppError>
    {
        let homes = self.store.home_sites(clients, self.now()).await?;
        let mut zones: std::collections::HashMap<kairos_domain::ids::SiteId, jiff::tz::TimeZone> = Default::default();
        for s in self.store.list_sites().await? {
            zones.insert(s.id, s.time_zone.tz());
        }
        let practice = if clients.iter().all(|c| homes.contains_key(c)) {
            jiff::tz::TimeZone::UTC
        } else {
            self.practice_tz().await?
        };
        Ok(clients
            .iter()
            .map(|c| {
                let tz = homes.get(c).and_then(|s| zones.get(s)).cloned().unwrap_or_else(|| practice.clone());
                (*c, tz)
            })
            .collect())
    }

    /// A site's time zone: the one its records are shown and entered in.
    pub async fn site_tz(
        &self,
        site: kairos_domain::ids::SiteId,
    ) -> Result<jiff::tz::TimeZone, crate::error::AppError> {
        Ok(self.store.get_site(site).await?.time_zone.tz())
    }
}
