//! Building blocks shared by the pages: the header with the session controls, form
//! fields that show errors accessibly, and the current-user resource.

use bulwark::PasswordPolicy;
use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::{
    api::{session, CurrentUser, Logout},
    error::ApiError,
};

/// Who is signed in, re-checked on every navigation and after sign-out, so a session
/// revoked elsewhere shows as signed out at the next click.
#[derive(Clone, Copy)]
pub struct Session {
    pub user: Resource<Result<Option<CurrentUser>, ApiError>>,
    pub logout: ServerAction<Logout>,
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}

#[component]
pub fn Header() -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let location = use_location();
    let user = Resource::new(move || (location.pathname.get(), logout.version().get()), |_| session());
    provide_context(Session { user, logout });

    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                " Bulwark"
            </a>
            <nav aria-label="Account">
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match user.await {
                            Ok(Some(current)) => view! {
                                <a href="/account/sessions">"Sessions"</a>
                                <a href="/account/password">"Password"</a>
                                <a href="/account/security">"Security"</a>
                                <a href="/account/email">"Email"</a>
                                <a href="/account/activity">"Activity"</a>
                                {(current.role == bulwark::Role::Admin).then(|| view! { <a href="/admin" data-testid="admin-link">"Admin"</a> })}
                                <span class="whoami">
                                    "Signed in as " <strong data-testid="header-username">{current.username}</strong>
                                </span>
                                <SignOutButton />
                            }.into_any(),
                            _ => view! {
                                <a href="/login">"Sign in"</a>
                                <a class="button button-small" href="/signup">"Create account"</a>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </nav>
        </header>
        // While an admin impersonates someone: on every page, outside the navigation.
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(current)) => view! { <crate::pages::ImpersonationBanner current /> }.into_any(),
                    _ => ().into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn SignOutButton() -> impl IntoView {
    let logout = use_session().logout;
    view! {
        <ActionForm action=logout attr:class="inline-form">
            <button type="submit" class="button button-small button-quiet">"Sign out"</button>
        </ActionForm>
    }
}

/// The "new password" field of the reset and change forms (posted as `password`): the
/// shared policy checked as the user types, the strength meter, the server's verdict
/// after submit.
#[component]
pub fn NewPasswordField(
    id: &'static str,
    state: FieldState,
    /// The server's message for the `password` field, if any.
    server: Signal<Option<String>>,
    /// The words the password must not be built from, when the page knows them.
    #[prop(optional, into)]
    context: Signal<Vec<String>>,
) -> impl IntoView {
    let policy = password_policy();
    view! {
        <TextField
            id=id
            name="password"
            label="New password"
            input_type="password"
            autocomplete="new-password"
            hint=Some(format!(
                "At least {} characters. A few unrelated words make a strong, memorable password.",
                policy.min_chars(),
            ))
            state=state
            error=state.error(move |v| rule_message(bulwark::Password::parse(v, policy)), move || server.get())
        />
        <crate::passwords::StrengthMeter id=format!("{id}-strength") state=state context=context />
    }
}

/// A field for a password the account already has (sign-in, step-up, confirmations,
/// the current password of a change): checked as typed only for what any password must
/// be (the rules are the server's, which may have changed since it was chosen), with the
/// server's verdict after submit.
#[component]
pub fn ExistingPasswordField(
    id: &'static str,
    name: &'static str,
    #[prop(default = "Password")] label: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    state: FieldState,
    /// The server's message for this field, if any.
    #[prop(optional, into)]
    server: Signal<Option<String>>,
) -> impl IntoView {
    view! {
        <TextField
            id=id
            name=name
            label=label
            input_type="password"
            autocomplete="current-password"
            hint=hint.map(str::to_owned)
            state=state
            error=state.error(|v| rule_message(bulwark::Password::parse_existing(v)), move || server.get())
        />
    }
}

/// A labelled input whose error text is tied to it with `aria-describedby` and
/// `aria-invalid`, so screen readers announce it with the field.
#[component]
pub fn TextField(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    #[prop(default = "text")] input_type: &'static str,
    autocomplete: &'static str,
    /// The value and whether it was edited, updated on every keystroke.
    state: FieldState,
    /// The message to show under the field, if any.
    #[prop(into)]
    error: Signal<Option<String>>,
    /// A standing hint shown under the label.
    #[prop(optional_no_strip)]
    hint: Option<String>,
    /// The keyboard a phone shows (`numeric` for codes).
    #[prop(optional)]
    inputmode: Option<&'static str>,
) -> impl IntoView {
    let is_password = input_type == "password";
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described_by = match hint {
        Some(_) => format!("{hint_id} {error_id}"),
        None => error_id.clone(),
    };
    // Built apart (and type-erased) so the field's view type stays shallow.
    let input = view! {
        <input
            id=id
            name=name
            type=move || if is_password && state.shown.get() { "text" } else { input_type }
            autocomplete=autocomplete
            inputmode=inputmode
            required
            spellcheck="false"
            autocapitalize="none"
            aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
            aria-describedby=described_by
            on:input=move |ev| {
                state.value.set(event_target_value(&ev));
                state.edited.set(true);
            }
        />
    }
    .into_any();
    let toggle = is_password
        .then(|| view! { <crate::passwords::ShowPasswordToggle input_id=id shown=state.shown /> }.into_any());
    view! {
        <div class="field" class:field-invalid=move || error.get().is_some()>
            <label for=id>{label}</label>
            {hint.map(|text| view! { <p class="field-hint" id=hint_id.clone()>{text}</p> })}
            <div class="input-row">{input}{toggle}</div>
            <p class="field-error" id=error_id aria-live="polite">{move || error.get()}</p>
        </div>
    }
}

/// An email field checked as typed by the shared rule, showing the server's verdict
/// (`server`) after a submission.
#[component]
pub fn EmailField(
    id: &'static str,
    state: FieldState,
    #[prop(into)] server: Signal<Option<String>>,
    #[prop(default = "email")] autocomplete: &'static str,
) -> impl IntoView {
    view! {
        <TextField
            id=id
            name="email"
            label="Email"
            input_type="email"
            autocomplete=autocomplete
            state=state
            error=state.error(|v| rule_message(bulwark::Email::parse(v)), move || server.get())
        />
    }
}

/// Which account a mailed link's page acts for: "This link is for the account at …",
/// from the server's lookup of the link (`link`: `reset`, `cancel` or `recover`), never
/// from the URL. Nothing when the link is unknown or dead (the page says that itself).
#[component]
pub fn LinkAccount(link: &'static str, #[prop(into)] token: Signal<String>) -> impl IntoView {
    let address = Resource::new(
        move || token.get(),
        move |token| async move { crate::api::link_address(link.to_owned(), token).await.ok().flatten() },
    );
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                address.await.map(|address| view! {
                    <p class="link-account" data-testid="link-account">
                        "This link is for the account at " <strong><bdi>{address}</bdi></strong> ". "
                        "If that is not your address, stop here: someone sent you a link for "
                        "their own account."
                    </p>
                })
            })}
        </Suspense>
    }
}

