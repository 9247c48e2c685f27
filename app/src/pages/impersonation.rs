//! Impersonation in the interface: the banner on every page while it runs (whose account,
//! the reason, the time left, Stop), the start form on a user's dashboard page, the
//! admins' list of live and past impersonations, and consent mode's support-access card.
//! Every form is a plain POST, so all of it works without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;

use super::admin::{AdminNav, AdminOnly};
use crate::{
    api::{
        admin_impersonations, admin_user_page, describe_ending, support_access, CurrentUser,
        EndImpersonation, GrantSupportAccess, ImpersonationView, RevokeSupportAccess, StartImpersonation,
        StopImpersonation, ADMIN_IMPERSONATIONS_PAGE,
    },
    components::{FlashNotice, FormError},
};

/// "12 minutes left (until 14:55 UTC)": rounded up, so it never says 0 while it runs.
pub fn time_left(now: i64, until: i64) -> String {
    let secs = (until - now).max(0);
    let minutes = secs / 60 + i64::from(secs % 60 != 0);
    let plural = if minutes == 1 { "" } else { "s" };
    let clock = bulwark::utc::minute(until);
    let time = clock.split(' ').nth(1).unwrap_or(&clock).to_owned();
    format!("{minutes} minute{plural} left (until {time} UTC)")
}

/// On every page while an admin impersonates `current`.
#[component]
pub fn ImpersonationBanner(current: CurrentUser) -> impl IntoView {
    let Some(banner) = current.impersonation else { return ().into_any() };
    let stop = ServerAction::<StopImpersonation>::new();
    view! {
        <div class="impersonation-banner" role="status" data-testid="impersonation-banner">
            <p>
                <strong>"You are viewing "{current.username.clone()}"'s account"</strong>
                " as " {banner.admin.clone()} ". Reason: "
                <q data-testid="impersonation-reason">{banner.reason.clone()}</q>
                ". " <span data-testid="impersonation-time-left">{time_left(banner.now, banner.expires_at)}</span>
                ". Changes to passwords, email, sessions and the admin area are blocked."
            </p>
            <ActionForm action=stop attr:class="inline-form">
                <button type="submit" class="button button-small" data-testid="stop-impersonating">"Stop impersonating"</button>
            </ActionForm>
        </div>
    }
    .into_any()
}

/// On a user's dashboard page: a reason, then Start (the password first if the last
/// step-up is older than five minutes).
#[component]
pub fn ImpersonateForm(id: i64) -> impl IntoView {
    let start = ServerAction::<StartImpersonation>::new();
    let failure = Signal::derive(move || start.value().get().and_then(Result::err));
    view! {
        <h2>"Impersonate"</h2>
        <p class="muted">
            "See the application as this user does, for at most the configured time. They are told by mail, "
            "and see it on their sessions and activity pages. Password, email and session changes are blocked meanwhile."
        </p>
        <ActionForm action=start attr:class="stacked-form">
            <FormError error=failure />
            <input type="hidden" name="id" value=id.to_string() />
            <label>
                "Reason (10 to 500 characters; the user sees it)"
                <textarea name="reason" required minlength="10" maxlength="500" rows="2" data-testid="impersonation-reason-input"></textarea>
            </label>
            <button type="submit" class="button" data-testid="start-impersonation">"Impersonate this user"</button>
        </ActionForm>
    }
}

#[component]
pub fn AdminImpersonationsPage() -> impl IntoView {
    view! {
        <Title text="Admin: impersonations" />
        <AdminOnly>
            <ImpersonationList />
        </AdminOnly>
    }
}

