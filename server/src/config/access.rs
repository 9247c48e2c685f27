//! Settings about who may do what, and for how long: step-up windows, admins' session
//! lifetimes, impersonation's limits, how long a deleted account can be kept, and who may
//! sign up.

use bulwark::{impersonation::Policy, sessions::Lifetimes};
use clap::Args;

/// The raw settings, as given.
#[derive(Clone, Args)]
pub struct AccessConfig {
    /// Minutes a re-entered password (step-up) stays fresh for sensitive actions such as
    /// signing out everywhere.
    #[arg(long, env = "BULWARK_STEP_UP_MINUTES", default_value_t = 10)]
    pub step_up_minutes: u32,
    /// Minutes it stays fresh for admin actions (no longer than the above).
    #[arg(long, env = "BULWARK_ADMIN_STEP_UP_MINUTES", default_value_t = 5)]
    pub admin_step_up_minutes: u32,
    /// Admins' sessions end after this many minutes without a request.
    #[arg(long, env = "BULWARK_ADMIN_SESSION_IDLE_MINUTES", default_value_t = 15)]
    pub admin_session_idle_minutes: u32,
    /// Admins' sessions end this many hours after sign-in, however active.
    #[arg(long, env = "BULWARK_ADMIN_SESSION_ABSOLUTE_HOURS", default_value_t = 8)]
    pub admin_session_absolute_hours: u32,
    /// An impersonation ends this many minutes after it started, however active (1 to 60).
    #[arg(long, env = "BULWARK_IMPERSONATION_MINUTES", default_value_t = 30)]
    pub impersonation_minutes: u32,
    /// How many impersonations one admin may start per rolling hour.
    #[arg(long, env = "BULWARK_IMPERSONATIONS_PER_HOUR", default_value_t = 10)]
    pub impersonations_per_hour: u32,
    /// Consent mode: admins may impersonate only accounts whose owner granted support
    /// access from their account page, for a limited time.
    #[arg(long, env = "BULWARK_IMPERSONATION_CONSENT", default_value_t = false)]
    pub impersonation_consent: bool,
    /// Days between asking for an account's deletion and its erasure, during which the
    /// owner can undo it with the mailed link (1 to 90).
    #[arg(long, env = "BULWARK_DELETION_GRACE_DAYS", default_value_t = bulwark::deletion::DEFAULT_GRACE_DAYS)]
    pub deletion_grace_days: i64,
    /// Who may create an account: `open` (anyone, by signing up) or `invite` (only people
    /// an admin invited; `/signup` says so and the API refuses every address alike).
    #[arg(long, env = "BULWARK_SIGNUP", value_enum, default_value_t = SignupMode::Open)]
    pub signup: SignupMode,
}

/// Who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SignupMode {
    /// Anyone, by signing up.
    #[default]
    Open,
    /// Only people an admin (or the command line) invited.
    Invite,
}

/// The checked settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Seconds a step-up counts for sensitive actions.
    pub step_up_secs: i64,
    /// Seconds it counts for admin actions.
    pub admin_step_up_secs: i64,
    pub admin_lifetimes: Lifetimes,
    pub impersonation: Policy,
    /// Days before a deleted account is erased.
    pub deletion_grace_days: i64,
    pub signup: SignupMode,
}

impl Default for Access {
    fn default() -> Self {
        Self {
            step_up_secs: 10 * 60,
            admin_step_up_secs: 5 * 60,
            admin_lifetimes: Lifetimes { idle_secs: 15 * 60, absolute_secs: 8 * 3600 },
            impersonation: Policy::default(),
            deletion_grace_days: bulwark::deletion::DEFAULT_GRACE_DAYS,
            signup: SignupMode::Open,
        }
    }
}

impl AccessConfig {
    /// The checked settings, or what is wrong with them.
    pub fn validate(&self) -> Result<Access, String> {
        let access = Access {
            step_up_secs: i64::from(self.step_up_minutes) * 60,
            admin_step_up_secs: i64::from(self.admin_step_up_minutes) * 60,
            admin_lifetimes: Lifetimes {
                idle_secs: i64::from(self.admin_session_idle_minutes) * 60,
                absolute_secs: i64::from(self.admin_session_absolute_hours) * 3600,
            },
            impersonation: Policy {
                cap_secs: i64::from(self.impersonation_minutes) * 60,
                per_hour: self.impersonations_per_hour,
                consent_required: self.impersonation_consent,
            },
            deletion_grace_days: self.deletion_grace_days,
            signup: self.signup,
        };
        if !(1..=bulwark::deletion::MAX_GRACE_DAYS).contains(&self.deletion_grace_days) {
            return Err(format!(
                "BULWARK_DELETION_GRACE_DAYS must be between 1 and {}",
                bulwark::deletion::MAX_GRACE_DAYS
            ));
        }
        if !(1..=60).contains(&self.impersonation_minutes) {
            return Err("BULWARK_IMPERSONATION_MINUTES must be between 1 and 60".into());
        }
        if self.impersonations_per_hour == 0 {
            return Err("BULWARK_IMPERSONATIONS_PER_HOUR must be at least 1 (admins who must not \
                        impersonate should not be admins)"
                .into());
        }
        if access.step_up_secs == 0 || access.admin_step_up_secs == 0 {
            return Err("BULWARK_STEP_UP_MINUTES and BULWARK_ADMIN_STEP_UP_MINUTES must be at least 1".into());
        }
        if access.admin_step_up_secs > access.step_up_secs {
            return Err(
                "BULWARK_ADMIN_STEP_UP_MINUTES must not be longer than BULWARK_STEP_UP_MINUTES".into()
            );
        }
        let lifetimes = access.admin_lifetimes;
        if lifetimes.idle_secs == 0 || lifetimes.absolute_secs < lifetimes.idle_secs {
            return Err("BULWARK_ADMIN_SESSION_IDLE_MINUTES must be at least 1, and \
                        BULWARK_ADMIN_SESSION_ABSOLUTE_HOURS no shorter than it"
                .into());
        }
        Ok(access)
    }
}
