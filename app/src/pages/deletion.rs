//! `/account/delete`: the signed-in owner deletes their account, after a step-up and after
//! reading, in plain words, what happens. `/account/delete/undo?token=…`: the page the
//! mailed link opens; its button (a POST, so mail scanners that fetch links keep nothing
//! open) keeps the account. Both work without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::{deletion_terms, pending_deletion, DeleteAccount, UndoDeletion, STEP_UP_PAGE},
    components::{FlashNotice, FormError, SubmitButton},
    error::ApiError,
};

#[component]
pub fn DeleteAccountPage() -> impl IntoView {
    let delete = ServerAction::<DeleteAccount>::new();
    let terms = Resource::new(|| (), |_| deletion_terms());
    let failure = Signal::derive(move || delete.value().get().and_then(Result::err));
    view! {
        <Title text="Delete your account" />
        <section class="card auth-card" aria-labelledby="delete-title">
            <h1 id="delete-title">"Delete your account"</h1>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match terms.await {
                        Ok(terms) if terms.admin => view! {
                            <p data-testid="deletion-admin">
                                "An administrator's account is deleted by another administrator (a second one approves it), "
                                "so that nobody can make their own actions' trail go away alone. Ask another administrator."
                            </p>
                        }.into_any(),
                        Ok(terms) => view! {
                            <p>"When you delete your account:"</p>
                            <ul data-testid="deletion-terms">
                                <li>"it closes at once: nobody can sign in to it, and every browser signed in to it, this one too, is signed out;"</li>
                                <li>"we mail you a link that keeps the account for " {terms.grace_days} " days;"</li>
                                <li>"after " {terms.grace_days} " days your address, username, password, second factors, passkeys, browsers and sessions are erased, and your address can be used for a new account;"</li>
                                <li>"the security log keeps only that events happened, without your address or browser; your username stays reserved for six months, so nobody can pose as you with it."</li>
                            </ul>
                            {(!terms.stepped_up).then(|| view! {
                                <p data-testid="deletion-step-up">
                                    "For your security this needs your password (and your second factor, if you have one) again first. "
                                    <a href=format!("{STEP_UP_PAGE}?next=/account/delete") data-testid="step-up-link">"Confirm it is you"</a>
                                </p>
                            })}
                            <ActionForm action=delete>
                                <FormError error=failure />
                                <SubmitButton pending=delete.pending() idle="Delete my account" busy="Deleting…" />
                            </ActionForm>
                        }.into_any(),
                        Err(ApiError::Unauthorized) => view! {
                            <p>"Please " <a href="/login">"sign in"</a> " to delete your account."</p>
                        }.into_any(),
                        Err(ApiError::Forbidden) => view! {
                            <p role="alert">"An account cannot be deleted while an administrator views it."</p>
                        }.into_any(),
                        Err(other) => view! { <p role="alert">{other.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
pub fn UndoDeletionPage() -> impl IntoView {
    let undo = ServerAction::<UndoDeletion>::new();
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let pending = Resource::new(token, pending_deletion);
    let flash =
        crate::flash::take_any(&[crate::flash::notice::ACCOUNT_KEPT, crate::flash::notice::LINK_INVALID]);
    let kept_here = flash == Some(crate::flash::notice::ACCOUNT_KEPT);
    let dead_here = flash == Some(crate::flash::notice::LINK_INVALID);
    let kept = move || kept_here || matches!(undo.value().get(), Some(Ok(())));
    let failure = Signal::derive(move || undo.value().get().and_then(Result::err));
    view! {
        <Title text="Keep your account" />
        <section class="card auth-card" aria-labelledby="undo-title">
            <h1 id="undo-title">"Keep your account"</h1>
            <Show
                when=kept
                fallback=move || view! {
                    <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                        {move || Suspend::new(async move {
                            match (dead_here, pending.await) {
                                (false, Ok(pending)) => view! {
                                    <p data-testid="deletion-account">
                                        "This link is for the account at " <strong>{pending.email}</strong> ". If that is not your address, stop here: someone sent you a link for their own account."
                                    </p>
                                    <p data-testid="deletion-due">
                                        "This account will be erased on " {bulwark::utc::minute(pending.due_at)} " UTC. "
                                        "Keep it, and it opens again as it was; every browser stays signed out, so you sign in again."
                                    </p>
                                    <ActionForm action=undo>
                                        <FormError error=failure />
                                        <input type="hidden" name="token" prop:value=token value=token />
                                        <SubmitButton pending=undo.pending() idle="Keep my account" busy="Keeping…" />
                                    </ActionForm>
                                }.into_any(),
                                _ => view! {
                                    <div class="form-error" role="alert" data-testid="link-invalid">
                                        "That link is invalid, has already been used, or its account has been erased. Nothing was changed."
                                    </div>
                                }.into_any(),
                            }
                        })}
                    </Transition>
                }
            >
                <div class="notice" role="status" data-testid="account-kept">
                    <strong>"Your account is kept."</strong>
                    " It is open again. Sign in with your password as before."
                </div>
                <p><a href="/login">"Sign in"</a></p>
            </Show>
        </section>
    }
}

/// The notice on the home page after deleting an account.
#[component]
pub fn AccountClosedNotice() -> impl IntoView {
    view! {
        <FlashNotice notice=crate::flash::notice::ACCOUNT_CLOSED test_id="account-closed" title="Your account is closed.">
            " It will be erased when the grace period ends. The mail we sent you has a link that keeps it until then."
        </FlashNotice>
    }
}