/// Shown on the pages that send links when this browser just followed a dead one (the
/// server's answer says so, never the URL: see `flash`).
#[component]
pub fn InvalidLinkNotice() -> impl IntoView {
    let invalid = crate::flash::take(crate::flash::notice::LINK_INVALID);
    view! {
        <Show when=move || invalid>
            <div class="form-error" role="alert" data-testid="link-invalid">
                "That link is invalid, has already been used, or has expired. "
                "Enter your address and we will send a new one."
            </div>
        </Show>
    }
}

/// A status notice shown when this browser's own request just did what it reports (the
/// server function left the notice `notice` for it: see `flash`). A URL cannot show it.
#[component]
pub fn FlashNotice(
    notice: &'static str,
    test_id: &'static str,
    title: &'static str,
    children: ChildrenFn,
) -> impl IntoView {
    let shown = RwSignal::new(crate::flash::take(notice));
    // With JavaScript, a server function that did it sends the browser back to the page it
    // was on (with `?notice=`): look again when the address changes.
    #[cfg(all(not(feature = "ssr"), feature = "hydrate"))]
    {
        let location = leptos_router::hooks::use_location();
        Effect::new(move |previous: Option<String>| {
            let search = location.search.get();
            if previous.is_some_and(|p| p != search) {
                shown.set(crate::flash::take_now(notice));
            }
            search
        });
    }
    view! {
        <Show when=move || shown.get()>
            <div class="notice" role="status" data-testid=test_id>
                <strong>{title}</strong>
                {children()}
            </div>
        </Show>
    }
}

