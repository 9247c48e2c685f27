//! `/admin/approvals`: the requests that wait for a second admin (the two-person rule),
//! each with "Approve" (not for its proposer) and "Withdraw". The same list, for one
//! account, is on that account's page. Everything works without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{admin_approvals, admin_user_page, AdminApprove, AdminWithdraw, ApprovalView},
    components::FormError,
};

use super::admin::{AdminNav, AdminOnly};

#[component]
pub fn AdminApprovalsPage() -> impl IntoView {
    view! {
        <Title text="Admin: approvals" />
        <AdminOnly>
            <ApprovalsList />
        </AdminOnly>
    }
}

#[component]
fn ApprovalsList() -> impl IntoView {
    let approve = ServerAction::<AdminApprove>::new();
    let withdraw = ServerAction::<AdminWithdraw>::new();
    let list =
        Resource::new(move || (approve.version().get(), withdraw.version().get()), |_| admin_approvals());
    let failure = Signal::derive(move || {
        [approve.value().get(), withdraw.value().get()].into_iter().flatten().find_map(Result::err)
    });
    view! {
        <section class="card wide" aria-labelledby="approvals-title">
            <AdminNav />
            <h1 id="approvals-title">"Waiting for approval"</h1>
            <p class="muted">{RULE}</p>
            <FormError error=failure />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(list) => view! { <Approvals approvals=list.approvals approve withdraw with_target=true /> }.into_any(),
                        Err(error) => view! { <p role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The rule, as the pages say it.
pub(super) const RULE: &str = "Anything done to an administrator's account, and making an account an administrator, \
     takes effect only when another administrator approves it within 24 hours: neither whoever asked nor the \
     administrator it is about can. Only whoever asked can withdraw it; if nobody approves it, it lapses. Every \
     administrator is mailed about each request and decision.";

/// Requests that wait, with their buttons.
#[component]
pub(super) fn Approvals(
    approvals: Vec<ApprovalView>,
    approve: ServerAction<AdminApprove>,
    withdraw: ServerAction<AdminWithdraw>,
    /// Name the account each request is about (the list of all requests does).
    with_target: bool,
) -> impl IntoView {
    if approvals.is_empty() {
        return view! { <p data-testid="no-approvals">"Nothing is waiting."</p> }.into_any();
    }
    view! {
        <ul class="session-list" data-testid="approvals">
            {approvals.into_iter().map(|a| {
                let id = a.id.to_string();
                let target = with_target.then(|| view! {
                    " for " <a href=admin_user_page(a.target)>{a.target_username.clone()}</a>
                    " " <span class="muted">"(" {a.target_email.clone()} ")"</span>
                });
                let approve_id = id.clone();
                let approve_form = (!a.mine && !a.about_you).then(move || view! {
                    <ActionForm action=approve attr:class="inline-form">
                        <input type="hidden" name="id" value=approve_id />
                        <button type="submit" class="button button-small button-danger" data-testid="approve">"Approve"</button>
                    </ActionForm>
                });
                let whose = if a.mine {
                    "You asked for this; another administrator must approve it.".to_owned()
                } else if a.about_you {
                    format!("Asked for by {}. It is about your account: another administrator decides it.", a.proposer_username)
                } else {
                    format!("Asked for by {}.", a.proposer_username)
                };
                view! {
                    <li class="session" data-testid="approval">
                        <span>
                            <strong>{a.action.clone()}</strong>{target}<br />
                            {a.reason.clone().map(|reason| view! { <span>"Reason given by the administrator who asked: " <q>{reason}</q></span><br /> })}
                            <span class="muted">{whose}" Waits until "{bulwark::utc::minute(a.expires_at)}" UTC."</span>
                        </span>
                        {approve_form}
                        {a.mine.then(move || view! {
                            <ActionForm action=withdraw attr:class="inline-form">
                                <input type="hidden" name="id" value=id />
                                <button type="submit" class="button button-small button-quiet" data-testid="withdraw">"Withdraw"</button>
                            </ActionForm>
                        })}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}
