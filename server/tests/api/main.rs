//! One integration-test binary (each extra binary is another slow link), one module per
//! feature. Every test drives the real router over HTTP against its own SQLite file.

mod account;
mod admin;
mod assets;
mod breached;
mod csrf;
mod devices;
mod email_change;
mod helpers;
mod impersonation;
mod limits;
mod login;
mod logout;
mod logs;
mod pages;
mod password_reset;
mod revocation;
mod sessions;
mod signup;
mod throttle;
mod verification;
