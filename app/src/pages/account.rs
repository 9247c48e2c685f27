//! `/account/password`: change the password (current one, then a new one); every other
//! session ends. `/account/activity`: the account's recent security events. Both work
//! without JavaScript.

use bulwark::Field;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{my_activity, ChangePassword},
    components::{
        reset_on_submit, use_session, ExistingPasswordField, FieldState, FlashNotice, FormError,
        NewPasswordField, SubmitButton, TextField,
    },
    error::ApiError,
};

#[component]
pub fn ChangePasswordPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let current = FieldState::new();
    let new = FieldState::new();
    reset_on_submit(change, &[current, new]);
    let failure = Signal::derive(move || change.value().get().and_then(Result::err));
    let server_current = move || failure.get().and_then(|e| e.field(Field::CurrentPassword));
    let server_new = move || failure.get().and_then(|e| e.field(Field::Password));
    let user = use_session().user;

    view! {
        <Title text="Change your password" />
        <section class="card auth-card" aria-labelledby="password-title">
            <h1 id="password-title">"Change your password"</h1>
            <FlashNotice notice=crate::flash::notice::PASSWORD_CHANGED test_id="password-changed" title="Your password has been changed.">
                " Every other browser signed in to your account has been signed out."
            </FlashNotice>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(me)) => view! {
                            <p>"Every other browser signed in to your account will be signed out. This one stays signed in."</p>
                            <ActionForm action=change attr:novalidate=true>
                                <FormError error=failure />
                                <ExistingPasswordField
                                    id="current-password"
                                    name="current_password"
                                    label="Current password"
                                    hint="The password you signed in with."
                                    state=current
                                    server=Signal::derive(server_current)
                                />
                                <NewPasswordField
                                    id="new-password"
                                    state=new
                                    server=Signal::derive(server_new)
                                    context=bulwark::password::user_inputs(&me.email, &me.username)
                                />
                                <SubmitButton pending=change.pending() idle="Change password" busy="Saving…" />
                            </ActionForm>
                        }.into_any(),
                        _ => view! {
                            <p>"Please " <a href="/login">"sign in"</a> " to change your password."</p>
                        }.into_any(),
                    }
                })}
            </Transition>
            <p class="aside">"Forgot it? " <a href="/forgot-password">"Reset it by email"</a></p>
        </section>
    }
}

