//! Unicode normalisation for the shared rules, and where the browser leaves it to the
//! server.
//!
//! The rules compare text in a normal form (NFC for addresses, NFKC for usernames and
//! passwords). Normalising arbitrary text needs Unicode's tables, which are about 50 KB of
//! the browser's WASM after compression: a sixth of it. So the tables are compiled only
//! with the `unicode-tables` feature, which the server always has. Without them ASCII
//! text, for which both forms are the text itself, is handled exactly as the server
//! handles it, and other text is left to the server: the browser calls [`checkable`]
//! first and shows no verdict of its own for text it cannot normalise, rather than one
//! that might contradict the server's.

/// Whether this build can apply the rules to `raw` exactly as the server does.
pub fn checkable(raw: &str) -> bool {
    cfg!(feature = "unicode-tables") || raw.is_ascii()
}

/// `raw` in NFC.
pub(crate) fn nfc(raw: &str) -> String {
    #[cfg(feature = "unicode-tables")]
    {
        use unicode_normalization::UnicodeNormalization;
        raw.nfc().collect()
    }
    #[cfg(not(feature = "unicode-tables"))]
    {
        raw.to_owned()
    }
}

/// `text` lower-cased: Unicode's full case mapping with the tables, ASCII's without. The
/// two agree on ASCII text, the only text the browser judges ([`checkable`]), and the
/// browser's build leaves out the case-mapping tables.
pub(crate) fn lowercase(text: &str) -> String {
    #[cfg(feature = "unicode-tables")]
    {
        text.to_lowercase()
    }
    #[cfg(not(feature = "unicode-tables"))]
    {
        text.to_ascii_lowercase()
    }
}

/// `raw` in NFKC.
pub(crate) fn nfkc(raw: &str) -> String {
    #[cfg(feature = "unicode-tables")]
    {
        use unicode_normalization::UnicodeNormalization;
        raw.nfkc().collect()
    }
    #[cfg(not(feature = "unicode-tables"))]
    {
        raw.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_its_own_normal_form_so_every_build_can_check_it() {
        for text in ["alice", "Alice.Smith@example.com", "correct horse battery staple 42 !#$"] {
            assert!(checkable(text));
            assert_eq!(nfc(text), text);
            assert_eq!(nfkc(text), text);
            assert_eq!(lowercase(text), text.to_lowercase());
        }
    }

    #[cfg(feature = "unicode-tables")]
    #[test]
    fn with_the_tables_other_text_is_normalised() {
        assert!(checkable("ｒｅｎé"));
        assert_eq!(nfkc("ｒｅｎｅ"), "rene");
        assert_eq!(nfc("rene\u{301}"), "ren\u{e9}");
        // The server's addresses and usernames are canonical in Unicode's lower case.
        assert_eq!(lowercase("ÉMILE@EXAMPLE.COM"), "émile@example.com");
    }

    #[cfg(not(feature = "unicode-tables"))]
    #[test]
    fn without_the_tables_other_text_is_left_to_the_server() {
        assert!(!checkable("ｒｅｎｅ"));
        assert!(!checkable("rene\u{301}"));
    }
}
