//! `kairos`: serve the clinic, run migrations, manage staff accounts, back up
//! the database, and run the demo practice.

mod config_export;
mod demo;
mod demo_seed;
use demo_seed::{demo_extras, demo_generator, demo_password, demo_portal_link, generate_demo, print_demo_logins};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use kairos_domain::roles::Roles;
use kairos_domain::staff::{StaffInput, check_password};
use kairos_domain::text::Email;
use kairos_server::{Config, Server};
use kairos_store::sessions::SessionPolicy;
use kairos_store::{Actor, DatabaseUrl, Store, StoreOptions};
use std::io::BufRead;

/// mimalloc for the server's own allocations: a chart read makes a few
/// hundred small, short-lived ones (rows, views, JSON, HTTP), on two worker
/// threads (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "kairos", version, about = "Care platform for ketamine-assisted psychotherapy clinics")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The audit log's chain key (32 random bytes as 64 hex digits; made
    /// there at first start). Default: `<db>.audit-key` beside a SQLite file,
    /// kept in the database for PostgreSQL. Keep it off the database's
    /// machine and backups for the chain to reveal changes made with access
    /// to the database (docs/security.md).
    #[arg(long, env = "KAIROS_AUDIT_KEY_FILE", global = true)]
    audit_key_file: Option<std::path::PathBuf>,
    /// The key a SQLite practice's files are encrypted under (64 hex digits
    /// in a file readable by its owner only; `kairos db-key new FILE` makes
    /// one). The key itself may be given in KAIROS_DB_KEY instead. Keep it
    /// off the disk the practice and its backups are on (docs/security.md).
    #[arg(long, env = "KAIROS_DB_KEY_FILE", global = true)]
    db_key_file: Option<std::path::PathBuf>,
}

/// The database key from `--db-key-file` or `KAIROS_DB_KEY` (not both).
fn database_key(file: Option<&std::path::Path>) -> Result<Option<kairos_store::cipher::DbKey>> {
    let env = std::env::var("KAIROS_DB_KEY").ok().filter(|k| !k.trim().is_empty());
    Ok(match (file, env) {
        (Some(_), Some(_)) => bail!("give the database key in --db-key-file or in KAIROS_DB_KEY, not both"),
        (Some(f), None) => Some(kairos_store::cipher::DbKey::read_file(f)?),
        (None, Some(k)) => Some(kairos_store::cipher::DbKey::parse(&k, "KAIROS_DB_KEY")?),
        (None, None) => None,
    })
}

/// The database key, for every store a command opens.
static DB_KEY: std::sync::OnceLock<Option<kairos_store::cipher::DbKey>> = std::sync::OnceLock::new();

fn db_key() -> Option<kairos_store::cipher::DbKey> {
    DB_KEY.get().cloned().flatten()
}

/// A SQLite practice's file with the database key given, if any.
fn sqlite_file(path: &str) -> kairos_store::cipher::SqliteFile {
    kairos_store::cipher::SqliteFile::new(path, db_key())
}

/// `--audit-key-file`, for every store a command opens.
static AUDIT_KEY_FILE: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();

