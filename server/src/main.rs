//! `server`: run Bulwark (`serve`, the default), only apply migrations (`migrate`), let a
//! role serve without owning the schema (`grant-app-role`), verify
//! an instance without serving (`check`), make a confirmed admin or user (`create-admin`,
//! `create-user`), break-glass on an account (`enable`, `unlock`, `set-role`), copy a live
//! SQLite database (`backup`), or time one password verification (`measure-hash`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use server::config::Config;

#[derive(Parser)]
#[command(name = "server", version, about = "Bulwark: accounts, sessions and sign-in, done properly")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand, Clone)]
enum Command {
    /// Migrate the database, then serve HTTP (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// PostgreSQL: let ROLE serve this database with `--no-migrate` without owning it:
    /// every table but the audit log read and write, the audit log read and append only.
    /// Run as the schema's owner after `migrate` (and again after each `migrate` that adds
    /// tables).
    GrantAppRole {
        #[arg(long)]
        role: String,
    },
    /// SQLite: copy the live database to FILE (a new file, owner-only) while the server
    /// goes on serving: one consistent snapshot (SQLite's `VACUUM INTO`), checked before it
    /// is kept. For PostgreSQL use pg_dump (docs/operators/backup.md).
    Backup {
        /// Where the copy goes; it must not exist yet.
        file: std::path::PathBuf,
    },
    /// Verify the configuration, the database, its migrations, the session table and the
    /// site files without serving or changing anything; print one line per check and exit
    /// non-zero if any failed.
    Check,
    /// Create a confirmed admin. The password is asked for twice on a terminal, or read
    /// as the first line of standard input; never from the command line or environment.
    /// It must pass the same rules as at signup.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        /// Test suites only (refused in production): set up an authenticator app with this
        /// base32 secret, so tests can compute codes; the recovery codes are printed. Without
        /// it, an admin sets up two-factor sign-in at their first sign-in.
        #[arg(long)]
        totp_secret: Option<String>,
    },
    /// Invite an address to an account with a role (the first admin of a site whose
    /// sign-up is by invitation): the invitation is mailed by the running server, and its
    /// owner chooses a username and password. Audited as the command line.
    Invite {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["admin", "user"], default_value = "user")]
        role: String,
        /// Also print the link (for a site whose mail is not set up yet): anyone who sees
        /// it can accept the invitation, so hand it over as you would a password.
        #[arg(long)]
        print_link: bool,
    },
    /// Create a confirmed user (for test suites and operators), the password as for
    /// `create-admin`.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        /// As for `create-admin`.
        #[arg(long)]
        totp_secret: Option<String>,
    },
    /// Break-glass: lift an account's disablement (audited as the command line).
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Break-glass: lift an account's admin lock (audited as the command line).
    Unlock {
        #[arg(long)]
        email: String,
    },
    /// Break-glass: grant (`admin`) or remove (`user`) the admin role; every session of the
    /// account ends. Never removes the last admin who can act. Audited as the command line.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["admin", "user"])]
        role: String,
    },
    /// Break-glass: remove every second factor of an account (the last admin who lost
    /// their phone and recovery codes); every session ends, and an admin sets one up again
    /// at the next sign-in. Audited as the command line.
    ResetFactors {
        #[arg(long)]
        email: String,
    },
    /// Time one password verification with the configured argon2 parameters, print the
    /// median in milliseconds, the sign-ins per second that allows on this machine's
    /// cores, and the verifications per second all cores actually manage together (one
    /// line, read by `scripts/bench.sh`); then the same for stronger parameters, and the
    /// strongest of them that fits in `--budget-ms`. Touches no database.
    MeasureHash {
        /// How many verifications to time for each set of parameters.
        #[arg(long, default_value_t = 40)]
        samples: usize,
        /// The time one verification may take, for the suggestion of stronger parameters.
        #[arg(long, default_value_t = 20.0)]
        budget_ms: f64,
        /// Only the configured parameters (the first line).
        #[arg(long)]
        configured_only: bool,
    },
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    match server::logging::Format::from_env() {
        Ok(format) => server::logging::init(format),
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    }
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let settings = cli.config.validate().map_err(|e| format!("the configuration was refused:\n{e}"))?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            server::migrate_only(&settings).await.map_err(|e| e.to_string())?;
            tracing::info!("migrations applied");
        }
        Command::GrantAppRole { role } => {
            println!("{}", server::roles::grant_app_role(&settings, &role).await?)
        }
        Command::Backup { file } => {
            let made =
                bulwark::db::backup_sqlite(&settings.database_url, &file).await.map_err(|e| e.to_string())?;
            println!(
                "backed up {} to {} ({} bytes, {} accounts, {} migrations); check it with \
                 DATABASE_URL=sqlite://{} server check",
                bulwark::db::describe(&settings.database_url),
                file.display(),
                made.bytes,
                made.users,
                made.migrations,
                file.display()
            );
        }
        Command::Check => {
            let report = server::check::check(&settings, &server::leptos_options(settings.site_addr)).await;
            print!("{report}");
            if !report.passed() {
                return Err("the check failed (see above)".to_owned());
            }
        }
        Command::MeasureHash { samples, budget_ms, configured_only } => {
            measure_hash(settings.hash_params, samples, budget_ms, configured_only)?
        }
        Command::CreateAdmin { email, username, totp_secret } => {
            create(&settings, (&email, &username), bulwark::Role::Admin, totp_secret.as_deref()).await?
        }
        Command::CreateUser { email, username, totp_secret } => {
            create(&settings, (&email, &username), bulwark::Role::User, totp_secret.as_deref()).await?
        }
        Command::Invite { email, role, print_link } => {
            let role = bulwark::Role::parse_lenient(&role);
            println!("{}", server::provision::invite(&settings, &email, role, print_link).await?);
        }
        Command::Enable { email } => {
            operator(&settings, &email, bulwark::admin::OperatorAction::Enable).await?
        }
        Command::Unlock { email } => {
            operator(&settings, &email, bulwark::admin::OperatorAction::Unlock).await?
        }
        Command::ResetFactors { email } => {
            operator(&settings, &email, bulwark::admin::OperatorAction::ResetFactors).await?
        }
        Command::SetRole { email, role } => {
            let role = bulwark::Role::parse_lenient(&role);
            operator(&settings, &email, bulwark::admin::OperatorAction::SetRole(role)).await?
        }
        Command::Serve => {
            let addr = settings.site_addr;
            let limits = settings.limits;
            let metrics_addr = settings.metrics_addr;
            if metrics_addr.is_some() {
                // Before anything is counted.
                server::metrics::install()?;
            }
            let clock = std::sync::Arc::new(bulwark::clock::SystemClock);
            let state = server::prepare(settings, server::leptos_options(addr), clock)
                .await
                .map_err(|e| e.to_string())?;
            let listener = server::bind(addr).await.map_err(|e| e.to_string())?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            if let Some(metrics_addr) = metrics_addr {
                let metrics = server::metrics::bind(metrics_addr).await.map_err(|e| e.to_string())?;
                let bound = metrics.local_addr().map_or_else(|_| metrics_addr.to_string(), |a| a.to_string());
                let mut stopping = stopped.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    let stop = async move {
                        let _ = stopping.wait_for(|stop| *stop).await;
                    };
                    let every = server::metrics::READING_EVERY;
                    if let Err(error) = server::metrics::serve(metrics, state, every, stop).await {
                        tracing::error!(error = %error, "the metrics listener stopped");
                    }
                });
                tracing::info!("metrics on http://{bound}/metrics");
            }
            let cleanup = server::spawn_cleanup(&state, std::time::Duration::from_secs(60), stopped.clone());
            let sender = server::spawn_mail_sender(&state, stopped);
            tracing::info!("listening on http://{addr}");
            let shutdown = async move {
                server::shutdown_signal().await;
                let _ = stop.send(true);
            };
            let outbox = state.outbox.clone();
            server::serve(listener, server::router(state), limits, shutdown)
                .await
                .map_err(|e| e.to_string())?;
            // What the last responses left to do (a signup to store, a mail to queue) is
            // finished, so nothing answered is lost; queued mail waits for the next start.
            if tokio::time::timeout(std::time::Duration::from_secs(10), outbox.settled()).await.is_err() {
                tracing::warn!("work left by the last responses did not finish within 10 s");
            }
            // The background tasks see the same signal; wait for them to finish their round.
            let _ = cleanup.await;
            // The delivery under way ends within its send timeout; never wait longer.
            let most = bulwark::mail::sender::SEND_TIMEOUT + std::time::Duration::from_secs(5);
            if tokio::time::timeout(most, sender).await.is_err() {
                tracing::warn!("the mail sender did not stop in time; its mail is sent after the lease");
            }
        }
    }
    Ok(())
}

