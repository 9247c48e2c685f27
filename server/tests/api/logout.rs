use crate::helpers::{client_with_cookie, spawn_app, PASSWORD};

#[tokio::test]
async fn after_sign_out_a_copied_cookie_is_rejected() {
    let app = spawn_app().await;
    app.register("alice@example.com", "alice").await;
    app.login("alice@example.com", PASSWORD).await;
    let copied = app.session_cookie().expect("session cookie");
    let thief = client_with_cookie(&app, &copied);
    assert_eq!(
        app.post_form_with(&thief, "/api/me", &[]).await.status,
        200,
        "the copy works while signed in"
    );

    let reply = app.logout().await;
    assert_eq!(reply.status, 200);
    assert_eq!(app.me().await.status, 401);
    assert_eq!(
        app.post_form_with(&thief, "/api/me", &[]).await.status,
        401,
        "the copy must die with the session"
    );
}

#[tokio::test]
async fn sign_out_deletes_the_server_side_record() {
    let app = spawn_app().await;
    app.register("alice@example.com", "alice").await;
    app.login("alice@example.com", PASSWORD).await;
    let count = || async {
        bulwark::on_db!(&app.pool, c => sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {}", app.session_table()))
            .fetch_one(c)
            .await)
            .expect("count")
    };
    assert_eq!(count().await, 1);
    app.logout().await;
    assert_eq!(count().await, 0);
}
