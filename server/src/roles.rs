//! `server grant-app-role ROLE`: on PostgreSQL, lets a role the server serves as (with
//! `--no-migrate`) use the database without owning it. Run as the schema's owner, after
//! `server migrate`. The serving role may read and write every table but the audit log,
//! where it may only read and add: it cannot change or delete an event (not even with the
//! triggers out of the way: it cannot drop or alter what it does not own), only prune old
//! failed sign-ins naming no account through the owner's function. Nor can it change the
//! schema or the migrations' record. So a compromised server process cannot cover its
//! tracks in the audit log.

use bulwark::db::{self, Db};

use crate::config::Settings;

/// `ROLE` as a quoted SQL identifier; refused unless it is a plain name.
fn identifier(role: &str) -> Result<String, String> {
    let plain = !role.is_empty()
        && role.len() <= 63
        && role.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !role.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        Ok(format!("\"{role}\""))
    } else {
        Err(format!("{role:?} is not a role name (letters, digits and _, at most 63)"))
    }
}

/// The statements that give `role` what serving needs, in `schema`.
fn grants(role: &str, schema: &str) -> Vec<String> {
    vec![
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"),
        format!("REVOKE UPDATE, DELETE, TRUNCATE ON {schema}.audit_events FROM {role}"),
        format!("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {schema}._sqlx_migrations FROM {role}"),
        format!("GRANT EXECUTE ON FUNCTION {schema}.bulwark_prune_unknown_login_failures(BIGINT) TO {role}"),
        format!("GRANT USAGE ON SCHEMA tower_sessions TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA tower_sessions TO {role}"),
    ]
}

/// Grants `role` what serving needs (see the module documentation); what it did.
pub async fn grant_app_role(settings: &Settings, role: &str) -> Result<String, String> {
    let role = identifier(role)?;
    if !settings.database_url.starts_with("postgres") {
        return Err("grant-app-role is for PostgreSQL: a SQLite file has no roles".to_owned());
    }
    let pool = db::connect(&settings.database_url).await.map_err(|e| e.to_string())?;
    let Db::Postgres(pg) = &pool else {
        return Err("grant-app-role is for PostgreSQL: a SQLite file has no roles".to_owned());
    };
    let status = db::migration_status(&pool).await.map_err(|e| e.to_string())?;
    if !status.is_current() {
        return Err("the database is not migrated to this build: run `server migrate` first".to_owned());
    }
    let schema: String = sqlx::query_scalar("SELECT quote_ident(current_schema())")
        .fetch_one(pg)
        .await
        .map_err(|e| e.to_string())?;
    let mut tx = pg.begin().await.map_err(|e| e.to_string())?;
    for statement in grants(&role, &schema) {
        sqlx::query(&statement).execute(&mut *tx).await.map_err(|e| format!("{statement}: {e}"))?;
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(format!(
        "{role} may now serve this database with --no-migrate; the audit log is read and append only for it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_role_names_are_accepted() {
        assert_eq!(identifier("bulwark_app").as_deref(), Ok("\"bulwark_app\""));
        for bad in ["", "app; DROP TABLE users", "a\"b", "1app", "app-role", &"a".repeat(64)] {
            assert!(identifier(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_audit_log_is_never_granted_update_or_delete() {
        let all = grants("\"app\"", "public").join(";\n");
        assert!(all.contains("REVOKE UPDATE, DELETE, TRUNCATE ON public.audit_events FROM \"app\""));
        assert!(!all.contains("GRANT ALL"));
    }
}
