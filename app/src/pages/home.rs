//! `/`: who is signed in, or the way in.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{use_session, SignOutButton};

#[component]
pub fn HomePage() -> impl IntoView {
    let user = use_session().user;
    view! {
        <Title text="Home" />
        <crate::pages::AccountClosedNotice />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(current)) => view! {
                        <section class="card" aria-labelledby="welcome">
                            <h1 id="welcome">"Welcome back, " <span data-testid="home-username">{current.username.clone()}</span></h1>
                            <dl class="facts">
                                <dt>"Username"</dt><dd>{current.username}</dd>
                                <dt>"Email"</dt><dd>{current.email}</dd>
                                <dt>"Role"</dt><dd>{current.role.as_str()}</dd>
                            </dl>
                            <div class="actions actions-start">
                                <a class="button button-quiet" href="/account/sessions">"Your sessions"</a>
                                <SignOutButton />
                                <a class="button button-quiet" href="/account/export" data-testid="export-link">"Download my data"</a>
                                <a class="button button-quiet" href="/account/delete" data-testid="delete-account-link">"Delete account"</a>
                            </div>
                        </section>
                    }.into_any(),
                    _ => view! {
                        <section class="hero" aria-labelledby="hero-title">
                            <h1 id="hero-title">"Accounts, done properly."</h1>
                            <p class="lead">
                                "Bulwark keeps your sign-in safe: strong password checks, "
                                "server-side sessions that really end when you sign out, "
                                "and no way for anyone to find out whether you have an account."
                            </p>
                            <p class="actions">
                                <a class="button" href="/signup">"Create an account"</a>
                                <a class="button button-quiet" href="/login">"Sign in"</a>
                            </p>
                        </section>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
