//! The browser entry point: hydrates the server-rendered page.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async {
        // A page behind sign-in is a chunk of its own: fetch it before hydrating, and if
        // it cannot be fetched leave the server's HTML as it is (it works without
        // JavaScript) rather than hydrate a page whose code is missing.
        if app::preload_current_page().await.is_err() {
            app::mark_not_hydrated();
            return;
        }
        leptos::mount::hydrate_lazy(app::App);
    });
}
