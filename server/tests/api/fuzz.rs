//! A seeded fuzzer drives every registered server function, signed in and not, as admin
//! and not, with malformed (and now and then well-formed) forms and bodies, as API calls
//! and as plain form posts, asserting no 5xx but 503, no error or panic logged for its
//! requests, and that no refused request changed the database (see docs/security/properties.md's
//! properties table).

use std::collections::BTreeMap;

use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use reqwest::Method;

use crate::helpers::{proxied_by_loopback, spawn_app_with, Browser, TestApp, ORIGIN, PASSWORD};
use crate::logs::captured;

/// One server function: its path, method and the arguments its source declares.
struct Endpoint {
    path: &'static str,
    method: Method,
    fields: Vec<(String, String)>,
}

/// Every registered server function (from the router's registry, so a new one is covered
/// without editing this test), with the argument names and types its `#[server]`
/// declaration gives (read from the app's source; an endpoint the reader cannot find gets
/// every name seen elsewhere).
fn endpoints() -> Vec<Endpoint> {
    let declared = declared_arguments();
    let everything: Vec<(String, String)> = {
        let mut all: BTreeMap<String, String> = BTreeMap::new();
        for fields in declared.values() {
            all.extend(fields.iter().cloned());
        }
        all.into_iter().collect()
    };
    let mut endpoints: Vec<Endpoint> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| Endpoint {
            path,
            method: Method::from_bytes(method.as_str().as_bytes()).expect("method"),
            fields: declared.get(path).cloned().unwrap_or_else(|| everything.clone()),
        })
        .collect();
    endpoints.sort_by_key(|e| e.path);
    endpoints
}

/// `path → [(argument, type)]`, read from every `#[server(prefix = …, endpoint = …)]`
/// in `app/src/api`.
fn declared_arguments() -> BTreeMap<String, Vec<(String, String)>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src/api");
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("app/src/api") {
        let source = std::fs::read_to_string(entry.expect("entry").path()).expect("source");
        for declaration in source.split("#[server(prefix = \"").skip(1) {
            let Some((prefix, rest)) = declaration.split_once('"') else { continue };
            let Some((_, rest)) = rest.split_once("endpoint = \"") else { continue };
            let Some((endpoint, rest)) = rest.split_once('"') else { continue };
            let Some((_, rest)) = rest.split_once("fn ") else { continue };
            let Some((_, rest)) = rest.split_once('(') else { continue };
            let Some((arguments, _)) = rest.split_once(") ->") else { continue };
            let fields = arguments
                .replace("#[server(default)]", "")
                .split(',')
                .filter_map(|argument| argument.split_once(':'))
                .map(|(name, kind)| (name.trim().to_owned(), kind.trim().to_owned()))
                .collect();
            found.insert(format!("{prefix}/{endpoint}"), fields);
        }
    }
    found
}

/// The well-typed texts the fuzzer types (the account's password among them). Not "admin":
/// a well-formed promotion of the user would let it lock the admin, and the run would end
/// early (the callers go in turn, the admin last, so nothing it does stops another).
const TEXTS: [&str; 7] =
    [PASSWORD, "", "someone@example.com", "user", "a reason long enough", "/account", "1"];

/// A value for a field of type `kind`: sometimes well-typed, often not.
fn value(rng: &mut StdRng, kind: &str, ids: &[i64]) -> String {
    let well_typed = rng.gen_bool(0.4);
    if well_typed {
        return match kind {
            "i64" | "Option<i64>" => ids.choose(rng).expect("ids").to_string(),
            "bool" => ["true", "false"].choose(rng).expect("bool").to_string(),
            _ => TEXTS.choose(rng).expect("text").to_string(),
        };
    }
    match rng.gen_range(0..12) {
        0 => String::new(),
        1 => "abc".into(),
        2 => "maybe".into(),
        3 => "99999999999999999999999".into(),
        4 => "-1".into(),
        5 => "1.5".into(),
        6 => "a".repeat(40 * 1024),
        7 => "\u{0}\u{1b}[31m\r\n\t".into(),
        8 => "ünïcødé ☃ 𝔘".into(),
        9 => "null".into(),
        10 => "<script>alert(1)</script>".into(),
        _ => format!("{}", rng.gen::<i64>()),
    }
}

