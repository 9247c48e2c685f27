//! Settings about who may do what, and for how long: step-up windows and admins' session
//! lifetimes.

use bulwark::sessions::Lifetimes;
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
}

/// The checked settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Seconds a step-up counts for sensitive actions.
    pub step_up_secs: i64,
    /// Seconds it counts for admin actions.
    pub admin_step_up_secs: i64,
    pub admin_lifetimes: Lifetimes,
}

impl Default for Access {
    fn default() -> Self {
        Self {
            step_up_secs: 10 * 60,
            admin_step_up_secs: 5 * 60,
            admin_lifetimes: Lifetimes { idle_secs: 15 * 60, absolute_secs: 8 * 3600 },
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
        };
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
