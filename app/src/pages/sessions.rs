//! `/account/sessions`: every signed-in session of the user, this one marked; sign out any
//! one, all the others, or everywhere. Each button is its own form, so all of it works
//! without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{
        list_sessions, EndSupportSession, RevokeAllSessions, RevokeOtherSessions, RevokeSession, SessionView,
    },
    components::{FlashNotice, FormError},
    error::ApiError,
};

#[component]
pub fn SessionsPage() -> impl IntoView {
    let revoke = ServerAction::<RevokeSession>::new();
    let revoke_others = ServerAction::<RevokeOtherSessions>::new();
    let revoke_all = ServerAction::<RevokeAllSessions>::new();
    let end_support = ServerAction::<EndSupportSession>::new();
    let list = Resource::new(
        move || (revoke.version().get(), revoke_others.version().get(), end_support.version().get()),
        |_| list_sessions(),
    );
    let revoke_error = Signal::derive(move || {
        revoke
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| revoke_all.value().get().and_then(Result::err))
            .or_else(|| revoke_others.value().get().and_then(Result::err))
            .or_else(|| end_support.value().get().and_then(Result::err))
    });
    let others_done = move || {
        revoke_others.value().get().and_then(Result::ok).map(|n| match n {
            0 => "There were no other sessions.".to_owned(),
            1 => "Signed out 1 other session.".to_owned(),
            n => format!("Signed out {n} other sessions."),
        })
    };

    view! {
        <Title text="Your sessions" />
        <section class="card" aria-labelledby="sessions-title">
            <h1 id="sessions-title">"Your sessions"</h1>
            <p class="muted">
                "Every browser and device signed in to your account. If you don't recognise one, sign it out."
            </p>
            <FlashNotice notice=crate::flash::notice::SUPPORT_ENDED test_id="support-ended" title="Support access ended.">
                " The administrator is no longer viewing your account."
            </FlashNotice>
            <FormError error=revoke_error />
            {move || others_done().map(|text| view! { <div class="notice" role="status">{text}</div> })}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(list) => {
                            let now = list.now;
                            view! {
                                <ul class="session-list" aria-label="Signed-in sessions">
                                    {list.sessions.into_iter().map(|s| view! { <SessionItem session=s now revoke end_support /> }).collect_view()}
                                </ul>
                                <div class="session-actions">
                                    <ActionForm action=revoke_others attr:class="inline-form">
                                        <button type="submit" class="button button-quiet">"Sign out all other sessions"</button>
                                    </ActionForm>
                                    <ActionForm action=revoke_all attr:class="inline-form">
                                        <button type="submit" class="button button-danger">"Sign out everywhere"</button>
                                    </ActionForm>
                                </div>
                            }.into_any()
                        }
                        Err(ApiError::Unauthorized) => view! {
                            <p>"Please " <a href="/login">"sign in"</a> " to see your sessions."</p>
                        }.into_any(),
                        Err(error) => view! {
                            <div class="form-error" role="alert">{error.to_string()}</div>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn SessionItem(
    session: SessionView,
    now: i64,
    revoke: ServerAction<RevokeSession>,
    end_support: ServerAction<EndSupportSession>,
) -> impl IntoView {
    let label = format!("Sign out the {} session", session.device);
    if let Some(support) = session.support.clone() {
        // An administrator impersonating the account: said plainly, and ended in one click.
        return view! {
            <li class="session session-support" data-testid="support-session">
                <div class="session-main">
                    <strong class="session-device">{format!("Support access by {}", support.admin)}</strong>
                    <span class="badge badge-warning">"Administrator"</span>
                    <span class="session-meta">
                        {format!("Reason: \"{}\" · started {} · ends {}", support.reason, relative(now, session.created_at), relative(now, session.expires_at))}
                    </span>
                </div>
                {(!session.current).then(|| view! {
                    <ActionForm action=end_support attr:class="inline-form">
                        <input type="hidden" name="id" value=session.id.clone() />
                        <button type="submit" class="button button-small button-danger" data-testid="end-support">"End support access"</button>
                    </ActionForm>
                })}
            </li>
        }
        .into_any();
    }
    view! {
        <li class="session" class:session-current=session.current data-testid="session">
            <div class="session-main">
                <strong class="session-device">{session.device.clone()}</strong>
                {session.current.then(|| view! { <span class="badge">"This device"</span> })}
                <span class="session-meta">
                    {format!(
                        "{} · signed in {} · last active {} · ends {}",
                        session.ip,
                        relative(now, session.created_at),
                        relative(now, session.last_seen_at),
                        relative(now, session.expires_at),
                    )}
                </span>
            </div>
            {(!session.current).then(|| view! {
                <ActionForm action=revoke attr:class="inline-form">
                    <input type="hidden" name="id" value=session.id.clone() />
                    <button type="submit" class="button button-small button-quiet" aria-label=label>"Sign out"</button>
                </ActionForm>
            })}
        </li>
    }
    .into_any()
}

/// "just now", "5 minutes ago", "in 3 hours".
fn relative(now: i64, at: i64) -> String {
    let delta = at - now;
    let span = delta.unsigned_abs();
    let (n, unit) = match span {
        0..=59 => return "just now".to_owned(),
        60..=3_599 => (span / 60, "minute"),
        3_600..=86_399 => (span / 3_600, "hour"),
        _ => (span / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if delta < 0 {
        format!("{n} {unit}{plural} ago")
    } else {
        format!("in {n} {unit}{plural}")
    }
}

#[cfg(test)]
mod tests {
    use super::relative;

    #[test]
    fn times_read_as_people_say_them() {
        assert_eq!(relative(1_000, 990), "just now");
        assert_eq!(relative(1_000, 1_000 - 60), "1 minute ago");
        assert_eq!(relative(1_000, 1_000 - 300), "5 minutes ago");
        assert_eq!(relative(0, 2 * 3_600), "in 2 hours");
        assert_eq!(relative(0, 3 * 86_400), "in 3 days");
    }
}
