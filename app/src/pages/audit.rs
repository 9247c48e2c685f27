//! `/admin/audit`: the audit log, filtered by event, actor, subject and dates, newest
//! first, 50 per page (a GET form: works without JavaScript); and the table of events the
//! account pages show too.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{admin_audit, admin_user_page, AuditView, ADMIN_AUDIT_PAGE};

use super::admin::{query, AdminNav, AdminOnly};

#[component]
pub(super) fn AuditTable(events: Vec<AuditView>) -> impl IntoView {
    if events.is_empty() {
        return view! { <p>"No events."</p> }.into_any();
    }
    view! {
        <table class="admin-table" data-testid="audit-table">
            <thead><tr>
                <th scope="col">"When (UTC)"</th><th scope="col">"Event"</th><th scope="col">"Outcome"</th>
                <th scope="col">"Actor"</th><th scope="col">"Subject"</th><th scope="col">"From"</th><th scope="col">"Details"</th>
            </tr></thead>
            <tbody>
                {events.into_iter().map(|e| view! {
                    <tr>
                        <td>{bulwark::utc::minute(e.at)}</td>
                        <td>{e.event}</td>
                        <td>{if e.success { "success" } else { "failure" }}</td>
                        <td>{e.actor.map(|a| view! { <a href=admin_user_page(a)>{format!("#{a}")}</a> })}</td>
                        <td>{e.subject.map(|s| view! { <a href=admin_user_page(s)>{format!("#{s}")}</a> })}</td>
                        <td>{e.device.unwrap_or_default()}" "<span class="muted">{e.ip.unwrap_or_default()}</span></td>
                        <td><code>{e.details}</code></td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
pub fn AdminAuditPage() -> impl IntoView {
    view! {
        <Title text="Admin: audit log" />
        <AdminOnly>
            <AuditLog />
        </AdminOnly>
    }
}

#[component]
fn AuditLog() -> impl IntoView {
    let (event, actor, subject, from, until, before) =
        (query("event"), query("actor"), query("subject"), query("from"), query("until"), query("before"));
    let page = Resource::new(
        move || (event(), actor(), subject(), from(), until(), before()),
        |(event, actor, subject, from, until, before)| {
            admin_audit(event, actor.parse().ok(), subject.parse().ok(), from, until, before.parse().ok())
        },
    );
    view! {
        <section class="card wide" aria-labelledby="audit-title">
            <AdminNav />
            <h1 id="audit-title">"Audit log"</h1>
            <form method="get" action=ADMIN_AUDIT_PAGE class="filters">
                <label>
                    "Event"
                    <select name="event">
                        <option value="">"Any"</option>
                        {crate::api::AUDIT_EVENTS.iter().map(|name| {
                            let name = *name;
                            view! { <option value=name selected=move || event() == name>{name}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label>"Actor id" <input type="number" name="actor" prop:value=actor value=actor /></label>
                <label>"Subject id" <input type="number" name="subject" prop:value=subject value=subject /></label>
                <label>"From (UTC)" <input type="date" name="from" prop:value=from value=from /></label>
                <label>"Until (UTC, exclusive)" <input type="date" name="until" prop:value=until value=until /></label>
                <button type="submit" class="button button-small">"Filter"</button>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(page) => {
                            let next = page.next_before.map(|before| {
                                let enc = |v: String| crate::components::urlencoding_path(&v);
                                format!("{ADMIN_AUDIT_PAGE}?event={}&actor={}&subject={}&from={}&until={}&before={before}",
                                    enc(event()), enc(actor()), enc(subject()), enc(from()), enc(until()))
                            });
                            view! {
                                <AuditTable events=page.events />
                                {next.map(|href| view! { <p><a href=href data-testid="next-page">"Older events"</a></p> })}
                            }.into_any()
                        }
                        Err(error) => view! { <p role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
