//! `spawn_app()`: the real router on a random port over a fresh SQLite file, plus a
//! cookie-keeping client with redirects off and typed helpers for each endpoint.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use bulwark::clock::{Clock, ManualClock, SystemClock};
use bulwark::db::Pool;
use reqwest::{cookie::Jar, header::HeaderMap, redirect::Policy, Client, Response, Url};
use server::config::{MailDelivery, Settings};
use tokio::sync::watch;

pub const PASSWORD: &str = "violet quasar harbour tulip 83";

/// The authenticator secret every admin these tests make has (base32): admins need a
/// second factor, and the tests compute its codes on the app's clock. Each account burns
/// its own steps, so one secret for all is no shortcut.
pub const TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// The second-step page a right password for an account with a factor is sent to.
pub const SECOND_STEP: &str = "/login/second-step";

pub struct TestApp {
    pub address: String,
    pub clock: ManualClock,
    pub state: server::AppState,
    pub pool: Pool,
    pub jar: Arc<Jar>,
    pub client: Client,
    /// The development mail folder the app's sender writes to.
    pub outbox: PathBuf,
    _stop_sender: watch::Sender<bool>,
    /// The folder of the SQLite file and the mail folder, shared by every instance of
    /// the same site (see [`spawn_second_instance`]).
    dir: Arc<tempfile::TempDir>,
    /// The database every instance of this site uses.
    database_url: String,
}

/// One mail the app sent, read back from its `.eml` file.
#[derive(Debug, Clone)]
pub struct SentMail {
    pub raw: String,
}

impl SentMail {
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}: ");
        self.raw.lines().take_while(|l| !l.is_empty()).find_map(|l| l.strip_prefix(&prefix))
    }

    pub fn subject(&self) -> &str {
        self.header("Subject").unwrap_or_default()
    }

    /// The token in the verification link, if the mail has one.
    pub fn token(&self) -> Option<String> {
        self.token_after("/verify-email?token=")
    }

    /// The token in the password reset link, if the mail has one.
    pub fn reset_token(&self) -> Option<String> {
        self.token_after("/reset-password?token=")
    }

    /// The token in a link to the page at `path`, if the mail has one.
    pub fn link_token(&self, path: &str) -> Option<String> {
        self.token_after(&format!("{path}?token="))
    }

    /// Every verification link's token in the mail, in order, once each.
    pub fn tokens(&self) -> Vec<String> {
        let prefix = "/verify-email?token=";
        let mut found: Vec<String> = Vec::new();
        let mut rest = self.raw.as_str();
        while let Some(at) = rest.find(prefix) {
            rest = &rest[at + prefix.len()..];
            let token: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
            if token.len() == 64 && !found.contains(&token) {
                found.push(token);
            }
        }
        found
    }

    fn token_after(&self, prefix: &str) -> Option<String> {
        let start = self.raw.find(prefix)? + prefix.len();
        Some(self.raw[start..].chars().take_while(char::is_ascii_hexdigit).collect())
    }
}

/// The outcome of one call, kept whole so tests can compare responses byte for byte.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub redirect_header: bool,
}

/// Reads a whole response into a [`Reply`].
pub async fn reply(response: Response) -> Reply {
    Reply::from(response).await
}

impl Reply {
    async fn from(response: Response) -> Self {
        let status = response.status().as_u16();
        let headers: HeaderMap = response.headers().clone();
        let body = response.text().await.expect("body");
        Reply {
            status,
            body,
            location: headers.get("location").and_then(|v| v.to_str().ok()).map(str::to_owned),
            redirect_header: headers.contains_key("serverfnredirect"),
        }
    }
}

/// The variable that runs the suite on PostgreSQL: a URL whose user may create databases
/// (`scripts/pg.sh` starts such a server). Unset, tests run on SQLite files.
pub const PG_URL_VAR: &str = "BULWARK_TEST_PG_URL";

/// A fresh, empty database for one test: a SQLite file in `dir`, or a new PostgreSQL
/// database when [`PG_URL_VAR`] is set.
pub async fn database_url(dir: &std::path::Path) -> String {
    match std::env::var(PG_URL_VAR) {
        Ok(admin) if !admin.is_empty() => {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let unique =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_nanos();
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("bulwark_test_{}_{unique}_{n}", std::process::id());
            bulwark::db::create_postgres_database(&admin, &name).await.expect("a test database on PostgreSQL")
        }
        _ => format!("sqlite://{}/test.db", dir.display()),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with settings adjusted by `configure` first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_serving(configure, |_| {}).await
}

/// [`spawn_app_with`], with Leptos' options (where the site's files are, whether their
/// names are hashed) adjusted by `site` too.
pub async fn spawn_app_serving(
    configure: impl FnOnce(&mut Settings),
    site: impl FnOnce(&mut leptos::config::LeptosOptions),
) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let url = database_url(dir.path()).await;
    let clock = ManualClock::starting_at(SystemClock.now());
    spawn_instance(dir, url, clock, configure, site).await
}

