//! What password fields add to a plain input: a "Show" toggle, and the live strength meter.
//!
//! Both exist only once the page has hydrated. Without JavaScript the field is a plain
//! password field and the server's verdict appears after submit, so nothing on the page
//! depends on script to work.
//!
//! The meter runs `bulwark::strength::estimate`, the function the server decides with,
//! in the browser. zxcvbn and its dictionaries are most of a megabyte, so they live in a
//! separate WASM chunk (`wasm_split`, built by `cargo leptos … --split`) fetched the first
//! time someone types a new password, never on the first page load. If the chunk cannot be
//! loaded the meter says so in plain words and the server still judges the password.

use leptos::prelude::*;

use crate::components::FieldState;

/// True once this page runs in a browser with JavaScript (effects never run on the server).
pub fn use_hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

/// A button that shows the password in the field `input_id` as text, and hides it again.
/// `shown` is the field's state; the field is reset to hidden when its form is submitted.
#[component]
pub fn ShowPasswordToggle(input_id: &'static str, shown: RwSignal<bool>) -> impl IntoView {
    let hydrated = use_hydrated();
    view! {
        <Show when=move || hydrated.get()>
            <button
                type="button"
                class="password-toggle"
                aria-controls=input_id
                aria-pressed=move || if shown.get() { "true" } else { "false" }
                data-testid=format!("{input_id}-toggle")
                on:click=move |_| shown.update(|s| *s = !*s)
            >
                <span aria-hidden="true">{move || if shown.get() { "Hide" } else { "Show" }}</span>
                <span class="visually-hidden">"Show password"</span>
            </button>
        </Show>
    }
}

/// What the meter shows (the server's build renders only `Idle`: nothing).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Reading {
    /// Nothing typed, or the browser cannot judge this text (see `bulwark::normalize`).
    Idle,
    /// The chunk is on its way (first use only).
    Loading,
    Ready(bulwark::strength::Strength),
    /// The chunk failed to load.
    Unavailable,
}

/// The live strength meter for the password typed in `state`, judged with `context`
/// (the email's local part and the username, see `bulwark::strength::user_inputs`).
#[component]
pub fn StrengthMeter(
    #[prop(into)] id: String,
    state: FieldState,
    #[prop(into)] context: Signal<Vec<String>>,
) -> impl IntoView {
    let hydrated = use_hydrated();
    let reading = RwSignal::new(Reading::Idle);
    #[cfg(feature = "hydrate")]
    {
        // Each keystroke starts an estimate; only the newest one's answer is shown.
        let latest = StoredValue::new(0u64);
        Effect::new(move |_| {
            let password = state.value.get();
            let context = context.get();
            let turn = latest.get_value() + 1;
            latest.set_value(turn);
            if password.is_empty() || !bulwark::normalize::checkable(&password) {
                reading.set(Reading::Idle);
                return;
            }
            if !matches!(reading.get_untracked(), Reading::Ready(_)) {
                reading.set(Reading::Loading);
            }
            leptos::task::spawn_local(async move {
                let answer = chunk::estimate(password, context).await;
                // The page may be gone by now (a form posted while the chunk loaded):
                // then there is nothing to show, and nothing may be touched.
                if latest.try_get_value() == Some(turn) {
                    reading.try_set(match answer {
                        Ok(strength) => Reading::Ready(strength),
                        Err(chunk::Unavailable) => Reading::Unavailable,
                    });
                }
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (state, context);

    let score = move || match reading.get() {
        Reading::Ready(strength) => strength.score,
        _ => 0,
    };
    let words = move || match reading.get() {
        Reading::Idle => String::new(),
        Reading::Loading => "Checking strength…".to_owned(),
        Reading::Unavailable => {
            "The strength meter could not be loaded. Your password will be checked when you submit."
                .to_owned()
        }
        Reading::Ready(strength) => match strength.refusal() {
            Some(weak) => format!("{}: {weak}", strength.label()),
            None => format!("{}: good to go.", strength.label()),
        },
    };
    let label_id = format!("{id}-label");
    view! {
        <Show when=move || hydrated.get() && reading.get() != Reading::Idle>
            <div class="strength" data-testid="strength-meter">
                <span class="strength-label" id=label_id.clone()>"Strength"</span>
                <meter
                    id=id.clone()
                    aria-labelledby=label_id.clone()
                    min="0"
                    max="4"
                    low="2"
                    high="3"
                    optimum="4"
                    value=score
                    aria-valuetext=move || match reading.get() {
                        Reading::Ready(strength) => format!("{} ({} of 4)", strength.label(), strength.score),
                        _ => "Not known yet".to_owned(),
                    }
                    data-score=score
                ></meter>
                <p class="strength-verdict" aria-live="polite" data-testid="strength-verdict">{words}</p>
            </div>
        </Show>
    }
}

/// The split point: everything this reaches that nothing else does (zxcvbn) is moved to
/// its own WASM chunk, fetched on the first call.
#[cfg(feature = "hydrate")]
mod chunk {
    /// The chunk could not be fetched or instantiated.
    #[derive(Debug)]
    pub struct Unavailable;

    impl From<leptos::wasm_split::SplitLoaderError> for Unavailable {
        fn from(_: leptos::wasm_split::SplitLoaderError) -> Self {
            Unavailable
        }
    }

    #[leptos::wasm_split::wasm_split(zxcvbn, wasm_split_path = ::leptos::wasm_split, fallible)]
    pub fn estimate(
        password: String,
        context: Vec<String>,
    ) -> Result<bulwark::strength::Strength, Unavailable> {
        let context: Vec<&str> = context.iter().map(String::as_str).collect();
        Ok(bulwark::strength::estimate(&password, &context))
    }
}
