//! `/account/export`: download everything Bulwark stores about you, as a JSON file. A
//! plain form (POST `/account/export.json`), so the browser downloads the file with or
//! without JavaScript; it needs a fresh step-up.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{stepped_up_now, EXPORT_DOWNLOAD, STEP_UP_PAGE},
    error::ApiError,
};

#[component]
pub fn ExportPage() -> impl IntoView {
    let fresh = Resource::new(|| (), |_| stepped_up_now());
    view! {
        <Title text="Download your data" />
        <section class="card auth-card" aria-labelledby="export-title">
            <h1 id="export-title">"Download your data"</h1>
            <p>"One file (JSON) with everything Bulwark stores about you:"</p>
            <ul data-testid="export-contents">
                <li>"your profile: address, username, role, when the account was made and confirmed, its state;"</li>
                <li>"your sessions and remembered browsers (when, from where, which browser);"</li>
                <li>"your second factors: when they were set up, passkeys' names and dates, how many recovery codes are left;"</li>
                <li>"your security activity, email address changes, and the mail we sent you (subjects and times)."</li>
            </ul>
            <p class="muted">"Never in it: your password or any code, link or key that could sign in."</p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match fresh.await {
                        Ok(true) => view! {
                            <form method="post" action=EXPORT_DOWNLOAD>
                                <button type="submit" class="button button-wide" data-testid="export-download">"Download my data"</button>
                            </form>
                        }.into_any(),
                        Ok(false) => view! {
                            <p data-testid="export-step-up">
                                "For your security this needs your password (and your second factor, if you have one) again first. "
                                <a href=format!("{STEP_UP_PAGE}?next=/account/export") data-testid="step-up-link">"Confirm it is you"</a>
                            </p>
                        }.into_any(),
                        Err(ApiError::Unauthorized) => view! {
                            <p>"Please " <a href="/login">"sign in"</a> " to download your data."</p>
                        }.into_any(),
                        Err(other) => view! { <p role="alert">{other.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
