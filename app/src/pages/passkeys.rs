//! Passkeys on the pages: the form the browser's script drives ([`PasskeyForm`]), and the
//! security page's list of passkeys with rename, remove and add ([`PasskeysSection`]).
//!
//! A passkey form is a plain `<form>` posting the browser's answer to a server function;
//! `public/passkey.js` (loaded by [`PasskeyScript`], only on pages that show one) fetches
//! the options, asks the browser, fills the `response` field and posts. Without
//! JavaScript the form stays hidden and the page says in words that passkeys need it.

use leptos::prelude::*;

use crate::{
    api::{PasskeyRemove, PasskeyRename, PasskeyView, SecurityView},
    components::FormError,
    error::ApiError,
};

/// The passkey glue, a small module script (1,712 bytes brotli) outside the WASM.
#[component]
pub fn PasskeyScript() -> impl IntoView {
    view! { <script type="module" src="/passkey.js" nonce=leptos::nonce::use_nonce()></script> }
}

/// A form that answers a passkey request. `start` is the server function that makes the
/// request's options, `finish` the one the answer is posted to; `send` names the fields
/// sent with the start (space-separated); `create` makes a passkey instead of using one;
/// `autofill` also offers the account's passkeys in the browser's autofill as the page
/// opens. `error` is the finish's failure, shown when the page comes back with it.
#[component]
pub fn PasskeyForm(
    start: &'static str,
    finish: &'static str,
    button: &'static str,
    /// What the page says instead when passkeys cannot work (no JavaScript).
    fallback: &'static str,
    #[prop(into)] error: Signal<Option<ApiError>>,
    #[prop(optional)] send: &'static str,
    #[prop(optional)] create: bool,
    #[prop(optional)] autofill: bool,
    test_id: &'static str,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="passkey-box" data-passkey-box="">
            <FormError error=error />
            <form
                method="post"
                action=finish
                data-passkey=start
                data-passkey-mode=if create { "create" } else { "get" }
                data-passkey-send=send
                data-passkey-autofill=autofill.then_some("")
                data-testid=test_id
                hidden=true
            >
                {children.map(|children| children())}
                <input type="hidden" name="response" value="" />
                <button type="submit" class="button button-wide">{button}</button>
                <p class="form-error" role="alert" data-passkey-message="" hidden=true></p>
            </form>
            <p class="muted" data-passkey-fallback="" data-testid="passkeys-need-js">{fallback}</p>
            <PasskeyScript />
        </div>
    }
}

fn when(at: i64) -> String {
    format!("{} UTC", bulwark::utc::minute(at))
}

/// The security page's passkeys: each with its facts, rename and remove (the page's own
/// actions: it reads the account again after each); and "Add a passkey".
#[component]
pub fn PasskeysSection(
    view: SecurityView,
    rename: ServerAction<PasskeyRename>,
    remove: ServerAction<PasskeyRemove>,
) -> impl IntoView {
    let add = ServerAction::<crate::api::PasskeyAdd>::new();
    let rename_failure = Signal::derive(move || rename.value().get().and_then(Result::err));
    let remove_failure = Signal::derive(move || remove.value().get().and_then(Result::err));
    let add_failure = Signal::derive(move || add.value().get().and_then(Result::err));
    // An admin's last factor stays: no "Remove" on it.
    let removable = !(view.admin && view.passkeys.len() == 1 && !view.app);
    let available = view.passkeys_available;
    let empty = view.passkeys.is_empty();
    view! {
        <h2 id="passkeys-title">"Passkeys"</h2>
        <p>
            "A passkey signs you in with your device's screen lock (fingerprint, face or PIN) instead of "
            "your password, and it cannot be phished: it only works on this site."
        </p>
        <FormError error=rename_failure />
        <FormError error=remove_failure />
        {empty.then(|| view! { <p class="muted" data-testid="no-passkeys">"You have no passkeys yet."</p> })}
        <ul class="passkeys" data-testid="passkeys" aria-labelledby="passkeys-title">
            {view.passkeys.into_iter().map(|passkey| passkey_item(passkey, rename, remove, removable)).collect_view()}
        </ul>
        {if available {
            view! {
                <h3>"Add a passkey"</h3>
                <PasskeyForm
                    start="/api/passkey-add-start"
                    finish="/api/passkey-add"
                    send="name"
                    create=true
                    button="Add a passkey"
                    fallback="Adding a passkey needs JavaScript, which is off in this browser. You can set up an authenticator app instead."
                    error=add_failure
                    test_id="add-passkey"
                >
                    <label for="passkey-name">"Name it (so you know which device it is)"</label>
                    <input id="passkey-name" name="name" type="text" maxlength="64" placeholder="My laptop" autocomplete="off" />
                </PasskeyForm>
            }.into_any()
        } else {
            view! { <p class="muted" data-testid="passkeys-unavailable">"Passkeys are not available on this site's address."</p> }.into_any()
        }}
    }
}

fn passkey_item(
    passkey: PasskeyView,
    rename: ServerAction<PasskeyRename>,
    remove: ServerAction<PasskeyRemove>,
    removable: bool,
) -> impl IntoView {
    let id = passkey.id.to_string();
    let remove_id = id.clone();
    let rename_id = format!("passkey-rename-{}", passkey.id);
    let last_used = passkey.last_used.map_or_else(|| "never".to_owned(), when);
    view! {
        <li data-testid="passkey">
            <strong data-testid="passkey-name">{passkey.name.clone()}</strong>
            {passkey.synced.then(|| view! { " " <span class="badge" data-testid="passkey-synced">"Synced"</span> })}
            {passkey.discoverable.then(|| view! { " " <span class="badge" data-testid="passkey-discoverable">"Signs in without your address"</span> })}
            {passkey.flagged.then(|| view! {
                <p class="notice" role="status" data-testid="passkey-flagged">
                    "Set aside: it answered with a counter lower than before, which can mean it was copied. "
                    "It no longer signs in. Remove it, and add it again if the device is yours."
                </p>
            })}
            <p class="muted">"Added " {when(passkey.added)} " · last used " {last_used}</p>
            <details>
                <summary>"Rename"</summary>
                <ActionForm action=rename attr:class="inline-form">
                    <input type="hidden" name="id" value=id />
                    <label for=rename_id.clone()>"New name"</label>
                    <input id=rename_id name="name" type="text" maxlength="64" value=passkey.name autocomplete="off" />
                    <button type="submit" class="button">"Rename"</button>
                </ActionForm>
            </details>
            {removable.then(|| view! {
                <ActionForm action=remove attr:class="inline-form">
                    <input type="hidden" name="id" value=remove_id />
                    <button type="submit" class="button button-danger" data-testid="remove-passkey">"Remove"</button>
                </ActionForm>
            })}
        </li>
    }
}
