//! `server create-admin` and `server create-user`: a confirmed account made from the
//! command line (the first admin of a new site, or accounts for a test suite). The
//! password never comes from the command line or the environment (both are visible to
//! other processes and end up in shell history): it is asked for twice on a terminal, or
//! read as the first line of standard input when that is not a terminal (scripts, CI).

use std::io::{BufRead, IsTerminal};

use bulwark::{
    accounts::{Accounts, ProvisionError, User},
    audit,
    clock::SystemClock,
    db,
    hashing::PasswordHasher,
    Role,
};

use crate::config::Settings;

/// Reads the new account's password (see the module documentation).
pub fn read_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first =
            rpassword::prompt_password("Password for the new account: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("The same password again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the two passwords differ; nothing was created".to_owned());
        }
        Ok(first)
    } else {
        first_line(stdin.lock())
    }
}

/// The first line of `input`, without its line ending.
fn first_line(mut input: impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| format!("could not read the password from standard input: {e}"))?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Ok(line.to_owned())
}

/// Creates a confirmed account with `role` in the configured database (migrated first).
/// The error is a sentence for the operator.
pub async fn create_account(
    settings: &Settings,
    email: &str,
    username: &str,
    password: &str,
    role: Role,
) -> Result<User, String> {
    let pool = db::connect_with_pool(&settings.database_url, 2).await.map_err(|e| e.to_string())?;
    db::migrate(&pool).await.map_err(|e| e.to_string())?;
    let hasher = PasswordHasher::new(settings.hash_params).map_err(|e| e.to_string())?;
    let accounts =
        Accounts::new(pool.clone(), hasher, settings.password_policy, std::sync::Arc::new(SystemClock))
            .with_breaches(settings.credentials.breaches.clone());
    let created =
        accounts.create_confirmed(email, username, password, role, &audit::Context::command_line()).await;
    pool.close().await;
    created.map_err(|error| match error {
        ProvisionError::Invalid(errors) => {
            let lines: Vec<String> =
                errors.iter().map(|(field, message)| format!("  {field:?}: {message}")).collect();
            format!("the account was refused:\n{}", lines.join("\n"))
        }
        ProvisionError::Unexpected(cause) => format!("the account could not be created: {cause}"),
        taken => format!("{taken}; nothing was created"),
    })
}

/// `server invite`: an invitation to `email` with `role`, queued for the running server to
/// mail; with `print_link`, the link too. The answer is a sentence for the operator.
pub async fn invite(
    settings: &Settings,
    email: &str,
    role: Role,
    print_link: bool,
) -> Result<String, String> {
    let pool = db::connect_with_pool(&settings.database_url, 2).await.map_err(|e| e.to_string())?;
    db::migrate(&pool).await.map_err(|e| e.to_string())?;
    let clock: bulwark::clock::SharedClock = std::sync::Arc::new(SystemClock);
    let hasher = PasswordHasher::new(settings.hash_params).map_err(|e| e.to_string())?;
    let accounts = Accounts::new(pool.clone(), hasher, settings.password_policy, clock.clone())
        .with_secret(settings.secret.expose());
    let invitations = bulwark::invitations::Invitations::new(bulwark::invitations::Parts {
        pool: pool.clone(),
        clock: clock.clone(),
        accounts,
        throttle: bulwark::throttle::Throttle::new(
            pool.clone(),
            clock.clone(),
            settings.throttle.clone(),
            settings.secret.expose(),
        ),
        outbox: bulwark::mail::Outbox::new(pool.clone(), clock),
        templates: bulwark::mail::Templates::new(&settings.public_url.to_string()),
    });
    let sent = invitations.invite(bulwark::invitations::Inviter::CommandLine, email, role).await;
    pool.close().await;
    use bulwark::invitations::{InvitationError, Sent};
    let days = bulwark::invitations::INVITATION_VALID_SECS / 86_400;
    match sent {
        Ok(Sent::Mailed { id, link }) => {
            let mut answer = format!(
                "invitation {id} ({}) queued: the running server mails it within seconds; the link works once, for {days} days",
                role.as_str()
            );
            if let (true, Some(token)) = (print_link, link) {
                let url = settings.public_url.to_string();
                answer.push_str(&format!(
                    "
link (anyone who has it can accept the invitation): {}{}?token={token}",
                    url.trim_end_matches('/'),
                    bulwark::mail::templates::INVITATION_PATH
                ));
            }
            Ok(answer)
        }
        Ok(Sent::Waiting { .. }) => Err("the invitation waits for an approval; this should not happen from                                          the command line"
            .to_owned()),
        Err(InvitationError::EmailTaken) => {
            Err("an account with this email address already exists; nothing was sent".to_owned())
        }
        Err(InvitationError::Invalid(_)) => Err("that is not an email address; nothing was sent".to_owned()),
        Err(error) => Err(format!("the invitation failed: {error}")),
    }
}

