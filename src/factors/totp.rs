//! Authenticator-app codes: RFC 6238 with the parameters every app understands (SHA-1,
//! six digits, 30-second steps; some apps silently ignore anything else), a 160-bit secret
//! made on the server, and the two views of it a person needs to set up their app: a QR
//! code (inline SVG, drawn here) and the key typed out in groups of four.
//!
//! A code is accepted for the current step and the one before it only (a clock a little
//! behind, or a code typed just as it changed), and [`Totp::matching_step`] says *which*
//! step it matched: the store accepts a step only once ([`super::store::burn_step`]).

use rand::RngCore;
use totp_rs::{Algorithm, TOTP};

use crate::clock::UnixTime;

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Bytes of secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// A shared secret, as raw bytes. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A fresh secret from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// A secret typed as base32 (how apps and `server create-user --totp-secret` show
    /// them): spaces and case ignored. `None` if it is not base32 or shorter than 128 bits.
    pub fn from_base32(text: &str) -> Option<Self> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        let bytes = base32_decode(&compact.to_ascii_uppercase())?;
        (bytes.len() >= 16).then_some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, issuer: &str, label: &str) -> TOTP {
        TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            0,
            STEP_SECS,
            self.0.clone(),
            Some(issuer.replace(':', " ")),
            label.replace(':', " "),
        )
    }

    /// The step `now` falls in.
    pub fn step_at(now: UnixTime) -> i64 {
        now.max(0) / STEP_SECS as i64
    }

    /// The code for `step` (tests, and the testers' generator).
    pub fn code_at_step(&self, step: i64) -> String {
        self.totp("", "").generate(u64::try_from(step.max(0)).unwrap_or(0) * STEP_SECS)
    }

    /// The step `code` is valid for at `now` (the current step, else the previous one),
    /// compared in constant time; `None` for a wrong or malformed code.
    pub fn matching_step(&self, code: &str, now: UnixTime) -> Option<i64> {
        let code = normalise_code(code)?;
        let totp = self.totp("", "");
        let current = Self::step_at(now);
        [current, current - 1].into_iter().filter(|step| *step >= 0).find(|step| {
            let at = u64::try_from(*step).unwrap_or(0) * STEP_SECS;
            totp.check(&code, at)
        })
    }

    /// The key in upper-case base32, in groups of four (what a person types into an app
    /// that cannot scan).
    pub fn grouped_base32(&self) -> String {
        let plain = self.totp("", "").get_secret_base32();
        plain
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The `otpauth://` URI an app reads from the QR code: `issuer` (the site's name) and
    /// `label` (the account's address) are what the app shows.
    pub fn otpauth_uri(&self, issuer: &str, label: &str) -> String {
        self.totp(issuer, label).get_url()
    }

    /// The QR code of [`Self::otpauth_uri`] as an inline `<svg>` element (no XML
    /// declaration), black on white with a quiet zone, at least 200 px square.
    pub fn qr_svg(&self, issuer: &str, label: &str) -> Option<String> {
        let code = qrcode::QrCode::with_error_correction_level(
            self.otpauth_uri(issuer, label).as_bytes(),
            qrcode::EcLevel::M,
        )
        .ok()?;
        let svg = code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build();
        let start = svg.find("<svg")?;
        let svg = &svg[start..];
        // A name for screen readers; the key beside it is the accessible alternative.
        Some(svg.replacen("<svg ", "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" ", 1))
    }
}

/// Six digits, spaces allowed (apps show "123 456"); anything else is not a code.
pub fn normalise_code(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// RFC 4648 base32 without padding.
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let text = text.trim_end_matches('=');
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    for byte in text.bytes() {
        let value = ALPHABET.iter().position(|&c| c == byte)?;
        bits = (bits << 5) | value as u64;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B (SHA-1 rows), truncated to six digits: the reference secret
    /// "12345678901234567890" and the published eight-digit codes' last six digits.
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (time, eight) in [
            (59_i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let code = secret.code_at_step(TotpSecret::step_at(time));
            assert_eq!(code, eight[2..], "T = {time}");
            assert_eq!(secret.matching_step(&code, time), Some(TotpSecret::step_at(time)));
        }
    }

    #[test]
    fn only_the_current_and_the_previous_step_are_accepted() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_015;
        let step = TotpSecret::step_at(now);
        assert_eq!(secret.matching_step(&secret.code_at_step(step), now), Some(step));
        assert_eq!(secret.matching_step(&secret.code_at_step(step - 1), now), Some(step - 1));
        assert_eq!(secret.matching_step(&secret.code_at_step(step - 2), now), None, "t-2");
        assert_eq!(secret.matching_step(&secret.code_at_step(step + 1), now), None, "t+1");
    }

    #[test]
    fn codes_are_six_digits_spaces_allowed() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_000;
        let code = secret.code_at_step(TotpSecret::step_at(now));
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(secret.matching_step(&spaced, now).is_some());
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(normalise_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_key_round_trips_through_its_grouped_form() {
        let secret = TotpSecret::generate();
        let grouped = secret.grouped_base32();
        assert_eq!(grouped.split(' ').count(), 8, "{grouped}");
        assert_eq!(TotpSecret::from_base32(&grouped.to_lowercase()), Some(secret));
        assert_eq!(TotpSecret::from_base32("not base32!"), None);
        assert_eq!(TotpSecret::from_base32("ABCD"), None, "too short");
    }

    #[test]
    fn the_uri_names_the_site_and_the_account_and_the_qr_is_inline_svg() {
        let secret = TotpSecret::generate();
        let uri = secret.otpauth_uri("Bulwark", "alice@example.com");
        assert!(uri.starts_with("otpauth://totp/Bulwark:alice%40example.com?"), "{uri}");
        assert!(uri.contains("issuer=Bulwark"), "{uri}");
        assert!(uri.contains(&format!("secret={}", secret.grouped_base32().replace(' ', ""))));
        let svg = secret.qr_svg("Bulwark", "alice@example.com").expect("a QR code");
        assert!(svg.starts_with("<svg role=\"img\""), "{}", &svg[..60]);
        assert!(!svg.contains("<?xml"));
        assert!(!format!("{secret:?}").contains(&secret.grouped_base32()[..4]));
    }
}
