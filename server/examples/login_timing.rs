//! Sign-in timing benchmark: can response times tell an existing account from an unknown
//! email? Starts the real server (router, SQLite file, argon2 with the default parameters)
//! on a loopback port and sends interleaved failed sign-ins of four kinds:
//!
//! - wrong password for a confirmed account,
//! - the right password for an account whose address is not confirmed yet,
//! - an unknown email,
//! - and, on a second server with throttling on, throttled attempts (429) for an existing
//!   account and for an unknown email.
//!
//! It prints each kind's median and its ratio to the unknown-email median; the goal is
//! every ratio within 5% of 1.
//!
//!     cargo run -p server --example login_timing -- --attempts 60
//!
//! The first server runs without throttling (it would answer the repeated attempts with
//! 429, which would hide the hashing being measured).

use std::{sync::Arc, time::Instant};

use bulwark::{clock::SystemClock, throttle::ThrottlePolicy};
use clap::Parser;
use server::{config::Settings, AppState};

#[derive(Parser)]
struct Args {
    /// Attempts of each kind.
    #[arg(long, default_value_t = 40)]
    attempts: usize,
}

const PASSWORD: &str = "violet quasar harbour tulip 83";

type Sample = Result<(u16, f64), reqwest::Error>;

/// Round number → the email and password to try.
type Attempt<'a> = &'a dyn Fn(usize) -> (String, String);

/// A running server and a client for it.
struct Bench {
    state: AppState,
    addr: std::net::SocketAddr,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn start(throttle: ThrottlePolicy) -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let settings =
            Settings { throttle, ..Settings::local(format!("sqlite://{}/bench.db", dir.path().display())) };
        let listener = server::bind(settings.site_addr).await?;
        let addr = listener.local_addr()?;
        let state = server::prepare(settings, server::leptos_options(addr), Arc::new(SystemClock)).await?;
        let limits = state.settings.limits;
        tokio::spawn(server::serve(listener, server::router(state.clone()), limits, std::future::pending()));
        Ok(Self { state, addr, client: reqwest::Client::builder().build()?, _dir: dir })
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Sample {
        let started = Instant::now();
        let response = self
            .client
            .post(format!("http://{}{path}", self.addr))
            .header("origin", "http://localhost:3000")
            .header("accept", "application/json")
            .form(form)
            .send()
            .await?;
        let status = response.status().as_u16();
        response.bytes().await?;
        Ok((status, started.elapsed().as_secs_f64() * 1000.0))
    }

    async fn login(&self, email: &str, password: &str) -> Sample {
        self.post("/api/login", &[("email", email), ("password", password)]).await
    }

    /// Signs up `email` (a pending signup); with `confirm`, also confirms it (straight
    /// through the service, as following the mailed link would).
    async fn account(
        &self,
        email: &str,
        username: &str,
        confirm: bool,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let signup = self.state.accounts.sign_up(email, username, PASSWORD).await?;
        let bulwark::accounts::SignupOutcome::Pending { token } = signup.outcome else {
            return Err("the address is taken".into());
        };
        if confirm {
            self.state.accounts.confirm_signup(&token, PASSWORD, None).await?;
        }
        Ok(())
    }
}

/// Runs `kinds` in turn `attempts` times, rotating which goes first each round so drift
/// and any first-in-round effect fall on all of them alike; every answer must be `status`.
async fn measure<'a>(
    bench: &Bench,
    attempts: usize,
    status: u16,
    kinds: &[(&'a str, Attempt<'_>)],
) -> Result<Vec<(&'a str, f64)>, Box<dyn std::error::Error>> {
    let mut samples = vec![Vec::new(); kinds.len()];
    for round in 0..attempts {
        for offset in 0..kinds.len() {
            let k = (round + offset) % kinds.len();
            let (email, password) = (kinds[k].1)(round);
            let (got, ms) = bench.login(&email, &password).await?;
            assert_eq!(got, status, "{} answered {got}", kinds[k].0);
            samples[k].push(ms);
        }
    }
    Ok(kinds.iter().zip(samples.iter_mut()).map(|((name, _), s)| (*name, median(s))).collect())
}

fn report(title: &str, medians: &[(&str, f64)]) -> bool {
    let baseline = medians.iter().find(|(name, _)| name.starts_with("unknown")).map_or(1.0, |m| m.1);
    println!("{title}");
    let mut within = true;
    for (name, median) in medians {
        let ratio = median / baseline;
        within &= (ratio - 1.0).abs() <= 0.05;
        println!("  {name:<38} median {median:>8.2} ms   ratio to unknown {ratio:.3}");
    }
    within
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let open = Bench::start(ThrottlePolicy {
        ip_ladder: vec![(u32::MAX, 1)],
        account_backoff_from: u32::MAX,
        signups_per_ip_per_hour: u32::MAX,
        ..ThrottlePolicy::default()
    })
    .await?;
    open.account("bench@example.com", "bench", true).await?;
    open.account("pending@example.com", "pending", false).await?;
    // Warm up (first zxcvbn/argon2 use, connection set-up).
    for _ in 0..3 {
        open.login("bench@example.com", "wrong").await?;
    }
    let wrong = |_| ("bench@example.com".to_owned(), "wrong guess".to_owned());
    let unconfirmed = |_| ("pending@example.com".to_owned(), PASSWORD.to_owned());
    let unknown = |i| (format!("nobody{i}@example.com"), "wrong guess".to_owned());
    let failed = measure(
        &open,
        args.attempts,
        401,
        &[
            ("existing account, wrong password", &wrong),
            ("pending signup, right password", &unconfirmed),
            ("unknown email", &unknown),
        ],
    )
    .await?;

    // Throttled: every account's first failure blocks it (the IP ladder stays off).
    let strict = Bench::start(ThrottlePolicy {
        ip_ladder: vec![(u32::MAX, 1)],
        account_backoff_from: 1,
        ..ThrottlePolicy::default()
    })
    .await?;
    strict.account("bench@example.com", "bench", true).await?;
    strict.login("bench@example.com", "wrong").await?;
    for i in 0..args.attempts {
        strict.login(&format!("nobody{i}@example.com"), "wrong").await?;
    }
    let throttled = measure(
        &strict,
        args.attempts,
        429,
        &[("existing account, throttled", &wrong), ("unknown email, throttled", &unknown)],
    )
    .await?;

    println!("attempts of each kind: {}", args.attempts);
    let ok_failed = report("failed sign-ins (401):", &failed);
    let ok_throttled = report("throttled sign-ins (429):", &throttled);
    println!("all within 5%: {}", if ok_failed && ok_throttled { "yes" } else { "no" });
    Ok(())
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let mid = samples.len() / 2;
    if samples.len().is_multiple_of(2) {
        (samples[mid - 1] + samples[mid]) / 2.0
    } else {
        samples[mid]
    }
}
