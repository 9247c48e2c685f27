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
    app.signup("alice@example.com", "AliceInChains", PASSWORD).await;
    app.login("alice@example.com", PASSWORD).await;
    let html = app.client.get(app.url("/")).send().await.expect("request").text().await.expect("body");
    assert!(html.contains("AliceInChains"));
    assert!(html.contains("Sign out"));
}
