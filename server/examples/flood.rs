//! Flood benchmark: what an online guessing attack costs, and what it costs the real users.
//! Starts the real server (router, SQLite file, argon2 with the default parameters, the
//! default throttle) on a loopback port behind a "trusted proxy" (this process), creates
//! confirmed accounts whose owners have signed in once (so their browsers hold a device
//! cookie), and then floods sign-in with wrong guesses for those accounts (and some
//! unknown addresses) from thousands of client addresses, while the owners keep signing
//! in. It prints:
//!
//! - successful guesses (must be 0) and the attacker's answers by status,
//! - argon2 runs the attacker caused (verifications the flood made the server do),
//! - the owners' median and p99 sign-in latency during the flood, against the same
//!   without it, and how many of their sign-ins failed,
//! - whether the server was still up afterwards.
//!
//!     cargo run --release -p server --example flood -- --guesses 10000
//!
//! Everything stays on 127.0.0.1 and stops by itself after `--seconds` at the latest.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use bulwark::{clock::SystemClock, throttle::ClientIpSource};
use clap::Parser;
use server::{config::Settings, AppState};
use tokio::{sync::Semaphore, task::JoinSet};

#[derive(Parser)]
struct Args {
    /// Wrong guesses the attacker sends.
    #[arg(long, default_value_t = 10_000)]
    guesses: u64,
    /// Real users (accounts under attack).
    #[arg(long, default_value_t = 10)]
    users: usize,
    /// Attacker requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Sign-ins each real user makes in the quiet baseline.
    #[arg(long, default_value_t = 10)]
    baseline: usize,
    /// The flood stops after this many seconds, whatever is left.
    #[arg(long, default_value_t = 180)]
    seconds: u64,
}

const PASSWORD: &str = "violet quasar harbour tulip 83";

struct Bench {
    state: AppState,
    url: String,
    _dir: tempfile::TempDir,
}

fn client(cookies: bool) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", reqwest::header::HeaderValue::from_static("http://localhost:3000"));
    headers.insert("accept", reqwest::header::HeaderValue::from_static("application/json"));
    reqwest::Client::builder()
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("client")
}

/// One sign-in claiming to come from `from`: its status and latency in milliseconds.
async fn login(client: &reqwest::Client, url: &str, email: &str, password: &str, from: &str) -> (u16, f64) {
    let started = Instant::now();
    let sent = client
        .post(format!("{url}/api/login"))
        .header("x-forwarded-for", from)
        .form(&[("email", email), ("password", password)])
        .send()
        .await;
    let status = match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            status
        }
        Err(_) => 0,
    };
    (status, started.elapsed().as_secs_f64() * 1000.0)
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[rank]
}

impl Bench {
    async fn start() -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut settings = Settings::local(format!("sqlite://{}/flood.db", dir.path().display()));
        settings.client_ip = ClientIpSource::Proxied {
            trusted: bulwark::throttle::TrustedProxies::parse("127.0.0.1")?,
            header: bulwark::throttle::ForwardedHeader::XForwardedFor,
        };
        settings.mail.delivery = server::config::MailDelivery::Folder(dir.path().join("outbox"));
        let listener = server::bind(settings.site_addr).await?;
        let addr = listener.local_addr()?;
        let state = server::prepare(settings, server::leptos_options(addr), Arc::new(SystemClock)).await?;
        let limits = state.settings.limits;
        tokio::spawn(server::serve(listener, server::router(state.clone()), limits, std::future::pending()));
        Ok(Self { state, url: format!("http://{addr}"), _dir: dir })
    }

    /// A confirmed account, confirmed straight through the service (as its link would).
    async fn account(&self, email: &str, username: &str) -> Result<(), Box<dyn std::error::Error>> {
        let signup = self.state.accounts.sign_up(email, username, PASSWORD).await?;
        let bulwark::accounts::SignupOutcome::Pending { token } = signup.outcome else {
            return Err("the address is taken".into());
        };
        self.state.accounts.confirm_signup(&token, PASSWORD, None).await?;
        Ok(())
    }
}

/// What the owners' sign-ins came to.
#[derive(Default)]
struct Owners {
    latencies: Vec<f64>,
    /// Answers other than 200, by status.
    failed: std::collections::BTreeMap<u16, usize>,
    /// Sign-ins that ran a verification (200 or 401).
    hashed: u64,
}

