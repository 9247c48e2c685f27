//! Log hygiene: every flow, run with a marker email, username and password, leaves none of
//! them (nor the verification token, nor the session cookie) anywhere in the log.
//!
//! The development mail transport is filtered out: printing each mail (link included) to
//! the log is its whole job, it is refused in production, and the browser suite runs over
//! SMTP instead, where `scripts/test.sh` checks the server's real log the same way.

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

use crate::helpers::spawn_app;

const EMAIL: &str = "Marker.Person.Q7@Example.com";
const USERNAME: &str = "markeruser77";
const PASSWORD: &str = "marker passphrase quokka 4711 zebra";

#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// The lines captured so far that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        let bytes = self.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes).lines().filter(|l| l.contains(needle)).map(str::to_owned).collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs one capturing subscriber for this test binary (other tests' lines land in it
/// too; they use other addresses). Everything at debug, except the test client's own
/// cookie jar (`cookie_store`), which prints the cookies it receives. Every event is
/// written twice, as a text line and as a JSON line (`BULWARK_LOG_FORMAT=json`), so the
/// hygiene checks below hold for both formats.
pub fn captured() -> Captured {
    use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt};
    static LOG: OnceLock<Captured> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Captured::default();
        let (text, json) = (log.clone(), log.clone());
        tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(
                "debug,bulwark::mail::dev=off,sqlx=warn,hyper=warn,h2=warn,reqwest=warn,cookie_store=off",
            ))
            .with(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(move || text.clone()))
            .with(server::logging::layer(server::logging::Format::Json, move || json.clone()))
            .init();
        log
    })
    .clone()
}

#[tokio::test]
async fn no_flow_logs_an_email_username_password_token_or_session_id() {
    let log = captured();
    let app = spawn_app().await;

    // Signup, a wrong sign-in while unconfirmed, resend, a wrong password at confirmation,
    // confirm, sign in, a failed
    // sign-in, a duplicate signup, throttling, sign out.
    assert_eq!(app.signup(EMAIL, USERNAME, PASSWORD).await.status, 200);
    app.nth_mail(&EMAIL.to_lowercase(), 1).await;
    assert_eq!(app.login(EMAIL, PASSWORD).await.status, 401);
    assert_eq!(app.resend(EMAIL).await.status, 200);
    let token = app.nth_mail(&EMAIL.to_lowercase(), 2).await.token().expect("link");
    assert_eq!(app.verify_with(&token, "wrong confirm password", "").await.status, 422);
    assert_eq!(app.verify_with(&token, PASSWORD, "").await.status, 200);
    assert_eq!(app.login(EMAIL, PASSWORD).await.status, 200);
    let cookie = app.session_cookie().expect("session cookie");
    assert_eq!(app.me().await.status, 200);
    assert_eq!(app.logout().await.status, 200);
    assert_eq!(app.signup(EMAIL, "othername", PASSWORD).await.status, 200);
    for _ in 0..6 {
        app.login(EMAIL, "marker wrong password 1234").await;
    }
    app.nth_mail(&EMAIL.to_lowercase(), 3).await;

    let text = String::from_utf8_lossy(&log.0.lock().expect("log buffer")).to_lowercase();
    assert!(text.contains("authn_login_fail"), "the capture works");
    assert!(text.contains("excess_rate_limit_exceeded"), "throttling was reached and logged");
    for secret in [
        EMAIL.to_lowercase().as_str(),
        "marker.person.q7",
        USERNAME,
        PASSWORD,
        "marker wrong password",
        token.as_str(),
        cookie.to_lowercase().as_str(),
    ] {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(secret)).collect();
        assert!(lines.is_empty(), "the log contains {secret:?}:\n{}", lines.join("\n"));
    }
}

