//! Pages that are not part of the first load: each is its own WASM chunk (cargo-leptos
//! `--split`), fetched when the browser first needs it, so signing up and signing in never
//! download the admin dashboard or the account pages. The server renders them like any
//! other page; without JavaScript nothing changes.
//!
//! Pages that show the strength meter are lazy too (it reaches the zxcvbn chunk, another
//! split point, through the main module). Once that pulled zxcvbn's dictionaries into the
//! main module (318 KB brotli became 725 KB): not a dependency, but the splitter's fallback
//! when its new data layout came out longer than the original. The room the browser build
//! leaves for it (`SPLITTER_SLACK` in `frontend`) keeps that from happening, and the
//! first-load Playwright tests check the main module's size and the whole first load.
//!
//! Two ways a lazy page reaches the browser, and what happens when its chunk cannot be
//! fetched (offline, or a deploy that removed it):
//! - **Opened directly** (the server rendered it): before anything hydrates, the browser
//!   reads the page's chunk name from the marker the page renders first
//!   ([`preload_current_page`]) and fetches that chunk. Hydration then finds the page's
//!   code in place and attaches to the server's HTML. If the chunk cannot be fetched,
//!   nothing hydrates: the page stays the server's HTML, which works without JavaScript
//!   (plain forms and links), and a line at the top says so. Hydrating instead would need
//!   the page's code at once, and tachys panics when a page is still missing there.
//! - **Reached by a link** inside the app: the router fetches the chunk before it shows the
//!   page (`LazyRoute::preload`); if that fails, the page is a plain message.

use leptos::prelude::*;
use leptos_router::LazyRoute;

/// The chunk could not be fetched or instantiated.
#[derive(Debug)]
pub struct Unavailable;

impl From<leptos::wasm_split::SplitLoaderError> for Unavailable {
    fn from(_: leptos::wasm_split::SplitLoaderError) -> Self {
        Unavailable
    }
}

/// The attribute of the marker every lazy page renders first: its chunk's name (written
/// out in `lazy_pages!`, where `view!` needs it literally).
#[cfg(feature = "hydrate")]
const CHUNK_ATTRIBUTE: &str = "data-chunk";

fn unavailable() -> AnyView {
    view! {
        <section class="card" role="alert" data-testid="page-unavailable">
            <h1>"This page could not be loaded"</h1>
            <p>"Check your connection, then reload the page."</p>
        </section>
    }
    .into_any()
}

/// `lazy_pages! { Route => chunk: Page, … }`: each `Route` renders `Page` from the chunk
/// `chunk`, and [`preload_named`] fetches a chunk by its name.
macro_rules! lazy_pages {
    ($($route:ident => $chunk:ident: $page:ident,)+) => {
        $(
            mod $chunk {
                use super::Unavailable;
                use leptos::prelude::*;

                #[leptos::wasm_split::wasm_split($chunk, wasm_split_path = ::leptos::wasm_split, fallible, preload(preload))]
                pub fn load() -> Result<AnyView, Unavailable> {
                    Ok(view! { <crate::pages::$page /> }.into_any())
                }
            }

            #[derive(Debug, Clone, Copy)]
            pub struct $route;

            impl LazyRoute for $route {
                fn data() -> Self {
                    Self
                }

                async fn view(_this: Self) -> AnyView {
                    let page = $chunk::load().await.unwrap_or_else(|Unavailable| unavailable());
                    view! { <span hidden=true data-chunk=stringify!($chunk)></span> {page} }.into_any()
                }

                async fn preload() {
                    // A chunk that cannot be fetched is tried again by `view`, which then
                    // shows the plain message.
                    let _ = $chunk::preload().await;
                }
            }
        )+

        /// Fetches the chunk called `name`; an unknown name needs nothing.
        #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
        async fn preload_named(name: &str) -> Result<(), Unavailable> {
            match name {
                $(stringify!($chunk) => Ok($chunk::preload().await?),)+
                _ => Ok(()),
            }
        }

        /// Every chunk name, for the test below.
        #[cfg(test)]
        const CHUNKS: &[&str] = &[$(stringify!($chunk)),+];
    };
}