/// The owners sign in over and over (each from its own address, with its own browser)
/// until `stop`.
async fn owners(
    bench: &Bench,
    browsers: &[reqwest::Client],
    rounds: Option<usize>,
    stop: &AtomicBool,
) -> Owners {
    let mut result = Owners::default();
    let mut round = 0;
    while rounds.map_or(!stop.load(Ordering::Relaxed), |r| round < r) {
        for (i, browser) in browsers.iter().enumerate() {
            let (status, ms) = login(
                browser,
                &bench.url,
                &format!("owner{i}@example.com"),
                PASSWORD,
                &format!("192.0.2.{i}"),
            )
            .await;
            result.latencies.push(ms);
            if status != 200 {
                *result.failed.entry(status).or_default() += 1;
            }
            result.hashed += u64::from(status == 200 || status == 401);
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    result
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let bench = Arc::new(Bench::start().await?);
    let browsers: Vec<reqwest::Client> = (0..args.users).map(|_| client(true)).collect();
    for (i, browser) in browsers.iter().enumerate() {
        bench.account(&format!("owner{i}@example.com"), &format!("owner{i}")).await?;
        let (status, _) =
            login(browser, &bench.url, &format!("owner{i}@example.com"), PASSWORD, &format!("192.0.2.{i}"))
                .await;
        assert_eq!(status, 200, "the owner's first sign-in");
    }
    let hasher = bench.state.accounts.hasher().clone();

    let never = AtomicBool::new(false);
    let mut quiet = owners(&bench, &browsers, Some(args.baseline), &never).await;

    let runs_before = hasher.runs();
    let stop = Arc::new(AtomicBool::new(false));
    let statuses: Arc<[AtomicU64; 6]> = Arc::new(Default::default());
    let attacker = client(false);
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let flood = {
        let (bench, stop, statuses) = (bench.clone(), stop.clone(), statuses.clone());
        let users = args.users;
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(args.concurrency));
            let mut tasks = JoinSet::new();
            for n in 0..args.guesses {
                if Instant::now() >= deadline {
                    break;
                }
                let Ok(slot) = slots.clone().acquire_owned().await else { break };
                let (client, url, statuses) = (attacker.clone(), bench.url.clone(), statuses.clone());
                // Nine in ten guesses go at the owners' accounts, the rest at unknown addresses.
                let email = if n % 10 == 9 {
                    format!("nobody{n}@example.com")
                } else {
                    format!("owner{}@example.com", (n as usize) % users)
                };
                let from = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
                tasks.spawn(async move {
                    let _slot = slot;
                    let (status, _) = login(&client, &url, &email, &format!("guess {n}"), &from).await;
                    let index = match status {
                        200 => 0,
                        401 => 1,
                        429 => 2,
                        503 => 3,
                        0 => 5,
                        _ => 4,
                    };
                    statuses[index].fetch_add(1, Ordering::Relaxed);
                });
            }
            while tasks.join_next().await.is_some() {}
            stop.store(true, Ordering::Relaxed);
        })
    };
    let started = Instant::now();
    let mut loud = owners(&bench, &browsers, None, &stop).await;
    flood.await?;
    let elapsed = started.elapsed().as_secs_f64();
    let attacker_runs = (hasher.runs() - runs_before).saturating_sub(loud.hashed);

    let page = reqwest::get(format!("{}/login", bench.url)).await.map(|r| r.status().as_u16()).unwrap_or(0);
    let count = |i: usize| statuses[i].load(Ordering::Relaxed);
    let sent: u64 = (0..6).map(count).sum();

    println!(
        "flood: {sent} wrong guesses in {elapsed:.1} s from {sent} addresses, {} in flight at once",
        args.concurrency
    );
    println!("  successful guesses             {}", count(0));
    println!("  answered 401 (checked)         {}", count(1));
    println!("  answered 429 (throttled)       {}", count(2));
    println!("  answered 503 (queue full)      {}", count(3));
    println!("  other / no answer              {} / {}", count(4), count(5));
    println!("  argon2 runs caused by attacker {attacker_runs}");
    println!("owners ({} accounts, known browsers):", args.users);
    for (name, run) in [("quiet", &mut quiet), ("flood", &mut loud)] {
        println!(
            "  {name}: {} sign-ins, median {:.1} ms, p99 {:.1} ms, not signed in {:?} (status: count)",
            run.latencies.len(),
            percentile(&mut run.latencies, 0.5),
            percentile(&mut run.latencies, 0.99),
            run.failed
        );
    }
    println!("server up afterwards: {}", if page == 200 { "yes" } else { "NO" });
    if count(0) > 0 || page != 200 {
        std::process::exit(1);
    }
    Ok(())
}