/// [`spawn_app_with`] on an existing database at `database_url` (migrated or not, as the
/// test prepared it).
pub async fn spawn_app_at(database_url: String, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let clock = ManualClock::starting_at(SystemClock.now());
    spawn_instance(dir, database_url, clock, configure, |_| {}).await
}

/// Another instance of `app`'s site: the same database, clock, configuration (as
/// `configure` leaves it, from the same defaults) and mail folder, its own listener,
/// services and mail sender, as a second machine behind the same load balancer.
pub async fn spawn_second_instance(app: &TestApp, configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_instance(app.dir.clone(), app.database_url.clone(), app.clock.clone(), configure, |_| {}).await
}

async fn spawn_instance(
    dir: Arc<tempfile::TempDir>,
    database_url: String,
    clock: ManualClock,
    configure: impl FnOnce(&mut Settings),
    site: impl FnOnce(&mut leptos::config::LeptosOptions),
) -> TestApp {
    let mut settings = Settings::local(database_url.clone());
    let outbox = dir.path().join("outbox");
    settings.mail.delivery = MailDelivery::Folder(outbox.clone());
    configure(&mut settings);
    let listener = server::bind(settings.site_addr).await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("local addr");
    // The clock starts at the real time (so the store's own expiry stamps are sensible)
    // and then moves only when a test advances it.
    let mut leptos_options = server::leptos_options(addr);
    site(&mut leptos_options);
    let state = server::prepare(settings, leptos_options, Arc::new(clock.clone())).await.expect("prepare");
    let pool = state.pool.clone();
    let (stop_sender, stopped) = watch::channel(false);
    server::spawn_mail_sender(&state, stopped);
    let limits = state.settings.limits;
    tokio::spawn(server::serve(listener, server::router(state.clone()), limits, std::future::pending()));
    let jar = Arc::new(Jar::default());
    TestApp {
        address: format!("http://{addr}"),
        clock,
        state,
        pool,
        client: client_with(jar.clone()),
        jar,
        outbox,
        _stop_sender: stop_sender,
        dir,
        database_url,
    }
}

/// The origin every test request claims, matching the test server's public URL, as a
/// same-site form or script would (see `security.rs`).
pub const ORIGIN: &str = "http://localhost:3000";

pub fn client_with(jar: Arc<Jar>) -> Client {
    let mut headers = HeaderMap::new();
    headers.insert("origin", reqwest::header::HeaderValue::from_static(ORIGIN));
    Client::builder()
        .cookie_provider(jar)
        .redirect(Policy::none())
        .default_headers(headers)
        .build()
        .expect("client")
}

