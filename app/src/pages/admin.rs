//! The admin area: `/admin` (accounts: search, filter, pages), `/admin/users/:id` (one
//! account: details, sessions, latest events, and every action), `/admin/audit` (the
//! audit log). For anyone but an admin these pages are the ordinary "not found" page
//! (the area does not announce itself); an anonymous visitor is sent to sign in. The
//! server functions check the role again, and every change needs a recent step-up.
//! Everything works without JavaScript: filters are GET forms, actions are forms.

use bulwark::Role;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    api::{
        admin_user, admin_user_page, admin_users, AdminApprove, AdminDelete, AdminDisable, AdminEnable,
        AdminForceReset, AdminLock, AdminResetFactors, AdminRevokeSessions, AdminSetRole, AdminUnlock,
        AdminUserView, AdminWithdraw, ADMIN_AUDIT_PAGE, ADMIN_PAGE,
    },
    components::{use_session, FlashNotice, FormError},
    error::ApiError,
    pages::NotFoundPage,
};

/// `children` for admins; the sign-in page for anonymous visitors; "not found" for
/// everyone else.
#[component]
pub(super) fn AdminOnly(children: ChildrenFn) -> impl IntoView {
    let user = use_session().user;
    let children = StoredValue::new(children);
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(current)) if current.impersonation.is_some() => view! { <ClosedWhileImpersonating /> }.into_any(),
                    Ok(Some(current)) if current.role == Role::Admin => children.with_value(|c| c()).into_any(),
                    Ok(None) => view! {
                        <section class="card"><p>"Please " <a href="/login">"sign in"</a> "."</p></section>
                    }.into_any(),
                    _ => view! { <NotFoundPage /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The admin area while its admin is impersonating someone: 403, and why.
#[component]
fn ClosedWhileImpersonating() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.set_status(http::StatusCode::FORBIDDEN);
    }
    view! {
        <section class="card" data-testid="admin-closed">
            <h1>"Not available while impersonating"</h1>
            <p>"The admin area is closed while you are viewing someone else's account. Stop impersonating (the button in the banner above) to come back as yourself."</p>
        </section>
    }
}

#[component]
pub(super) fn AdminNav() -> impl IntoView {
    view! {
        <nav class="admin-nav" aria-label="Admin">
            <a href=ADMIN_PAGE>"Users"</a>
            <a href=crate::api::ADMIN_IMPERSONATIONS_PAGE>"Impersonations"</a>
            <a href=crate::api::ADMIN_APPROVALS_PAGE>"Approvals"</a>
            <a href=crate::api::ADMIN_INVITATIONS_PAGE>"Invitations"</a>
            <a href=ADMIN_AUDIT_PAGE>"Audit log"</a>
        </nav>
    }
}

fn when(at: Option<i64>) -> String {
    at.map_or_else(|| "never".to_owned(), |at| format!("{} UTC", bulwark::utc::minute(at)))
}

/// The query parameter `name` of the current page, as a signal-reading closure.
pub(super) fn query(name: &'static str) -> impl Fn() -> String + Copy {
    move || use_query_map().read().get(name).unwrap_or_default()
}

#[component]
pub fn AdminUsersPage() -> impl IntoView {
    view! {
        <Title text="Admin: users" />
        <AdminOnly>
            <UsersList />
        </AdminOnly>
    }
}

