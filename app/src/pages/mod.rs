//! One module per page; each page is named `<Thing>Page`.

mod home;
mod login;
mod not_found;
mod sessions;
mod signup;

pub use home::HomePage;
pub use login::LoginPage;
pub use not_found::NotFoundPage;
pub use sessions::SessionsPage;
pub use signup::SignupPage;
