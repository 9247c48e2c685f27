//! The cookies server functions read and set besides the session's: the device cookie,
//! an impersonating admin's parked session, and a sign-in's second step. Re-exported from
//! `ssr`.

use leptos::prelude::*;

use super::ssr::{devices, services, unexpected, Device, NewDevice};
use crate::error::ApiError;

/// A cookie's name and attributes (the device cookie; the parked-session cookie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCookie {
    pub name: &'static str,
    pub secure: bool,
}

/// The value of the cookie `name` in `headers`, if the request sent one (unchecked).
pub fn cookie_in(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
}

/// A `Set-Cookie` value for `cookie`: path `/`, HttpOnly, `Secure` when the site is;
/// `max_age` 0 deletes it.
pub fn set_cookie_value(cookie: DeviceCookie, value: &str, max_age: i64, same_site: &str) -> String {
    let secure = if cookie.secure { "; Secure" } else { "" };
    format!("{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}", cookie.name)
}

/// Appends a `Set-Cookie` to this response.
fn send_cookie(value: &str) {
    if let (Some(options), Ok(value)) =
        (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(value))
    {
        options.append_header(http::header::SET_COOKIE, value);
    }
}

/// The value of this request's cookie `name`.
fn request_cookie(name: &str) -> Option<String> {
    cookie_in(&use_context::<http::request::Parts>()?.headers, name)
}

/// The device cookie this request carries, if any (its value, unchecked).
pub fn device_cookie_value() -> Option<String> {
    request_cookie(services()?.device_cookie.name)
}

/// The live device this request's device cookie names, if any.
pub async fn current_device() -> Result<Option<Device>, ApiError> {
    devices()?
        .recognise(device_cookie_value().as_deref())
        .await
        .map_err(|e| unexpected("device lookup failed", &e))
}

/// Sends a new device cookie: long-lived, HttpOnly, `__Host-` prefixed when secure.
pub fn set_device_cookie(new: &NewDevice) {
    let Some(cookie) = services().map(|s| s.device_cookie) else { return };
    send_cookie(&set_cookie_value(cookie, &new.cookie, bulwark::devices::DEVICE_LIFETIME_SECS, "Lax"));
}

/// Keeps the admin's own session id in the parked cookie while they impersonate someone,
/// until `expires_at` (their session's absolute limit). HttpOnly, SameSite=Strict,
/// `__Host-` prefixed when secure.
pub fn set_parked_cookie(id: &tower_sessions::session::Id, expires_at: i64) {
    let Some(services) = services() else { return };
    let max_age = expires_at.saturating_sub(services.registry.now()).max(0);
    send_cookie(&set_cookie_value(services.parked_cookie, &id.to_string(), max_age, "Strict"));
}

/// Deletes the parked cookie.
pub fn expire_parked_cookie() {
    let Some(services) = services() else { return };
    send_cookie(&set_cookie_value(services.parked_cookie, "", 0, "Strict"));
}

/// The parked cookie's value, if the request carries one.
pub fn parked_cookie_value() -> Option<tower_sessions::session::Id> {
    request_cookie(services()?.parked_cookie.name)?.parse().ok()
}

/// The value of this request's second-step cookie, if any (unchecked).
pub fn second_step_cookie_value() -> Option<String> {
    request_cookie(services()?.second_step_cookie.name)
}

/// Sends the second-step cookie: HttpOnly, SameSite=Strict, `__Host-` when secure, for
/// as long as the pending step lives.
pub fn set_second_step_cookie(value: &str, max_age: i64) {
    let Some(cookie) = services().map(|s| s.second_step_cookie) else { return };
    send_cookie(&set_cookie_value(cookie, value, max_age, "Strict"));
}

/// Deletes the second-step cookie.
pub fn expire_second_step_cookie() {
    let Some(cookie) = services().map(|s| s.second_step_cookie) else { return };
    send_cookie(&set_cookie_value(cookie, "", 0, "Strict"));
}

/// The value of this request's passkey sign-in cookie, if any (unchecked).
pub fn passkey_cookie_value() -> Option<String> {
    request_cookie(services()?.passkey_cookie.name)
}

/// Sends the passkey sign-in cookie (HttpOnly, SameSite=Strict), for as long as its
/// ceremony lives; `None` deletes it.
pub fn set_passkey_cookie(value: Option<&str>, max_age: i64) {
    let Some(cookie) = services().map(|s| s.passkey_cookie) else { return };
    send_cookie(&set_cookie_value(
        cookie,
        value.unwrap_or_default(),
        if value.is_some() { max_age } else { 0 },
        "Strict",
    ));
}
