//! Have I Been Pwned's k-anonymity range API: the first five hex digits of the
//! password's SHA-1 go out, every suffix sharing them comes back (`SUFFIX:COUNT` lines),
//! and the match is made here. With `Add-Padding: true` the answer is padded with
//! zero-count suffixes to a random length, so its size does not tell an eavesdropper
//! which prefix was asked for; padding lines are ignored.

use std::time::Duration;

use super::offline::parse_line;

/// The public service.
pub const DEFAULT_BASE_URL: &str = "https://api.pwnedpasswords.com";
/// An answer larger than this is refused (a real one is about 40 KB with padding).
const MAX_BODY_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    #[error("request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("answered {0}")]
    Status(reqwest::StatusCode),
    #[error("answer larger than 1 MiB")]
    TooLarge,
    #[error("answer is not SUFFIX:COUNT lines")]
    Malformed,
}

/// A client for one range service.
#[derive(Debug, Clone)]
pub struct RangeApi {
    client: reqwest::Client,
    base: String,
}

impl RangeApi {
    /// A client for the service at `base` (like `https://api.pwnedpasswords.com`) whose
    /// every request, connecting included, ends after `timeout`.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, RangeError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("Bulwark/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client, base: base.trim_end_matches('/').to_owned() })
    }

    /// How often the password whose SHA-1 is `sha1_hex` appears; 0 when it does not.
    pub async fn count(&self, sha1_hex: &str) -> Result<u64, RangeError> {
        let hash = sha1_hex.to_ascii_uppercase();
        let (prefix, suffix) = hash.split_at(5);
        let mut response = self
            .client
            .get(format!("{}/range/{prefix}", self.base))
            .header("Add-Padding", "true")
            .send()
            .await
            .map_err(without_url)?;
        if !response.status().is_success() {
            return Err(RangeError::Status(response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(without_url)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(RangeError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        find(&body, suffix.as_bytes())
    }
}

/// reqwest's error without the URL it names: the URL ends in the five hex digits of the
/// password's hash, which must not reach the log when the request fails.
fn without_url(error: reqwest::Error) -> RangeError {
    RangeError::Request(error.without_url())
}

/// The count for `suffix` in a range answer; padding (count 0) counts as absent.
fn find(body: &[u8], suffix: &[u8]) -> Result<u64, RangeError> {
    let mut well_formed = 0;
    for line in body.split(|&b| b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
        let Some((hex, count)) = parse_line(line) else { continue };
        well_formed += 1;
        if hex == suffix {
            return Ok(count);
        }
    }
    // An empty answer is possible in principle; one with no line of the protocol is not.
    if well_formed == 0 && !body.iter().all(u8::is_ascii_whitespace) {
        return Err(RangeError::Malformed);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suffix_is_found_and_padding_counts_as_absent() {
        let body = b"0018A45C4D1DEF81644B54AB7F969B88D65:10\r\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:0\r\n";
        assert_eq!(find(body, b"0018A45C4D1DEF81644B54AB7F969B88D65").expect("parses"), 10);
        assert_eq!(find(body, b"00D4F6E8FA6EECAD2A3AA415EEC418D38EC").expect("parses"), 0);
        assert_eq!(find(body, b"FFFFF6E8FA6EECAD2A3AA415EEC418D38EC").expect("parses"), 0);
        assert_eq!(find(b"", b"00").expect("empty is no match"), 0);
        assert!(matches!(find(b"<html>rate limited</html>", b"00"), Err(RangeError::Malformed)));
    }
}