lazy_pages! {
    AdminUsersRoute => admin_users: AdminUsersPage,
    AdminUserRoute => admin_user: AdminUserPage,
    AdminAuditRoute => admin_audit: AdminAuditPage,
    AdminImpersonationsRoute => admin_impersonations: AdminImpersonationsPage,
    AdminApprovalsRoute => admin_approvals: AdminApprovalsPage,
    SessionsRoute => sessions: SessionsPage,
    ActivityRoute => activity: ActivityPage,
    StepUpRoute => step_up: StepUpPage,
    EmailChangeRoute => email_change: EmailChangePage,
    ConfirmEmailChangeRoute => confirm_email_change: ConfirmEmailChangePage,
    CancelEmailChangeRoute => cancel_email_change: CancelEmailChangePage,
    RecoverAccountRoute => recover_account: RecoverAccountPage,
    SecondStepRoute => second_step: SecondStepPage,
    SecurityRoute => security: SecurityPage,
    SetupAppRoute => setup_app: SetupAppPage,
    RecoveryCodesRoute => recovery_codes: RecoveryCodesPage,
    CheckEmailRoute => check_email: CheckEmailPage,
    ResendVerificationRoute => resend_verification: ResendVerificationPage,
    ForgotPasswordRoute => forgot_password: ForgotPasswordPage,
    DeleteAccountRoute => delete_account: DeleteAccountPage,
    UndoDeletionRoute => undo_deletion: UndoDeletionPage,
    ExportRoute => export: ExportPage,
    AdminInvitationsRoute => admin_invitations: AdminInvitationsPage,
    AcceptInvitationRoute => accept_invitation: AcceptInvitationPage,
    VerifyEmailRoute => verify_email: VerifyEmailPage,
    ResetPasswordRoute => reset_password: ResetPasswordPage,
    ChangePasswordRoute => change_password: ChangePasswordPage,
}

/// In the browser, before hydrating: fetches the chunk of the lazy page the server
/// rendered, if it rendered one. `Err` means the page's code is not here and the page must
/// not be hydrated; [`mark_not_hydrated`] then tells the reader.
#[cfg(feature = "hydrate")]
pub async fn preload_current_page() -> Result<(), Unavailable> {
    let name = document()
        .query_selector(&format!("main [{CHUNK_ATTRIBUTE}]"))
        .ok()
        .flatten()
        .and_then(|marker| marker.get_attribute(CHUNK_ATTRIBUTE));
    match name {
        Some(name) => preload_named(&name).await,
        None => Ok(()),
    }
}

/// The page stays the server's HTML, which works without JavaScript: says so at the top of
/// the page, and marks the body so tests (and the curious) can tell.
#[cfg(feature = "hydrate")]
pub fn mark_not_hydrated() {
    let document = document();
    if let (Some(main), Ok(notice)) = (document.get_element_by_id("main"), document.create_element("p")) {
        notice.set_class_name("form-error");
        let _ = notice.set_attribute("role", "alert");
        let _ = notice.set_attribute("data-testid", "page-unavailable");
        notice.set_text_content(Some(
            "Part of this page could not be loaded, so it works as a plain page: its forms \
             and links still work. Reload the page to try again.",
        ));
        let _ = main.prepend_with_node_1(&notice);
    }
    if let Some(body) = document.body() {
        let _ = body.set_attribute("data-hydrated", "unavailable");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_has_a_distinct_name_and_an_unknown_one_needs_nothing() {
        let mut names = CHUNKS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CHUNKS.len());
        // Outside the browser a split function is called directly: every known name
        // "loads", and a name the page did not come from is no error.
        for name in CHUNKS.iter().chain(&["no_such_chunk"]) {
            assert!(ready_now(preload_named(name)).is_ok(), "{name}");
        }
    }

    /// Polls a future that is ready at once.
    fn ready_now<F: std::future::Future>(future: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut future = std::pin::pin!(future);
        match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("not ready at once"),
        }
    }
}