/// `server enable` / `unlock` / `set-role`.
async fn operator(
    settings: &server::config::Settings,
    email: &str,
    action: bulwark::admin::OperatorAction,
) -> Result<(), String> {
    println!("{}", server::provision::operator(settings, email, action).await?);
    Ok(())
}

/// `server create-admin` / `create-user`.
async fn create(
    settings: &server::config::Settings,
    (email, username): (&str, &str),
    role: bulwark::Role,
    totp_secret: Option<&str>,
) -> Result<(), String> {
    if totp_secret.is_some() && settings.environment == server::config::Environment::Production {
        return Err(
            "--totp-secret is for test suites and is refused in production; nothing was created".into()
        );
    }
    let password = server::provision::read_password()?;
    let user = server::provision::create_account(settings, email, username, &password, role).await?;
    println!("created {} {} (id {}), confirmed", role.as_str(), user.username, user.id);
    if let Some(secret) = totp_secret {
        let codes = server::provision::enrol_totp(settings, &user, secret).await?;
        println!("authenticator app set up; recovery codes:");
        for code in codes {
            println!("{code}");
        }
    }
    Ok(())
}

/// `server measure-hash`: one verification's median time and the bound it sets, for the
/// configured parameters and for stronger ones (the time SIMD hashing saves can buy either
/// more sign-ins per core or costlier guesses).
fn measure_hash(
    params: bulwark::hashing::HashParams,
    samples: usize,
    budget_ms: f64,
    configured_only: bool,
) -> Result<(), String> {
    use bulwark::hashing::{HashParams, PasswordHasher};
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let time = |params: HashParams| -> Result<f64, String> {
        let hasher = PasswordHasher::new(params).map_err(|e| e.to_string())?;
        Ok(hasher.time_one_verify(samples).map_err(|e| e.to_string())?.as_secs_f64() * 1000.0)
    };
    let label = |p: HashParams| format!("m={},t={},p={}", p.memory_kib, p.iterations, p.parallelism);
    let hasher = PasswordHasher::new(params).map_err(|e| e.to_string())?;
    let ms = time(params)?;
    let together = hasher.verifies_per_sec(cores, 3.0).map_err(|e| e.to_string())?;
    println!(
        "verify_ms={ms:.2} cores={cores} bound_per_sec={:.1} all_cores_per_sec={together:.1} params={} engine={}",
        cores as f64 * 1000.0 / ms,
        label(params),
        PasswordHasher::engine_name().replace(' ', "-"),
    );
    if configured_only {
        return Ok(());
    }
    println!();
    println!(
        "{:<22} {:>16} {:>22}",
        "argon2id parameters",
        "one verification",
        format!("bound on {cores} cores")
    );
    let mut strongest = None;
    // Each at least the configured cost, in order of cost to an attacker (memory × passes).
    let ladder = [(19_456, 2), (19_456, 3), (32_768, 2), (47_104, 2), (65_536, 2), (65_536, 3), (131_072, 2)];
    for (memory_kib, iterations) in ladder {
        let candidate = HashParams { memory_kib, iterations, parallelism: params.parallelism };
        if candidate.memory_kib < params.memory_kib || candidate.iterations < params.iterations {
            continue;
        }
        let ms = if candidate == params { ms } else { time(candidate)? };
        let mark = if candidate == params { "  (configured)" } else { "" };
        println!("{:<22} {:>13.2} ms {:>15.1} /s{mark}", label(candidate), ms, cores as f64 * 1000.0 / ms);
        if ms <= budget_ms {
            strongest = Some(candidate);
        }
    }
    println!();
    match strongest {
        Some(best) => println!(
            "the strongest of these within {budget_ms} ms a verification: {} \
             (BULWARK_ARGON2_MEMORY_KIB={} BULWARK_ARGON2_ITERATIONS={})",
            label(best),
            best.memory_kib,
            best.iterations
        ),
        None => println!("none of these fits in {budget_ms} ms a verification on this machine"),
    }
    Ok(())
}
