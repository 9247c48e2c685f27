//! The names and flags of the cookies the server sets.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSettings {
    /// The session cookie.
    pub name: &'static str,
    /// The device cookie (see `bulwark::devices`).
    pub device_name: &'static str,
    /// An admin's own session id while they impersonate someone (see
    /// `bulwark::impersonation`).
    pub parked_name: &'static str,
    /// A sign-in waiting for its second step (see `bulwark::factors`): not a session.
    pub second_step_name: &'static str,
    /// A passkey sign-in under way (its ceremony's key): not a session either.
    pub passkey_name: &'static str,
    pub secure: bool,
}

impl CookieSettings {
    /// `__Host-` binds the cookie to this exact host, path `/`, over HTTPS: browsers refuse
    /// it without `Secure`. Chromium and Firefox treat http://localhost as secure, so the
    /// strict form works in local development too.
    pub const STRICT: Self = Self {
        name: "__Host-bulwark",
        device_name: "__Host-bulwark-device",
        parked_name: "__Host-bulwark-admin",
        second_step_name: "__Host-bulwark-second-step",
        passkey_name: "__Host-bulwark-passkey",
        secure: true,
    };
    pub const INSECURE_DEV: Self = Self {
        name: "bulwark",
        device_name: "bulwark-device",
        parked_name: "bulwark-admin",
        second_step_name: "bulwark-second-step",
        passkey_name: "bulwark-passkey",
        secure: false,
    };
}
