//! `server check`: what an operator runs before pointing traffic at an instance (or after
//! `server migrate` on a new release). It verifies, without serving and without creating or
//! changing anything, that the configuration is accepted (the caller has validated it by
//! then), that the database opens, that its migrations are exactly this build's, that the
//! session table is there, and that the site's files (the WASM, JS and CSS) are where the
//! server will look for them. Each line says what was checked; a failing one says what to
//! do. No line shows a password or the secret.

use std::path::Path;

use bulwark::db;
use leptos::config::LeptosOptions;

use crate::config::Settings;

/// One checked thing.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    pub ok: bool,
    pub what: String,
}

/// Everything checked, in order.
#[derive(Debug, Default)]
pub struct Report(pub Vec<Finding>);

impl Report {
    fn ok(&mut self, what: impl Into<String>) {
        self.0.push(Finding { ok: true, what: what.into() });
    }

    fn fail(&mut self, what: impl Into<String>) {
        self.0.push(Finding { ok: false, what: what.into() });
    }

    /// Whether nothing failed.
    pub fn passed(&self) -> bool {
        self.0.iter().all(|finding| finding.ok)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for finding in &self.0 {
            writeln!(f, "{}  {}", if finding.ok { "ok  " } else { "FAIL" }, finding.what)?;
        }
        Ok(())
    }
}

/// Checks `settings` (already validated) and the site files under `site`.
pub async fn check(settings: &Settings, site: &LeptosOptions) -> Report {
    let mut report = Report::default();
    report.ok(format!(
        "configuration accepted ({:?}, public URL {})",
        settings.environment, settings.public_url
    ));
    check_database(settings, &mut report).await;
    check_site(site, &mut report);
    report
}

async fn check_database(settings: &Settings, report: &mut Report) {
    let place = db::describe(&settings.database_url);
    let pool = match db::connect_existing(&settings.database_url).await {
        Ok(pool) => pool,
        Err(error @ db::DbError::Open(_)) => {
            return report.fail(format!(
                "database: {place} could not be opened ({error}); the first `server migrate` or start creates it"
            ));
        }
        Err(error) => return report.fail(format!("database: {error}")),
    };
    report.ok(format!("database: {place} opens"));
    match db::migration_status(&pool).await {
        Err(error) => report.fail(format!("migrations: could not be read ({error})")),
        Ok(status) if status.is_current() => {
            report.ok(format!("migrations: all {} of this build's applied, no others", status.applied))
        }
        Ok(status) => {
            if !status.pending.is_empty() {
                report.fail(format!(
                    "migrations: {} not applied yet ({}); run `server migrate`",
                    status.pending.len(),
                    status.pending.join(", ")
                ));
            }
            if !status.altered.is_empty() {
                report.fail(format!(
                    "migrations: {} applied with other contents than this build's, or failed half-way ({})",
                    status.altered.len(),
                    status.altered.join(", ")
                ));
            }
            if !status.unknown.is_empty() {
                let versions: Vec<String> = status.unknown.iter().map(i64::to_string).collect();
                report.fail(format!(
                    "migrations: the database has {} this build does not know ({}): it belongs to a newer Bulwark",
                    versions.len(),
                    versions.join(", ")
                ));
            }
        }
    }
    let session_table = bulwark::sessions::store_table(pool.backend());
    match db::table_exists(&pool, session_table).await {
        Ok(true) => report.ok(format!("sessions: table {session_table} present")),
        Ok(false) => report.fail(format!("sessions: no table {session_table}; run `server migrate`")),
        Err(error) => report.fail(format!("sessions: could not be checked ({error})")),
    }
    pool.close().await;
}

/// Whether the site's package folder holds a WASM module (what `check` and `/readyz` ask).
pub fn site_has_wasm(site: &LeptosOptions) -> bool {
    let pkg = Path::new(site.site_root.as_ref()).join(site.site_pkg_dir.as_ref());
    std::fs::read_dir(&pkg).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|entry| entry.file_name().to_string_lossy().ends_with(".wasm"))
    })
}

fn check_site(site: &LeptosOptions, report: &mut Report) {
    let pkg = Path::new(site.site_root.as_ref()).join(site.site_pkg_dir.as_ref());
    match site_has_wasm(site) {
        true => report.ok(format!("site files: {} has the WASM", pkg.display())),
        false => report.fail(format!(
            "site files: no WASM in {} (build with `cargo leptos build --release --precompress --split`, \
             or set LEPTOS_SITE_ROOT)",
            pkg.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn check_passes_on_a_migrated_database_and_says_what_is_missing_otherwise() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/c.db", dir.path().display());
        let settings = Settings::local(url);
        let site = LeptosOptions::builder()
            .output_name("bulwark")
            .site_root(dir.path().display().to_string())
            .build();

        let missing = check(&settings, &site).await;
        assert!(!missing.passed());
        let text = missing.to_string();
        assert!(text.contains("could not be opened") && text.contains("no WASM"), "{text}");
        assert!(!dir.path().join("c.db").exists(), "check creates no database");

        crate::migrate_only(&settings).await.expect("migrates");
        std::fs::create_dir_all(dir.path().join("pkg")).expect("mkdir");
        std::fs::write(dir.path().join("pkg/bulwark.abc.wasm"), b"\0asm").expect("write");
        let ready = check(&settings, &site).await;
        assert!(ready.passed(), "{ready}");
        assert!(ready.to_string().contains("migrations: all"), "{ready}");

        let pool = db::connect(&settings.database_url).await.expect("opens");
        bulwark::on_db!(&pool, c => sqlx::query("DROP TABLE tower_sessions").execute(c).await.map(|_| ()))
            .expect("drop");
        bulwark::on_db!(&pool, c => sqlx::query(
            "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
        )
        .execute(c)
        .await.map(|_| ()))
        .expect("forget one");
        let behind = check(&settings, &site).await.to_string();
        assert!(
            behind.contains("1 not applied yet") && behind.contains("no table tower_sessions"),
            "{behind}"
        );
    }
}