#[derive(Args, Clone)]
struct DbArgs {
    /// SQLite file path, `sqlite:PATH`, or `postgres://...` URL.
    #[arg(long = "db", env = "KAIROS_DATABASE_URL", default_value = "./kairos.db")]
    db: String,
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KAIROS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Minutes without activity before a session ends.
    #[arg(long, env = "KAIROS_IDLE_TIMEOUT_MINUTES", default_value_t = 15)]
    idle_timeout_minutes: u32,
    /// Mark the session cookie Secure (HTTPS only). Default: on, except when
    /// listening on a loopback address (plain-HTTP development).
    #[arg(long, env = "KAIROS_SECURE_COOKIES")]
    secure_cookies: Option<bool>,
    /// A reverse proxy (address or CIDR range) whose X-Forwarded-For is
    /// believed, so the audit log records the client's address; repeat, or
    /// comma-separate in the environment variable.
    #[arg(long = "trusted-proxy", env = "KAIROS_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<String>,
    /// Roles that must sign in in two steps (a code from an authenticator
    /// app after the password), comma-separated, or `none`. `kairos serve`:
    /// admin,director,prescriber unless given; `kairos demo`: none unless
    /// given. Someone holding such a role without two-step sign-in set up can
    /// do nothing but set it up.
    #[arg(long, env = "KAIROS_MFA_REQUIRED_ROLES")]
    mfa_required_roles: Option<String>,
    /// Roles that may open a client's emergency summary with a stated reason
    /// (break-glass access; each access is reviewed by the director),
    /// comma-separated, or `none`.
    #[arg(long, env = "KAIROS_BREAK_GLASS_ROLES", default_value = "admin,coordinator")]
    break_glass_roles: String,
    /// Minutes one emergency access lasts.
    #[arg(long, env = "KAIROS_BREAK_GLASS_MINUTES", default_value_t = 60)]
    break_glass_minutes: u32,
    /// Database connections in the pool.
    #[arg(long, env = "KAIROS_DB_CONNECTIONS", default_value_t = 16)]
    db_connections: u32,
    /// SQLite: how the practice's files are checked before they are served
    /// (a damaged one is refused): `quick` (quick_check, about a second per
    /// 500 MB from the page cache), `full` (integrity_check, several times
    /// longer), or `off`.
    #[arg(long, env = "KAIROS_START_CHECK", value_enum, default_value_t = StartCheck::Quick)]
    start_check: StartCheck,
    /// SQLite: when the practice's read-audit file (`<db>.read-audit`, the
    /// audit log's reads) is missing, begin a new, empty one and record the
    /// gap in the audit log, instead of refusing to start.
    #[arg(long)]
    new_read_audit: bool,
    /// SQLite: microseconds the read-audit writer leaves between the starts
    /// of two commits, so reads arriving together share one fsync (0: commit
    /// each as soon as possible). PostgreSQL: use its own `commit_delay`.
    #[arg(long, env = "KAIROS_AUDIT_COMMIT_INTERVAL_US", default_value_t = 500)]
    audit_commit_interval_us: u64,
    /// A folder of the clinic's own questionnaire definitions (`*.toml`); a
    /// file with the id of a shipped one replaces it.
    #[arg(long, env = "KAIROS_INSTRUMENTS_DIR")]
    instruments_dir: Option<std::path::PathBuf>,
    /// A folder of the clinic's own protocol definitions (`*.toml`, same
    /// format as `protocols/`); a file with a shipped id replaces it.
    #[arg(long, env = "KAIROS_PROTOCOLS_DIR")]
    protocols_dir: Option<std::path::PathBuf>,
    /// The clinic's screening rules (a TOML file like `screening/rules.toml`),
    /// replacing the shipped defaults.
    #[arg(long, env = "KAIROS_SCREENING_RULES")]
    screening_rules: Option<std::path::PathBuf>,
    /// The clinic's dosing-session safety policy (a TOML file like
    /// `safety/policy.toml`: the pre-dose hold and alert thresholds).
    #[arg(long, env = "KAIROS_SAFETY_POLICY")]
    safety_policy: Option<std::path::PathBuf>,
    /// The clinic's word lists for the home exercise (like `exercises/ec-words.toml`).
    #[arg(long, env = "KAIROS_EXERCISE_WORDS")]
    exercise_words: Option<std::path::PathBuf>,
    /// The clinic's post-dose window (a TOML file like `therapy/window.toml`).
    #[arg(long, env = "KAIROS_THERAPY_WINDOW")]
    therapy_window: Option<std::path::PathBuf>,
    /// The clinic's psychotherapy note templates (like `therapy/note-templates.toml`).
    #[arg(long, env = "KAIROS_NOTE_TEMPLATES")]
    note_templates: Option<std::path::PathBuf>,
    /// The SMTP server for reminders and sign-in links, as a URL:
    /// `smtp://host:25`, `smtp://user:pass@host:587?tls=required`,
    /// `smtps://user:pass@host:465`. Without it, email stays queued. With a
    /// password, give it in the environment or in `--smtp-password-file`,
    /// never on the command line (the process list shows it to every user).
    #[arg(long, env = "KAIROS_SMTP_URL")]
    smtp_url: Option<String>,
    /// A file (not readable by group or others) holding the SMTP password,
    /// for the user named in `--smtp-url`.
    #[arg(long, env = "KAIROS_SMTP_PASSWORD_FILE")]
    smtp_password_file: Option<std::path::PathBuf>,
    /// The sender of the clinic's email, e.g. `Clinic <no-reply@clinic.example>`.
    #[arg(long, env = "KAIROS_MAIL_FROM", default_value = "Kairos <no-reply@localhost>")]
    mail_from: String,
    /// The clinic's name in reminders.
    #[arg(long, env = "KAIROS_CLINIC_NAME", default_value = "Your clinic")]
    clinic_name: String,
    /// Hours before an appointment its reminder is sent.
    #[arg(long, env = "KAIROS_REMINDER_HOURS", default_value_t = 24)]
    reminder_hours: u32,
    /// The clinic's scheduling defaults (a TOML file like
    /// `scheduling/defaults.toml`: opening hours, monitor capacity).
    #[arg(long, env = "KAIROS_SCHEDULING")]
    scheduling: Option<std::path::PathBuf>,
    /// The clinic's controlled-substance ledger policy (a TOML file like
    /// `ledger/policy.toml`: retention, witnesses, loss notice, inventory).
    #[arg(long, env = "KAIROS_LEDGER_POLICY")]
    ledger_policy: Option<std::path::PathBuf>,
    /// A clinic measure schedule (a TOML file like
    /// `measure-schedules/standard.toml`): replaces the shipped schedule with
    /// the same id (`standard`, `ptsd`), or adds one a clinic protocol names.
    #[arg(long, env = "KAIROS_MEASURE_SCHEDULE")]
    measure_schedule: Option<std::path::PathBuf>,
    /// The address clients reach the server at, for self-report links
    /// (e.g. https://kairos.example-clinic.org).
    #[arg(long, env = "KAIROS_PUBLIC_URL")]
    public_url: Option<String>,
    /// Hours before an unacknowledged safety alert is shown as overdue.
    #[arg(long, env = "KAIROS_ALERT_ESCALATION_HOURS", default_value_t = 4)]
    alert_escalation_hours: u32,
    /// Hours a self-report link stays valid by default.
    #[arg(long, env = "KAIROS_LINK_HOURS", default_value_t = 72)]
    link_hours: u32,
    /// The clinic's phone number for urgent help, shown to clients.
    #[arg(long, env = "KAIROS_CLINIC_PHONE")]
    clinic_phone: Option<String>,
    /// Emergency services number shown to clients.
    #[arg(long, env = "KAIROS_EMERGENCY_NUMBER", default_value = "911")]
    emergency_number: String,
    /// Crisis line shown to clients.
    #[arg(long, env = "KAIROS_CRISIS_LINE", default_value = "988 Suicide & Crisis Lifeline: call or text 988")]
    crisis_line: String,
    /// The crisis line's number, for the tap-to-call button (empty: none).
    #[arg(long, env = "KAIROS_CRISIS_LINE_PHONE", default_value = "988")]
    crisis_line_phone: String,
}