#[component]
pub fn ActivityPage() -> impl IntoView {
    let list = Resource::new(|| (), |()| my_activity());
    view! {
        <Title text="Security activity" />
        <section class="card" aria-labelledby="activity-title">
            <h1 id="activity-title">"Security activity"</h1>
            <p class="muted">"Recent sign-ins and changes to your account. If something here wasn't you, change your password."</p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(events) if events.is_empty() => view! { <p>"Nothing yet."</p> }.into_any(),
                        Ok(events) => view! {
                            <table class="activity" data-testid="activity">
                                <thead><tr><th scope="col">"When (UTC)"</th><th scope="col">"What"</th><th scope="col">"From"</th></tr></thead>
                                <tbody>
                                    {events.into_iter().map(|e| view! {
                                        <tr class:failure=!e.success>
                                            <td>{bulwark::utc::minute(e.at)}</td>
                                            <td>
                                                {e.what.clone()}
                                                {(e.by_admin && e.note.is_none()).then_some(" (by an administrator)")}
                                                {e.note.clone().map(|note| view! { <br /><span class="muted" data-testid="activity-note">{note}</span> })}
                                            </td>
                                            <td>{e.device.unwrap_or_default()} " " <span class="muted">{e.ip.unwrap_or_default()}</span></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(ApiError::Unauthorized) => view! {
                            <p>"Please " <a href="/login">"sign in"</a> " to see your account's activity."</p>
                        }.into_any(),
                        Err(other) => view! { <p role="alert">{other.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <crate::pages::impersonation::SupportAccessCard />
    }
}

/// `/step-up?next=…`: proof again before a sensitive action, then back to `next` (a path
/// on this site): the password, or on an account with a second factor a code from the
/// authenticator app (or a recovery code). Works without JavaScript.
#[component]
pub fn StepUpPage() -> impl IntoView {
    let step_up = ServerAction::<crate::api::StepUp>::new();
    let password = FieldState::new();
    let code = FieldState::new();
    reset_on_submit(step_up, &[password, code]);
    let failure = Signal::derive(move || step_up.value().get().and_then(Result::err));
    let next = move || {
        let next = leptos_router::hooks::use_query_map().read().get("next").unwrap_or_default();
        crate::api::safe_next(&next).to_owned()
    };
    // The page's own read of who is signing in (not the header's, which refetches on every
    // navigation: the one that leaves this page would re-run this page's view while it is
    // being taken down).
    let user = Resource::new(|| (), |_| crate::api::session());
    let offers = Resource::new(|| (), |_| crate::api::step_up_offers());
    let with_passkey = ServerAction::<crate::api::StepUpPasskey>::new();
    let passkey_failure = Signal::derive(move || with_passkey.value().get().and_then(Result::err));
    view! {
        <Title text="Confirm it is you" />
        <section class="card auth-card" aria-labelledby="step-up-title">
            <h1 id="step-up-title">"Confirm it is you"</h1>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let with_factor = matches!(user.await, Ok(Some(me)) if me.has_factor);
                    if with_factor {
                        let code_error = move || failure.get().and_then(|e| e.field(Field::Code));
                        let offers = offers.await.unwrap_or_default();
                        view! {
                            // A passkey first, where the account has one.
                            {offers.passkey.then(|| view! {
                                <p>"This action needs your passkey. You won't be asked again for a few minutes."</p>
                                <crate::pages::passkeys::PasskeyForm
                                    start="/api/step-up-passkey-start"
                                    finish="/api/step-up-passkey"
                                    button="Confirm with a passkey"
                                    fallback="Passkeys need JavaScript, which is off in this browser: use a code or a recovery code instead."
                                    error=passkey_failure
                                    test_id="step-up-passkey"
                                >
                                    <input type="hidden" name="next" value=next />
                                </crate::pages::passkeys::PasskeyForm>
                            })}
                            {offers.app.then(|| view! {
                            <p>"This action needs a code from your authenticator app. You won't be asked again for a few minutes."</p>
                            <ActionForm action=step_up attr:novalidate=true>
                                <FormError error=Signal::derive(move || failure.get().filter(|e| e.field(Field::Code).is_none())) />
                                <input type="hidden" name="next" prop:value=next value=next />
                                <TextField
                                    id="step-up-code"
                                    name="code"
                                    label="Code"
                                    input_type="text"
                                    autocomplete="one-time-code"
                                    inputmode="numeric"
                                    state=code
                                    error=code.error(|_| None, code_error)
                                />
                                <SubmitButton pending=step_up.pending() idle="Confirm" busy="Checking…" />
                            </ActionForm>
                            })}
                            <details class="aside" open=!offers.app && !offers.passkey>
                                <summary>"Use a recovery code instead"</summary>
                                <ActionForm action=step_up attr:novalidate=true>
                                    <input type="hidden" name="next" prop:value=next value=next />
                                    <label for="step-up-recovery-code">"Recovery code"</label>
                                    <input id="step-up-recovery-code" name="recovery_code" type="text" autocomplete="off" spellcheck="false" autocapitalize="none" />
                                    <button type="submit" class="button">"Use recovery code"</button>
                                </ActionForm>
                            </details>
                        }.into_any()
                    } else {
                        view! {
                            <p>"This action needs your password again. You won't be asked again for a few minutes."</p>
                            <ActionForm action=step_up attr:novalidate=true>
                                <FormError error=failure />
                                <input type="hidden" name="next" prop:value=next value=next />
                                <ExistingPasswordField
                                    id="step-up-password"
                                    name="password"
                                    hint="The password you sign in with."
                                    state=password
                                    server=Signal::derive(move || failure.get().and_then(|e| e.field(Field::CurrentPassword)))
                                />
                                <SubmitButton pending=step_up.pending() idle="Confirm" busy="Checking…" />
                            </ActionForm>
                        }.into_any()
                    }
                })}
            </Transition>
        </section>
    }
}
