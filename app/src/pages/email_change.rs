//! `/account/email`: ask for a new address (after a step-up), see or withdraw the change
//! that waits for confirmation. `/email-change/{confirm,cancel,recover}?token=…`: the pages
//! the mailed links open. Opening a link changes nothing: its page's button posts the
//! token (mail scanners that fetch links use nothing up). The link pages are served with
//! `Referrer-Policy: no-referrer`. Everything works without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::{email_status, ChangeEmail, EmailChangeLink, FollowEmailChangeLink, WithdrawEmailChange},
    components::{
        reset_on_submit, rule_message, ExistingPasswordField, FieldState, FlashNotice, FormError,
        LinkAccount, SubmitButton, TextField,
    },
    error::ApiError,
};

#[component]
pub fn EmailChangePage() -> impl IntoView {
    let change = ServerAction::<ChangeEmail>::new();
    let withdraw = ServerAction::<WithdrawEmailChange>::new();
    let email = FieldState::new();
    reset_on_submit(change, &[email]);
    let status =
        Resource::new(move || (change.version().get(), withdraw.version().get()), |_| email_status());
    let failure = Signal::derive(move || change.value().get().and_then(Result::err));
    let withdraw_failure = Signal::derive(move || withdraw.value().get().and_then(Result::err));
    let server_email = move || failure.get().and_then(|e| e.field(bulwark::Field::Email));

    view! {
        <Title text="Change your email address" />
        <section class="card auth-card" aria-labelledby="email-title">
            <h1 id="email-title">"Change your email address"</h1>
            <FlashNotice notice=crate::flash::notice::EMAIL_CHANGE_REQUESTED test_id="email-change-requested" title="Check the new address's inbox.">
                " We mailed it a link that works for 24 hours. Your address stays as it is until "
                "the link is used. We also told your current address."
            </FlashNotice>
            <FlashNotice notice=crate::flash::notice::EMAIL_CHANGE_WITHDRAWN test_id="email-change-withdrawn" title="The change was withdrawn.">
                " Its link no longer works. Your address stays as it is."
            </FlashNotice>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(status) => view! {
                            <dl class="facts">
                                <dt>"Current address"</dt>
                                <dd data-testid="current-email">{status.email}</dd>
                                {status.pending.map(|(to, until)| view! {
                                    <dt>"Waiting for confirmation"</dt>
                                    <dd data-testid="pending-email">
                                        {to} <span class="muted">" (until " {bulwark::utc::minute(until)} " UTC)"</span>
                                    </dd>
                                })}
                            </dl>
                        }.into_any(),
                        Err(ApiError::Unauthorized) => view! {
                            <p>"Please " <a href="/login">"sign in"</a> " to change your email address."</p>
                        }.into_any(),
                        Err(other) => view! { <p role="alert">{other.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <p>
                "We will mail a link to the new address; nothing changes until it is used. For "
                "your security this needs your password again."
            </p>
            <ActionForm action=change attr:novalidate=true>
                <FormError error=failure />
                <TextField
                    id="new-email"
                    name="email"
                    label="New email address"
                    input_type="email"
                    autocomplete="email"
                    state=email
                    error=email.error(|v| rule_message(bulwark::Email::parse(v)), server_email)
                />
                <SubmitButton pending=change.pending() idle="Send a confirmation link" busy="Sending…" />
            </ActionForm>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    status.await.ok().and_then(|s| s.pending).map(|_| view! {
                        <ActionForm action=withdraw attr:class="inline-form">
                            <FormError error=withdraw_failure />
                            <button type="submit" class="button button-quiet" data-testid="withdraw-email-change">
                                "Withdraw the waiting change"
                            </button>
                        </ActionForm>
                    })
                })}
            </Transition>
        </section>
    }
}

/// What one link page says.
struct LinkWords {
    link: EmailChangeLink,
    title: &'static str,
    intro: &'static str,
    button: &'static str,
    busy: &'static str,
    done_title: &'static str,
    done: &'static str,
    done_link: (&'static str, &'static str),
    /// The notice the server leaves when this link was followed here (see `flash`).
    done_notice: &'static str,
}