/// How a server checks its SQLite files before serving them.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StartCheck {
    Quick,
    Full,
    Off,
}

/// `*.toml` files of a clinic folder, by name: (path, text).
fn clinic_files(dir: &std::path::Path) -> Result<Vec<(String, String)>> {
    let mut own: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    own.sort();
    own.into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            Ok((p.display().to_string(), text))
        })
        .collect()
}

/// The shipped protocols plus the clinic's own.
fn load_protocols(
    dir: Option<&std::path::Path>,
    schedules: &[&str],
) -> Result<kairos_domain::protocols::ProtocolLibrary> {
    let mut files: Vec<(String, String)> =
        kairos_domain::protocols::SHIPPED.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    if let Some(dir) = dir {
        files.extend(clinic_files(dir)?);
    }
    Ok(kairos_domain::protocols::ProtocolLibrary::load(files.iter().map(|(n, t)| (n.as_str(), t.as_str())), schedules)?)
}

/// A clinic file replacing a shipped one, or the shipped text.
fn file_or(path: Option<&std::path::Path>, shipped: &str) -> Result<String> {
    match path {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())),
        None => Ok(shipped.to_string()),
    }
}

/// The shipped instruments plus the clinic's own; a bad file is refused
/// with its name and the field at fault.
fn load_instruments(dir: Option<&std::path::Path>) -> Result<kairos_domain::instruments::Library> {
    let mut files: Vec<(String, String)> =
        kairos_domain::instruments::SHIPPED.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    if let Some(dir) = dir {
        files.extend(clinic_files(dir)?);
    }
    Ok(kairos_domain::instruments::Library::load(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))?)
}

