//! Break-glass from the command line (`server enable`, `server unlock`, `server set-role`):
//! the way back when the dashboard cannot help, such as a rogue admin who locked or demoted
//! every other, or a site whose only other admin will not approve. Whoever runs these has
//! the server's configuration (its database URL), which is more than any admin has; each
//! change is audited with no actor and the "command line" as its device, on the
//! transaction that makes it. Demoting still keeps an admin who can act.

use crate::{
    accounts::store::find_user_by_email,
    audit::{self, Event},
    clock::UnixTime,
    db::Pool,
    Email, Role,
};

use super::{store, AdminError};

/// What the operator does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorAction {
    /// Lift a disablement.
    Enable,
    /// Lift the admin lock.
    Unlock,
    /// Grant or remove the admin role (every session of the account ends).
    SetRole(Role),
    /// Remove every second factor (every session ends): the last admin who lost theirs.
    ResetFactors,
}

/// Does `action` to the account at `email`. `Ok(false)`: it was so already.
pub async fn operator(
    pool: &Pool,
    now: UnixTime,
    email: &Email,
    action: OperatorAction,
) -> Result<bool, AdminError> {
    let user = find_user_by_email(pool, email).await?.ok_or(AdminError::NotFound)?;
    let context = audit::Context::command_line();
    let mut tx = crate::db::write(pool).await?;
    let (changed, event, details) = match action {
        OperatorAction::Enable => {
            (store::operator_enable(&mut tx, user.id).await?, Event::UserEnabled, serde_json::json!({}))
        }
        OperatorAction::Unlock => {
            (store::operator_unlock(&mut tx, user.id).await?, Event::UserUnlocked, serde_json::json!({}))
        }
        OperatorAction::ResetFactors => {
            // The epoch bump ends every session at its next request.
            (
                store::operator_reset_factors(&mut tx, user.id).await?,
                Event::FactorsReset,
                serde_json::json!({}),
            )
        }
        OperatorAction::SetRole(role) => {
            let changed = store::operator_set_role(&mut tx, user.id, role, now).await?;
            if !changed && user.role != role {
                return Err(AdminError::LastAdmin);
            }
            (
                changed,
                Event::RoleChanged,
                serde_json::json!({ "from": user.role.as_str(), "to": role.as_str() }),
            )
        }
    };
    if !changed {
        return Ok(false);
    }
    let entry = audit::Entry::new(event, None, Some(user.id), &context)
        .details(serde_json::json!({ "via": "command line", "change": details }));
    audit::record(&mut tx, now, &entry).await?;
    tx.commit().await?;
    tracing::info!(event = event.as_str(), subject = user.id, "operator action from the command line");
    Ok(true)
}
