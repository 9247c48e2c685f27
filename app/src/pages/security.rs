//! `/account/security`: the account's second factors and what each protects, with the
//! ways to change them. `/account/security/app`: setting up an authenticator app (a QR code
//! drawn on the server, the key typed out, a current code to confirm). `/account/security
//! /recovery-codes`: new recovery codes, shown until their owner says they saved them.
//! Every change needs a recent step-up; every screen works without JavaScript.

use bulwark::Field;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{
        recovery_codes_to_show, security_overview, totp_setup, ConfirmTotp, NewRecoveryCodes,
        RecoveryCodesSaved, RemoveTotp, SETUP_APP_PAGE,
    },
    components::{reset_on_submit, FieldState, FlashNotice, FormError, SubmitButton, TextField},
    error::ApiError,
};

#[component]
pub fn SecurityPage() -> impl IntoView {
    let renew = ServerAction::<NewRecoveryCodes>::new();
    let remove = ServerAction::<RemoveTotp>::new();
    let passkey_rename = ServerAction::<crate::api::PasskeyRename>::new();
    let passkey_remove = ServerAction::<crate::api::PasskeyRemove>::new();
    // Read again after each change made on this page (with JavaScript, the page stays).
    let overview = Resource::new(
        move || {
            (
                renew.version().get(),
                remove.version().get(),
                passkey_rename.version().get(),
                passkey_remove.version().get(),
            )
        },
        |_| security_overview(),
    );
    let renew_failure = Signal::derive(move || renew.value().get().and_then(Result::err));
    let remove_failure = Signal::derive(move || remove.value().get().and_then(Result::err));
    view! {
        <Title text="Security" />
        <section class="card" aria-labelledby="security-title">
            <h1 id="security-title">"Two-factor sign-in"</h1>
            <FlashNotice notice=crate::flash::notice::FEW_RECOVERY_CODES test_id="few-codes-notice" title="You have few recovery codes left.">
                " Make new ones below and keep them somewhere safe."
            </FlashNotice>
            <FlashNotice notice=crate::flash::notice::CODES_SAVED test_id="codes-saved-notice" title="Two-factor sign-in is on.">
                " Keep your recovery codes somewhere safe: they will not be shown again."
            </FlashNotice>
            <FlashNotice notice=crate::flash::notice::FACTOR_OFF test_id="factor-off-notice" title="The authenticator app is removed.">
                " Without a passkey, your password alone signs in now."
            </FlashNotice>
            <FlashNotice notice=crate::flash::notice::PASSKEY_ADDED test_id="passkey-added-notice" title="Passkey added.">
            " It signs you in, and answers the second step after your password."
            </FlashNotice>
            <FlashNotice notice=crate::flash::notice::PASSKEY_RENAMED test_id="passkey-renamed-notice" title="Passkey renamed.">
            ""
            </FlashNotice>
            <FlashNotice notice=crate::flash::notice::PASSKEY_REMOVED test_id="passkey-removed-notice" title="Passkey removed.">
            ""
            </FlashNotice>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match overview.await {
                        Ok(view) => {
                            let on = view.factor_on();
                            let app = view.app;
                            let admin = view.admin;
                            let app_removable = !(admin && view.app_is_last_factor());
                            let codes_left = view.codes_left;
                            let few = view.few_codes_left;
                            let waiting = view.codes_waiting;
                            view! {
                                {if on {
                                    view! {
                                        <p data-testid="factor-status">
                                            <strong>"On."</strong>
                                            " Signing in takes your password and a second factor (a passkey or a code from your "
                                            "authenticator app), or a passkey alone; so do sensitive changes (password, email "
                                            "address, signing out other sessions)."
                                        </p>
                                    }.into_any()
                                } else {
                                    view! {
                                        <p data-testid="factor-status">
                                            <strong>"Off."</strong>
                                            " Anyone who learns your password can sign in. Add a passkey, or set up an "
                                            "authenticator app (Google Authenticator, Microsoft Authenticator, 1Password, Aegis…): "
                                            "signing in then also takes your device or a six-digit code from your phone."
                                        </p>
                                        {admin.then(|| view! {
                                            <p class="notice" role="status" data-testid="admin-needs-factor">
                                                "As an administrator you need two-factor sign-in before you can use the dashboard."
                                            </p>
                                        })}
                                    }.into_any()
                                }}
                                <crate::pages::passkeys::PasskeysSection view=view rename=passkey_rename remove=passkey_remove />
                                <h2>"Authenticator app"</h2>
                                {if app {
                                    view! {
                                        <p data-testid="app-status">"Set up."</p>
                                        {app_removable.then(|| view! {
                                            <ActionForm action=remove attr:class="inline-form">
                                                <FormError error=remove_failure />
                                                <button type="submit" class="button button-danger" data-testid="remove-app">
                                                    "Remove the authenticator app"
                                                </button>
                                            </ActionForm>
                                        })}
                                    }.into_any()
                                } else {
                                    view! {
                                        <p><a class="button" href=SETUP_APP_PAGE data-testid="set-up-app">"Set up an authenticator app"</a></p>
                                    }.into_any()
                                }}
                                {on.then(|| view! {
                                    <h2>"Recovery codes"</h2>
                                    <dl class="facts">
                                        <dt>"Recovery codes left"</dt>
                                        <dd data-testid="codes-left">{codes_left} " of 10"</dd>
                                    </dl>
                                    {few.then(|| view! {
                                        <p class="notice" role="status" data-testid="few-codes-warning">
                                            "Few recovery codes are left. Make new ones: if you lose your phone, they are your way in."
                                        </p>
                                    })}
                                    {waiting.then(|| view! {
                                        <p><a href=crate::api::RECOVERY_CODES_PAGE>"Your new recovery codes are waiting to be saved"</a></p>
                                    })}
                                    <p>"New codes replace the old ones, which stop working at once."</p>
                                    <ActionForm action=renew attr:class="inline-form">
                                        <FormError error=renew_failure />
                                        <button type="submit" class="button" data-testid="renew-codes">"Make new recovery codes"</button>
                                    </ActionForm>
                                })}
                                {(admin && on).then(|| view! {
                                    <p class="muted">"Administrators keep two-factor sign-in on: their last factor cannot be removed."</p>
                                })}
                            }.into_any()
                        }
                        Err(ApiError::Unauthorized) => view! {
                            <p>"Please " <a href="/login">"sign in"</a> " to see your account's security."</p>
                        }.into_any(),
                        Err(other) => view! { <p role="alert">{other.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
pub fn SetupAppPage() -> impl IntoView {
    let setup = Resource::new(|| (), |_| totp_setup());
    let confirm = ServerAction::<ConfirmTotp>::new();
    let code = FieldState::new();
    reset_on_submit(confirm, &[code]);
    let failure = Signal::derive(move || confirm.value().get().and_then(Result::err));
    let code_error = move || failure.get().and_then(|e| e.field(Field::Code));
    view! {
        <Title text="Set up an authenticator app" />
        <section class="card" aria-labelledby="setup-title">
            <h1 id="setup-title">"Set up an authenticator app"</h1>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match setup.await {
                        Ok(setup) => view! {
                            <ol class="steps">
                                <li>"Open your authenticator app and add an account by scanning this code:"</li>
                            </ol>
                            // Drawn on the server from the secret it made (see bulwark::factors::totp).
                            <div class="qr" data-testid="totp-qr" inner_html=setup.qr_svg></div>
                            <p>"Cannot scan? Type this key into the app instead (time-based, six digits):"</p>
                            <p><code class="totp-key" data-testid="totp-key">{setup.key}</code></p>
                            <p class="muted">"The app will show it as " <strong>{setup.issuer}</strong> " (" {setup.label} ")."</p>
                            <ActionForm action=confirm attr:novalidate=true>
                                <FormError error=Signal::derive(move || failure.get().filter(|e| e.field(Field::Code).is_none())) />
                                <TextField
                                    id="setup-code"
                                    name="code"
                                    label="The six-digit code the app shows now"
                                    input_type="text"
                                    autocomplete="one-time-code"
                                    inputmode="numeric"
                                    state=code
                                    error=code.error(|_| None, code_error)
                                />
                                <p class="muted">"Every other browser signed in to your account will be signed out, in case someone else knew your password."</p>
                                <label class="check">
                                    <input type="checkbox" name="keep_others" value="on" data-testid="keep-others" />
                                    " Keep my other browsers signed in"
                                </label>
                                <SubmitButton pending=confirm.pending() idle="Turn on two-factor sign-in" busy="Checking…" />
                            </ActionForm>
                        }.into_any(),
                        Err(ApiError::StepUpRequired) => view! {
                            <FormError error=Signal::derive(|| Some(ApiError::StepUpRequired)) />
                        }.into_any(),
                        Err(ApiError::FactorAlreadySet) => view! {
                            <p>"An authenticator app is already set up. " <a href=crate::api::SECURITY_PAGE>"Back to security"</a></p>
                        }.into_any(),
                        Err(ApiError::Unauthorized) => view! {
                            <p>"Please " <a href="/login">"sign in"</a> " first."</p>
                        }.into_any(),
                        Err(other) => view! { <p role="alert">{other.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
pub fn RecoveryCodesPage() -> impl IntoView {
    let codes = Resource::new(|| (), |_| recovery_codes_to_show());
    let saved = ServerAction::<RecoveryCodesSaved>::new();
    let saved_failure = Signal::derive(move || saved.value().get().and_then(Result::err));
    view! {
        <Title text="Your recovery codes" />
        <section class="card" aria-labelledby="codes-title">
            <h1 id="codes-title">"Your recovery codes"</h1>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match codes.await {
                        Ok(Some(codes)) => {
                            let text = format!(
                                "Bulwark recovery codes\nEach works once, instead of a code from your authenticator app.\n\n{}\n",
                                codes.join("\n")
                            );
                            let download = format!("data:text/plain;charset=utf-8,{}", crate::components::urlencoding_path(&text));
                            view! {
                                <p>
                                    "Keep these somewhere safe, away from your phone (a password manager, or printed). "
                                    "If you lose your authenticator app, each code signs you in once. "
                                    <strong>"They are shown only now."</strong>
                                </p>
                                <ol class="recovery-codes" data-testid="recovery-codes">
                                    {codes.into_iter().map(|code| view! { <li><code>{code}</code></li> }).collect_view()}
                                </ol>
                                <p class="actions">
                                    <a class="button button-quiet" href=download download="bulwark-recovery-codes.txt" data-testid="download-codes">"Download as a text file"</a>
                                    <PrintButton />
                                </p>
                                <ActionForm action=saved>
                                    <FormError error=saved_failure />
                                    <button type="submit" class="button button-wide" data-testid="codes-saved">"I have saved them"</button>
                                </ActionForm>
                            }.into_any()
                        }
                        Ok(None) => view! {
                            <p data-testid="no-codes-waiting">
                                "No new recovery codes are waiting: they are shown once, until you say you saved them. "
                                <a href=crate::api::SECURITY_PAGE>"Back to security"</a>
                            </p>
                        }.into_any(),
                        Err(ApiError::StepUpRequired) => view! {
                            <FormError error=Signal::derive(|| Some(ApiError::StepUpRequired)) />
                        }.into_any(),
                        Err(other) => view! { <p role="alert">{other.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// "Print" (with JavaScript; without it, the browser's own print works on this page).
#[component]
fn PrintButton() -> impl IntoView {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <Show when=move || hydrated.get()>
            <button type="button" class="button button-quiet" on:click=move |_| {
                #[cfg(feature = "hydrate")]
                {
                    let _ = window().print();
                }
            }>"Print"</button>
        </Show>
    }
}