#[component]
pub fn ConfirmEmailChangePage() -> impl IntoView {
    link_page(LinkWords {
        link: EmailChangeLink::Confirm,
        title: "Confirm your new email address",
        intro: "This makes this address the email address of your Bulwark account: enter that account's password. You will sign in with this address from now on.",
        button: "Use this address",
        busy: "Confirming…",
        done_title: "Your email address has been changed.",
        done: " Sign in with it from now on. Your old address was told, in case it was not you.",
        done_link: ("/login", "Sign in"),
        done_notice: crate::flash::notice::EMAIL_CHANGE_CONFIRMED,
    })
}

#[component]
pub fn CancelEmailChangePage() -> impl IntoView {
    link_page(LinkWords {
        link: EmailChangeLink::Cancel,
        title: "Cancel the email address change",
        intro: "This cancels the change of your account's email address: it stays as it is, and the link mailed to the new address stops working.",
        button: "Cancel the change",
        busy: "Cancelling…",
        done_title: "The change is cancelled.",
        done: " Your email address stays as it is. If you did not ask for the change, whoever did knows your password: reset it now, which also signs out every device.",
        done_link: ("/forgot-password", "Reset my password"),
        done_notice: crate::flash::notice::EMAIL_CHANGE_CANCELLED,
    })
}

#[component]
pub fn RecoverAccountPage() -> impl IntoView {
    link_page(LinkWords {
        link: EmailChangeLink::Recover,
        title: "Recover your account",
        intro: "This puts your account back at this email address, signs out every device signed in to it, and stops its password from working. We then mail this address a link to choose a new password.",
        button: "Recover my account",
        busy: "Recovering…",
        done_title: "Your account is back at this address.",
        done: " Every device has been signed out. We have mailed you a link to choose a new password; until then, nobody can sign in.",
        done_link: ("/forgot-password", "Need another link?"),
        done_notice: crate::flash::notice::ACCOUNT_RECOVERED,
    })
}

fn link_page(words: LinkWords) -> impl IntoView {
    let follow = ServerAction::<FollowEmailChangeLink>::new();
    let password = FieldState::new();
    reset_on_submit(follow, &[password]);
    let asks_password = words.link == EmailChangeLink::Confirm;
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    // Done or dead only by the server's answer: this browser's own request (see `flash`).
    let flash = crate::flash::take_any(&[words.done_notice, crate::flash::notice::LINK_INVALID]);
    let done_here = flash == Some(words.done_notice);
    let dead_here = flash == Some(crate::flash::notice::LINK_INVALID);
    let done = move || done_here || matches!(follow.value().get(), Some(Ok(())));
    let failure = Signal::derive(move || follow.value().get().and_then(Result::err));
    let server_password = move || failure.get().and_then(|e| e.field(bulwark::Field::CurrentPassword));
    let dead = move || dead_here || failure.get() == Some(ApiError::InvalidLink);
    let (done_href, done_label) = words.done_link;
    // The cancel and recovery pages name the account they act for, before and after.
    let names_account = match words.link {
        EmailChangeLink::Cancel => Some("cancel"),
        EmailChangeLink::Recover => Some("recover"),
        EmailChangeLink::Confirm => None,
    };
    view! {
        <Title text=words.title />
        <section class="card auth-card" aria-labelledby="link-title">
            <h1 id="link-title">{words.title}</h1>
            {names_account.map(|link| view! { <LinkAccount link=link token=Signal::derive(token) /> })}
            <Show
                when=done
                fallback=move || view! {
                    <Show
                        when=dead
                        fallback=move || view! {
                            <p>{words.intro}</p>
                            <ActionForm action=follow attr:novalidate=true>
                                <FormError error=failure />
                                <input type="hidden" name="link" value=words.link.name() />
                                <input type="hidden" name="token" prop:value=token value=token />
                                {asks_password.then(|| view! {
                                    <ExistingPasswordField
                                        id="confirm-password"
                                        name="current_password"
                                        hint="The password of the account whose address this becomes."
                                        state=password
                                        server=Signal::derive(server_password)
                                    />
                                })}
                                <SubmitButton pending=follow.pending() idle=words.button busy=words.busy />
                            </ActionForm>
                        }
                    >
                        <div class="form-error" role="alert" data-testid="link-invalid">
                            "That link is invalid, has already been used, or has expired. Nothing was changed."
                        </div>
                    </Show>
                }
            >
                <div class="notice" role="status" data-testid="link-done">
                    <strong>{words.done_title}</strong>
                    {words.done}
                </div>
                <p><a href=done_href>{done_label}</a></p>
            </Show>
        </section>
    }
}