/// An SMTP server on loopback that refuses every recipient for now (450), echoing the
/// address in its reply the way real servers do.
async fn refusing_smtp_server() -> u16 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = tokio::io::BufReader::new(read).lines();
                if write.write_all(b"220 sink.test ESMTP\r\n").await.is_err() {
                    return;
                }
                while let Ok(Some(line)) = lines.next_line().await {
                    let command = line.to_ascii_uppercase();
                    let reply = if command.starts_with("EHLO") || command.starts_with("HELO") {
                        "250 sink.test\r\n".to_owned()
                    } else if command.starts_with("RCPT TO:") {
                        format!("450 4.2.0 {}: Recipient address rejected: try again later\r\n", &line[8..])
                    } else if command.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        "250 ok\r\n".to_owned()
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_failing_smtp_delivery_logs_and_stores_no_address() {
    const ADDRESS: &str = "smtp.marker.z9@example.com";
    let log = captured();
    let port = refusing_smtp_server().await;
    let app = crate::helpers::spawn_app_with(|s| {
        s.mail.delivery = server::config::MailDelivery::Smtp(bulwark::mail::SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            tls: bulwark::mail::SmtpTls::None,
            credentials: None,
            timeout: std::time::Duration::from_secs(5),
        });
    })
    .await;
    assert_eq!(app.signup(ADDRESS, "smtpmarker", PASSWORD).await.status, 200);

    let mut stored = None;
    for _ in 0..200 {
        stored = bulwark::on_db!(&app.pool, c => sqlx::query_scalar::<_, Option<String>>("SELECT last_error FROM mail_outbox")
            .fetch_optional(c)
            .await)
            .expect("outbox")
            .flatten();
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let stored = stored.expect("the delivery failed and was recorded");
    assert!(stored.contains("450"), "the reply code is kept: {stored}");
    assert!(!stored.contains("smtp.marker"), "the server's text is not: {stored}");

    let text = String::from_utf8_lossy(&log.0.lock().expect("log buffer")).to_lowercase();
    assert!(text.contains("mail_send_retry"), "the failure was logged");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("smtp.marker")).collect();
    assert!(lines.is_empty(), "the log contains the address:\n{}", lines.join("\n"));
}

/// A reset or a new verification link asked for an address with an account (or a waiting
/// signup) and for one without logs the same lines at info and above (review O12): the
/// log is not an enumeration oracle either. The request's id is on every line, the mail
/// queued after the response included.
#[tokio::test]
async fn reset_and_resend_log_the_same_lines_for_every_address() {
    let log = captured();
    let app = spawn_app().await;
    app.register("o12.known@example.com", "o12known").await;
    app.signup("o12.waiting@example.com", "o12waiting", crate::helpers::PASSWORD).await;
    app.outbox_drained().await;
    let cases = [
        ("/api/forgot-password", "o12.known@example.com", "o12.nobody@example.com"),
        ("/api/resend-verification", "o12.waiting@example.com", "o12.nobody.two@example.com"),
    ];
    for (path, with, without) in cases {
        let id = |tag: &str| format!("o12-{tag}-{}", path.trim_start_matches("/api/"));
        let mails_before = app.mails_to(with).len();
        for (tag, email) in [("without", without), ("with", with)] {
            let response = app
                .client
                .post(app.url(path))
                .header("accept", "application/json")
                .header("x-request-id", id(tag))
                .form(&[("email", email)])
                .send()
                .await
                .expect("request");
            assert_eq!(response.status().as_u16(), 200);
        }
        // The work after the response is done once the mail it queued is sent (the one
        // for the address without an account started first and has less to do).
        app.wait_for_mails(with, mails_before + 1).await;
        app.outbox_drained().await;
        let seen: Vec<Vec<String>> = ["with", "without"]
            .into_iter()
            .map(|tag| {
                let id = id(tag);
                log.lines_with(&format!("\"{id}\""))
                    .into_iter()
                    .filter(|l| [" INFO ", " WARN ", " ERROR "].iter().any(|level| l.contains(level)))
                    // Without the time and the id, and the latency, which differ anyway.
                    .map(|l| l.split_once(' ').map_or(l.clone(), |(_, rest)| rest.replace(&id, "ID")))
                    .map(|l| l.split(" latency").next().unwrap_or_default().to_owned())
                    .collect()
            })
            .collect();
        assert!(!seen[0].is_empty(), "{path} logs something");
        assert_eq!(seen[0], seen[1], "{path}: the log tells the two addresses apart");
    }
}

#[tokio::test]
async fn json_lines_are_json_and_each_carries_its_requests_id() {
    let log = captured();
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/login"))
        .header("accept", "application/json")
        .form(&[("email", "json.lines@example.com"), ("password", "not the password at all 9")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    let id = response.headers()["x-request-id"].to_str().expect("id").to_owned();
    let lines: Vec<serde_json::Value> = log
        .lines_with(&id)
        .into_iter()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(&line).expect("a JSON line"))
        .collect();
    assert!(!lines.is_empty(), "the request's JSON lines");
    for line in &lines {
        assert_eq!(line["spans"][0]["id"], id.as_str(), "the request's span, outermost: {line}");
        assert!(line["level"].is_string() && line["timestamp"].is_string(), "{line}");
    }
    assert!(
        lines.iter().any(|line| line["fields"]["event"] == "authn_login_fail"),
        "the failed sign-in's event: {lines:?}"
    );
}
