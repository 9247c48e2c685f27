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
    // `public` means every role, even quoted; `none` and `pg_*` are reserved.
    let reserved = ["public", "none", "current_user", "session_user", "current_role"]
        .contains(&role.to_ascii_lowercase().as_str())
        || role.to_ascii_lowercase().starts_with("pg_");
    if reserved {
        return Err(format!("{role:?} is a reserved name, not a role of its own"));
    }
    if plain {
        Ok(format!("\"{role}\""))
    } else {
        Err(format!("{role:?} is not a role name (letters, digits and _, at most 63)"))
    }
}

/// The statements that give `role` what serving needs, in `schema`.
fn grants(role: &str, schema: &str) -> Vec<String> {
    vec![
        // PostgreSQL 14 and older let every role create objects in `public`: objects the
        // serving role made there could stand in for the owner's in a later migration.
        format!("REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC"),
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"),
        format!("REVOKE UPDATE, DELETE, TRUNCATE ON {schema}.audit_events FROM {role}"),
        format!("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {schema}._sqlx_migrations FROM {role}"),
        format!("GRANT EXECUTE ON FUNCTION {schema}.bulwark_prune_unknown_login_failures(BIGINT) TO {role}"),
        format!("GRANT EXECUTE ON FUNCTION {schema}.bulwark_erase_audit(BIGINT) TO {role}"),
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
    let plain = role.trim_matches('"');
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(plain)
        .fetch_one(pg)
        .await
        .map_err(|e| e.to_string())?;
    if !exists {
        return Err(format!("there is no role {role}: create it first (CREATE ROLE … LOGIN)"));
    }
    let mut tx = pg.begin().await.map_err(|e| e.to_string())?;
    for statement in grants(&role, &schema) {
        sqlx::query(&statement).execute(&mut *tx).await.map_err(|e| format!("{statement}: {e}"))?;
    }
    // What the role can do in effect, whatever was granted to it through PUBLIC, a group
    // or a default: a grant that left a way to change the audit log is not made at all.
    let gaps = gaps_on(&mut tx, plain).await.map_err(|e| e.to_string())?;
    if gaps.is_empty() {
        tx.commit().await.map_err(|e| e.to_string())?;
    } else {
        tx.rollback().await.map_err(|e| e.to_string())?;
        return Err(format!(
            "nothing was granted: {role} could still {} (it is or may become a superuser, owns the \
             tables or may act as their owner, or was granted more elsewhere); use a role that \
             owns nothing and belongs to no such role",
            gaps.join(", ")
        ));
    }
    Ok(format!(
        "{role} may now serve this database with --no-migrate; the audit log is read and append only for it"
    ))
}

/// What `role` (the current user when `None`) can do in effect that lets it change the
/// audit log's history: empty when nothing. On SQLite, always empty (no roles).
pub async fn audit_gaps(pool: &db::Pool, role: Option<&str>) -> sqlx::Result<Vec<&'static str>> {
    let Db::Postgres(pg) = pool else { return Ok(Vec::new()) };
    let mut connection = pg.acquire().await?;
    let role: String = match role {
        Some(role) => role.to_owned(),
        None => sqlx::query_scalar("SELECT current_user::text").fetch_one(&mut *connection).await?,
    };
    gaps_on(&mut connection, &role).await
}

/// [`audit_gaps`] on one connection (a transaction, for `grant-app-role`).
async fn gaps_on(connection: &mut sqlx::PgConnection, role: &str) -> sqlx::Result<Vec<&'static str>> {
    // Every role `role` can become or inherits from (itself included): superuser status
    // and CREATEROLE are not inherited, but `SET ROLE` reaches them.
    const REACHABLE: &str = "SELECT r.oid FROM pg_roles r WHERE pg_has_role($1, r.oid, 'MEMBER')";
    let checks: [(&str, String); 11] = [
        ("update audit events", "has_any_column_privilege($1, 'audit_events', 'UPDATE')".into()),
        ("delete audit events", "has_table_privilege($1, 'audit_events', 'DELETE')".into()),
        ("truncate the audit log", "has_table_privilege($1, 'audit_events', 'TRUNCATE')".into()),
        ("disable the audit triggers", "has_table_privilege($1, 'audit_events', 'TRIGGER')".into()),
        (
            "rewrite the migrations' record",
            "has_table_privilege($1, '_sqlx_migrations', 'INSERT') \
             OR has_any_column_privilege($1, '_sqlx_migrations', 'UPDATE') \
             OR has_table_privilege($1, '_sqlx_migrations', 'DELETE')"
                .into(),
        ),
        ("create objects in the schema", "has_schema_privilege($1, current_schema(), 'CREATE')".into()),
        ("create schemas", "has_database_privilege($1, current_database(), 'CREATE')".into()),
        (
            "act as a superuser",
            format!("EXISTS (SELECT 1 FROM pg_roles WHERE rolsuper AND oid IN ({REACHABLE}))"),
        ),
        (
            "create or grant roles",
            format!("EXISTS (SELECT 1 FROM pg_roles WHERE rolcreaterole AND oid IN ({REACHABLE}))"),
        ),
        (
            "act as the audit log's owner",
            "pg_has_role($1, (SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() \
             AND tablename = 'audit_events'), 'MEMBER')"
                .into(),
        ),
        (
            "act as a role that may change the audit log",
            format!(
                "EXISTS (SELECT 1 FROM pg_roles WHERE oid IN ({REACHABLE}) AND \
                 (has_table_privilege(oid, 'audit_events', 'DELETE') \
                  OR has_any_column_privilege(oid, 'audit_events', 'UPDATE')))"
            ),
        ),
    ];
    let mut gaps = Vec::new();
    for (what, check) in &checks {
        let yes: bool =
            sqlx::query_scalar(&format!("SELECT {check}")).bind(role).fetch_one(&mut *connection).await?;
        if yes {
            gaps.push(*what);
        }
    }
    Ok(gaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_role_names_are_accepted() {
        assert_eq!(identifier("bulwark_app").as_deref(), Ok("\"bulwark_app\""));
        for bad in [
            "",
            "app; DROP TABLE users",
            "a\"b",
            "1app",
            "app-role",
            &"a".repeat(64),
            "public",
            "PUBLIC",
            "pg_monitor",
            "none",
        ] {
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
