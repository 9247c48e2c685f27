//! Server functions: the HTTP surface, at stable URLs under `/api`. Each is a thin shell:
//! parse the input with the shared schema, call a service, map the outcome. Mutations use
//! the default URL-encoded form body so the same `<form>` works without JavaScript.

use bulwark::Role;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

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
/// server-side session. Every failure is the same 401.
#[server(prefix = "/api", endpoint = "login")]
pub async fn login(
    #[server(default)] email: String,
    #[server(default)] password: String,
) -> Result<(), ApiError> {
    use self::ssr::*;
    respond(
        async {
            let Ok(form) = bulwark::LoginForm::parse(&email, &password) else {
                return Err(ApiError::InvalidCredentials);
            };
            let user =
                accounts()?.verify_credentials(&form.email, &form.password).await.map_err(account_error)?;
            SessionState::extract().await?.log_in(&user).await?;
            tracing::info!(event = "authn_login_success", user_id = user.id, "signed in");
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

/// Ends the session on the server: the record is deleted, so a copied cookie is dead.
#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    use self::ssr::*;
    respond(
        async {
            SessionState::extract().await?.log_out().await?;
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
pub mod ssr {
    //! Server-side helpers the server functions share.

    pub use bulwark::accounts::{AccountError, Accounts, SignupOutcome, User};
    use leptos::prelude::*;
    use tower_sessions::Session;

    use crate::error::ApiError;

    /// The accounts service, provided as context by the server.
    pub fn accounts() -> Result<Accounts, ApiError> {
        use_context::<Accounts>().ok_or_else(|| {
            tracing::error!("the Accounts service was not provided as context");
            ApiError::Internal
        })
    }

    /// Maps service errors to the wire, logging unexpected causes with their chain.
    pub fn account_error(error: AccountError) -> ApiError {
        match error {
            AccountError::Invalid(errors) => ApiError::Validation(errors),
            AccountError::InvalidCredentials => {
                tracing::info!(event = "authn_login_fail", "sign-in failed");
                ApiError::InvalidCredentials
            }
            AccountError::Unexpected(cause) => {
                tracing::error!(error = %cause, "account operation failed");
                ApiError::Internal
            }
        }
    }

    /// Sets the HTTP status that matches the error, but only for API calls: a server
    /// function called while rendering a page must not change the page's status, and a
    /// plain form post (no JavaScript) must keep the redirect that carries the error back
    /// to the form.
    pub fn respond<T>(result: Result<T, ApiError>) -> Result<T, ApiError> {
        if let Err(error) = &result {
            let parts = use_context::<http::request::Parts>();
            let is_api_call = parts.as_ref().is_some_and(|p| p.uri.path().starts_with("/api/"));
            let wants_html = parts
                .as_ref()
                .and_then(|p| p.headers.get(http::header::ACCEPT))
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"));
            if is_api_call && !wants_html {
                if let (Some(options), Ok(status)) = (
                    use_context::<leptos_axum::ResponseOptions>(),
                    http::StatusCode::from_u16(error.status()),
                ) {
                    options.set_status(status);
                }
            }
        }
        result
    }

    /// The signed-in user behind this request, or `Unauthorized`. A session whose user
    /// is gone, or whose epoch is older than the user's, is ended on the spot.
    pub async fn current_user() -> Result<User, ApiError> {
        let session = SessionState::extract().await?;
        let Some((user_id, epoch)) = session.signed_in().await? else {
            return Err(ApiError::Unauthorized);
        };
        match accounts()?.find_user(user_id).await.map_err(account_error)? {
            Some(user) if user.session_epoch == epoch => Ok(user),
            _ => {
                session.log_out().await?;
                Err(ApiError::Unauthorized)
            }
        }
    }

    /// A typed view of the tower-sessions session: the keys live here and nowhere else.
    pub struct SessionState(Session);

    impl SessionState {
        const USER_ID: &'static str = "user_id";
        const EPOCH: &'static str = "session_epoch";

        pub async fn extract() -> Result<Self, ApiError> {
            leptos_axum::extract::<Session>().await.map(Self).map_err(|e| {
                tracing::error!(error = %e, "no session layer on this request");
                ApiError::Internal
            })
        }

        /// Records `user` as signed in, under a fresh session id: whatever id the browser
        /// had before (perhaps planted by an attacker) is worthless afterwards.
        pub async fn log_in(&self, user: &User) -> Result<(), ApiError> {
            self.0.cycle_id().await.map_err(session_error)?;
            self.0.insert(Self::USER_ID, user.id).await.map_err(session_error)?;
            self.0.insert(Self::EPOCH, user.session_epoch).await.map_err(session_error)?;
            Ok(())
        }

        pub async fn signed_in(&self) -> Result<Option<(i64, i64)>, ApiError> {
            let user_id = self.0.get::<i64>(Self::USER_ID).await.map_err(session_error)?;
            let epoch = self.0.get::<i64>(Self::EPOCH).await.map_err(session_error)?;
            Ok(user_id.zip(epoch))
        }

        /// Deletes the session record and expires the cookie.
        pub async fn log_out(self) -> Result<(), ApiError> {
            self.0.flush().await.map_err(session_error)
        }
    }

    fn session_error(error: tower_sessions::session::Error) -> ApiError {
        tracing::error!(error = %error, "session store failed");
        ApiError::Internal
    }
}