#[component]
fn ImpersonationList() -> impl IntoView {
    let query = |name: &'static str| {
        move || leptos_router::hooks::use_query_map().read().get(name).unwrap_or_default()
    };
    let (live, before) = (query("live"), query("before"));
    let end = ServerAction::<EndImpersonation>::new();
    let page = Resource::new(
        move || (live(), before(), end.version().get()),
        |(live, before, _)| admin_impersonations(live == "true", before.parse().ok()),
    );
    let failure = Signal::derive(move || end.value().get().and_then(Result::err));
    view! {
        <section class="card wide" aria-labelledby="impersonations-title">
            <AdminNav />
            <h1 id="impersonations-title">"Impersonations"</h1>
            <FlashNotice notice=crate::flash::notice::IMPERSONATION_ENDED test_id="admin-done" title="Ended.">" The impersonation is over and recorded in the audit log."</FlashNotice>
            <FormError error=failure />
            <p>
                <a href=ADMIN_IMPERSONATIONS_PAGE>"All"</a> " · "
                <a href=format!("{ADMIN_IMPERSONATIONS_PAGE}?live=true") data-testid="live-only">"Live only"</a>
            </p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(list) if list.items.is_empty() => view! { <p>"None."</p> }.into_any(),
                        Ok(list) => {
                            let next = list.next.map(|id| format!("{ADMIN_IMPERSONATIONS_PAGE}?live={}&before={id}", live()));
                            view! {
                                <table class="admin-table" data-testid="impersonation-table">
                                    <thead><tr>
                                        <th scope="col">"Admin"</th><th scope="col">"User"</th><th scope="col">"Reason"</th>
                                        <th scope="col">"Started (UTC)"</th><th scope="col">"Ended"</th><th scope="col"></th>
                                    </tr></thead>
                                    <tbody>
                                        {list.items.into_iter().map(|item| view! { <ImpersonationRow item end /> }).collect_view()}
                                    </tbody>
                                </table>
                                {next.map(|href| view! { <p><a href=href data-testid="next-page">"Older"</a></p> })}
                            }.into_any()
                        }
                        Err(error) => view! { <p role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ImpersonationRow(item: ImpersonationView, end: ServerAction<EndImpersonation>) -> impl IntoView {
    let ended = match (&item.ended_at, &item.ended_how) {
        (Some(at), how) => {
            let minutes = (at - item.started_at).max(0) / 60;
            format!(
                "{} after {minutes} min ({})",
                bulwark::utc::minute(*at),
                describe_ending(how.as_deref().unwrap_or(""))
            )
        }
        (None, _) if item.live => format!("live until {} UTC", bulwark::utc::minute(item.expires_at)),
        (None, _) => "past its limit".to_owned(),
    };
    view! {
        <tr data-testid="impersonation-row">
            <td><a href=admin_user_page(item.admin_id)>{item.admin.clone()}</a></td>
            <td><a href=admin_user_page(item.user_id)>{item.username.clone()}</a></td>
            <td>{item.reason.clone()}</td>
            <td>{bulwark::utc::minute(item.started_at)}</td>
            <td>{ended}</td>
            <td>
                {item.live.then(|| view! {
                    <ActionForm action=end attr:class="inline-form">
                        <input type="hidden" name="id" value=item.id.to_string() />
                        <button type="submit" class="button button-small button-danger">"End"</button>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}

/// Consent mode's card on the activity page: grant support staff access for a while, or
/// withdraw it. Nothing when the site does not ask for consent.
#[component]
pub fn SupportAccessCard() -> impl IntoView {
    let grant = ServerAction::<GrantSupportAccess>::new();
    let revoke = ServerAction::<RevokeSupportAccess>::new();
    let state = Resource::new(move || (grant.version().get(), revoke.version().get()), |_| support_access());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match state.await {
                    Ok(view) if view.consent_required => view! {
                        <section class="card" aria-labelledby="support-title" data-testid="support-access">
                            <h2 id="support-title">"Support access"</h2>
                            {match view.until {
                                Some(until) => view! {
                                    <p data-testid="support-access-until">
                                        {format!("Support staff may view your account as you see it until {} UTC.", bulwark::utc::minute(until))}
                                    </p>
                                    <ActionForm action=revoke attr:class="inline-form">
                                        <button type="submit" class="button button-quiet">"Withdraw support access"</button>
                                    </ActionForm>
                                }.into_any(),
                                None => view! {
                                    <p>"Support staff cannot view your account unless you let them, for a limited time."</p>
                                    <ActionForm action=grant attr:class="inline-form">
                                        <label>
                                            "Allow for "
                                            <select name="hours">
                                                <option value="1">"1 hour"</option>
                                                <option value="24">"24 hours"</option>
                                                <option value="168">"7 days"</option>
                                            </select>
                                        </label>
                                        " "
                                        <button type="submit" class="button">"Grant support access"</button>
                                    </ActionForm>
                                }.into_any(),
                            }}
                        </section>
                    }.into_any(),
                    _ => ().into_any(),
                }
            })}
        </Transition>
    }
}

#[cfg(test)]
mod tests {
    use super::time_left;

    #[test]
    fn time_left_rounds_up_and_names_the_end() {
        assert_eq!(time_left(0, 60), "1 minute left (until 00:01 UTC)");
        assert_eq!(time_left(0, 61), "2 minutes left (until 00:01 UTC)");
        assert_eq!(time_left(100, 50), "0 minutes left (until 00:00 UTC)");
    }
}
