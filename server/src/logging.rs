//! The log's format: `BULWARK_LOG_FORMAT=text` (the default: one readable line per event)
//! or `json` (one JSON object per line, for a collector: `timestamp`, `level`, `target`,
//! `fields`, the innermost `span`, and `spans`, every span the line is in, outermost
//! first: the request's, with its `id`, so every line of a request carries its request
//! id). What is logged is the same in both: no password, token, session id or
//! address in either (the log-hygiene tests read both).

use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

/// The variable that chooses the format.
pub const FORMAT_VAR: &str = "BULWARK_LOG_FORMAT";
/// What is logged unless `RUST_LOG` says otherwise.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_sessions=warn";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// The format `value` names (`text` or `json`; empty means text).
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("{FORMAT_VAR} must be `text` or `json`, not {other:?}")),
        }
    }

    /// The format the environment asks for.
    pub fn from_env() -> Result<Self, String> {
        Self::parse(&std::env::var(FORMAT_VAR).unwrap_or_default())
    }
}

/// A formatting layer writing to `writer` in `format`.
pub fn layer<S, W>(format: Format, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        Format::Text => fmt::layer().with_writer(writer).boxed(),
        Format::Json => {
            fmt::layer().json().with_current_span(true).with_span_list(true).with_writer(writer).boxed()
        }
    }
}

/// Installs the process's subscriber: `RUST_LOG` (or [`DEFAULT_FILTER`]) in `format`, to
/// standard output.
pub fn init(format: Format) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    tracing_subscriber::registry().with(filter).with(layer(format, std::io::stdout)).init();
}

#[cfg(test)]
mod tests {
    use super::Format;

    #[test]
    fn the_format_is_text_or_json_and_nothing_else() {
        assert_eq!(Format::parse(""), Ok(Format::Text));
        assert_eq!(Format::parse("text"), Ok(Format::Text));
        assert_eq!(Format::parse("json"), Ok(Format::Json));
        assert!(Format::parse("JSON lines").expect_err("refused").contains("BULWARK_LOG_FORMAT"));
    }
}
