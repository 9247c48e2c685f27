//! Sign-in timing benchmark: do failed sign-ins for an existing account and for an unknown
//! email take the same time? Starts the real server (router, SQLite file, argon2 with the
//! default parameters) on a loopback port, creates one account, then sends interleaved
//! wrong-password attempts for it and for unknown emails, and prints both medians and
//! their ratio. The goal is a ratio within 5% of 1.
//!
//!     cargo run -p server --example login_timing -- --attempts 60
//!
//! Throttling is switched off for the run (it would answer the repeated attempts with 429,
//! which is fast for both kinds alike and would hide what is being measured).

use std::{sync::Arc, time::Instant};

use bulwark::clock::SystemClock;
use clap::Parser;
use server::config::Settings;

#[derive(Parser)]
struct Args {
    /// Attempts of each kind.
    #[arg(long, default_value_t = 40)]
    attempts: usize,
}

const PASSWORD: &str = "violet quasar harbour tulip 83";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let throttle = bulwark::throttle::ThrottlePolicy {
        ip_ladder: vec![(u32::MAX, 1)],
        account_backoff_from: u32::MAX,
        ..Default::default()
    };
    let settings =
        Settings { throttle, ..Settings::local(format!("sqlite://{}/bench.db", dir.path().display())) };
    let listener = server::bind(settings.site_addr).await?;
    let addr = listener.local_addr()?;
    let state = server::prepare(settings, server::leptos_options(addr), Arc::new(SystemClock)).await?;
    tokio::spawn(server::serve(listener, server::router(state), std::future::pending()));

    let client = reqwest::Client::builder().build()?;
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            let response = client
                .post(format!("http://{addr}{path}"))
                .header("origin", "http://localhost:3000")
                .header("accept", "application/json")
                .form(&form)
                .send()
                .await?;
            let status = response.status().as_u16();
            response.bytes().await?;
            Ok::<_, reqwest::Error>((status, started.elapsed().as_secs_f64() * 1000.0))
        }
    };

    let signup = post(
        "/api/signup",
        vec![
            ("email", "bench@example.com".into()),
            ("username", "bench".into()),
            ("password", PASSWORD.into()),
        ],
    )
    .await?;
    assert_eq!(signup.0, 200, "signup failed");

    // Warm up both paths (first zxcvbn/argon2 use, connection set-up).
    for _ in 0..3 {
        post("/api/login", vec![("email", "bench@example.com".into()), ("password", "wrong".into())]).await?;
    }

    let (mut existing, mut unknown) = (Vec::new(), Vec::new());
    // Interleaved, and the order swapped every round, so drift and any first-in-pair
    // effect fall on both kinds alike.
    for i in 0..args.attempts {
        let known = || {
            post(
                "/api/login",
                vec![("email", "bench@example.com".into()), ("password", "wrong guess".into())],
            )
        };
        let unknown_email = format!("nobody{i}@example.com");
        let stranger =
            || post("/api/login", vec![("email", unknown_email.clone()), ("password", "wrong guess".into())]);
        let (a, b) = if i % 2 == 0 {
            let a = known().await?;
            (a, stranger().await?)
        } else {
            let b = stranger().await?;
            (known().await?, b)
        };
        assert_eq!((a.0, b.0), (401, 401));
        existing.push(a.1);
        unknown.push(b.1);
    }

    let existing_median = median(&mut existing);
    let unknown_median = median(&mut unknown);
    let ratio = existing_median / unknown_median;
    println!("attempts of each kind:        {}", args.attempts);
    println!("existing account, median ms:  {existing_median:.2}");
    println!("unknown email, median ms:     {unknown_median:.2}");
    println!("ratio existing/unknown:       {ratio:.3}");
    println!("within 5%:                    {}", if (ratio - 1.0).abs() <= 0.05 { "yes" } else { "no" });
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