/// Sets up an authenticator app with `secret` (base32) for the account just made, for test
/// suites that must not need a phone (`--totp-secret`). Refused in production. The new
/// recovery codes, for the caller to print.
pub async fn enrol_totp(settings: &Settings, user: &User, secret: &str) -> Result<Vec<String>, String> {
    if settings.environment == crate::config::Environment::Production {
        return Err("--totp-secret is for test suites and is refused in production: set up the \
                    authenticator app by signing in instead (the account was created)"
            .to_owned());
    }
    let secret = bulwark::factors::TotpSecret::from_base32(secret)
        .ok_or("--totp-secret must be base32 (A-Z, 2-7) of at least 16 bytes (26 characters)")?;
    let pool = db::connect_with_pool(&settings.database_url, 2).await.map_err(|e| e.to_string())?;
    let clock: bulwark::clock::SharedClock = std::sync::Arc::new(SystemClock);
    let factors = bulwark::factors::Factors::new(
        pool.clone(),
        clock.clone(),
        bulwark::factors::FactorKeys::new(settings.secret.expose(), settings.credentials.factor_key_version),
        bulwark::throttle::Throttle::new(
            pool.clone(),
            clock.clone(),
            settings.throttle.clone(),
            settings.secret.expose(),
        ),
        bulwark::mail::Outbox::new(pool.clone(), clock),
        bulwark::mail::Templates::new(&settings.public_url.to_string()),
        bulwark::factors::ISSUER,
    );
    let codes = factors.enrol_with_secret(user, &secret, &audit::Context::command_line()).await;
    pool.close().await;
    codes.map_err(|e| format!("the authenticator app could not be set up: {e}"))
}

/// Break-glass from the command line (`server enable`, `unlock`, `set-role`): the change to
/// the account at `email`, audited as the operator. The answer is a sentence for the
/// operator.
pub async fn operator(
    settings: &Settings,
    email: &str,
    action: bulwark::admin::OperatorAction,
) -> Result<String, String> {
    let email = bulwark::Email::parse(email).map_err(|e| format!("that is not an email address: {e}"))?;
    let pool = db::connect_with_pool(&settings.database_url, 2).await.map_err(|e| e.to_string())?;
    db::migrate(&pool).await.map_err(|e| e.to_string())?;
    let now = bulwark::clock::Clock::now(&SystemClock);
    let outcome = bulwark::admin::operator(&pool, now, &email, action).await;
    pool.close().await;
    use bulwark::admin::AdminError;
    match outcome {
        Ok(true) => Ok("done; recorded in the audit log as the command line".to_owned()),
        Ok(false) => Ok("nothing to change: the account was so already".to_owned()),
        Err(AdminError::NotFound) => Err("no account has that address".to_owned()),
        Err(AdminError::LastAdmin) => {
            Err("refused: that would leave no administrator who can act (make another admin first)"
                .to_owned())
        }
        Err(error) => Err(format!("the change failed: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::first_line;

    #[test]
    fn the_password_is_the_first_line_without_its_ending() {
        assert_eq!(
            first_line(&b"correct horse battery\r\nsecond"[..]).as_deref(),
            Ok("correct horse battery")
        );
        assert_eq!(first_line(&b"no newline"[..]).as_deref(), Ok("no newline"));
        assert_eq!(first_line(&b"  spaces kept  \n"[..]).as_deref(), Ok("  spaces kept  "));
        assert_eq!(first_line(&b""[..]).as_deref(), Ok(""));
    }
}