#[derive(Subcommand)]
enum DbKeyCommand {
    /// Write a new random database key (64 hex digits) to a new file,
    /// readable by its owner only.
    New {
        /// The key file to make (never over an existing one).
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Write every built-in default (questionnaires, protocols, measure
    /// schedules, screening rules, safety thresholds, ledger policy, therapy
    /// window, note templates, exercise words, scheduling defaults) under DIR,
    /// and print the flags that load the edited copies. The repository's
    /// data folders are compiled in: editing them changes nothing until a
    /// rebuild; editing an exported copy and passing its flag does.
    Export {
        /// A folder; files already there are never overwritten.
        dir: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the server on an existing practice (`kairos init` makes one).
    Serve {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        serve: ServeArgs,
        /// Make a new practice at `--db` if there is none (otherwise a
        /// missing SQLite file is refused, so a mistyped path never starts an
        /// empty practice).
        #[arg(long)]
        create: bool,
    },
    /// Make a new, empty practice (a SQLite file that must not exist yet, or
    /// the schema in an empty PostgreSQL database).
    Init {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Check a SQLite practice's files (quick_check; `--full`: integrity_check,
    /// which also compares every index with its table).
    Check {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        full: bool,
    },
    /// Put a backup (made by `kairos backup`) in place of a SQLite practice
    /// that no server is using. The replaced file and the files beside it
    /// (write-ahead log, read-audit files) are moved into a folder
    /// `<db>.replaced-<time>`, never deleted.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: std::path::PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// The audit log's tamper evidence.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Bring the database schema up to date.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The clinical defaults built into this binary, as files to edit.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Database keys for encryption at rest.
    DbKey {
        #[command(subcommand)]
        command: DbKeyCommand,
    },
    /// Encrypt a SQLite practice that no server is using under the key in
    /// `--new-key-file`: a plain practice, or one encrypted under
    /// `--db-key-file` (a key rotation). Its files (the database, the
    /// read-audit file) are copied under the new key, checked, and put in
    /// place of the old ones, which are removed; earlier backups keep the key
    /// (or none) they were made with.
    Encrypt {
        #[command(flatten)]
        db: DbArgs,
        /// The key file to encrypt under (`kairos db-key new FILE`).
        #[arg(long)]
        new_key_file: std::path::PathBuf,
    },
    /// Write a consistent copy of a live SQLite database to a new file
    /// (encrypted under the practice's key, if it has one).
    Backup {
        #[command(flatten)]
        db: DbArgs,
        /// Destination file (must not exist).
        #[arg(long)]
        to: String,
    },
    /// Plan doses, chairs, monitors and therapists so therapy lands in each
    /// dose's window (`--problem FILE.json`), generate a problem, or repair a plan.
    Schedule(ScheduleArgs),
    /// Create (or reuse) a synthetic demo practice and serve it.
    Demo {
        #[arg(long = "db", env = "KAIROS_DATABASE_URL", default_value = "./kairos-demo.db")]
        db: String,
        #[command(flatten)]
        serve: ServeArgs,
        /// Number of synthetic clients.
        #[arg(long, default_value_t = 120)]
        clients: usize,
        /// Seed for the synthetic data.
        #[arg(long, default_value_t = 20261127)]
        seed: u64,
        /// Generate the practice and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
}

/// The plasticity-window scheduler on a problem file (see
/// `crates/kairos-schedule/FORMAT.md`).
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct ScheduleArgs {
    #[command(subcommand)]
    command: Option<ScheduleCommand>,
    /// The problem (JSON); the plan is written to standard output or --out.
    #[arg(long)]
    problem: Option<std::path::PathBuf>,
    /// Seconds the search may run at most (the plan is deterministic for a
    /// seed unless this cuts it short).
    #[arg(long, default_value_t = 10.0)]
    time_limit: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the plan here instead of standard output.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// Write a synthetic problem (for tests and benchmarks) to standard output.
    Generate {
        #[arg(long, default_value_t = 200)]
        clients: usize,
        #[arg(long, default_value_t = 6)]
        chairs: usize,
        #[arg(long, default_value_t = 10)]
        therapists: usize,
        #[arg(long, default_value_t = 3)]
        monitors: usize,
        #[arg(long, default_value_t = 28)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Repair a plan after a change, moving as few booked appointments as
    /// possible.
    ///
    /// The change (`--change FILE`) is JSON with its `type`, e.g.
    /// {"type": "cancel", "event": "course-a/dose-2"} or
    /// {"type": "staff_unavailable", "staff": "nurse-ana", "from": "2026-03-03T08:00", "to": "2026-03-04T18:00"}
    /// (every type: crates/kairos-schedule/FORMAT.md).
    Repair {
        #[arg(long)]
        problem: std::path::PathBuf,
        #[arg(long)]
        plan: std::path::PathBuf,
        #[arg(long)]
        change: std::path::PathBuf,
        #[arg(long, default_value_t = 10.0)]
        time_limit: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Seal what is not yet chained, then walk both audit logs' chains from
    /// the first entry and check every entry and checkpoint; names the first
    /// broken entry (exit code 1), or says the log is intact.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a staff account. The password is read from KAIROS_PASSWORD or
    /// the first line of standard input.
    Add {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: admin, director, prescriber, nurse, therapist, coordinator.
        #[arg(long)]
        roles: String,
    },
    /// Set a staff member's password (ends their sessions). The password is
    /// read from KAIROS_PASSWORD or the first line of standard input.
    SetPassword {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        email: String,
    },
    /// List the staff account changes waiting for a second administrator
    /// (a new account, a role added, an account activated, someone else's
    /// password set).
    Requests {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Approve a waiting staff account change (for a clinic with one
    /// administrator: running this needs shell access to the server).
    Approve {
        #[command(flatten)]
        db: DbArgs,
        /// The request's id, from `kairos user requests`.
        id: String,
    },
    /// Decline a waiting staff account change.
    Decline {
        #[command(flatten)]
        db: DbArgs,
        id: String,
    },
    /// Remove a staff member's two-step sign-in (a lost phone) and end their
    /// sessions; they set it up again at their next sign-in. On the server,
    /// so no second administrator is asked (in the browser or the API it
    /// waits for one).
    ResetMfa {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        email: String,
    },
}

/// Whether a URL carries a password (`scheme://user:password@host`).
fn url_has_password(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|u| u.password().is_some_and(|p| !p.is_empty()))
}

/// Refuses a password typed on the command line (`--smtp-url` with one):
/// every user of the machine can read a process's arguments.
fn refuse_secrets_on_command_line(m: &clap::ArgMatches) -> Result<()> {
    let Some((_, sub)) = m.subcommand() else { return Ok(()) };
    if sub.try_contains_id("smtp_url").unwrap_or(false)
        && sub.value_source("smtp_url") == Some(clap::parser::ValueSource::CommandLine)
        && sub.get_one::<String>("smtp_url").is_some_and(|u| url_has_password(u))
    {
        bail!(
            "--smtp-url holds a password on the command line, where the process list shows it: give the URL in \
             KAIROS_SMTP_URL, or the password in --smtp-password-file"
        );
    }
    Ok(())
}

/// The SMTP URL as a secret, with the password from `file` (if given) put
/// in for the URL's user.
fn smtp_url_with_password(u: &str, file: Option<&std::path::Path>) -> Result<secrecy::SecretString> {
    let Some(file) = file else { return Ok(u.to_string().into()) };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).with_context(|| format!("the SMTP password file {}", file.display()))?;
        if mode.permissions().mode() & 0o077 != 0 {
            bail!(
                "the SMTP password file {} can be read by others (mode {:o}): chmod 600 it",
                file.display(),
                mode.permissions().mode() & 0o777
            );
        }
    }
    let password =
        std::fs::read_to_string(file).with_context(|| format!("the SMTP password file {}", file.display()))?;
    let password = password.trim_end_matches(['\r', '\n']);
    let mut url = url::Url::parse(u).context("--smtp-url is not a URL")?;
    if url.username().is_empty() {
        bail!("--smtp-url names no user for the password in {}", file.display());
    }
    url.set_password(Some(password)).map_err(|()| anyhow::anyhow!("--smtp-url cannot take a password"))?;
    Ok(url.to_string().into())
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KAIROS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    refuse_secrets_on_command_line(&matches)?;
    let _ = AUDIT_KEY_FILE.set(cli.audit_key_file);
    let _ = DB_KEY.set(database_key(cli.db_key_file.as_deref())?);
    match cli.command {
        Command::Serve { db, serve, create } => {
            let mfa = mfa_roles(serve.mfa_required_roles.as_deref(), "admin,director,prescriber")?;
            let store = open_for(&db.db, &serve, !create).await?;
            run_server(store, &serve, mfa).await
        }
        Command::Init { db } => {
            let url: DatabaseUrl = db.db.parse()?;
            if let Some(path) = url.sqlite_path()
                && std::path::Path::new(path).exists()
            {
                bail!("{path} already exists; serve it with `kairos serve --db {path}`, or choose a new file");
            }
            let store = open_with(&db.db, StoreOptions { max_connections: 2, ..Default::default() }).await?;
            let clients = store.count_clients().await?;
            store.close().await;
            if clients > 0 {
                bail!("{url} already holds a practice ({clients} clients); serve it with `kairos serve`");
            }
            println!("{}: a new practice, schema up to date", db.db);
            println!(
                "add its first administrator: KAIROS_PASSWORD='…' kairos user add --db {} --roles admin --email … --name …",
                db.db
            );
            Ok(())
        }
        Command::Check { db, full } => {
            let url: DatabaseUrl = db.db.parse()?;
            let Some(path) = url.sqlite_path() else {
                bail!("kairos check reads SQLite files; PostgreSQL checks its own (amcheck, pg_checksums)");
            };
            let check = if full { kairos_store::files::Check::Full } else { kairos_store::files::Check::Quick };
            let started = std::time::Instant::now();
            let file = sqlite_file(path);
            let shown = file.path().display().to_string();
            tokio::task::spawn_blocking(move || kairos_store::files::check(&file, check)).await??;
            println!(
                "{shown}: ok ({} in {:.1} s)",
                if full { "integrity_check" } else { "quick_check" },
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Restore { from, db } => {
            let url: DatabaseUrl = db.db.parse()?;
            let Some(path) = url.sqlite_path() else {
                bail!("kairos restore puts back SQLite backups; for PostgreSQL use pg_restore");
            };
            let file = sqlite_file(path);
            let (shown, backup) = (file.path().display().to_string(), from.display().to_string());
            let restored = tokio::task::spawn_blocking(move || kairos_store::files::restore(&from, &file)).await??;
            println!("restored {shown} from {backup} ({} clients); it checks out (quick_check)", restored.clients);
            if let Some(aside) = &restored.set_aside {
                println!("the files it replaced are in {}: {}", aside.display(), restored.moved.join(", "));
            }
            if let Some(e) = &restored.later_reads_error {
                eprintln!("warning: {e}");
            }
            if restored.later_reads_kept > 0 {
                println!("{} read entries made after the backup were kept in the audit log", restored.later_reads_kept);
            }
            Ok(())
        }
        Command::Migrate { db } => {
            let url: DatabaseUrl = db.db.parse()?;
            let opts = StoreOptions { migrate: false, require_practice: true, db_key: db_key(), ..Default::default() };
            let store = Store::connect(&url, opts).await.with_context(|| format!("opening {url}"))?;
            let applied = store.migrate().await?;
            println!("{url}: schema up to date ({} migration(s) applied)", applied.len());
            store.close().await;
            Ok(())
        }
        Command::Audit { command: AuditCommand::Verify { db } } => {
            let store = open(&db.db, 2).await?;
            let started = std::time::Instant::now();
            let report = async {
                store.seal_audit().await?;
                store.verify_audit(true).await
            }
            .await;
            store.close().await;
            let Some(report) = report? else { bail!("{}: this database keeps no audit chain", db.db) };
            for line in report.lines() {
                println!("{line}");
            }
            println!("verified in {:.1} s", started.elapsed().as_secs_f64());
            if !report.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::User { command } => user(command).await,
        Command::Schedule(args) => schedule(args),
        Command::Config { command: ConfigCommand::Export { dir } } => {
            let written = config_export::export(&dir)?;
            println!("wrote {} default files under {}", written.len(), dir.display());
            println!("edit the copies and start the server with the flags for the ones you changed:");
            for f in config_export::flags(&dir) {
                println!("  {f}");
            }
            Ok(())
        }
        Command::DbKey { command: DbKeyCommand::New { file } } => {
            kairos_store::cipher::DbKey::generate().write_new_file(&file)?;
            println!("wrote a new database key to {} (readable by its owner only)", file.display());
            println!("keep a copy where the practice's backups are not: without it they cannot be read");
            Ok(())
        }
        Command::Encrypt { db, new_key_file } => {
            let url: DatabaseUrl = db.db.parse()?;
            let Some(path) = url.sqlite_path() else {
                bail!("kairos encrypt encrypts SQLite files; encrypt a PostgreSQL server's storage with its own means");
            };
            let new = kairos_store::cipher::DbKey::read_file(&new_key_file)?;
            let file = sqlite_file(path);
            let was_plain = file.key().is_none();
            let done = tokio::task::spawn_blocking(move || kairos_store::files::encrypt(&file, &new)).await??;
            println!(
                "{path}: {} under {} ({})",
                if was_plain { "encrypted" } else { "moved to the new key" },
                new_key_file.display(),
                done.join(", ")
            );
            println!("serve it with --db-key-file {}", new_key_file.display());
            Ok(())
        }
        Command::Backup { db, to } => {
            let store = open(&db.db, 2).await?;
            store.backup_sqlite(&to).await?;
            println!("backed up to {to}");
            store.close().await;
            Ok(())
        }
        Command::Demo { db, serve, clients, seed, no_serve } => {
            if db_key().is_some() {
                bail!(
                    "the demo practice is synthetic and kept unencrypted: run `kairos demo` without a database key \
                     (encrypt a real practice with `kairos encrypt`)"
                );
            }
            let mfa = mfa_roles(serve.mfa_required_roles.as_deref(), "none")?;
            let password = demo_password();
            let url: DatabaseUrl = db.parse()?;
            let existing = match url.sqlite_path() {
                Some(path) if !std::path::Path::new(path).exists() => 0,
                _ => {
                    let s = open(&db, 2).await?;
                    let n = s.count_clients().await?;
                    s.close().await;
                    n
                }
            };
            let reused = existing > 0;
            if reused {
                println!("Reusing {db} ({existing} clients). Delete it to generate a new practice.");
            } else if let Some(path) = url.sqlite_path() {
                // Fill a scratch file without a journal or fsync, then move it
                // into place: an interrupted run leaves no half-made practice.
                let scratch = format!("{path}.partial");
                let _ = std::fs::remove_file(&scratch);
                let scratch_url: DatabaseUrl = scratch.parse()?;
                // The bulk load runs on a connection of its own with this page cache.
                const LOAD_CACHE_KIB: u32 = 512 * 1024;
                let opts = StoreOptions {
                    max_connections: 2,
                    migrate: true,
                    scratch_bulk_load: true,
                    ..StoreOptions::default()
                };
                let started = std::time::Instant::now();
                let (generator, bar) = demo_generator(clients, seed, &password.0)?;
                let loader = Store::connect(&scratch_url, opts).await.with_context(|| format!("creating {scratch}"))?;
                let what = format!("demo practice (seed {seed})");
                let scratch_path = std::path::PathBuf::from(&scratch);
                tokio::task::spawn_blocking(move || -> Result<()> {
                    let mut load = kairos_store::import::ScratchLoad::open(&scratch_path, LOAD_CACHE_KIB)?;
                    let actor = Actor::system("demo");
                    let written =
                        demo::fill_scratch(&mut load, generator, &actor, &what, |n| bar.set_position(n as u64))?;
                    bar.finish_and_clear();
                    println!(
                        "Generated {} clients and {} encounters in {:.1} s (seed {seed}).",
                        written.clients,
                        written.encounters,
                        started.elapsed().as_secs_f64()
                    );
                    load.finish()?;
                    Ok(())
                })
                .await??;
                demo_extras(&loader).await?;
                println!("Indexed; the practice was ready in {:.1} s.", started.elapsed().as_secs_f64());
                loader.close().await;
                std::fs::rename(&scratch, path).with_context(|| format!("moving {scratch} to {path}"))?;
            } else {
                let loader = open(&db, 2).await?;
                generate_demo(&loader, clients, seed, &password.0).await?;
                demo_extras(&loader).await?;
                loader.close().await;
            }
            let store = open_for(&db, &serve, true).await?;
            print_demo_logins(&password, reused);
            if mfa.is_empty() {
                println!(
                    "Two-step sign-in is not required in the demo (any account may set it up on its Account page);\n  \
                     `kairos demo --mfa-required-roles admin,director,prescriber` requires it as `kairos serve` does.\n"
                );
            }
            if no_serve {
                store.close().await;
                return Ok(());
            }
            let base = serve.public_url.clone().unwrap_or_else(|| format!("http://{}", serve.listen));
            if let Some(link) = demo_portal_link(&store, base.trim_end_matches('/')).await? {
                println!("Demo client portal (Jules Marlowe, a home exercise is open): {link}");
                println!("  one-time sign-in link, valid 12 hours; open it on a phone\n");
            }
            run_server(store, &serve, mfa).await
        }
    }
}

/// The roles `--mfa-required-roles` names (`none`: no role), or the
/// command's default.
/// A list of roles, or `none`.
fn roles_or_none(text: &str, flag: &str) -> Result<Vec<kairos_domain::roles::Role>> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    Ok(Roles::parse_list(text).with_context(|| flag.to_string())?.iter().collect())
}

fn mfa_roles(given: Option<&str>, default: &str) -> Result<Vec<kairos_domain::roles::Role>> {
    let text = given.map(str::trim).filter(|s| !s.is_empty()).unwrap_or(default);
    if text.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let roles = Roles::parse_list(text).context("--mfa-required-roles")?;
    Ok(roles.iter().collect())
}

/// An existing practice, for a command beside (or without) a server.
async fn open(db: &str, connections: u32) -> Result<Store> {
    let opts =
        StoreOptions { max_connections: connections, migrate: true, require_practice: true, ..Default::default() };
    open_with(db, opts).await
}

/// The store a server runs on, with its settings: it holds the practice's
/// lock (a second server on the same file is refused), and opens only an
/// existing practice unless `existing` is false (`serve --create`).
async fn open_for(db: &str, serve: &ServeArgs, existing: bool) -> Result<Store> {
    let opts = StoreOptions {
        max_connections: serve.db_connections,
        migrate: true,
        audit_commit_interval: std::time::Duration::from_micros(serve.audit_commit_interval_us),
        hold_lock: true,
        require_practice: existing,
        new_read_audit: serve.new_read_audit,
        verify: match serve.start_check {
            StartCheck::Quick => Some(kairos_store::files::Check::Quick),
            StartCheck::Full => Some(kairos_store::files::Check::Full),
            StartCheck::Off => None,
        },
        ..Default::default()
    };
    open_with(db, opts).await
}

async fn open_with(db: &str, mut opts: StoreOptions) -> Result<Store> {
    let url: DatabaseUrl = db.parse()?;
    opts.audit_key_file = AUDIT_KEY_FILE.get().cloned().flatten();
    opts.db_key = db_key();
    Store::connect(&url, opts).await.with_context(|| format!("opening {url}"))
}

async fn run_server(store: Store, args: &ServeArgs, mfa_required: Vec<kairos_domain::roles::Role>) -> Result<()> {
    let loopback = args
        .listen
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().is_loopback())
        .unwrap_or_else(|_| args.listen.starts_with("localhost:"));
    let instruments = load_instruments(args.instruments_dir.as_deref())?;
    let known: Vec<&str> = instruments.all().iter().map(|i| i.id.as_str()).collect();
    // The shipped schedules, then the clinic's file (same id: replaces it).
    let mut schedule_files: Vec<(String, String)> =
        kairos_domain::measure_schedule::SHIPPED.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    if let Some(p) = args.measure_schedule.as_deref() {
        schedule_files.push((p.display().to_string(), file_or(Some(p), "")?));
    }
    let schedules = kairos_domain::measure_schedule::Schedules::load(
        schedule_files.iter().map(|(n, t)| (n.as_str(), t.as_str())),
        &known,
    )
    .context("the measure schedules")?;
    // Protocols name the schedule they use.
    let protocols = load_protocols(args.protocols_dir.as_deref(), &schedules.ids())?;
    // No schedule asks a questionnaire again within its recall period.
    schedules.check_recall(&instruments, &protocols).context("the measure schedules")?;
    let screening = kairos_domain::screening::Rules::from_toml(&file_or(
        args.screening_rules.as_deref(),
        kairos_domain::screening::SHIPPED,
    )?)
    .context("the screening rules")?;
    let safety = kairos_domain::dosing::SafetyPolicy::from_toml(&file_or(
        args.safety_policy.as_deref(),
        kairos_domain::dosing::SHIPPED,
    )?)
    .context("the safety policy")?;
    let ledger = kairos_domain::ledger::LedgerPolicy::from_toml(&file_or(
        args.ledger_policy.as_deref(),
        kairos_domain::ledger::SHIPPED,
    )?)
    .context("the ledger policy")?;
    let scheduling = kairos_server::api::schedule::SchedulingDefaults::from_toml(&file_or(
        args.scheduling.as_deref(),
        kairos_server::api::schedule::SHIPPED_DEFAULTS,
    )?)
    .map_err(anyhow::Error::msg)?;
    let smtp_url = match args.smtp_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(u) => Some(smtp_url_with_password(u, args.smtp_password_file.as_deref())?),
        None => None,
    };
    let mail = smtp_url.map(|smtp_url| kairos_server::mailer::MailConfig {
        smtp_url,
        from: args.mail_from.clone(),
        poll: jiff::SignedDuration::from_secs(15),
        reminder_ahead: jiff::SignedDuration::from_hours(i64::from(args.reminder_hours.clamp(1, 24 * 14))),
        clinic_name: args.clinic_name.clone(),
        clinic_phone: args.clinic_phone.clone().filter(|p| !p.trim().is_empty()),
        public_url: args.public_url.clone(),
        protocols: std::sync::Arc::new(protocols.clone()),
    });
    let therapy_window = kairos_domain::window::WindowDef::from_toml(&file_or(
        args.therapy_window.as_deref(),
        kairos_domain::window::SHIPPED,
    )?)
    .context("the therapy window")?;
    let note_templates = kairos_domain::notes::Templates::from_toml(&file_or(
        args.note_templates.as_deref(),
        kairos_domain::notes::SHIPPED,
    )?)
    .context("the note templates")?;
    let exercise = kairos_domain::exercises::ExerciseDef::from_toml(&file_or(
        args.exercise_words.as_deref(),
        kairos_domain::exercises::SHIPPED,
    )?)
    .context("the exercise word lists")?;
    let portal = kairos_server::api::portal::PortalConfig {
        clinic_name: args.clinic_name.clone(),
        exercise: std::sync::Arc::new(exercise),
        ..Default::default()
    };
    let config = Config {
        portal: std::sync::Arc::new(portal),
        therapy_window: std::sync::Arc::new(therapy_window),
        note_templates: std::sync::Arc::new(note_templates),
        mail,
        scheduling: std::sync::Arc::new(scheduling),
        safety: std::sync::Arc::new(safety),
        ledger: std::sync::Arc::new(ledger),
        session: SessionPolicy {
            idle: jiff::SignedDuration::from_mins(i64::from(args.idle_timeout_minutes.max(1))),
            ..SessionPolicy::default()
        },
        secure_cookies: args.secure_cookies.unwrap_or(!loopback),
        trusted_proxies: std::sync::Arc::new(
            args.trusted_proxies
                .iter()
                .map(|p| {
                    let p = p.trim();
                    p.parse::<ipnet::IpNet>()
                        .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| anyhow::anyhow!("--trusted-proxy: `{p}` is not an address or a CIDR range"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        instruments: std::sync::Arc::new(instruments),
        measure_schedules: std::sync::Arc::new(schedules),
        protocols: std::sync::Arc::new(protocols),
        screening: std::sync::Arc::new(screening),
        crisis: kairos_server::Crisis {
            clinic_phone: args.clinic_phone.clone().filter(|p| !p.trim().is_empty()),
            emergency_number: args.emergency_number.clone(),
            crisis_line: args.crisis_line.clone(),
            crisis_line_phone: Some(args.crisis_line_phone.trim().to_string()).filter(|p| !p.is_empty()),
        },
        alert_escalation: jiff::SignedDuration::from_hours(i64::from(args.alert_escalation_hours)),
        link_lifetime: jiff::SignedDuration::from_hours(i64::from(args.link_hours.clamp(1, 336))),
        public_url: args.public_url.clone(),
        mfa_required,
        break_glass_roles: roles_or_none(&args.break_glass_roles, "--break-glass-roles")?,
        break_glass_lifetime: jiff::SignedDuration::from_mins(i64::from(args.break_glass_minutes.clamp(5, 24 * 60))),
        ..Config::default()
    };
    let server = Server::bind(&args.listen, store.clone(), config)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = server.addr;
    println!("Kairos is running at http://{addr}/  (API: http://{addr}/api/v1; Ctrl-C stops it)");
    server.run(stop_requested()).await?;
    store.close().await;
    Ok(())
}

/// Resolves when the server is asked to stop: Ctrl-C (SIGINT), or SIGTERM
/// as sent by `systemctl stop`, `docker stop` and `kill`. Either way the
/// server finishes the requests in flight and closes the database cleanly
/// (on SQLite its write-ahead log is checkpointed into the file).
async fn stop_requested() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    () = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => interrupt.await,
        }
    }
    #[cfg(not(unix))]
    interrupt.await;
}

fn read_password() -> Result<String> {
    if let Ok(p) = std::env::var("KAIROS_PASSWORD") {
        return Ok(p);
    }
    eprintln!("Password (at least 12 characters, not easy to guess: several unrelated words), then Enter:");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn user(cmd: UserCommand) -> Result<()> {
    let actor = Actor::system("cli");
    match cmd {
        UserCommand::Add { db, email, name, roles } => {
            let store = open(&db.db, 2).await?;
            let input = StaffInput::parse(&name, &email, Roles::parse_list(&roles)?)?;
            let password = read_password()?;
            check_password("password", &password, &input.email, &input.name)?;
            let hash = kairos_server::auth::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
            let staff = store.create_staff(&actor, &input, Some(&hash)).await?;
            println!("added {} <{}> as {} (id {})", staff.name, staff.email, staff.roles.to_list(), staff.id);
            store.close().await;
        }
        UserCommand::SetPassword { db, email } => {
            let store = open(&db.db, 2).await?;
            let email = Email::parse("email", &email)?;
            let Some(staff) = store.find_staff_by_email(&email).await? else {
                bail!("no staff member with e-mail {email}");
            };
            let password = read_password()?;
            check_password("password", &password, &staff.email, &staff.name)?;
            let hash = kairos_server::auth::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
            store.set_staff_password(&actor, staff.id, &hash).await?;
            println!("password set for {email}; their sessions have ended");
            store.close().await;
        }
        UserCommand::Requests { db } => {
            let store = open(&db.db, 2).await?;
            let reqs = store.pending_staff_requests(None).await?;
            if reqs.is_empty() {
                println!("nothing is waiting");
            }
            for r in reqs {
                let who = store.get_staff(r.staff_id).await?;
                let by = match r.requested_by {
                    Some(id) => store.get_staff(id).await?.email.to_string(),
                    None => "the server".into(),
                };
                println!(
                    "{}  {} <{}>  {}: {}  (asked by {by} at {})",
                    r.id,
                    who.name,
                    who.email,
                    r.kind.as_str(),
                    r.describe(),
                    r.requested_at
                );
            }
            store.close().await;
        }
        UserCommand::ResetMfa { db, email } => {
            let store = open(&db.db, 2).await?;
            let email = Email::parse("email", &email)?;
            let Some(staff) = store.find_staff_by_email(&email).await? else {
                bail!("no staff member with e-mail {email}");
            };
            store.reset_mfa(&actor, staff.id, "mfa reset on the server; sessions ended").await?;
            println!("two-step sign-in removed for {email}; their sessions have ended");
            store.close().await;
        }
        UserCommand::Approve { db, id } => decide_request(&db, &id, true, &actor).await?,
        UserCommand::Decline { db, id } => decide_request(&db, &id, false, &actor).await?,
    }
    Ok(())
}

async fn decide_request(db: &DbArgs, id: &str, approve: bool, actor: &Actor) -> Result<()> {
    let store = open(&db.db, 2).await?;
    let r = store.decide_staff_request(actor, id.trim(), approve, "cli").await?;
    let who = store.get_staff(r.staff_id).await?;
    println!("{} {} for {} <{}>", r.status, r.kind.as_str(), who.name, who.email);
    store.close().await;
    Ok(())
}

fn schedule(args: ScheduleArgs) -> Result<()> {
    use kairos_schedule::{Change, GenParams, Options, Plan, Problem};
    let opts = |seed: u64, limit: f64| -> Result<Options> {
        if !(limit.is_finite() && limit > 0.0) {
            bail!("--time-limit must be a positive number of seconds");
        }
        Ok(Options { seed, time_limit: std::time::Duration::from_secs_f64(limit), ..Options::default() })
    };
    let read = |p: &std::path::Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let plan_json = match args.command {
        Some(ScheduleCommand::Generate { clients, chairs, therapists, monitors, days, seed }) => {
            let p = kairos_schedule::generate(&GenParams {
                clients,
                chairs,
                therapists,
                monitors,
                days,
                seed,
                ..GenParams::default()
            });
            println!("{}", p.to_json());
            return Ok(());
        }
        Some(ScheduleCommand::Repair { problem, plan, change, time_limit, seed }) => {
            let problem = Problem::from_json(&read(&problem)?).context("the problem")?;
            let plan = Plan::from_json(&read(&plan)?).context("the plan")?;
            let change: Change = serde_json::from_str(&read(&change)?).context("the change")?;
            kairos_schedule::repair(&problem, &plan, &change, &opts(seed, time_limit)?)?.to_json()
        }
        None => {
            let Some(path) = args.problem else {
                bail!("give --problem FILE.json (or a subcommand: generate, repair)")
            };
            let problem =
                Problem::from_json(&read(&path)?).with_context(|| format!("the problem {}", path.display()))?;
            kairos_schedule::solve(&problem, &opts(args.seed, args.time_limit)?)?.to_json()
        }
    };
    match args.out {
        Some(p) => std::fs::write(&p, plan_json).with_context(|| format!("writing {}", p.display()))?,
        None => println!("{plan_json}"),
    }
    Ok(())
}

#[cfg(test)]
mod smtp_secret_tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn the_password_file_fills_in_the_urls_user_and_the_secret_never_prints() {
        let dir = std::env::temp_dir().join(format!("kairos-smtp-unit-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("pw");
        std::fs::write(&file, "s3cr:et/@x\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let url = smtp_url_with_password("smtp://clinic@mail.example.test:587?tls=required", Some(&file));
        let _ = std::fs::remove_dir_all(&dir);
        let url = url.expect("url");
        assert_eq!(url.expose_secret(), "smtp://clinic:s3cr%3Aet%2F%40x@mail.example.test:587?tls=required");
        assert!(!format!("{url:?}").contains("s3cr"), "Debug is redacted: {url:?}");
        assert!(url_has_password("smtps://a:b@h:465") && !url_has_password("smtp://a@h:25"));
        assert!(!url_has_password("smtp://h:25"));
    }
}
