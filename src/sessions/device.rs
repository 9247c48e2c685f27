//! A readable one-line device summary from a `User-Agent` header ("Firefox on Linux"), for
//! the sessions page. Approximate by nature: enough for a person to recognise their own
//! devices, never used for any security decision.

const MAX_LEN: usize = 64;

/// What a User-Agent says, and the name shown for it. Order matters: Edge and Opera say
/// "Chrome", Chrome says "Safari".
const BROWSERS: [(&str, &str); 8] = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
];
const SYSTEMS: [(&str, &str); 7] = [
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
];

/// Whether `summary` (from [`describe_device`]) is made of Bulwark's own words only, not
/// the User-Agent text it falls back to: only such a summary may go into mail, which
/// must carry no text the requester chose.
pub fn is_recognised(summary: &str) -> bool {
    let browser = |name: &str| BROWSERS.iter().any(|(_, b)| *b == name) || name == "Browser";
    let system = |name: &str| SYSTEMS.iter().any(|(_, o)| *o == name);
    match summary.split_once(" on ") {
        Some((b, o)) => browser(b) && system(o),
        None => browser(summary) && summary != "Browser",
    }
}

pub fn describe_device(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.map(str::trim).filter(|ua| !ua.is_empty()) else {
        return "Unknown device".to_owned();
    };
    let browser = BROWSERS.iter().find(|(needle, _)| ua.contains(needle)).map(|(_, name)| *name);
    let os = SYSTEMS.iter().find(|(needle, _)| ua.contains(needle)).map(|(_, name)| *name);
    let summary = match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => format!("Browser on {o}"),
        (None, None) => ua.chars().filter(|c| !c.is_control()).take(MAX_LEN).collect(),
    };
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_summaries_in_bulwarks_own_words_are_recognised() {
        for known in
            ["Firefox on Linux", "Safari on iPhone", "Browser on Android", "curl", "Headless Chrome on Linux"]
        {
            assert!(is_recognised(known), "{known}");
        }
        let crafted = describe_device(Some("Bulwark security audit - no action needed"));
        assert!(!is_recognised(&crafted), "{crafted}");
        for other in ["Browser", "Unknown device", "Firefox on evil.example", "evil on Linux", ""] {
            assert!(!is_recognised(other), "{other}");
        }
    }

    #[test]
    fn common_browsers_are_named_with_their_system() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0", "Edge on Windows"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15", "Safari on macOS"),
            ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36", "Chrome on Android"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile Safari/604.1", "Safari on iPhone"),
        ];
        for (ua, expected) in cases {
            assert_eq!(describe_device(Some(ua)), expected, "{ua}");
        }
    }

    #[test]
    fn a_missing_header_is_an_unknown_device() {
        assert_eq!(describe_device(None), "Unknown device");
        assert_eq!(describe_device(Some("  ")), "Unknown device");
    }

    #[test]
    fn an_unrecognised_agent_is_shown_shortened_without_control_characters() {
        let summary = describe_device(Some(&format!("weird\u{7}{}", "x".repeat(200))));
        assert!(summary.chars().count() <= MAX_LEN && !summary.contains('\u{7}'));
    }
}