/// One malformed (or, now and then, well-formed) request body for `endpoint`, with its
/// content type.
fn body(rng: &mut StdRng, endpoint: &Endpoint, ids: &[i64]) -> (Option<&'static str>, Vec<u8>) {
    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    match rng.gen_range(0..10) {
        // Raw bytes: not text.
        0 => (FORM, (0..rng.gen_range(1..64)).map(|_| rng.gen::<u8>()).collect()),
        // Not a form.
        1 => (Some("application/json"), br#"{"id": 1, "email": ["x"]}"#.to_vec()),
        2 => (None, b"hello".to_vec()),
        3 => (Some("multipart/form-data; boundary=x"), b"--x\r\ngarbage\r\n--x--".to_vec()),
        // Broken escapes, nesting deeper than the decoder allows, repeated keys.
        4 => (FORM, b"id=%ZZ&a[b][c][d][e][f][g]=1&id=1&id=2".to_vec()),
        // Forms of the endpoint's own fields (some missing, some mistyped) and unknown ones.
        _ => {
            let mut pairs: Vec<(String, String)> = Vec::new();
            for (name, kind) in &endpoint.fields {
                if rng.gen_bool(0.8) {
                    pairs.push((name.clone(), value(rng, kind, ids)));
                }
            }
            if rng.gen_bool(0.3) {
                pairs.push(("unknown_field".into(), value(rng, "String", ids)));
            }
            let encoded = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
                .collect::<Vec<_>>()
                .join("&");
            (FORM, encoded.into_bytes())
        }
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every row of the tables that hold what people and admins own or asked for (not the
/// audit log, the throttle's counters or the sessions' own bookkeeping, which a refused
/// request may rightly touch), as text.
async fn holdings(app: &TestApp) -> String {
    // Every column, but the registry's: which sessions exist (by handle: a refused
    // impersonation rightly leaves the admin's session under a new id), whose, at which
    // epoch, parked or not (a request rightly moves its own last-seen time).
    const TABLES: [(&str, &str); 11] = [
        ("users", "*"),
        ("invitations", "*"),
        ("pending_signups", "*"),
        ("email_tokens", "*"),
        ("email_changes", "*"),
        ("impersonations", "*"),
        ("device_cookies", "*"),
        ("device_notices", "*"),
        ("mail_outbox", "*"),
        ("admin_approvals", "*"),
        ("session_registry", "handle, user_id, epoch, parked, impersonation_id"),
    ];
    let mut all = String::new();
    for (table, wanted) in TABLES {
        let rows: String = match &app.pool {
            bulwark::db::Pool::Sqlite(pool) => {
                let columns: Vec<String> = if wanted == "*" {
                    let rows: Vec<(String,)> =
                        sqlx::query_as(&format!("SELECT name FROM pragma_table_info('{table}')"))
                            .fetch_all(pool)
                            .await
                            .expect("columns");
                    rows.into_iter().map(|(c,)| c).collect()
                } else {
                    wanted.split(", ").map(str::to_owned).collect()
                };
                let row = columns.iter().map(|c| format!("quote({c})")).collect::<Vec<_>>().join("||','||");
                sqlx::query_scalar(&format!(
                    "SELECT coalesce(group_concat(r, ';'), '') FROM (SELECT {row} AS r FROM {table} ORDER BY rowid)"
                ))
                .fetch_one(pool)
                .await
                .expect("rows")
            }
            bulwark::db::Pool::Postgres(pool) => sqlx::query_scalar(&format!(
                "SELECT coalesce(string_agg(t::text, ';' ORDER BY t::text), '') FROM (SELECT {wanted} FROM {table}) t"
            ))
            .fetch_one(pool)
            .await
            .expect("rows"),
        };
        all.push_str(table);
        all.push(':');
        all.push_str(&rows);
        all.push('\n');
    }
    all
}

/// Who sends a request: nobody signed in, a user, an admin who has typed the password
/// again (so admin endpoints get past their checks to their arguments).
struct Caller {
    name: &'static str,
    browser: Browser,
    sign_in: Option<(&'static str, bool)>,
    /// Where its fuzzed requests come from (each caller its own address, so the throttle
    /// one spends does not block another).
    ip: &'static str,
    /// Where it signs in again from (the fuzzed sign-ins' failures block `ip` for good:
    /// the test clock does not move).
    home: &'static str,
    /// Answers other than 401 and 403: requests that got past sign-in and role checks.
    reached: usize,
    /// Its password now (a fuzzed password change may have been well-formed).
    password: String,
}

impl Caller {
    /// Signs in again when a request ended the session (sign-out is a well-formed call of
    /// `/api/logout` whatever else the form holds, and the fifth wrong password at a
    /// step-up ends it), and fails the test if it cannot.
    async fn keep_signed_in(&mut self, app: &TestApp) {
        let Some((email, step_up)) = self.sign_in else { return };
        let password = self.password.clone();
        let password = password.as_str();
        let post = |path: &'static str, form: Vec<(&str, &str)>| {
            self.browser
                .client
                .post(app.url(path))
                .header("accept", "application/json")
                .header("x-forwarded-for", self.home)
                .form(&form)
                .send()
        };
        let me = post("/api/me", vec![]).await.expect("me").text().await.unwrap_or_default();
        if me.contains("\"impersonation\":{") {
            // A well-formed impersonation among the fuzzed requests: back to being the admin.
            post("/api/impersonation/stop", vec![]).await.expect("stop");
            return Box::pin(self.keep_signed_in(app)).await;
        }
        if me.contains(email) {
            return;
        }
        let signed_in =
            post("/api/login", vec![("email", email), ("password", password)]).await.expect("login");
        let status = signed_in.status().as_u16();
        let second_step =
            signed_in.headers().get("location").is_some_and(|l| l == crate::helpers::SECOND_STEP);
        let body = signed_in.text().await.unwrap_or_default();
        assert_eq!(status, 200, "{} could not sign in again: {body}", self.name);
        if second_step {
            // An admin: the code of a step no earlier sign-in or step-up used.
            app.clock.advance(bulwark::factors::totp::STEP_SECS as i64);
            let code = app.totp_code();
            let passed = post("/api/second-step", vec![("code", &code)]).await.expect("second step");
            assert_eq!(passed.status().as_u16(), 200, "{} could not pass the second step", self.name);
        }
        if step_up {
            app.clock.advance(bulwark::factors::totp::STEP_SECS as i64);
            let code = app.totp_code();
            let form = vec![("password", password), ("code", &code), ("next", "/admin")];
            let stepped = post("/api/step-up", form).await.expect("step-up");
            assert_eq!(stepped.status().as_u16(), 200, "{} could not step up again", self.name);
        }
    }
}

/// The error Leptos put in a redirect's URL (`__err=`), for a form post sent back to its
/// page.
fn error_in_location(location: &str) -> Option<app::error::ApiError> {
    use base64::{engine::general_purpose::URL_SAFE, Engine as _};
    let query = location.split_once('?')?.1;
    let encoded = String::from_utf8(url_decoded(query, "__err")?).ok()?;
    let json = URL_SAFE.decode(encoded.as_bytes()).ok()?;
    Some(serde_json::from_slice(&json).unwrap_or(app::error::ApiError::Internal))
}

/// The value of field `name` in a URL-encoded form.
fn form_value(payload: &[u8], name: &str) -> Option<String> {
    String::from_utf8(url_decoded(std::str::from_utf8(payload).ok()?, name)?).ok()
}

/// Field `name` of the query or form `encoded`, decoded.
fn url_decoded(encoded: &str, name: &str) -> Option<Vec<u8>> {
    let prefix = format!("{name}=");
    let value = encoded.split('&').find_map(|pair| pair.strip_prefix(prefix.as_str()))?;
    let bytes = value.replace('+', " ").into_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (b, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    Some(decoded)
}

#[tokio::test]
async fn fuzzing_every_server_function_finds_no_server_error_and_no_change_from_a_refused_request() {
    let log = captured();
    let app = spawn_app_with(|s| s.client_ip = proxied_by_loopback()).await;
    // Queued mail stays where it was queued (the sender would send and delete it meanwhile).
    app.stop_mail_sender();
    let admin_id = app.create_account("fuzz-admin@example.com", "fuzzadmin", bulwark::Role::Admin).await;
    let user_id = app.create_account("fuzz-user@example.com", "fuzzuser", bulwark::Role::User).await;
    let ids = [admin_id, user_id, 0, -1, 999_999, i64::MAX];

    let seed: u64 = std::env::var("BULWARK_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    let cases: usize = std::env::var("BULWARK_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    eprintln!("fuzzing with seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let endpoints = endpoints();
    assert!(endpoints.len() >= 30, "the router's server functions were not found: {}", endpoints.len());
    for required in ["/api/login", "/api/admin/user", "/api/support-access/grant"] {
        assert!(endpoints.iter().any(|e| e.path == required), "{required} is not among the endpoints");
    }

    let caller = |name, sign_in, ip, home| Caller {
        name,
        browser: app.new_browser(),
        sign_in,
        ip,
        home,
        reached: 0,
        password: PASSWORD.to_owned(),
    };
    let mut callers = vec![
        caller("anonymous", None, "198.51.100.1", "198.51.100.1"),
        caller("user", Some(("fuzz-user@example.com", false)), "198.51.100.2", "203.0.113.2"),
        caller("admin", Some(("fuzz-admin@example.com", true)), "198.51.100.3", "203.0.113.3"),
    ];
    assert!(holdings(&app).await.contains("fuzz-admin@example.com"), "the snapshot reads the rows");
    let mut failures = Vec::new();
    let mut sent = 0;
    for caller in &mut callers {
        for endpoint in &endpoints {
            for case in 0..cases {
                caller.keep_signed_in(&app).await;
                let (content_type, payload) = body(&mut rng, endpoint, &ids);
                // A plain form post (JavaScript off), from its page or with no Referer.
                let form_post = rng.gen_bool(0.2);
                let referer = rng.gen_bool(0.5);
                let request_id = format!("fuzz-{seed}-{sent}");
                sent += 1;
                let before = holdings(&app).await;
                let mut request = caller
                    .browser
                    .client
                    .request(endpoint.method.clone(), app.url(endpoint.path))
                    .header("x-request-id", &request_id)
                    .header("x-forwarded-for", caller.ip)
                    .header("accept", if form_post { "text/html" } else { "application/json" })
                    .body(payload.clone());
                if form_post && referer {
                    request = request.header("referer", format!("{ORIGIN}/"));
                }
                if let Some(content_type) = content_type {
                    request = request.header("content-type", content_type);
                }
                let response = request.send().await.expect("request");
                // A form post sent back to its page carries its error in the URL: judge by it.
                let location =
                    response.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
                let carried = location.as_deref().and_then(error_in_location);
                let status =
                    carried.as_ref().map_or(response.status().as_u16(), app::error::ApiError::status);
                let text = response.text().await.unwrap_or_default();
                let what = format!(
                    "{} {} case {case} ({request_id}, {}): {:?}",
                    caller.name,
                    endpoint.path,
                    if form_post { "form post" } else { "api call" },
                    String::from_utf8_lossy(&payload).chars().take(200).collect::<String>()
                );
                if status >= 500 && status != 503 {
                    failures
                        .push(format!("{status} for {what}: {}", text.chars().take(200).collect::<String>()));
                }
                if status != 401 && status != 403 {
                    caller.reached += 1;
                }
                // Signups, resends and reset requests do their work after the answer (so
                // its timing cannot depend on the address): let it land before judging
                // this request and taking the next one's "before".
                app.state.outbox.settled().await;
                // A success is a 200, or for a form post a redirect that carries no error.
                if endpoint.path == "/api/change-password" && status < 400 {
                    if let Some(new) = form_value(&payload, "password") {
                        caller.password = new;
                    }
                }
                // A refused request changes nothing, but where a wrong password rightly ends
                // the session it was typed in (the fifth at a step-up or password change).
                let ends_session = ["/api/step-up", "/api/change-password"].contains(&endpoint.path);
                let refused = (400..500).contains(&status) && !(status == 401 && ends_session);
                if refused {
                    let after = holdings(&app).await;
                    if after != before {
                        let changed =
                            after.lines().zip(before.lines()).find(|(a, b)| a != b).map(|(a, b)| {
                                let cut = |s: &str| s.chars().take(400).collect::<String>();
                                format!("\n  before: {}\n  after:  {}", cut(b), cut(a))
                            });
                        failures.push(format!(
                            "{status} for {what} changed the database{}",
                            changed.unwrap_or_default()
                        ));
                    }
                }
            }
        }
    }
    eprintln!("fuzzed {sent} requests to {} server functions, seed {seed}", endpoints.len());
    // The signed-in callers got past sign-in and role checks often enough to test something.
    for caller in &callers {
        eprintln!("{}: {} answers other than 401 and 403", caller.name, caller.reached);
        if caller.sign_in.is_some() {
            assert!(
                caller.reached * 3 > sent / callers.len(),
                "{} was refused nearly everywhere",
                caller.name
            );
        }
    }
    // Nothing this fuzzer sent was logged as an error or a panic.
    let lines = log.lines_with(&format!("fuzz-{seed}-"));
    assert!(!lines.is_empty(), "the fuzzer's request ids reach the log");
    for line in lines.iter().filter(|l| l.contains(" ERROR ") || l.contains("panicked")) {
        failures.push(format!("logged: {}", line.chars().take(300).collect::<String>()));
    }
    assert!(
        failures.is_empty(),
        "seed {seed} (rerun with BULWARK_FUZZ_SEED={seed}), {} of {sent} requests failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
