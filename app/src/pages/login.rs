//! `/login`: the sign-in form. Live hints check only the shape of what is typed; the
//! server's answer to any failure is one generic message. With JavaScript, a passkey signs
//! in too: by its button, or from the browser's autofill on the email field (no address
//! is sent for it, so it reveals nothing about accounts).

use bulwark::Email;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{Login, PasskeySignIn},
    components::{
        reset_on_submit, rule_message, ExistingPasswordField, FieldState, FlashNotice, FormError,
        SubmitButton, TextField,
    },
};

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let email = FieldState::new();
    let password = FieldState::new();
    reset_on_submit(login, &[email, password]);

    let failure = Signal::derive(move || login.value().get().and_then(Result::err));
    let passkey = ServerAction::<PasskeySignIn>::new();
    let passkey_failure = Signal::derive(move || passkey.value().get().and_then(Result::err));

    view! {
        <Title text="Sign in" />
        <section class="card auth-card" aria-labelledby="login-title">
            <h1 id="login-title">"Sign in"</h1>
            <FlashNotice notice=crate::flash::notice::EMAIL_VERIFIED test_id="verified-notice" title="Your email address is confirmed.">
                " Sign in below."
            </FlashNotice>
            <FlashNotice notice=crate::flash::notice::INVITATION_ACCEPTED test_id="invitation-accepted" title="Your account is ready.">
                " Sign in with the password you chose."
            </FlashNotice>
            <FlashNotice notice=crate::flash::notice::PASSWORD_RESET test_id="reset-notice" title="Your password is changed.">
                " Every device that was signed in has been signed out. Sign in with the new password."
            </FlashNotice>
            <ActionForm action=login attr:novalidate=true>
                <FormError error=failure />
                <TextField
                    id="login-email"
                    name="email"
                    label="Email"
                    input_type="email"
                    autocomplete="username webauthn"
                    state=email
                    error=email.error(|v| rule_message(Email::parse(v)), || None)
                />
                <ExistingPasswordField id="login-password" name="password" state=password />
                <SubmitButton pending=login.pending() idle="Sign in" busy="Signing in…" />
            </ActionForm>
            <p class="divider"><span>"or"</span></p>
            <crate::pages::passkeys::PasskeyForm
                start="/api/passkey-sign-in-start"
                finish="/api/passkey-sign-in"
                button="Sign in with a passkey"
                fallback="Passkeys need JavaScript, which is off in this browser: sign in with your email and password above."
                autofill=true
                error=passkey_failure
                test_id="passkey-sign-in"
            />
            <p class="aside"><a href="/forgot-password">"Forgot your password?"</a></p>
            <p class="aside">
                "Just signed up? Confirm your address with the link we mailed you first. "
                <a href="/verify-email/resend">"Send a new link"</a>
            </p>
            <p class="aside">"New here? " <a href="/signup">"Create an account"</a></p>
        </section>
    }
}
