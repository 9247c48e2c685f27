//! Breached passwords (NIST SP 800-63B §3.1.1.2: new passwords SHALL be compared against
//! values known from previous breaches). A new password at signup, reset or change is
//! looked up in Have I Been Pwned's Pwned Passwords:
//! - in an offline copy on disk ([`OfflineList`]), searched without loading it;
//! - optionally through the k-anonymity range API ([`RangeApi`]), which sees only the
//!   first five hex digits of the password's SHA-1.
//!
//! The range API can be down or slow: then the check **fails open**. The password is
//! judged on the other rules alone and a warning event says the check was skipped, so an
//! outage elsewhere never blocks a signup. The offline list is checked first; the API
//! only when the list does not have the password.

mod offline;
mod range;

use std::sync::Arc;

use sha1::{Digest, Sha1};

pub use self::{
    offline::{OfflineList, OpenError},
    range::{RangeApi, RangeError, DEFAULT_BASE_URL},
};
use crate::Password;

/// Where breached passwords are looked up. The default looks nowhere.
#[derive(Debug, Clone)]
pub struct Breaches {
    offline: Option<Arc<OfflineList>>,
    range: Option<RangeApi>,
    /// Offline lookups in progress: blocking file reads, kept off Tokio's unbounded
    /// blocking pool beyond this many at once.
    lookups: Arc<tokio::sync::Semaphore>,
}

impl Default for Breaches {
    /// No list and no API: every password counts as not breached.
    fn default() -> Self {
        Self::new(None, None)
    }
}

/// At most this many offline lookups read the list at once; more wait their turn.
const CONCURRENT_LOOKUPS: usize = 8;