impl TestApp {
    /// The session data table, as SQL names it on this test's backend.
    pub fn session_table(&self) -> &'static str {
        bulwark::sessions::store_table(self.pool.backend())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// POSTs a form the way the browser's server-function client does (no `text/html`
    /// in `Accept`), so errors come back with their real status.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.post_form_with(&self.client, path, form).await
    }

    /// As [`Self::post_raw`], but a sign-in that stops at the second step (an admin's: see
    /// [`TOTP_SECRET`]) is taken through it with a current code, and a step-up carries one:
    /// tests about something else need not spell the second factor out.
    pub async fn post_form_with(&self, client: &Client, path: &str, form: &[(&str, &str)]) -> Reply {
        if path == "/api/step-up" && !form.iter().any(|(name, _)| *name == "code" || *name == "recovery_code")
        {
            let code = self.totp_code();
            let mut with_code = form.to_vec();
            with_code.push(("code", &code));
            let reply = self.post_raw(client, path, &with_code).await;
            if reply.status == 422 && reply.body.contains(bulwark::messages::WRONG_CODE) {
                // This step's code was used already (a sign-in a moment ago): the next one.
                self.clock.advance(bulwark::factors::totp::STEP_SECS as i64);
                let code = self.totp_code();
                let mut with_code = form.to_vec();
                with_code.push(("code", &code));
                return self.post_raw(client, path, &with_code).await;
            }
            return reply;
        }
        let reply = self.post_raw(client, path, form).await;
        if path == "/api/login" && reply.location.as_deref() == Some(SECOND_STEP) {
            return self.pass_second_step(client).await;
        }
        reply
    }

    /// POSTs `form` to `path` with `client`'s cookies, as it is.
    pub async fn post_raw(&self, client: &Client, path: &str, form: &[(&str, &str)]) -> Reply {
        let response = client
            .post(self.url(path))
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .expect("request");
        Reply::from(response).await
    }

    /// A current code of [`TOTP_SECRET`] on the app's clock.
    pub fn totp_code(&self) -> String {
        let secret = bulwark::factors::TotpSecret::from_base32(TOTP_SECRET).expect("base32");
        secret.code_at_step(bulwark::factors::TotpSecret::step_at(self.clock.now()))
    }

    /// Answers `client`'s waiting second step with a current code of [`TOTP_SECRET`] (the
    /// next step's, if this one's was used).
    pub async fn pass_second_step(&self, client: &Client) -> Reply {
        let reply = self.post_raw(client, "/api/second-step", &[("code", &self.totp_code())]).await;
        if reply.status != 422 {
            return reply;
        }
        self.clock.advance(bulwark::factors::totp::STEP_SECS as i64);
        self.post_raw(client, "/api/second-step", &[("code", &self.totp_code())]).await
    }

    pub async fn signup(&self, email: &str, username: &str, password: &str) -> Reply {
        self.post_form("/api/signup", &[("email", email), ("username", username), ("password", password)])
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post_form("/api/login", &[("email", email), ("password", password)]).await
    }

    pub async fn logout(&self) -> Reply {
        self.post_form("/api/logout", &[]).await
    }

    /// A confirmed account made the way `server create-admin` / `create-user` makes it,
    /// with [`PASSWORD`]. Its id.
    /// An admin also gets an authenticator app with [`TOTP_SECRET`] (as `--totp-secret`
    /// gives one): admins need a second factor.
    pub async fn create_account(&self, email: &str, username: &str, role: bulwark::Role) -> i64 {
        let user = server::provision::create_account(&self.state.settings, email, username, PASSWORD, role)
            .await
            .expect("account created");
        if role == bulwark::Role::Admin {
            let secret = bulwark::factors::TotpSecret::from_base32(TOTP_SECRET).expect("base32");
            let context = bulwark::audit::Context::command_line();
            self.state.factors.enrol_with_secret(&user, &secret, &context).await.expect("factor set up");
        }
        user.id
    }

    /// POSTs every form in `forms` to `path` at once, each from its own task, all with
    /// `client`'s cookies; the replies in the same order.
    pub async fn burst(&self, client: &Client, path: &str, forms: Vec<Vec<(String, String)>>) -> Vec<Reply> {
        let tasks: Vec<_> = forms
            .into_iter()
            .map(|form| {
                let (client, url) = (client.clone(), self.url(path));
                tokio::spawn(async move {
                    let response =
                        client.post(url).header("accept", "application/json").form(&form).send().await;
                    Reply::from(response.expect("request")).await
                })
            })
            .collect();
        let mut replies = Vec::new();
        for task in tasks {
            replies.push(task.await.expect("task"));
        }
        replies
    }

    /// Types the password again on `client`'s session (step-up).
    pub async fn step_up_with(&self, client: &Client) -> Reply {
        self.post_form_with(client, "/api/step-up", &[("password", PASSWORD), ("next", "/admin")]).await
    }

    /// Stops this instance's mail sender: queued mail stays in the outbox, untouched.
    pub fn stop_mail_sender(&self) {
        let _ = self._stop_sender.send(true);
    }

    /// The requests that wait for a second admin, as `client`'s admin sees them.
    pub async fn waiting_approvals(&self, client: &Client) -> Vec<app::api::ApprovalView> {
        let reply = self.post_form_with(client, "/api/admin/approvals", &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        serde_json::from_str::<app::api::ApprovalList>(&reply.body).expect("approvals").approvals
    }

    /// The admin `email` signs in on a browser of their own, steps up and approves the
    /// newest request that waits (the two-person rule). The approval's reply.
    pub async fn approve_newest(&self, email: &str) -> Reply {
        let approver = self.browser_signed_in(email, PASSWORD).await;
        assert_eq!(self.step_up_with(&approver.client).await.status, 200);
        let newest = self.waiting_approvals(&approver.client).await.pop().expect("a request waits");
        self.post_form_with(&approver.client, "/api/admin/approve", &[("id", &newest.id.to_string())]).await
    }

    /// The audit events named `event`, oldest first, as `(actor, subject, outcome)`.
    pub async fn audit(&self, event: &str) -> Vec<(Option<i64>, Option<i64>, String)> {
        bulwark::on_db!(&self.pool, c => sqlx::query_as("SELECT actor_id, subject_id, outcome FROM audit_events WHERE event = $1 ORDER BY id")
            .bind(event)
            .fetch_all(c)
            .await)
            .expect("audit")
    }

    pub async fn me(&self) -> Reply {
        self.post_form("/api/me", &[]).await
    }

    /// The session cookie's value as the client holds it now.
    pub fn session_cookie(&self) -> Option<String> {
        cookie_in(&self.jar, &self.address)
    }

    /// Another browser with an empty cookie jar.
    pub fn new_browser(&self) -> Browser {
        let jar = Arc::new(Jar::default());
        Browser { client: client_with(jar.clone()), jar, address: self.address.clone() }
    }

    /// Another browser: its own cookie jar, signed in as `email`.
    pub async fn browser_signed_in(&self, email: &str, password: &str) -> Browser {
        let browser = self.new_browser();
        let form = [("email", email), ("password", password)];
        let reply = self.post_form_with(&browser.client, "/api/login", &form).await;
        assert_eq!(reply.status, 200, "sign-in failed: {}", reply.body);
        browser
    }

    /// Follows a verification link, typing the password every helper signs up with.
    pub async fn verify(&self, token: &str) -> Reply {
        self.verify_with(token, PASSWORD, "").await
    }

    pub async fn verify_with(&self, token: &str, password: &str, username: &str) -> Reply {
        self.post_form(
            "/api/verify-email",
            &[("token", token), ("password", password), ("username", username)],
        )
        .await
    }

    pub async fn resend(&self, email: &str) -> Reply {
        self.post_form("/api/resend-verification", &[("email", email)]).await
    }

    pub async fn forgot_password(&self, email: &str) -> Reply {
        self.post_form("/api/forgot-password", &[("email", email)]).await
    }

    pub async fn reset_password(&self, token: &str, password: &str) -> Reply {
        self.post_form("/api/reset-password", &[("token", token), ("password", password)]).await
    }

    /// Every mail sent to `to` so far, oldest first.
    pub fn mails_to(&self, to: &str) -> Vec<SentMail> {
        read_mails(&self.outbox).into_iter().filter(|m| m.header("To") == Some(to)).collect()
    }

    /// Waits (up to 10 s) until `to` has received `count` mails, and returns them.
    pub async fn wait_for_mails(&self, to: &str, count: usize) -> Vec<SentMail> {
        for _ in 0..200 {
            let mails = self.mails_to(to);
            if mails.len() >= count {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{to} did not receive {count} mail(s); got {:?}", self.mails_to(to));
    }

    /// Waits (up to 10 s) until the sender has finished with every queued mail: a mail's
    /// file is written a moment before its outbox row is deleted.
    pub async fn outbox_drained(&self) {
        // What a response left to queue after its answer is queued first.
        self.state.outbox.settled().await;
        for _ in 0..200 {
            if self.state.outbox.pending().await.expect("outbox") == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the outbox still holds mail after 10 s");
    }

    /// Waits (up to 10 s) until the outbox holds exactly `count` mails: everything due has
    /// been sent, and `count` wait for a later minute.
    pub async fn outbox_holds(&self, count: i64) {
        self.state.outbox.settled().await;
        for _ in 0..200 {
            if self.state.outbox.pending().await.expect("outbox") == count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the outbox does not hold {count} mail(s) after 10 s");
    }

    /// Waits (up to 10 s) for the newest mail to `to` titled `subject` (other mail, such as
    /// new-device notices, may arrive around it).
    pub async fn mail_titled(&self, to: &str, subject: &str) -> SentMail {
        for _ in 0..200 {
            if let Some(mail) = self.mails_to(to).into_iter().rev().find(|m| m.subject() == subject) {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{to} received no mail titled {subject:?}");
    }

    /// The newest mail to `to` once it has `count`.
    pub async fn nth_mail(&self, to: &str, count: usize) -> SentMail {
        self.wait_for_mails(to, count).await.pop().expect("a mail")
    }

    /// A confirmed account: signs up, follows the link in the mail, and is signed out.
    pub async fn register(&self, email: &str, username: &str) {
        let before = self.mails_to(email).len();
        let reply = self.signup(email, username, PASSWORD).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let mail = self.nth_mail(email, before + 1).await;
        let token = mail.token().expect("a verification link");
        let reply = self.verify(&token).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    /// A confirmed account, signed in on the main client.
    pub async fn signed_in_user(&self, email: &str, username: &str) {
        self.register(email, username).await;
        let reply = self.login(email, PASSWORD).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    pub async fn status_of(&self, client: &Client, path: &str) -> u16 {
        self.post_form_with(client, path, &[]).await.status
    }

    /// Signups waiting for their address to be confirmed.
    pub async fn pending_count(&self) -> i64 {
        bulwark::on_db!(&self.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM pending_signups").fetch_one(c).await).expect("count")
    }

    /// Waits (up to 10 s) until `count` signups are pending: a signup is stored after its
    /// response (so that the response's timing cannot depend on the address).
    pub async fn wait_for_pending(&self, count: i64) {
        for _ in 0..200 {
            if self.pending_count().await >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{count} signup(s) never became pending; {} are", self.pending_count().await);
    }

    pub async fn user_count(&self) -> i64 {
        bulwark::on_db!(&self.pool, c => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(c).await)
            .expect("count")
    }
}

/// A second, independent client (another device).
pub struct Browser {
    pub client: Client,
    pub jar: Arc<Jar>,
    address: String,
}

impl Browser {
    /// The device cookie this browser holds, if any.
    pub fn device_cookie(&self) -> Option<String> {
        named_cookie(&self.jar, &self.address, "bulwark-device")
    }

    /// The session cookie this browser holds, if any.
    pub fn session_cookie(&self) -> Option<String> {
        cookie_in(&self.jar, &self.address)
    }

    /// The cookie `name` this browser holds, if any.
    pub fn cookie(&self, name: &str) -> Option<String> {
        named_cookie(&self.jar, &self.address, name)
    }
}

fn cookie_in(jar: &Jar, address: &str) -> Option<String> {
    named_cookie(jar, address, "bulwark")
}

fn named_cookie(jar: &Jar, address: &str, name: &str) -> Option<String> {
    let url = Url::parse(address).expect("url");
    let header = reqwest::cookie::CookieStore::cookies(jar, &url)?;
    let prefix = format!("{name}=");
    header.to_str().ok()?.split("; ").find_map(|pair| pair.strip_prefix(&prefix).map(str::to_owned))
}

/// A client connecting from another loopback address (another machine, as far as the
/// server can tell).
pub fn client_from(local: &str) -> Client {
    let mut headers = HeaderMap::new();
    headers.insert("origin", reqwest::header::HeaderValue::from_static(ORIGIN));
    Client::builder()
        .local_address(local.parse::<std::net::IpAddr>().expect("ip"))
        .cookie_provider(Arc::new(Jar::default()))
        .redirect(Policy::none())
        .default_headers(headers)
        .build()
        .expect("client")
}

/// The client-IP setting of an app behind a proxy on loopback that sets
/// `X-Forwarded-For`: tests then choose each request's client address with that header.
pub fn proxied_by_loopback() -> bulwark::throttle::ClientIpSource {
    bulwark::throttle::ClientIpSource::Proxied {
        trusted: bulwark::throttle::TrustedProxies::parse("127.0.0.1").expect("list"),
        header: bulwark::throttle::ForwardedHeader::XForwardedFor,
    }
}

/// A client that sends exactly `cookie` and nothing else.
pub fn client_with_cookie(app: &TestApp, cookie: &str) -> Client {
    let jar = Arc::new(Jar::default());
    jar.add_cookie_str(&format!("bulwark={cookie}; Path=/"), &Url::parse(&app.address).expect("url"));
    client_with(jar)
}

/// Every `.eml` file in `dir`, oldest first (file names start with a timestamp and the
/// outbox id).
pub fn read_mails(dir: &Path) -> Vec<SentMail> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    files
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "eml"))
        .map(|file| SentMail {
            raw: decode_quoted_printable(&std::fs::read_to_string(&file).expect("readable mail")),
        })
        .collect()
}

/// Undoes quoted-printable (soft line breaks and `=XX` escapes) so tests can read a mail as
/// its recipient would. Robust mode leaves anything that is not an escape (headers, such
/// as `boundary="…"`) as it is.
fn decode_quoted_printable(raw: &str) -> String {
    let decoded = quoted_printable::decode(raw.as_bytes(), quoted_printable::ParseMode::Robust)
        .expect("robust decoding does not fail");
    String::from_utf8_lossy(&decoded).into_owned()
}
