//! `/verify-email?token=…`: the page a verification link opens, and
//! `/verify-email/resend`: the form that mails a new link.
//!
//! Opening the link changes nothing: the address is confirmed by the form, a POST, so
//! mail scanners that fetch every link cannot use the token up. The form asks for the
//! password chosen at signup (so an unsolicited link cannot confirm someone else's
//! signup), and for another username only when the chosen one was taken meanwhile. The page is served with
//! `Referrer-Policy: no-referrer` (see the server's security headers), so the token in its
//! URL is never sent anywhere as a Referer.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::{ResendVerification, VerifyEmail},
    components::{
        reset_on_submit, rule_message, EmailField, ExistingPasswordField, FieldState, FormError,
        InvalidLinkNotice, SubmitButton, TextField,
    },
};

#[component]
pub fn VerifyEmailPage() -> impl IntoView {
    let verify = ServerAction::<VerifyEmail>::new();
    let token = move || use_query_map().read().get("token").unwrap_or_default();
    let password = FieldState::new();
    let username = FieldState::new();
    reset_on_submit(verify, &[password, username]);
    let failure = Signal::derive(move || verify.value().get().and_then(Result::err));
    let server_password = move || failure.get().and_then(|e| e.field(bulwark::Field::Password));
    let server_username = move || failure.get().and_then(|e| e.field(bulwark::Field::Username));
    // Asked only once the server has said the chosen username went to someone else.
    let needs_username = move || server_username().is_some();
    let dead_link = move || failure.get().is_some_and(|e| e == crate::error::ApiError::InvalidLink);

    view! {
        <Title text="Confirm your email address" />
        <section class="card auth-card" aria-labelledby="verify-title">
            <h1 id="verify-title">"Confirm your email address"</h1>
            <p>"Enter the password you chose when you signed up, and your account is ready to use."</p>
            <ActionForm action=verify attr:novalidate=true>
                <FormError error=failure />
                <input type="hidden" name="token" prop:value=token value=token />
                <ExistingPasswordField id="verify-password" name="password" state=password server=Signal::derive(server_password) />
                <Show when=needs_username>
                    <TextField
                        id="verify-username"
                        name="username"
                        label="Another username"
                        autocomplete="username"
                        state=username
                        error=username.error(|v| rule_message(bulwark::Username::parse(v)), server_username)
                    />
                </Show>
                <SubmitButton pending=verify.pending() idle="Confirm my email address" busy="Confirming…" />
            </ActionForm>
            <Show when=dead_link>
                <p data-testid="link-help">
                    <a href="/verify-email/resend">"Get a new link"</a>
                    " (it goes to the same address)."
                </p>
            </Show>
        </section>
    }
}

#[component]
pub fn ResendVerificationPage() -> impl IntoView {
    let resend = ServerAction::<ResendVerification>::new();
    let email = FieldState::new();
    reset_on_submit(resend, &[email]);
    let failure = Signal::derive(move || resend.value().get().and_then(Result::err));
    let server_email = move || failure.get().and_then(|e| e.field(bulwark::Field::Email));

    view! {
        <Title text="Get a new confirmation link" />
        <section class="card auth-card" aria-labelledby="resend-title">
            <h1 id="resend-title">"Get a new confirmation link"</h1>
            <InvalidLinkNotice />
            <p>
                "If the address has a signup that still needs confirming, we will mail it a "
                "new link. The link mailed before stops working."
            </p>
            <ActionForm action=resend attr:novalidate=true>
                <FormError error=failure />
                <EmailField id="resend-email" state=email server=Signal::derive(server_email) />
                <SubmitButton pending=resend.pending() idle="Send a new link" busy="Sending…" />
            </ActionForm>
            <p class="aside">"Already confirmed? " <a href="/login">"Sign in"</a></p>
        </section>
    }
}
