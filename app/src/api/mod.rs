//! Server functions: the HTTP surface, at stable URLs under `/api`. Each is a thin shell:
//! parse the input with the shared schema, call a service, map the outcome. Mutations use
//! the default URL-encoded form body so the same `<form>` works without JavaScript.

use bulwark::Role;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

mod sessions;
pub use self::sessions::*;

/// What the UI may know about the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub role: Role,
}

/// Where a successful signup sends the browser; the page there explains what happened.
pub const AFTER_SIGNUP: &str = "/login?signed_up=1";

/// Creates an account. A taken email or username gets exactly the answer a new account
/// gets, so this endpoint cannot be used to discover who has an account.
#[server(prefix = "/api", endpoint = "signup")]
pub async fn signup(
    #[server(default)] email: String,
    #[server(default)] username: String,
    #[server(default)] password: String,
) -> Result<(), ApiError> {
    use self::ssr::*;
    respond(
        async {
            throttled(throttle()?.signup_attempt(client_ip()?).await)?;
            let outcome = accounts()?.sign_up(&email, &username, &password).await;
            match outcome.map_err(account_error)? {
                SignupOutcome::Created(_) => {
                    tracing::info!(event = "user_created", "account created")
                }
                // Logged without the address; a later mail will tell the owner.
                SignupOutcome::AlreadyRegistered => {
                    tracing::info!(event = "user_signup_duplicate", "signup for a taken identity")
                }
            }
            leptos_axum::redirect(AFTER_SIGNUP);
            Ok(())
        }
        .await,
    )
}

/// Signs in: on success the session id is rotated and the user recorded in the
/// server-side session. Every failure is the same 401; too many failures
/// for the address or the account, a 429 that is the same whether the account exists.
#[server(prefix = "/api", endpoint = "login")]
pub async fn login(
    #[server(default)] email: String,
    #[server(default)] password: String,
) -> Result<(), ApiError> {
    use self::ssr::*;
    respond(
        async {
            let ip = client_ip()?;
            let user =
                sign_in(&accounts()?, &throttle()?, ip, &email, &password).await.map_err(sign_in_error)?;
            SessionState::extract().await?.log_in(&user).await?;
            tracing::info!(event = "authn_login_success", user_id = user.id, "signed in");
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

/// Ends the session on the server: the record and its registry row are deleted, so a
/// copied cookie is dead; the browser is told to drop cookies and storage for the site.
#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    use self::ssr::*;
    respond(
        async {
            SessionState::extract().await?.log_out().await?;
            clear_site_data();
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

/// The signed-in user, or 401: for API clients.
#[server(prefix = "/api", endpoint = "me")]
pub async fn me() -> Result<CurrentUser, ApiError> {
    use self::ssr::*;
    respond(current_user().await.map(CurrentUser::from))
}

/// The signed-in user if there is one: what the pages ask on every navigation. Being
/// signed out is an ordinary answer here, not an error, so the browser's console stays
/// free of 401s.
#[server(prefix = "/api", endpoint = "session")]
pub async fn session() -> Result<Option<CurrentUser>, ApiError> {
    use self::ssr::*;
    respond(match current_user().await {
        Ok(user) => Ok(Some(CurrentUser::from(user))),
        Err(ApiError::Unauthorized) => Ok(None),
        Err(other) => Err(other),
    })
}

#[cfg(feature = "ssr")]
impl From<bulwark::accounts::User> for CurrentUser {
    fn from(user: bulwark::accounts::User) -> Self {
        Self { id: user.id, email: user.email, username: user.username, role: user.role }
    }
}

#[cfg(feature = "ssr")]
pub mod ssr;