#[component]
fn UsersList() -> impl IntoView {
    let (q, status, role, before) = (query("q"), query("status"), query("role"), query("before"));
    let page = Resource::new(
        move || (q(), status(), role(), before()),
        |(q, status, role, before)| admin_users(q, status, role, before.parse().ok()),
    );
    let option = move |value: &'static str, label: &'static str, current: fn() -> String| {
        view! { <option value=value selected=move || current() == value>{label}</option> }
    };
    view! {
        <section class="card wide" aria-labelledby="users-title">
            <AdminNav />
            <h1 id="users-title">"Users"</h1>
            <form method="get" action=ADMIN_PAGE class="filters" role="search">
                <label>"Email or username starts with" <input type="search" name="q" prop:value=q value=q /></label>
                <label>
                    "Status"
                    <select name="status">
                        {option("", "Any", || query("status")())}
                        {option("active", "Active", || query("status")())}
                        {option("disabled", "Disabled", || query("status")())}
                        {option("locked", "Locked", || query("status")())}
                        {option("must_change_password", "Must change password", || query("status")())}
                    </select>
                </label>
                <label>
                    "Role"
                    <select name="role">
                        {option("", "Any", || query("role")())}
                        {option("user", "User", || query("role")())}
                        {option("admin", "Admin", || query("role")())}
                    </select>
                </label>
                <button type="submit" class="button button-small">"Search"</button>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(page) => {
                            let next = page.next_before.map(|before| {
                                let enc = |v: String| crate::components::urlencoding_path(&v);
                                format!("{ADMIN_PAGE}?q={}&status={}&role={}&before={before}", enc(q()), enc(status()), enc(role()))
                            });
                            view! {
                                <p data-testid="user-count">{format!("{} matching", page.total)}</p>
                                <table class="admin-table">
                                    <thead><tr>
                                        <th scope="col">"Email"</th><th scope="col">"Username"</th><th scope="col">"Role"</th>
                                        <th scope="col">"Status"</th><th scope="col">"Created"</th><th scope="col">"Last sign-in"</th>
                                    </tr></thead>
                                    <tbody>
                                        {page.users.into_iter().map(|u| view! { <UserRow user=u /> }).collect_view()}
                                    </tbody>
                                </table>
                                {next.map(|href| view! { <p><a href=href data-testid="next-page">"Next page"</a></p> })}
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
fn UserRow(user: AdminUserView) -> impl IntoView {
    view! {
        <tr>
            <td><a href=admin_user_page(user.id)>{user.email}</a></td>
            <td>{user.username}</td>
            <td>{user.role.as_str()}</td>
            <td>{user.status}{user.must_change_password.then_some(", must change password")}</td>
            <td>{when(Some(user.created_at))}</td>
            <td>{when(user.last_sign_in_at)}</td>
        </tr>
    }
}

#[component]
pub fn AdminUserPage() -> impl IntoView {
    view! {
        <Title text="Admin: user" />
        <AdminOnly>
            <UserDetail />
        </AdminOnly>
    }
}

#[component]
fn UserDetail() -> impl IntoView {
    let id = move || use_params_map().read().get("id").and_then(|id| id.parse::<i64>().ok()).unwrap_or(0);
    let disable = ServerAction::<AdminDisable>::new();
    let enable = ServerAction::<AdminEnable>::new();
    let lock = ServerAction::<AdminLock>::new();
    let unlock = ServerAction::<AdminUnlock>::new();
    let reset = ServerAction::<AdminForceReset>::new();
    let factors = ServerAction::<AdminResetFactors>::new();
    let delete = ServerAction::<AdminDelete>::new();
    let role = ServerAction::<AdminSetRole>::new();
    let revoke = ServerAction::<AdminRevokeSessions>::new();
    let approve = ServerAction::<AdminApprove>::new();
    let withdraw = ServerAction::<AdminWithdraw>::new();
    let versions = move || {
        (
            disable.version().get(),
            enable.version().get(),
            lock.version().get(),
            unlock.version().get(),
            reset.version().get(),
            (factors.version().get(), role.version().get(), delete.version().get()),
            revoke.version().get(),
            approve.version().get(),
            withdraw.version().get(),
        )
    };
    let detail = Resource::new(move || (id(), versions()), |(id, _)| admin_user(id));
    let failure = Signal::derive(move || {
        [
            disable.value().get(),
            enable.value().get(),
            lock.value().get(),
            unlock.value().get(),
            reset.value().get(),
            factors.value().get(),
            delete.value().get(),
            role.value().get(),
            revoke.value().get(),
            approve.value().get(),
            withdraw.value().get(),
        ]
        .into_iter()
        .flatten()
        .find_map(Result::err)
    });
    view! {
        <section class="card wide" aria-labelledby="user-title">
            <AdminNav />
            <FlashNotice notice=crate::flash::notice::ADMIN_DONE test_id="admin-done" title="Done.">" The change is recorded in the audit log."</FlashNotice>
            <FormError error=failure />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match detail.await {
                        Ok(detail) => {
                            let user = detail.user;
                            let detail_passkeys = detail.passkeys;
                            let id = user.id;
                            let disabled = user.status == "disabled";
                            let locked = user.status == "locked";
                            let other_role = if user.role == Role::Admin { ("user", "Remove the admin role") } else { ("admin", "Make admin") };
                            view! {
                                <h1 id="user-title" data-testid="user-email">{user.email.clone()}</h1>
                                <dl class="facts">
                                    <dt>"Username"</dt><dd>{user.username.clone()}</dd>
                                    <dt>"Role"</dt><dd data-testid="user-role">{user.role.as_str()}</dd>
                                    <dt>"Status"</dt><dd data-testid="user-status">{user.status.clone()}</dd>
                                    {user.disabled_reason.clone().map(|reason| view! { <dt>"Reason"</dt><dd>{reason}</dd> })}
                                    {user.disabled_until.map(|until| view! { <dt>"Disabled until"</dt><dd>{when(Some(until))}</dd> })}
                                    <dt>"Must change password"</dt><dd>{if user.must_change_password { "yes" } else { "no" }}</dd>
                                    <dt>"Two-factor sign-in"</dt><dd data-testid="user-two-factor">{if user.two_factor { "on" } else { "off" }}</dd>
                                    <dt>"Passkeys"</dt>
                                    <dd data-testid="user-passkeys">
                                        {if detail_passkeys.is_empty() { "none".to_owned() } else {
                                            detail_passkeys.iter().map(|p| format!(
                                                "{} (added {}, last used {}{})",
                                                p.name, when(Some(p.added)), when(p.last_used),
                                                if p.flagged { ", set aside" } else { "" },
                                            )).collect::<Vec<_>>().join("; ")
                                        }}
                                    </dd>
                                    <dt>"Created"</dt><dd>{when(Some(user.created_at))}</dd>
                                    <dt>"Confirmed"</dt><dd>{when(user.confirmed_at)}</dd>
                                    <dt>"Last sign-in"</dt><dd>{when(user.last_sign_in_at)}</dd>
                                </dl>
                                <h2>"Actions"</h2>
                                <p class="muted">"Each action asks for your password again if you last entered it more than 5 minutes ago."</p>
                                {(user.role == Role::Admin || !detail.approvals.is_empty()).then(|| {
                                    let rule = if detail.second_admin {
                                        super::approvals::RULE
                                    } else {
                                        "No other administrator can act to approve a request about this account, so what you do to it takes \
                                         effect at once (every administrator is mailed about it). With three or more administrators who can \
                                         act, a second one must approve it."
                                    };
                                    view! {
                                        <p class="notice" data-testid="two-person-rule">{rule}</p>
                                        <h3>"Waiting for approval"</h3>
                                        <super::approvals::Approvals approvals=detail.approvals.clone() approve withdraw with_target=false />
                                    }
                                })}
                                <div class="admin-actions">
                                    {if disabled {
                                        view! {
                                            <ActionForm action=enable attr:class="inline-form">
                                                <input type="hidden" name="id" value=id.to_string() />
                                                <button type="submit" class="button">"Enable"</button>
                                            </ActionForm>
                                        }.into_any()
                                    } else {
                                        view! {
                                            <ActionForm action=disable attr:class="stacked-form">
                                                <input type="hidden" name="id" value=id.to_string() />
                                                <label>"Reason (admins only see it)" <input type="text" name="reason" required maxlength="500" data-testid="disable-reason" /></label>
                                                <label>"Until (optional, UTC date)" <input type="date" name="until" /></label>
                                                <button type="submit" class="button button-danger">"Disable"</button>
                                            </ActionForm>
                                        }.into_any()
                                    }}
                                    {if locked {
                                        view! {
                                            <ActionForm action=unlock attr:class="inline-form">
                                                <input type="hidden" name="id" value=id.to_string() />
                                                <button type="submit" class="button">"Unlock"</button>
                                            </ActionForm>
                                        }.into_any()
                                    } else {
                                        view! {
                                            <ActionForm action=lock attr:class="inline-form">
                                                <input type="hidden" name="id" value=id.to_string() />
                                                <button type="submit" class="button button-quiet">"Lock"</button>
                                            </ActionForm>
                                        }.into_any()
                                    }}
                                    <ActionForm action=reset attr:class="inline-form">
                                        <input type="hidden" name="id" value=id.to_string() />
                                        <button type="submit" class="button button-quiet">"Force a password reset"</button>
                                    </ActionForm>
                                    {user.two_factor.then(|| view! {
                                        <ActionForm action=factors attr:class="stacked-form">
                                            <input type="hidden" name="id" value=id.to_string() />
                                            <label>"Why (the owner lost their phone and recovery codes; admins only see it)" <input type="text" name="reason" required maxlength="500" data-testid="reset-factors-reason" /></label>
                                            <button type="submit" class="button button-danger">"Reset two-factor sign-in"</button>
                                        </ActionForm>
                                    })}
                                    {(user.status != "deletion pending").then(|| view! {
                                        <ActionForm action=delete attr:class="stacked-form">
                                            <input type="hidden" name="id" value=id.to_string() />
                                            <label>"Why delete it (the owner can keep it with the mailed link until it is erased; admins only see the reason)" <input type="text" name="reason" required maxlength="500" data-testid="delete-reason" /></label>
                                            <button type="submit" class="button button-danger" data-testid="admin-delete">"Delete the account"</button>
                                        </ActionForm>
                                    })}
                                    <ActionForm action=role attr:class="inline-form">
                                        <input type="hidden" name="id" value=id.to_string() />
                                        <input type="hidden" name="role" value=other_role.0 />
                                        <button type="submit" class="button button-quiet">{other_role.1}</button>
                                    </ActionForm>
                                </div>
                                {(user.role == Role::User && user.status == "active").then(|| view! { <super::impersonation::ImpersonateForm id /> })}
                                <h2>"Live sessions"</h2>
                                {if detail.sessions.is_empty() {
                                    view! { <p data-testid="no-sessions">"None."</p> }.into_any()
                                } else {
                                    let all_id = id;
                                    view! {
                                        <ul class="session-list">
                                            {detail.sessions.into_iter().map(|s| {
                                                view! {
                                                    <li class="session">
                                                        <span>{s.device}" · "{s.ip}" · since "{when(Some(s.created_at))}</span>
                                                        <ActionForm action=revoke attr:class="inline-form">
                                                            <input type="hidden" name="id" value=id.to_string() />
                                                            <input type="hidden" name="session" value=s.handle />
                                                            <button type="submit" class="button button-small button-quiet">"Sign out"</button>
                                                        </ActionForm>
                                                    </li>
                                                }
                                            }).collect_view()}
                                        </ul>
                                        <ActionForm action=revoke attr:class="inline-form">
                                            <input type="hidden" name="id" value=all_id.to_string() />
                                            <input type="hidden" name="session" value="" />
                                            <button type="submit" class="button button-danger">"Sign out every session"</button>
                                        </ActionForm>
                                    }.into_any()
                                }}
                                <h2>"Recent events"</h2>
                                <super::audit::AuditTable events=detail.events />
                            }.into_any()
                        }
                        Err(ApiError::NotFound) => view! { <p>"There is no such account."</p> }.into_any(),
                        Err(error) => view! { <p role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
