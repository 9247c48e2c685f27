//! The owner's own account: changing the password, being confined until a required
//! change is made, the activity page.

use bulwark::{
    accounts::{ChangeError, PasswordChange},
    audit, Role,
};

use crate::helpers::{client_with_cookie, spawn_app, PASSWORD};

const EMAIL: &str = "olive@example.com";
const NEW: &str = "copper lantern meadow violin 51";

#[tokio::test]
async fn a_password_change_ends_every_other_session_and_keeps_this_one_under_a_new_id() {
    let app = spawn_app().await;
    let id = app.create_account(EMAIL, "olive", Role::User).await;
    assert_eq!(app.login(EMAIL, PASSWORD).await.status, 200);
    let other = app.browser_signed_in(EMAIL, PASSWORD).await;
    let before = app.session_cookie().expect("cookie");

    let reply =
        app.post_form("/api/change-password", &[("current_password", PASSWORD), ("password", NEW)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_ne!(app.session_cookie().expect("cookie"), before, "a new session id");
    assert_eq!(app.me().await.status, 200, "this browser stays signed in");
    assert_eq!(
        app.post_form_with(&other.client, "/api/me", &[]).await.status,
        401,
        "the other is signed out"
    );
    let old = client_with_cookie(&app, &before);
    assert_eq!(app.post_form_with(&old, "/api/me", &[]).await.status, 401, "the old id is dead");

    let fresh = app.new_browser();
    assert_eq!(
        app.post_form_with(&fresh.client, "/api/login", &[("email", EMAIL), ("password", PASSWORD)])
            .await
            .status,
        401
    );
    assert_eq!(
        app.post_form_with(&fresh.client, "/api/login", &[("email", EMAIL), ("password", NEW)]).await.status,
        200
    );
    app.mail_titled(EMAIL, "Your password was changed").await;
    assert_eq!(app.audit("authn_password_change").await, vec![(Some(id), Some(id), "success".to_owned())]);
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing_and_says_so_under_its_field() {
    let app = spawn_app().await;
    let id = app.create_account(EMAIL, "olive", Role::User).await;
    assert_eq!(app.login(EMAIL, PASSWORD).await.status, 200);
    let reply = app
        .post_form(
            "/api/change-password",
            &[("current_password", "not my password at all"), ("password", NEW)],
        )
        .await;
    assert_eq!(reply.status, 422);
    assert!(reply.body.contains("This is not your current password."), "{}", reply.body);
    let weak = app
        .post_form(
            "/api/change-password",
            &[("current_password", PASSWORD), ("password", "olive olive olive")],
        )
        .await;
    assert_eq!(weak.status, 422);
    let same = app
        .post_form("/api/change-password", &[("current_password", PASSWORD), ("password", PASSWORD)])
        .await;
    assert_eq!(same.status, 422);
    assert_eq!(app.me().await.status, 200);
    assert_eq!(app.audit("authn_password_change").await, vec![(Some(id), Some(id), "failure".to_owned())]);
    assert!(app.mails_to(EMAIL).is_empty());
}

#[tokio::test]
async fn a_change_whose_session_ended_meanwhile_changes_nothing() {
    let app = spawn_app().await;
    app.create_account(EMAIL, "olive", Role::User).await;
    let user = app
        .state
        .accounts
        .verify_credentials(
            &bulwark::Email::parse(EMAIL).expect("email"),
            &bulwark::Password::parse_existing(PASSWORD).expect("password"),
        )
        .await
        .expect("user");
    let context = audit::Context::default();
    // As if the session had been revoked after the resolver let the request in.
    let change = PasswordChange {
        user: &user,
        session_key: "a-session-that-was-revoked",
        session_epoch: user.session_epoch,
        ip: "127.0.0.1".parse().expect("ip"),
        current: PASSWORD,
        new: NEW,
        context: &context,
    };
    let outcome = app.state.recovery.change_password(change).await;
    assert!(matches!(outcome, Err(ChangeError::SessionEnded)), "{outcome:?}");
    assert_eq!(app.login(EMAIL, PASSWORD).await.status, 200, "the old password still works");
    assert!(app.audit("authn_password_change").await.is_empty(), "no change, no event");
}

#[tokio::test]
async fn a_user_who_must_change_their_password_reaches_nothing_else() {
    let app = spawn_app().await;
    let id = app.create_account(EMAIL, "olive", Role::User).await;
    bulwark::on_db!(&app.pool, c => sqlx::query("UPDATE users SET must_change_password = TRUE WHERE id = $1")
        .bind(id)
        .execute(c)
        .await.map(|_| ()))
    .expect("flag");
    assert_eq!(app.login(EMAIL, PASSWORD).await.status, 200);

    let me = app.me().await;
    assert_eq!(me.status, 403);
    assert!(me.body.contains("PasswordChangeRequired"), "{}", me.body);
    assert_eq!(app.post_form("/api/sessions", &[]).await.status, 403);
    let home = app.client.get(app.url("/account/sessions")).send().await.expect("page");
    assert_eq!(home.status().as_u16(), 303);
    assert_eq!(home.headers()["location"], "/account/password", "pages lead to the password change");
    let page = app.client.get(app.url("/account/password")).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);

    let reply =
        app.post_form("/api/change-password", &[("current_password", PASSWORD), ("password", NEW)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.me().await.status, 200, "free again");
}

#[tokio::test]
async fn the_activity_page_lists_the_owners_sign_ins_and_failures() {
    let app = spawn_app().await;
    app.create_account(EMAIL, "olive", Role::User).await;
    assert_eq!(app.login(EMAIL, "a wrong password here").await.status, 401);
    assert_eq!(app.login(EMAIL, PASSWORD).await.status, 200);
    let reply = app.post_form("/api/activity", &[]).await;
    assert_eq!(reply.status, 200);
    let events: Vec<app::api::ActivityView> = serde_json::from_str(&reply.body).expect("json");
    let what: Vec<&str> = events.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(what, ["Signed in", "Failed sign-in (wrong password)", "Account created"]);
    let page =
        app.client.get(app.url("/account/activity")).send().await.expect("page").text().await.expect("html");
    assert!(page.contains("Failed sign-in (wrong password)"));
    assert!(!page.contains(EMAIL) || page.contains("olive"), "the page shows events, not addresses");
}

#[tokio::test]
async fn concurrent_password_changes_from_one_session_change_it_once() {
    let app = spawn_app().await;
    app.create_account(EMAIL, "olive", Role::User).await;
    assert_eq!(app.login(EMAIL, PASSWORD).await.status, 200);
    let news: Vec<String> = (0..6).map(|n| format!("copper lantern meadow violin {n}{n}")).collect();
    let forms = news
        .iter()
        .map(|new| {
            vec![("current_password".to_owned(), PASSWORD.to_owned()), ("password".to_owned(), new.clone())]
        })
        .collect();
    let replies = app.burst(&app.client, "/api/change-password", forms).await;
    let won: Vec<usize> = (0..replies.len()).filter(|i| replies[*i].status == 200).collect();
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(won.len(), 1, "exactly one change commits: {statuses:?}");
    let fresh = app.new_browser();
    let winner = &news[won[0]];
    let form = [("email", EMAIL), ("password", winner.as_str())];
    assert_eq!(app.post_form_with(&fresh.client, "/api/login", &form).await.status, 200);
    let successes = app
        .audit("authn_password_change")
        .await
        .into_iter()
        .filter(|(_, _, outcome)| outcome == "success")
        .count();
    assert_eq!(successes, 1, "one change, one event");
}