/// A full-width submit button that says what is happening while the request is out.
#[component]
pub fn SubmitButton(
    #[prop(into)] pending: Signal<bool>,
    idle: &'static str,
    busy: &'static str,
) -> impl IntoView {
    view! {
        <button type="submit" class="button button-wide" disabled=move || pending.get()>
            {move || if pending.get() { busy } else { idle }}
        </button>
    }
}

/// A shared rule's verdict as the message to show, if it failed.
pub fn rule_message<T, E: std::fmt::Display>(result: Result<T, E>) -> Option<String> {
    result.err().map(|e| e.to_string())
}

/// The message for the whole form after a failed submission (field errors show at
/// their fields).
#[component]
pub fn FormError(#[prop(into)] error: Signal<Option<ApiError>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            // An action that needs the password again offers the way there, and back.
            let step_up = matches!(e, ApiError::StepUpRequired).then(|| {
                let back = leptos_router::hooks::use_location().pathname.get_untracked();
                let href = format!("{}?next={}", crate::api::STEP_UP_PAGE, urlencoding_path(&back));
                view! { " " <a href=href data-testid="step-up-link">"Confirm it is you"</a> }
            });
            view! {
                <div class="form-error" role="alert" data-testid="form-error">{e.to_string()}{step_up}</div>
            }
        })
    }
}

/// The password policy in force, read from the server's configuration while rendering and
/// carried to the browser with the page, so both enforce the same minimum.
pub fn password_policy() -> PasswordPolicy {
    let shared = leptos::server::SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            crate::api::ssr::services().map(|services| services.accounts.policy()).unwrap_or_default()
        }
        #[cfg(not(feature = "ssr"))]
        {
            PasswordPolicy::default()
        }
    });
    shared.into_inner()
}

/// One form field's client-side state.
#[derive(Clone, Copy)]
pub struct FieldState {
    pub value: RwSignal<String>,
    /// Typed into since the last submission: live errors replace the server's.
    pub edited: RwSignal<bool>,
    /// A password field's text is shown (see `passwords::ShowPasswordToggle`).
    pub shown: RwSignal<bool>,
}

impl FieldState {
    pub fn new() -> Self {
        Self {
            value: RwSignal::new(String::new()),
            edited: RwSignal::new(false),
            shown: RwSignal::new(false),
        }
    }

    /// The error to show: the shared rule's verdict on what is typed now (once the user
    /// has typed since the last submission), otherwise the server's verdict. Text this
    /// build cannot normalise (non-ASCII in the browser: see `bulwark::normalize`) gets no
    /// verdict until the server gives one.
    pub fn error(
        self,
        local: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
        server: impl Fn() -> Option<String> + Send + Sync + 'static,
    ) -> Signal<Option<String>> {
        Signal::derive(move || {
            if self.edited.get() {
                self.value.with(|v| {
                    if v.is_empty() || !bulwark::normalize::checkable(v) {
                        None
                    } else {
                        local(v)
                    }
                })
            } else {
                server()
            }
        })
    }
}

/// After each submission, hands the fields back to the server's verdict.
pub fn reset_on_submit<S>(action: ServerAction<S>, fields: &[FieldState])
where
    S: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let fields = fields.to_vec();
    Effect::new(move |_| {
        if action.version().get() > 0 {
            for field in &fields {
                field.edited.set(false);
                field.shown.set(false);
            }
        }
    });
}

/// `path` made safe for a query value: every byte but unreserved ones and `/` escaped.
pub fn urlencoding_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
