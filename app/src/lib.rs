//! Bulwark's user interface: the HTML shell, the routes, the pages, and the server
//! functions they call ([`api`]). Compiled twice: with `ssr` into the server (which renders
//! every page and runs the server functions) and with `hydrate` into the browser's WASM
//! (which attaches behaviour to the server-rendered HTML). Every form works without
//! JavaScript too: it is a plain POST to its server function.

pub mod api;
mod components;
pub mod error;
pub mod flash;
mod lazy;
mod pages;
mod passwords;

#[cfg(feature = "hydrate")]
pub use lazy::{mark_not_hydrated, preload_current_page};

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, Meta, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, Lazy, SsrMode,
};

use crate::pages::{HomePage, LoginPage, NotFoundPage, SignupPage};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="description" content=description() />
                <AutoReload options=options.clone() />
                // The stylesheet by its content-hashed name (cargo-leptos `hash-files`), so it
                // can be cached for a year; in the shell because only the server knows the
                // name.
                <HashedStylesheet options=options.clone() id="leptos" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The page's description for search engines and link previews, chosen by path. It is set
/// in the shell, which only the server renders, so the browser's WASM carries none of it.
fn description() -> &'static str {
    #[cfg(feature = "ssr")]
    let path = use_context::<http::request::Parts>().map(|parts| parts.uri.path().to_owned());
    #[cfg(not(feature = "ssr"))]
    let path: Option<String> = None;
    match path.as_deref() {
        Some("/login") => {
            "Sign in to Bulwark with your email address and password or with a passkey, \
             with two-factor sign-in for accounts that have it."
        }
        Some("/signup") => {
            "Create a Bulwark account: choose a username and a strong password, then confirm \
             your email address."
        }
        _ => {
            "Bulwark: accounts done properly. Sign up, sign in with a password, an \
             authenticator app or a passkey, and see every session and security event of \
             your account."
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    flash::provide_cookie_name();

    // Effects only run in the browser, after hydration: this attribute tells tests (and
    // anyone curious) that event handlers are attached.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Title formatter=|page: String| format!("{page} · Bulwark") />
        <Meta name="color-scheme" content="light dark" />
        <leptos_meta::Link rel="icon" href="/favicon.svg" type_="image/svg+xml" />
        <Router>
            <components::Header />
            <main id="main" class="page">
                // `Async`: each page is rendered whole before it is sent. Streaming would
                // leave suspended parts (who is signed in) to JavaScript, and every page
                // must be complete without it. The pages are small; the cost is nil.
                <Routes fallback=NotFoundPage>
                    <Route path=path!("") view=HomePage ssr=SsrMode::Async />
                    <Route path=path!("signup") view=SignupPage ssr=SsrMode::Async />
                    <Route path=path!("login") view=LoginPage ssr=SsrMode::Async />
                    <Route path=path!("check-email") view={Lazy::<lazy::CheckEmailRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("verify-email") view={Lazy::<lazy::VerifyEmailRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("verify-email/resend") view={Lazy::<lazy::ResendVerificationRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("forgot-password") view={Lazy::<lazy::ForgotPasswordRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("reset-password") view={Lazy::<lazy::ResetPasswordRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("account/sessions") view={Lazy::<lazy::SessionsRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("account/password") view={Lazy::<lazy::ChangePasswordRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("account/activity") view={Lazy::<lazy::ActivityRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("account/email") view={Lazy::<lazy::EmailChangeRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("account/delete") view={Lazy::<lazy::DeleteAccountRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("account/export") view={Lazy::<lazy::ExportRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("account/delete/undo") view={Lazy::<lazy::UndoDeletionRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("email-change/confirm") view={Lazy::<lazy::ConfirmEmailChangeRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("email-change/cancel") view={Lazy::<lazy::CancelEmailChangeRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("email-change/recover") view={Lazy::<lazy::RecoverAccountRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("step-up") view={Lazy::<lazy::StepUpRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("login/second-step") view={Lazy::<lazy::SecondStepRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("account/security") view={Lazy::<lazy::SecurityRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("account/security/app") view={Lazy::<lazy::SetupAppRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("account/security/recovery-codes") view={Lazy::<lazy::RecoveryCodesRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("admin") view={Lazy::<lazy::AdminUsersRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("admin/users/:id") view={Lazy::<lazy::AdminUserRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("admin/audit") view={Lazy::<lazy::AdminAuditRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("admin/impersonations") view={Lazy::<lazy::AdminImpersonationsRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("admin/approvals") view={Lazy::<lazy::AdminApprovalsRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("admin/invitations") view={Lazy::<lazy::AdminInvitationsRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("invitation") view={Lazy::<lazy::AcceptInvitationRoute>::new()} ssr=SsrMode::Async />
                </Routes>
            </main>
        </Router>
    }
}
