//! One module per page; each page is named `<Thing>Page`.

mod account;
mod admin;
mod approvals;
mod audit;
mod check_email;
mod deletion;
mod email_change;
mod home;
pub(crate) mod impersonation;
mod login;
mod not_found;
pub(crate) mod passkeys;
mod password_reset;
mod second_step;
mod security;
mod sessions;
mod signup;
mod verify_email;

pub use account::{ActivityPage, ChangePasswordPage, StepUpPage};
pub use admin::{AdminUserPage, AdminUsersPage};
pub use approvals::AdminApprovalsPage;
pub use audit::AdminAuditPage;
pub use check_email::CheckEmailPage;
pub use deletion::{AccountClosedNotice, DeleteAccountPage, UndoDeletionPage};
pub use email_change::{CancelEmailChangePage, ConfirmEmailChangePage, EmailChangePage, RecoverAccountPage};
pub use home::HomePage;
pub use impersonation::{AdminImpersonationsPage, ImpersonationBanner};
pub use login::LoginPage;
pub use not_found::NotFoundPage;
pub use password_reset::{ForgotPasswordPage, ResetPasswordPage};
pub use second_step::SecondStepPage;
pub use security::{RecoveryCodesPage, SecurityPage, SetupAppPage};
pub use sessions::SessionsPage;
pub use signup::SignupPage;
pub use verify_email::{ResendVerificationPage, VerifyEmailPage};
