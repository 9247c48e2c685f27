//! The browser entry point: hydrates the server-rendered page.

use std::{cell::Cell, rc::Rc, time::Duration};

/// How long the browser waits for a lazy page's chunk before it stops waiting and leaves
/// the page as the server sent it (a fetch that hangs rather than fails).
const CHUNK_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    Waiting,
    Hydrating,
    GaveUp,
}

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // A page behind sign-in is a chunk of its own: fetch it before hydrating. If it cannot
    // be fetched, or does not come in time, the server's HTML stays as it is (it works
    // without JavaScript), rather than hydrate a page whose code is missing.
    let start = Rc::new(Cell::new(Start::Waiting));
    leptos::prelude::set_timeout(
        {
            let start = Rc::clone(&start);
            move || {
                if start.get() == Start::Waiting {
                    start.set(Start::GaveUp);
                    app::mark_not_hydrated();
                }
            }
        },
        CHUNK_WAIT,
    );
    wasm_bindgen_futures::spawn_local(async move {
        let loaded = app::preload_current_page().await;
        if start.get() == Start::GaveUp {
            return;
        }
        start.set(Start::Hydrating);
        match loaded {
            Ok(()) => leptos::mount::hydrate_lazy(app::App),
            Err(_) => app::mark_not_hydrated(),
        }
    });
}

/// Room in the WASM's read-only data for the module splitter (cargo-leptos `--split`,
/// `wasm_split_cli_support`). The splitter lays the data out again, grouped by the module
/// that uses it, each group aligned; when that layout comes out longer than the original
/// (by a few dozen bytes of alignment), it gives up and leaves *all* of the data in the main
/// module, zxcvbn's dictionaries and every lazy page's text included: 290 KB became 719 KB
/// brotli after an unrelated change. These bytes are used by nothing, so the splitter places
/// them in no module, and the original is longer than any new layout by their length. They
/// cost about 20 bytes after compression. The first-load Playwright tests fail if the
/// fallback happens again.
#[used]
static SPLITTER_SLACK: [u8; 4096] = [0x5a; 4096];
