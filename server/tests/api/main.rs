//! One integration-test binary (each extra binary is another slow link), one module per
//! feature. Every test drives the real router over HTTP against its own database: a SQLite
//! file, or with BULWARK_TEST_PG_URL set, a PostgreSQL database of its own.

mod account;
mod admin;
mod approvals;
mod assets;
mod backup;
mod breached;
mod compression;
mod contention;
mod csrf;
mod deletion;
mod devices;
mod email_change;
mod export;
mod flood;
mod fuzz;
mod health;
mod helpers;
mod impersonation;
mod in_flight;
mod instances;
mod invitations;
mod limits;
mod login;
mod logout;
mod logs;
mod malformed;
mod metrics;
mod pages;
mod passkeys;
mod password_reset;
mod revocation;
mod roles;
mod sessions;
mod shutdown;
mod signup;
mod site_caps;
mod throttle;
mod two_factor;
mod two_factor_doors;
mod verification;
