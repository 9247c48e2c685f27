//! Invitations: `/admin/invitations` (send one, and the list with approve, resend and
//! revoke) and `/invitation` (the page an invitation's link opens: choose a username and a
//! password). Both work without JavaScript.
//!
//! The invitation page has no strength meter: the meter's dictionary would be fetched for
//! it, and the server's verdict (the same check as at signup) shows under the field.

use bulwark::{Field, Role, Username};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::{
        admin_invitations, admin_user_page, read_invitation, AcceptInvitation, AdminApproveInvitation,
        AdminInvite, AdminResendInvitation, AdminRevokeInvitation, InvitationView,
    },
    components::{
        password_policy, reset_on_submit, rule_message, EmailField, FieldState, FlashNotice, FormError,
        SubmitButton, TextField,
    },
};

use super::admin::{AdminNav, AdminOnly};

#[component]
pub fn AdminInvitationsPage() -> impl IntoView {
    view! {
        <Title text="Admin: invitations" />
        <AdminOnly>
            <Invitations />
        </AdminOnly>
    }
}

#[component]
fn Invitations() -> impl IntoView {
    let invite = ServerAction::<AdminInvite>::new();
    let approve = ServerAction::<AdminApproveInvitation>::new();
    let resend = ServerAction::<AdminResendInvitation>::new();
    let revoke = ServerAction::<AdminRevokeInvitation>::new();
    let email = FieldState::new();
    reset_on_submit(invite, &[email]);
    let list = Resource::new(
        move || {
            (invite.version().get(), approve.version().get(), resend.version().get(), revoke.version().get())
        },
        |_| admin_invitations(),
    );
    let invite_failure = Signal::derive(move || invite.value().get().and_then(Result::err));
    let failure = Signal::derive(move || {
        [approve.value().get(), resend.value().get(), revoke.value().get()]
            .into_iter()
            .flatten()
            .find_map(Result::err)
    });
    view! {
        <section class="card wide" aria-labelledby="invitations-title">
            <AdminNav />
            <h1 id="invitations-title">"Invitations"</h1>
            <FlashNotice notice=crate::flash::notice::INVITATION_SENT test_id="invitation-sent" title="The invitation is on its way.">
                " Its link works once, for three days. If the address already has an account, its owner is told instead, and nothing changes."
            </FlashNotice>
            <FlashNotice notice=crate::flash::notice::INVITATION_WAITING test_id="invitation-waiting" title="The invitation waits for another administrator.">
                " An invitation to an administrator's account is mailed only once another administrator approves it (within 24 hours). Every administrator has been mailed about it."
            </FlashNotice>
            <FlashNotice notice=crate::flash::notice::ADMIN_DONE test_id="admin-done" title="Done.">
                ""
            </FlashNotice>
            <h2>"Invite someone"</h2>
            <p class="muted">
                "The invitation's link lets its owner choose a username and a password. An administrator's account "
                "can do nothing but set up two-factor sign-in until it has it; inviting one needs another administrator's approval when one can give it."
            </p>
            <ActionForm action=invite attr:novalidate=true>
                <FormError error=invite_failure />
                <EmailField
                    id="invite-email"
                    state=email
                    autocomplete="off"
                    server=Signal::derive(move || invite_failure.get().and_then(|e| e.field(Field::Email)))
                />
                <div class="field">
                    <label for="invite-role">"Role"</label>
                    <select id="invite-role" name="role">
                        <option value="user" selected>"User"</option>
                        <option value="admin">"Administrator"</option>
                    </select>
                </div>
                <SubmitButton pending=invite.pending() idle="Send the invitation" busy="Sending…" />
            </ActionForm>
            <h2>"Sent"</h2>
            <FormError error=failure />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(list) => view! {
                            {list.invite_only.then(|| view! {
                                <p class="muted" data-testid="invite-only">"Sign-up on this site is by invitation only."</p>
                            })}
                            <InvitationList invitations=list.invitations approve resend revoke />
                        }.into_any(),
                        Err(error) => view! { <p role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn InvitationList(
    invitations: Vec<InvitationView>,
    approve: ServerAction<AdminApproveInvitation>,
    resend: ServerAction<AdminResendInvitation>,
    revoke: ServerAction<AdminRevokeInvitation>,
) -> impl IntoView {
    if invitations.is_empty() {
        return view! { <p data-testid="no-invitations">"No invitations yet."</p> }.into_any();
    }
    view! {
        <ul class="session-list" data-testid="invitations">
            {invitations.into_iter().map(|i| {
                let id = i.id.to_string();
                let role = if i.role == Role::Admin { "administrator" } else { "user" };
                let by = i.invited_by.clone().unwrap_or_else(|| "the command line".to_owned());
                let state = match i.status.as_str() {
                    "waiting" => format!("Waits for another administrator's approval until {} UTC.", bulwark::utc::minute(i.expires_at)),
                    "sent" => format!("Mailed {} UTC; the link works until {} UTC.", bulwark::utc::minute(i.sent_at.unwrap_or(i.created_at)), bulwark::utc::minute(i.expires_at)),
                    "accepted" => "Accepted.".to_owned(),
                    "revoked" => "Revoked.".to_owned(),
                    "void" => "No longer works: the administrator who sent or approved it lost their access or ended all their sessions since.".to_owned(),
                    _ => "Expired.".to_owned(),
                };
                let approved = i.approved_by.clone().map(|a| format!(" Approved by {a}."));
                let account = i.account.map(|account| view! { " " <a href=admin_user_page(account)>"The account"</a> });
                let (approve_id, resend_id, revoke_id) = (id.clone(), id.clone(), id);
                let can_approve = i.status == "waiting" && !i.mine;
                // An invitation to the admin role is approved for one link: invited again instead.
                let can_resend = i.role == Role::User && matches!(i.status.as_str(), "sent" | "expired" | "void");
                let can_revoke = matches!(i.status.as_str(), "sent" | "waiting" | "void");
                view! {
                    <li class="session" data-testid="invitation" data-status=i.status.clone()>
                        <span>
                            <strong data-testid="invitation-email"><bdi>{i.email.clone()}</bdi></strong>
                            " as " {role} <br />
                            <span class="muted">"Invited by " {by} " on " {bulwark::utc::minute(i.created_at)} " UTC. " {state} {approved}</span>
                            {account}
                        </span>
                        {can_approve.then(move || view! {
                            <ActionForm action=approve attr:class="inline-form">
                                <input type="hidden" name="id" value=approve_id />
                                <button type="submit" class="button button-small button-danger" data-testid="approve-invitation">"Approve"</button>
                            </ActionForm>
                        })}
                        {can_resend.then(move || view! {
                            <ActionForm action=resend attr:class="inline-form">
                                <input type="hidden" name="id" value=resend_id />
                                <button type="submit" class="button button-small button-quiet" data-testid="resend-invitation">"Send again"</button>
                            </ActionForm>
                        })}
                        {can_revoke.then(move || view! {
                            <ActionForm action=revoke attr:class="inline-form">
                                <input type="hidden" name="id" value=revoke_id />
                                <button type="submit" class="button button-small button-quiet" data-testid="revoke-invitation">"Revoke"</button>
                            </ActionForm>
                        })}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

/// `/invitation?token=…`: the address and role the invitation is for, and the form that
/// makes the account. A mailed link never signs in: the account then signs in with its
/// password (and, for an administrator, sets up two-factor sign-in first).
#[component]
pub fn AcceptInvitationPage() -> impl IntoView {
    let accept = ServerAction::<AcceptInvitation>::new();
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let offer = Resource::new(token, read_invitation);
    let dead_here = crate::flash::take(crate::flash::notice::LINK_INVALID);
    let username = FieldState::new();
    let password = FieldState::new();
    reset_on_submit(accept, &[username, password]);
    let failure = Signal::derive(move || accept.value().get().and_then(Result::err));
    let server = move |field: Field| move || failure.get().and_then(|e| e.field(field));
    let policy = password_policy();
    view! {
        <Title text="Accept your invitation" />
        <section class="card auth-card" aria-labelledby="invitation-title">
            <h1 id="invitation-title">"Accept your invitation"</h1>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match (dead_here, offer.await) {
                        (false, Ok(offer)) => view! {
                            <p data-testid="invitation-for">
                                "This invitation is for " <strong><bdi>{offer.email}</bdi></strong>
                                {if offer.role == Role::Admin { ", to an administrator's account" } else { "" }}
                                ". Choose the username others will see and a password. The link works until "
                                {bulwark::utc::minute(offer.expires_at)} " UTC."
                            </p>
                            {(offer.role == Role::Admin).then(|| view! {
                                <p class="muted" data-testid="invitation-admin">
                                    "After you sign in, you set up two-factor sign-in (an authenticator app or a passkey) before anything else."
                                </p>
                            })}
                            <ActionForm action=accept attr:novalidate=true>
                                <FormError error=failure />
                                <input type="hidden" name="token" prop:value=token value=token />
                                <TextField
                                    id="invitation-username"
                                    name="username"
                                    label="Username"
                                    autocomplete="username"
                                    hint=Some("3–32 characters: letters, digits, dots, hyphens, underscores.".to_string())
                                    state=username
                                    error=username.error(|v| rule_message(Username::parse(v)), server(Field::Username))
                                />
                                <TextField
                                    id="invitation-password"
                                    name="password"
                                    label="Password"
                                    input_type="password"
                                    autocomplete="new-password"
                                    hint=Some(format!(
                                        "At least {} characters. A few unrelated words make a strong, memorable password.",
                                        policy.min_chars(),
                                    ))
                                    state=password
                                    error=password.error(move |v| rule_message(bulwark::Password::parse(v, policy)), server(Field::Password))
                                />
                                <SubmitButton pending=accept.pending() idle="Create my account" busy="Creating…" />
                            </ActionForm>
                        }.into_any(),
                        _ => view! {
                            <div class="form-error" role="alert" data-testid="link-invalid">
                                "That invitation link is invalid, has already been used, was revoked, or has expired. "
                                "Ask the administrator who invited you to send it again."
                            </div>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
