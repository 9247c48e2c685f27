//! `/forgot-password`: asks for a reset link; `/reset-password?token=…`: the page the link
//! opens, where the new password is chosen. The reset page is served with
//! `Referrer-Policy: no-referrer` so the token in its URL is never sent anywhere.

use bulwark::Field;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::{ForgotPassword, ResetPassword},
    components::{
        reset_on_submit, EmailField, FieldState, FormError, InvalidLinkNotice, LinkAccount, NewPasswordField,
        SubmitButton, TextField,
    },
};

#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let forgot = ServerAction::<ForgotPassword>::new();
    let email = FieldState::new();
    reset_on_submit(forgot, &[email]);
    let failure = Signal::derive(move || forgot.value().get().and_then(Result::err));
    let server_email = move || failure.get().and_then(|e| e.field(Field::Email));

    view! {
        <Title text="Reset your password" />
        <section class="card auth-card" aria-labelledby="forgot-title">
            <h1 id="forgot-title">"Reset your password"</h1>
            <InvalidLinkNotice />
            <p>
                "Enter the address you signed up with. If it has an account, we will mail it a "
                "link to choose a new password. The link works for an hour."
            </p>
            <ActionForm action=forgot attr:novalidate=true>
                <FormError error=failure />
                <EmailField id="forgot-email" state=email server=Signal::derive(server_email) />
                <SubmitButton pending=forgot.pending() idle="Send a reset link" busy="Sending…" />
            </ActionForm>
            <p class="aside">"Remembered it? " <a href="/login">"Sign in"</a></p>
        </section>
    }
}

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let reset = ServerAction::<ResetPassword>::new();
    let password = FieldState::new();
    reset_on_submit(reset, &[password]);
    let token = move || use_query_map().read().get("token").unwrap_or_default();
    let failure = Signal::derive(move || reset.value().get().and_then(Result::err));
    let server_password = move || failure.get().and_then(|e| e.field(Field::Password));
    let link_dead = move || matches!(failure.get(), Some(crate::error::ApiError::InvalidLink));
    let code = FieldState::new();
    reset_on_submit(reset, &[code]);
    let needs_factor = Resource::new(token, crate::api::reset_link_factor);
    let server_code = move || failure.get().and_then(|e| e.field(Field::Code));

    view! {
        <Title text="Choose a new password" />
        <section class="card auth-card" aria-labelledby="reset-title">
            <h1 id="reset-title">"Choose a new password"</h1>
            <LinkAccount link="reset" token=Signal::derive(token) />
            <p>"Every device signed in to your account will be signed out."</p>
            <ActionForm action=reset attr:novalidate=true>
                <FormError error=failure />
                <input type="hidden" name="token" prop:value=token value=token />
                <NewPasswordField id="reset-password" state=password server=Signal::derive(server_password) />
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        needs_factor.await.unwrap_or(false).then(|| view! {
                            <p>"Your account has two-factor sign-in: the link alone cannot change its password."</p>
                            <TextField
                                id="reset-code"
                                name="code"
                                label="Code from your authenticator app"
                                input_type="text"
                                autocomplete="one-time-code"
                                inputmode="numeric"
                                state=code
                                error=code.error(|_| None, server_code)
                            />
                            <details class="aside">
                                <summary>"Lost your phone? Use a recovery code"</summary>
                                <label for="reset-recovery-code">"Recovery code"</label>
                                <input id="reset-recovery-code" name="recovery_code" type="text" autocomplete="off" spellcheck="false" autocapitalize="none" />
                                <p class="muted">"Lost your recovery codes too? Ask the site's administrators to reset your two-factor sign-in."</p>
                            </details>
                        })
                    })}
                </Transition>
                <SubmitButton pending=reset.pending() idle="Set new password" busy="Saving…" />
            </ActionForm>
            <Show when=link_dead>
                <p data-testid="link-help">
                    <a href="/forgot-password">"Get a new link"</a>
                </p>
            </Show>
        </section>
    }
}
