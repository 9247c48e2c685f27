//! `server backup FILE` (SQLite): a consistent copy of the live database made while
//! requests write to it, which `server check` accepts and a new instance serves from:
//! an account made before the backup signs in there.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::helpers::{spawn_app, spawn_app_at, PASSWORD};

#[tokio::test]
async fn a_backup_made_under_write_load_is_checked_restored_and_signs_in() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bulwark-backup.db");
    if matches!(app.pool, bulwark::db::Db::Postgres(_)) {
        let refused = bulwark::db::backup_sqlite(&app.state.settings.database_url, &file).await;
        let message = refused.expect_err("refused").to_string();
        assert!(message.contains("pg_dump"), "{message}");
        assert!(!file.exists());
        return;
    }
    app.create_account("before@example.com", "before", bulwark::Role::User).await;

    // Writers: accounts made one after another, and sign-ins (sessions, audit events,
    // throttle counters), until the backup is done. (Joined on this task: the account
    // store's futures are not `Send` for every lifetime, so they are not spawned.)
    let stop = AtomicBool::new(false);
    let made = AtomicUsize::new(0);
    let settings = app.state.settings.clone();
    let writer = |writer: usize| {
        let (settings, stop, made) = (&settings, &stop, &made);
        async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let (email, username) = (format!("w{writer}n{n}@example.com"), format!("w{writer}n{n}"));
                server::provision::create_account(settings, &email, &username, PASSWORD, bulwark::Role::User)
                    .await
                    .expect("an account made during the backup");
                made.fetch_add(1, Ordering::SeqCst);
                n += 1;
            }
        }
    };
    let client = app.new_browser().client;
    let signing_in = async {
        let mut answered = 0;
        while !stop.load(Ordering::SeqCst) {
            let form = [("email", "before@example.com"), ("password", PASSWORD)];
            let response = client
                .post(app.url("/api/login"))
                .header("accept", "application/json")
                .form(&form)
                .send()
                .await;
            assert_eq!(response.expect("a sign-in").status().as_u16(), 200);
            answered += 1;
        }
        answered
    };
    let backing_up = async {
        while made.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let users_before = app.user_count().await;
        let backup = bulwark::db::backup_sqlite(&settings.database_url, &file).await.expect("backed up");
        let users_after = app.user_count().await;
        stop.store(true, Ordering::SeqCst);
        (users_before, backup, users_after)
    };
    let ((), (), answered, (users_before, backup, users_after)) =
        tokio::join!(writer(0), writer(1), signing_in, backing_up);
    assert!(answered > 0, "the server answered during the backup");
    assert!(made.load(Ordering::SeqCst) > 3, "writes went on while the copy was made");
    assert!(
        (users_before..=users_after).contains(&backup.users),
        "one snapshot: {} accounts, between {users_before} and {users_after}",
        backup.users
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).expect("the copy").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the copy is the owner's only: {mode:o}");
    }

    // A second backup to the same file is refused and leaves the first whole.
    let again = bulwark::db::backup_sqlite(&app.state.settings.database_url, &file).await;
    assert!(again.expect_err("refused").to_string().contains("exists"));
    assert_eq!(std::fs::metadata(&file).expect("the copy").len(), backup.bytes);

    // `server check` accepts the copy (the database's checks; this test build has no site).
    let url = format!("sqlite://{}", file.display());
    let mut settings = app.state.settings.as_ref().clone();
    settings.database_url = url.clone();
    let report = server::check::check(&settings, &server::leptos_options(settings.site_addr)).await;
    let database: Vec<_> = report.0.iter().filter(|f| !f.what.starts_with("site files")).collect();
    assert!(database.len() >= 4, "{report}");
    assert!(database.iter().all(|finding| finding.ok), "{report}");

    // Restored: no session comes back (one signed out after the backup would otherwise
    // live again), and the account made before the backup signs in.
    let restored = spawn_app_at(url, |_| {}).await;
    for table in
        ["session_registry", restored.session_table(), "second_steps", "passkey_ceremonies", "mail_outbox"]
    {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(match &restored.pool {
                bulwark::db::Db::Sqlite(pool) => pool,
                bulwark::db::Db::Postgres(_) => unreachable!("SQLite only"),
            })
            .await
            .expect("count");
        assert_eq!(rows, 0, "{table} was restored");
    }
    // The browser that signed in over and over during the backup: signed in on the live
    // site, not on the restored one (its cookie names the same host).
    let me = |url: String| client.post(url).header("accept", "application/json").send();
    assert_eq!(me(app.url("/api/me")).await.expect("me").status().as_u16(), 200);
    assert_eq!(me(restored.url("/api/me")).await.expect("me").status().as_u16(), 401);
    assert_eq!(restored.user_count().await, backup.users);
    let reply = restored.login("before@example.com", PASSWORD).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(restored.me().await.status, 200);
}

#[tokio::test]
async fn a_backup_of_a_database_that_does_not_exist_makes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = format!("sqlite://{}", dir.path().join("missing.db").display());
    let file = dir.path().join("copy.db");
    assert!(bulwark::db::backup_sqlite(&missing, &file).await.is_err());
    assert!(!file.exists());
    assert!(!dir.path().join("missing.db").exists(), "no database was created");
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "no partial file is left");
}
