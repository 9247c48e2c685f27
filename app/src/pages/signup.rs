//! `/signup`: the account form. Each field is checked as it is typed by the same rules
//! the server applies; the server adds the strength check and has the last word.

use bulwark::{Email, Field, Password, Username};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::Signup,
    components::{
        password_policy, reset_on_submit, rule_message, FieldState, FormError, SubmitButton, TextField,
    },
    passwords::StrengthMeter,
};

#[component]
pub fn SignupPage() -> impl IntoView {
    if crate::api::signup_by_invitation() {
        return view! {
            <Title text="Sign-up is by invitation" />
            <section class="card auth-card" aria-labelledby="signup-title">
                <h1 id="signup-title">"Sign-up is by invitation"</h1>
                <p data-testid="signup-by-invitation">
                    "Accounts on this site are made by invitation only. If you were invited, open the link in the "
                    "invitation mail. To get one, ask the site's administrators."
                </p>
                <p class="aside">"Already have an account? " <a href="/login">"Sign in"</a></p>
            </section>
        }
        .into_any();
    }
    signup_form().into_any()
}

fn signup_form() -> impl IntoView {
    let signup = ServerAction::<Signup>::new();
    let policy = password_policy();
    let email = FieldState::new();
    let username = FieldState::new();
    let password = FieldState::new();
    reset_on_submit(signup, &[email, username, password]);

    let failure = Signal::derive(move || signup.value().get().and_then(Result::err));
    let server = move |field: Field| move || failure.get().and_then(|e| e.field(field));

    view! {
        <Title text="Create an account" />
        <section class="card auth-card" aria-labelledby="signup-title">
            <h1 id="signup-title">"Create an account"</h1>
            <ActionForm action=signup attr:novalidate=true>
                <FormError error=failure />
                <TextField
                    id="signup-email"
                    name="email"
                    label="Email"
                    input_type="email"
                    autocomplete="email"
                    state=email
                    error=email.error(|v| rule_message(Email::parse(v)), server(Field::Email))
                />
                <TextField
                    id="signup-username"
                    name="username"
                    label="Username"
                    autocomplete="username"
                    hint=Some("3–32 characters: letters, digits, dots, hyphens, underscores.".to_string())
                    state=username
                    error=username.error(|v| rule_message(Username::parse(v)), server(Field::Username))
                />
                <TextField
                    id="signup-password"
                    name="password"
                    label="Password"
                    input_type="password"
                    autocomplete="new-password"
                    hint=Some(format!(
                        "At least {} characters. Any characters work, spaces and emoji included; a few unrelated words make a strong, memorable password.",
                        policy.min_chars(),
                    ))
                    state=password
                    error=password.error(move |v| rule_message(Password::parse(v, policy)), server(Field::Password))
                />
                <StrengthMeter
                    id="signup-password-strength"
                    state=password
                    context=Signal::derive(move || bulwark::password::user_inputs(&email.value.get(), &username.value.get()))
                />
                <SubmitButton pending=signup.pending() idle="Create account" busy="Creating account…" />
            </ActionForm>
            <p class="aside">"Already have an account? " <a href="/login">"Sign in"</a></p>
        </section>
    }
}
