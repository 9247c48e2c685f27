//! Malformed requests: a request no server function can decode answers 400 with the
//! closed-set error body (a page with the message for a plain form post), never 500. The
//! seeded fuzzer that drives every server function this way is in `fuzz.rs`.

use reqwest::Client;

use crate::helpers::{spawn_app, TestApp, ORIGIN, PASSWORD};

const BAD_REQUEST_BODY: &str = "\"BadRequest\"";

async fn raw(
    client: &Client,
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut request = client.post(app.url(path)).header("accept", "application/json").body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("request");
    (response.status().as_u16(), response.text().await.expect("body"))
}

#[tokio::test]
async fn arguments_that_do_not_decode_answer_400_with_the_error_body_for_anyone() {
    let app = spawn_app().await;
    app.create_account("admin@example.com", "headadmin", bulwark::Role::Admin).await;
    let admin = app.browser_signed_in("admin@example.com", PASSWORD).await;
    let anonymous = app.new_browser();
    let form = Some("application/x-www-form-urlencoded");

    for client in [&anonymous.client, &admin.client] {
        for (path, body) in [
            ("/api/admin/user", ""),
            ("/api/admin/user", "id=abc"),
            ("/api/support-access/grant", "hours=abc"),
            ("/api/admin/impersonations", "live=maybe"),
            // U+0000 in any field (PostgreSQL cannot store it in text).
            ("/api/admin/users", "q=%00"),
            ("/api/sessions/revoke", "id=a%00b"),
        ] {
            let (status, text) = raw(client, &app, path, form, body.into()).await;
            assert_eq!((status, text.as_str()), (400, BAD_REQUEST_BODY), "{path} {body}");
        }
        // Not a form at all: bytes that are not text, and JSON.
        let (status, text) = raw(client, &app, "/api/login", form, vec![0xff, 0xfe, 0x00, 0x80]).await;
        assert_eq!((status, text.as_str()), (400, BAD_REQUEST_BODY));
        let json = br#"{"email":"a@example.com"}"#.to_vec();
        let (status, text) = raw(client, &app, "/api/admin/user", Some("application/json"), json).await;
        assert_eq!((status, text.as_str()), (400, BAD_REQUEST_BODY));
    }

    // A well-formed call still meets the endpoint's own checks.
    let (status, _) = raw(&anonymous.client, &app, "/api/admin/user", form, b"id=1".to_vec()).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_form_post_that_does_not_decode_gets_its_page_back_with_the_message() {
    let app = spawn_app().await;
    let browser = app.new_browser();
    let response = browser
        .client
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .header("referer", format!("{ORIGIN}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xffu8, 0xfe, b'=', 0x80])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with(&format!("{ORIGIN}/login?")), "{location}");
    let page = browser.client.get(app.url(location.trim_start_matches(ORIGIN))).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("The request could not be understood."), "the page shows the message: {location}");

    // With no page to go back to (no Referer), a page with the message, not JSON.
    let response = browser
        .client
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xffu8, 0xfe, b'=', 0x80])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
    let html = response.text().await.expect("html");
    assert!(html.contains("The request could not be understood."), "{html}");
}
