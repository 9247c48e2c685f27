//! `/check-email`: where signup, "send a new link" and "forgot password" land. It says the
//! same thing whatever happened, because the server told the browser nothing more.

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
                    "We have sent a message to the address you gave (when there is an account or a "
                    "signup for it). Open the link in it to continue; the mail says how long the "
                    "link works."
                </p>
            </div>
            <p>
                "It can take a minute or two to arrive. If it does not, look in your spam "
                "folder, then ask again for a "
                <a href="/verify-email/resend">"confirmation link"</a>
                " or a "
                <a href="/forgot-password">"password reset link"</a>
                "."
            </p>
            <p class="aside">
                "Already confirmed? " <a href="/login">"Sign in"</a>
            </p>
        </section>
    }
}
