use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn the_pages_render_on_the_server() {
    let app = spawn_app().await;
    for (path, text) in [("/", "Create an account"), ("/signup", "Create an account"), ("/login", "Sign in")]
    {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let html = response.text().await.expect("body");
        assert!(html.contains(text), "{path} should mention {text:?}");
    }
}

#[tokio::test]
async fn an_unknown_path_is_a_404_page() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/no/such/page")).send().await.expect("request");
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn the_home_page_names_the_signed_in_user() {
    let app = spawn_app().await;
    app.register("alice@example.com", "AliceInChains").await;
    app.login("alice@example.com", PASSWORD).await;
    let html = app.client.get(app.url("/")).send().await.expect("request").text().await.expect("body");
    assert!(html.contains("AliceInChains"));
    assert!(html.contains("Sign out"));
}

#[tokio::test]
async fn a_page_carries_a_nonce_csp_that_matches_its_scripts() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/login")).send().await.expect("request");
    let csp = response.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    let html = response.text().await.expect("body");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the policy names a nonce")
        .to_owned();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the page's scripts carry the policy's nonce");
    for directive in ["object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "'wasm-unsafe-eval'"]
    {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-inline"));

    let again = app.client.get(app.url("/login")).send().await.expect("request");
    let csp_again = again.headers()["content-security-policy"].to_str().expect("ascii");
    assert!(!csp_again.contains(&nonce), "a fresh nonce for every response");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/")).send().await.expect("page");
    let api =
        app.client.post(app.url("/api/me")).header("accept", "application/json").send().await.expect("api");
    let missing = app.client.get(app.url("/pkg/nothing-here.js")).send().await.expect("404");
    for response in [&page, &api, &missing] {
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
        assert_eq!(headers["cross-origin-opener-policy"], "same-origin");
        assert!(headers.contains_key("content-security-policy"));
        assert!(!headers.contains_key("server"), "no Server header");
        assert!(!headers.contains_key("strict-transport-security"), "no HSTS over plain http");
    }
    assert!(api.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .starts_with("default-src 'none'"));
}

/// Building a router lists the app's routes, and Leptos does that with resource loading
/// switched off for the whole process: a page rendering meanwhile would wait for its data
/// until the request timed out. Routers built on other threads while pages render here
/// must not hold any page up.
#[tokio::test]
async fn pages_render_while_other_routers_are_being_built() {
    let app = spawn_app().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let builders: Vec<_> = (0..2)
        .map(|_| {
            let state = app.state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    drop(server::router(state.clone()));
                }
            })
        })
        .collect();
    let client =
        reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().expect("client");
    let mut outcome = Ok(());
    for round in 0..40 {
        match client.get(app.url("/login")).send().await {
            Ok(response) if response.status() == 200 => {}
            other => {
                outcome = Err(format!("round {round}: {:?}", other.map(|r| r.status())));
                break;
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for builder in builders {
        builder.join().expect("builder");
    }
    outcome.expect("every page rendered");
}

/// A page says something happened only when this browser's own request did it (review
/// N6): no query string makes the genuine site vouch for a recovery, a cancellation, a
/// confirmation or a dead link; the server's own answer leaves a one-time notice instead.
#[tokio::test]
async fn a_url_cannot_make_a_page_say_something_happened() {
    let app = spawn_app().await;
    let browser = app.new_browser();
    let pages = [
        ("/email-change/recover?done=1", "Your account is back"),
        ("/email-change/cancel?done=1", "The change is cancelled"),
        ("/email-change/confirm?done=1", "Your email address has been changed"),
        ("/email-change/recover?link=invalid", "That link is invalid"),
        ("/login?verified=1", "Your email address is confirmed"),
        ("/login?reset=1", "Your password is changed"),
        ("/forgot-password?link=invalid", "That link is invalid"),
        ("/verify-email/resend?link=invalid", "That link is invalid"),
    ];
    for (path, words) in pages {
        let page = browser.client.get(app.url(path)).send().await.expect("page");
        assert_eq!(page.status().as_u16(), 200, "{path}");
        assert!(!page.text().await.expect("html").contains(words), "{path} says {words:?}");
    }

    // A dead link followed without JavaScript: the server's answer leaves the notice for
    // this browser, shown once.
    let dead = browser
        .client
        .post(app.url("/api/email-change/link"))
        .header("accept", "text/html")
        .form(&[("link", "recover"), ("token", &"0".repeat(64)), ("current_password", "")])
        .send()
        .await
        .expect("post");
    assert_eq!(dead.status().as_u16(), 302);
    let location = dead.headers()["location"].to_str().expect("location").to_owned();
    assert!(location == "/email-change/recover?notice=link-invalid", "{location}");
    let cookie = dead.headers()["set-cookie"].to_str().expect("cookie").to_owned();
    assert!(cookie.starts_with("bulwark-flash=link-invalid;") && cookie.contains("Max-Age=60"), "{cookie}");
    let page = browser.client.get(app.url(&location)).send().await.expect("page");
    assert!(page.text().await.expect("html").contains("That link is invalid"));
    let again = browser.client.get(app.url("/email-change/recover")).send().await.expect("page");
    assert!(!again.text().await.expect("html").contains("That link is invalid"), "shown once");
    // Another browser never sees it.
    let other = app.new_browser().client.get(app.url("/email-change/recover")).send().await.expect("page");
    assert!(!other.text().await.expect("html").contains("That link is invalid"));
}

/// Every page a visitor, a user and an admin may open renders without an error in the
/// log. A page's data is read by server functions run during the render, where a context
/// read after an await once found nothing (an error line, and an error on the page).
#[tokio::test]
async fn every_page_renders_for_visitors_users_and_admins_without_an_error_logged() {
    let log = crate::logs::captured();
    let app = spawn_app().await;
    app.create_account("pages.admin@example.com", "pagesadmin", bulwark::Role::Admin).await;
    app.create_account("pages.user@example.com", "pagesuser", bulwark::Role::User).await;
    let user = app.browser_signed_in("pages.user@example.com", PASSWORD).await;
    let admin = app.browser_signed_in("pages.admin@example.com", PASSWORD).await;
    let visitor = app.new_browser();
    let user_id = bulwark::on_db!(&app.pool, c => sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE username = 'pagesuser'")
        .fetch_one(c)
        .await)
    .expect("id");
    let user_page = format!("/admin/users/{user_id}");
    let pages = [
        "/",
        "/login",
        "/signup",
        "/forgot-password",
        "/verify-email/resend",
        "/account/security",
        "/account/sessions",
        "/account/activity",
        "/account/email",
        "/account/password",
        "/account/delete",
        "/account/export",
        "/admin",
        &user_page,
        "/admin/audit",
        "/admin/approvals",
        "/admin/impersonations",
        "/admin/invitations",
        "/invitation?token=00",
        "/account/delete/undo?token=00",
    ];
    let before = log.lines_with("were not provided").len();
    for (who, client) in [("visitor", &visitor.client), ("user", &user.client), ("admin", &admin.client)] {
        for path in pages {
            let response = client.get(app.url(path)).send().await.expect("request");
            let status = response.status().as_u16();
            let html = response.text().await.expect("body");
            assert!(status < 500, "{who} {path}: {status}");
            assert!(!html.contains("Something went wrong on our side"), "{who} {path}");
        }
    }
    assert_eq!(log.lines_with("were not provided").len(), before, "a page's render logged an error");
}
