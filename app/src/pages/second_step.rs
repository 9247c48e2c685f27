//! `/login/second-step`: after the right password for an account with a second factor, a
//! code from the authenticator app, or (folded away) a recovery code. Two plain forms: it
//! works without JavaScript. A browser with no sign-in waiting is told to sign in again.

use bulwark::Field;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{second_step_offers, second_step_waiting, SecondStep, SecondStepPasskey},
    components::{reset_on_submit, FieldState, FormError, SubmitButton, TextField},
    error::ApiError,
};

#[component]
pub fn SecondStepPage() -> impl IntoView {
    let with_code = ServerAction::<SecondStep>::new();
    let with_recovery = ServerAction::<SecondStep>::new();
    let code = FieldState::new();
    let recovery = FieldState::new();
    reset_on_submit(with_code, &[code]);
    reset_on_submit(with_recovery, &[recovery]);
    let waiting = Resource::new(|| (), |_| second_step_waiting());
    let offers = Resource::new(|| (), |_| second_step_offers());
    let with_passkey = ServerAction::<SecondStepPasskey>::new();
    let passkey_failure = Signal::derive(move || with_passkey.value().get().and_then(Result::err));
    let code_failure = Signal::derive(move || with_code.value().get().and_then(Result::err));
    let recovery_failure = Signal::derive(move || with_recovery.value().get().and_then(Result::err));
    let expired = move || {
        matches!(code_failure.get(), Some(ApiError::SecondStepExpired))
            || matches!(recovery_failure.get(), Some(ApiError::SecondStepExpired))
            || matches!(passkey_failure.get(), Some(ApiError::SecondStepExpired))
    };
    // Without JavaScript both forms read the one error the page came back with: each shows
    // only its own field's message.
    let code_error = move || {
        code_failure
            .get()
            .and_then(|e| e.field(Field::Code))
            .filter(|m| m != bulwark::messages::WRONG_RECOVERY_CODE)
    };
    let recovery_error = move || {
        recovery_failure
            .get()
            .and_then(|e| e.field(Field::Code))
            .filter(|m| m == bulwark::messages::WRONG_RECOVERY_CODE)
    };

    view! {
        <Title text="Two-factor sign-in" />
        <section class="card auth-card" aria-labelledby="second-step-title">
            <h1 id="second-step-title">"Two-factor sign-in"</h1>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                // Only the page's own resource is awaited here: an answer's outcome (read
                // below, in the forms) must not re-run this while a right answer navigates
                // away and the page is taken down.
                {move || Suspend::new(async move {
                    let offers = offers.await.unwrap_or_default();
                    if !waiting.await.unwrap_or(false) {
                        return view! {
                            <p role="alert" data-testid="second-step-expired">
                                "This sign-in has timed out or was already used. "
                                <a href="/login">"Sign in again"</a>
                            </p>
                        }.into_any();
                    }
                    view! {
                        <Show when=expired>
                            <p role="alert" data-testid="second-step-expired">
                                "This sign-in has timed out or was already used. "
                                <a href="/login">"Sign in again"</a>
                            </p>
                        </Show>
                        {offers.passkey.then(|| view! {
                            <p>"Use your passkey: your device will ask for its screen lock."</p>
                            <crate::pages::passkeys::PasskeyForm
                                start="/api/second-step-passkey-start"
                                finish="/api/second-step-passkey"
                                button="Use a passkey"
                                fallback="Passkeys need JavaScript, which is off in this browser: use a code or a recovery code instead."
                                error=Signal::derive(move || passkey_failure.get().filter(|e| *e != ApiError::SecondStepExpired))
                                test_id="second-step-passkey"
                            />
                        })}
                        {offers.app.then(|| view! {
                        <p>"Open your authenticator app and type the six-digit code it shows for Bulwark."</p>
                        <ActionForm action=with_code attr:novalidate=true>
                            <FormError error=Signal::derive(move || code_failure.get().filter(|e| e.field(Field::Code).is_none())) />
                            <TextField
                                id="second-step-code"
                                name="code"
                                label="Code"
                                input_type="text"
                                autocomplete="one-time-code"
                                inputmode="numeric"
                                state=code
                                error=code.error(|_| None, code_error)
                            />
                            <SubmitButton pending=with_code.pending() idle="Verify" busy="Checking…" />
                        </ActionForm>
                        })}
                        <details class="aside" data-testid="use-recovery-code" open=!offers.app && !offers.passkey>
                            <summary>"Lost your device? Use a recovery code"</summary>
                            <p>"Each of the recovery codes you saved works once. We will mail you that one was used."</p>
                            <ActionForm action=with_recovery attr:novalidate=true>
                                <FormError error=Signal::derive(move || recovery_failure.get().filter(|e| e.field(Field::Code).is_none())) />
                                <TextField
                                    id="second-step-recovery-code"
                                    name="recovery_code"
                                    label="Recovery code"
                                    input_type="text"
                                    autocomplete="off"
                                    state=recovery
                                    error=recovery.error(|_| None, recovery_error)
                                />
                                <SubmitButton pending=with_recovery.pending() idle="Use recovery code" busy="Checking…" />
                            </ActionForm>
                        </details>
                    }.into_any()
                })}
            </Transition>
            <p class="aside"><a href="/login">"Start again"</a></p>
        </section>
    }
}