/// How long a request waits for the offline list (a permit and the read) before going on
/// without it. A read takes well under a millisecond; this only bounds a hung disk.
const OFFLINE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl Breaches {
    pub fn new(offline: Option<OfflineList>, range: Option<RangeApi>) -> Self {
        Self {
            offline: offline.map(Arc::new),
            range,
            lookups: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_LOOKUPS)),
        }
    }

    /// Whether any source is configured.
    pub fn is_enabled(&self) -> bool {
        self.offline.is_some() || self.range.is_some()
    }

    /// How often `password` appears in known breaches: 0 when it does not, or when no
    /// source could answer (each failure is logged as a warning, without the hash).
    pub async fn count(&self, password: &Password) -> u64 {
        if !self.is_enabled() {
            return 0;
        }
        let hash = crate::token::hex(&Sha1::digest(password.expose_secret().as_bytes()));
        if let Some(list) = self.offline.clone() {
            let hash = hash.clone();
            let lookups = self.lookups.clone();
            let lookup = async move {
                match lookups.acquire_owned().await {
                    Ok(permit) => tokio::task::spawn_blocking(move || {
                        let _permit = permit;
                        list.count(&hash)
                    })
                    .await
                    .unwrap_or_else(|joined| Err(std::io::Error::other(joined))),
                    Err(closed) => Err(std::io::Error::other(closed)),
                }
            };
            // A disk that hangs keeps its reads (and their permits), never the request:
            // past the wait the list counts as unavailable, like any other failure.
            let lookup = tokio::time::timeout(OFFLINE_WAIT, lookup)
                .await
                .unwrap_or_else(|_| Err(std::io::Error::other("no answer within the wait")));
            match lookup {
                Ok(0) => {}
                Ok(count) => return count,
                Err(error) => {
                    tracing::warn!(event = "breach_check_unavailable", source = "offline", error = %error);
                    crate::metrics::breached_unavailable("offline");
                }
            }
        }
        if let Some(api) = &self.range {
            match api.count(&hash).await {
                Ok(count) => return count,
                Err(error) => {
                    tracing::warn!(event = "breach_check_unavailable", source = "range_api", error = %error);
                    crate::metrics::breached_unavailable("range_api");
                }
            }
        }
        0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::{
        collections::HashMap,
        sync::{Arc, Mutex},
        time::Duration,
    };

    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;
    use crate::PasswordPolicy;

    fn sha1_upper(text: &str) -> String {
        crate::token::hex(&Sha1::digest(text.as_bytes())).to_ascii_uppercase()
    }

    /// A local server speaking the range protocol for `known` (password → count): every
    /// answer is padded with zero-count lines. It records each request's path and
    /// whether it asked for padding. `delay` holds every answer back that long.
    pub(crate) async fn fake_range_server(
        known: &[(&str, u64)],
        delay: Duration,
    ) -> (String, Arc<Mutex<Vec<(String, bool)>>>) {
        let mut ranges: HashMap<String, Vec<String>> = HashMap::new();
        for (password, count) in known {
            let hash = sha1_upper(password);
            ranges.entry(hash[..5].to_owned()).or_default().push(format!("{}:{count}", &hash[5..]));
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (ranges, log) = (ranges.clone(), log.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap_or(0) == 1 {
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let padded = head.lines().any(|l| l.eq_ignore_ascii_case("add-padding: true"));
                    log.lock().expect("log").push((path.clone(), padded));
                    tokio::time::sleep(delay).await;
                    let prefix = path.strip_prefix("/range/").unwrap_or("").to_ascii_uppercase();
                    let mut lines = ranges.get(&prefix).cloned().unwrap_or_default();
                    lines.extend((0..50).map(|i| format!("{i:035X}:0")));
                    let body = lines.join("\r\n");
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        (base, seen)
    }

    fn password(raw: &str) -> Password {
        Password::parse(raw, PasswordPolicy::default()).expect("long enough")
    }

    #[tokio::test]
    async fn the_range_api_is_asked_for_five_hex_digits_with_padding_and_finds_the_count() {
        let (base, seen) = fake_range_server(&[("correct horse battery staple", 1234)], Duration::ZERO).await;
        let breaches =
            Breaches::new(None, Some(RangeApi::new(&base, Duration::from_secs(2)).expect("client")));
        assert_eq!(breaches.count(&password("correct horse battery staple")).await, 1234);
        assert_eq!(breaches.count(&password("violet quasar harbour tulip 83")).await, 0);
        let seen = seen.lock().expect("log").clone();
        assert_eq!(seen.len(), 2);
        for (path, padded) in &seen {
            let prefix = path.strip_prefix("/range/").expect("the range path");
            assert_eq!(prefix.len(), 5, "only the prefix leaves: {path}");
            assert!(padded, "Add-Padding: true is sent");
        }
        assert_eq!(seen[0].0, format!("/range/{}", &sha1_upper("correct horse battery staple")[..5]));
    }

    #[tokio::test]
    async fn a_slow_or_absent_range_api_fails_open() {
        let (slow, _) =
            fake_range_server(&[("correct horse battery staple", 9)], Duration::from_secs(5)).await;
        let breaches =
            Breaches::new(None, Some(RangeApi::new(&slow, Duration::from_millis(200)).expect("client")));
        let started = std::time::Instant::now();
        assert_eq!(breaches.count(&password("correct horse battery staple")).await, 0);
        assert!(started.elapsed() < Duration::from_secs(3), "the timeout ends the wait");

        // The error that is logged names no part of the hash (the URL ends in its prefix).
        let api = RangeApi::new(&slow, Duration::from_millis(200)).expect("client");
        let hash = sha1_upper("correct horse battery staple");
        let error = api.count(&hash).await.expect_err("times out").to_string();
        assert!(!error.contains(&hash[..5]) && !error.contains("/range/"), "{error}");

        // Nothing listens on the port any more.
        let port = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr").port();
        let down = format!("http://127.0.0.1:{port}");
        let refused = RangeApi::new(&down, Duration::from_millis(500)).expect("client");
        let error = refused.count(&hash).await.expect_err("refused").to_string();
        assert!(!error.contains(&hash[..5]) && !error.contains("/range/"), "{error}");
        let breaches =
            Breaches::new(None, Some(RangeApi::new(&down, Duration::from_millis(500)).expect("client")));
        assert_eq!(breaches.count(&password("correct horse battery staple")).await, 0);
    }

    #[tokio::test]
    async fn the_offline_list_answers_first_and_the_range_api_only_for_what_it_lacks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pwned.txt");
        let mut lines = [
            format!("{}:77", sha1_upper("correct horse battery staple")),
            format!("{}:1", sha1_upper("another breached passphrase")),
        ];
        lines.sort();
        std::fs::write(&file, lines.join("\n")).expect("write");
        let (base, seen) = fake_range_server(&[("only online breached phrase", 5)], Duration::ZERO).await;
        let breaches = Breaches::new(
            Some(OfflineList::open(&file).expect("list")),
            Some(RangeApi::new(&base, Duration::from_secs(2)).expect("client")),
        );
        assert_eq!(breaches.count(&password("correct horse battery staple")).await, 77);
        assert!(seen.lock().expect("log").is_empty(), "found offline: nothing leaves");
        assert_eq!(breaches.count(&password("only online breached phrase")).await, 5);
        assert_eq!(Breaches::default().count(&password("correct horse battery staple")).await, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_offline_list_that_does_not_answer_in_time_is_skipped_not_waited_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pwned.txt");
        std::fs::write(&file, format!("{}:77", sha1_upper("correct horse battery staple"))).expect("write");
        let breaches = Breaches::new(Some(OfflineList::open(&file).expect("list")), None);
        assert_eq!(breaches.count(&password("correct horse battery staple")).await, 77);

        // Every permit held, as by reads stuck on a hung disk: the lookup gives up after
        // the wait (virtual time here) and the password counts as not breached.
        let stuck =
            breaches.lookups.clone().acquire_many_owned(CONCURRENT_LOOKUPS as u32).await.expect("permits");
        let started = tokio::time::Instant::now();
        assert_eq!(breaches.count(&password("correct horse battery staple")).await, 0);
        assert_eq!(started.elapsed(), OFFLINE_WAIT);
        drop(stuck);
        assert_eq!(breaches.count(&password("correct horse battery staple")).await, 77);
    }
}
