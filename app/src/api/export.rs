//! "Download my data": the page asks whether the step-up is fresh before offering its
//! button; the file itself comes from a plain form post to [`EXPORT_DOWNLOAD`], served by the
//! server's own handler (`server::export`), so the browser saves it with or without
//! JavaScript.

use leptos::prelude::*;

use crate::error::ApiError;

/// Whether the signed-in owner's step-up is fresh enough for a sensitive action now (the
/// data export's page asks before offering its button).
#[server(prefix = "/api", endpoint = "account/stepped-up")]
pub async fn stepped_up_now() -> Result<bool, ApiError> {
    use super::ssr::*;
    async {
        let principal = current()?;
        if principal.impersonation.is_some() {
            return Err(ApiError::Forbidden);
        }
        Ok(stepped_up().is_ok())
    }
    .await
}

/// Where the data export's form posts (a plain form: the browser downloads the file), and
/// the path the server's handler is routed at.
pub const EXPORT_DOWNLOAD: &str = "/account/export.json";
