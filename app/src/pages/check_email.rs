//! `/check-email`: where signup and "send a new link" land. It says the same thing
//! whatever happened, because the server told the browser nothing more.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn CheckEmailPage() -> impl IntoView {
    view! {
        <Title text="Check your email" />
        <section class="card auth-card" aria-labelledby="check-title">
            <h1 id="check-title">"Check your email"</h1>
            <div class="notice" role="status" data-testid="check-email">
                <p>
                    "We have sent a message to the address you gave. Open the link in it to "
                    "finish; the link works once, for 24 hours."
                </p>
            </div>
            <p>
                "It can take a minute or two to arrive. If it does not, look in your spam "
                "folder, then "
                <a href="/verify-email/resend">"ask for a new link"</a>
                "."
            </p>
            <p class="aside">
                "Already confirmed? " <a href="/login">"Sign in"</a>
            </p>
        </section>
    }
}
