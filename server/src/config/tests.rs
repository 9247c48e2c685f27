use clap::Parser;

use super::*;
use bulwark::mail::SmtpTls;

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    config: Config,
}

/// Parses flags only: the test must not depend on the environment it runs in.
fn config(args: &[&str]) -> Config {
    let mut argv = vec!["server"];
    argv.extend_from_slice(args);
    let mut config = Wrapper::parse_from(argv).config;
    // Flags win over the environment in clap; clear the optional ones not given.
    if !args.iter().any(|a| a.starts_with("--secret")) {
        config.secret = None;
    }
    if !args.iter().any(|a| a.starts_with("--public-url")) {
        config.public_url = None;
    }
    if !args.iter().any(|a| a.starts_with("--client-ip")) {
        config.client_ip = None;
    }
    if !args.iter().any(|a| a.starts_with("--trusted-proxies")) {
        config.trusted_proxies = String::new();
    }
    if !args.iter().any(|a| a.starts_with("--metrics-addr")) {
        config.metrics_addr = None;
    }
    if !args.iter().any(|a| a.starts_with("--breached-list")) {
        config.credentials.breached_list = None;
    }
    for (flag, field) in [
        ("--breached-range-url", &mut config.credentials.breached_range_url),
        ("--smtp-host", &mut config.smtp_host),
        ("--smtp-username", &mut config.smtp_username),
        ("--smtp-password", &mut config.smtp_password),
        ("--mail-from", &mut config.mail_from),
    ] {
        if !args.iter().any(|a| a.starts_with(flag)) {
            *field = None;
        }
    }
    config
}

const SECRET: &str = "--secret=0123456789abcdef0123456789abcdef";
/// What production needs besides the secret and public URL.
const MAIL: [&str; 3] =
    ["--smtp-host=smtp.example.com", "--mail-from=Bulwark <no-reply@example.com>", "--client-ip=direct"];

/// `args` plus a working production mail set-up.
fn production(args: &[&str]) -> Config {
    let mut all = vec!["--env=production"];
    all.extend_from_slice(args);
    all.extend_from_slice(&MAIL);
    config(&all)
}

#[test]
fn development_starts_with_nothing_set_and_uses_strict_cookies() {
    let settings = config(&["--env=development"]).validate().expect("valid");
    assert_eq!(settings.public_url.to_string(), "http://localhost:3000/");
    assert_eq!(settings.cookie, CookieSettings::STRICT);
}

#[test]
fn production_without_a_secret_is_refused() {
    let result = production(&["--public-url=https://auth.example.com"]).validate();
    assert_eq!(result.err(), Some(ConfigErrors(vec![ConfigError::MissingSecret])));
}

#[test]
fn a_short_secret_is_refused() {
    let result = production(&["--public-url=https://a.example.com", "--secret=short"]).validate();
    assert_eq!(result.err(), Some(ConfigErrors(vec![ConfigError::ShortSecret(5)])));
}

#[test]
fn production_without_a_public_url_is_refused() {
    assert_eq!(
        production(&[SECRET]).validate().err(),
        Some(ConfigErrors(vec![ConfigError::MissingPublicUrl]))
    );
}

#[test]
fn production_over_plain_http_is_refused() {
    let result = production(&[SECRET, "--public-url=http://auth.example.com"]).validate();
    assert_eq!(result.err(), Some(ConfigErrors(vec![ConfigError::InsecurePublicUrl])));
}

#[test]
fn production_refuses_insecure_cookies() {
    let result =
        production(&[SECRET, "--public-url=https://auth.example.com", "--insecure-cookies"]).validate();
    assert_eq!(result.err(), Some(ConfigErrors(vec![ConfigError::InsecureCookiesInProduction])));
}

#[test]
fn every_problem_is_reported_at_once() {
    let errors = config(&["--env=production", "--insecure-cookies", "--password-min-chars=4"]).validate();
    assert_eq!(
        errors.err(),
        Some(ConfigErrors(vec![
            ConfigError::MissingPublicUrl,
            ConfigError::MissingMailFrom,
            ConfigError::MissingSmtpHost,
            ConfigError::MissingSecret,
            ConfigError::InsecureCookiesInProduction,
            ConfigError::PasswordMinimum(4),
            ConfigError::MissingClientIp,
        ]))
    );
}

#[test]
fn throttle_settings_are_parsed_and_checked() {
    let settings = config(&["--throttle-ip-ladder=5:30, 15:300", "--trusted-proxies=10.0.0.0/8"]).validate();
    let Ok(settings) = settings else { panic!("valid settings refused") };
    assert_eq!(settings.throttle.ip_ladder, vec![(5, 30), (15, 300)]);
    for bad in ["--throttle-ip-ladder=20:60,10:600", "--throttle-ip-ladder=ten", "--trusted-proxies=nope"] {
        assert!(config(&[bad]).validate().is_err(), "{bad}");
    }
}

#[test]
fn a_complete_production_config_is_accepted() {
    let settings = production(&[SECRET, "--public-url=https://auth.example.com"]).validate().expect("valid");
    assert_eq!(settings.cookie, CookieSettings::STRICT);
}

#[test]
fn insecure_cookies_in_development_drop_the_host_prefix() {
    let settings = config(&["--insecure-cookies"]).validate().expect("valid");
    assert_eq!(settings.cookie, CookieSettings::INSECURE_DEV);
}

#[test]
fn a_password_minimum_below_eight_is_refused() {
    assert_eq!(
        config(&["--password-min-chars=6"]).validate().err(),
        Some(ConfigErrors(vec![ConfigError::PasswordMinimum(6)]))
    );
}

#[test]
fn weak_argon2_parameters_are_refused() {
    assert_eq!(
        config(&["--argon2-memory-kib=1024"]).validate().err(),
        Some(ConfigErrors(vec![ConfigError::WeakHashing]))
    );
    assert_eq!(
        config(&["--argon2-iterations=65"]).validate().err(),
        Some(ConfigErrors(vec![ConfigError::CostlyHashing])),
        "too costly is not called too weak"
    );
}

#[test]
fn public_urls_with_paths_or_other_schemes_are_refused() {
    for bad in ["ftp://x.example.com", "https://x.example.com/app", "not a url", "localhost:3000"] {
        let arg = format!("--public-url={bad}");
        let errors = config(&[&arg]).validate().err().expect(bad).0;
        assert!(matches!(errors.as_slice(), [ConfigError::BadPublicUrl(_)]), "{bad}");
    }
}

#[test]
fn development_without_smtp_writes_mail_to_the_outbox_folder() {
    let settings = config(&["--mail-outbox=/tmp/mails"]).validate().expect("valid");
    assert!(
        matches!(settings.mail.delivery, MailDelivery::Folder(ref dir) if dir == &PathBuf::from("/tmp/mails"))
    );
}

#[test]
fn smtp_settings_are_parsed_with_the_port_following_the_tls_mode() {
    let settings = production(&[SECRET, "--public-url=https://a.example.com", "--smtp-tls=tls"])
        .validate()
        .expect("valid");
    let MailDelivery::Smtp(smtp) = settings.mail.delivery else { panic!("smtp expected") };
    assert_eq!((smtp.host.as_str(), smtp.port, smtp.tls), ("smtp.example.com", 465, SmtpTls::Tls));
    assert_eq!(settings.mail.from.email.to_string(), "no-reply@example.com");
}

#[test]
fn production_refuses_plain_smtp_to_another_host_and_half_credentials() {
    let result =
        production(&[SECRET, "--public-url=https://a.example.com", "--smtp-tls=none", "--smtp-username=u"])
            .validate();
    assert_eq!(
        result.err(),
        Some(ConfigErrors(vec![ConfigError::SmtpCredentials, ConfigError::PlainSmtpInProduction]))
    );
}

#[test]
fn a_malformed_from_address_is_refused() {
    let result = config(&["--mail-from=not an address"]).validate();
    assert_eq!(result.err(), Some(ConfigErrors(vec![ConfigError::BadMailFrom("not an address".into())])));
}

#[test]
fn a_breached_list_that_is_missing_or_not_the_list_stops_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "hello\n").expect("write");
    for path in [dir.path().join("missing.txt"), junk] {
        let errors =
            config(&["--breached-list", path.to_str().expect("utf-8")]).validate().err().expect("refused");
        assert!(
            matches!(&errors.0[..], [ConfigError::Credentials(m)] if m.starts_with("BULWARK_BREACHED_LIST"))
        );
    }
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/pwned-passwords-sample.txt");
    let settings = config(&["--breached-list", sample]).validate().expect("the sample list is accepted");
    assert!(settings.credentials.breaches.is_enabled());
}

#[test]
fn the_range_api_needs_an_http_url_and_https_in_production() {
    assert!(config(&["--breached-range-url", "ftp://example.com"]).validate().is_err());
    assert!(config(&["--breached-range-url", "http://127.0.0.1:9"]).validate().is_ok());
    let plain = production(&["--breached-range-url", "http://api.pwnedpasswords.com"]).validate();
    let errors = plain.err().expect("refused");
    assert!(errors.0.iter().any(|e| e.to_string().contains("https in production")), "{errors}");
    assert!(!config(&[]).validate().expect("defaults").credentials.breaches.is_enabled());
    assert!(config(&[]).validate().expect("defaults").credentials.new_device_notice, "on by default");
    let off = config(&["--new-device-notice", "false"]).validate().expect("valid");
    assert!(!off.credentials.new_device_notice);
}

#[test]
fn production_refuses_a_remote_postgres_without_a_checked_certificate() {
    let base = [SECRET, "--public-url=https://a.example.com"];
    let with = |url: &str| {
        let mut args = base.to_vec();
        args.push(url);
        production(&args).validate()
    };
    for unchecked in [
        "--database-url=postgres://bulwark:pw@db.internal/bulwark",
        "--database-url=postgres://bulwark:pw@db.internal/bulwark?sslmode=require",
        "--database-url=postgres://bulwark:pw@db.internal/bulwark?sslmode=verify-ca",
    ] {
        assert_eq!(
            with(unchecked).err(),
            Some(ConfigErrors(vec![ConfigError::UnverifiedDatabaseTls])),
            "{unchecked}"
        );
    }
    assert!(with("--database-url=postgres://bulwark:pw@db.internal/bulwark?sslmode=verify-full").is_ok());
    assert!(with("--database-url=postgres://bulwark:pw@localhost/bulwark").is_ok(), "this machine");
    // Development takes any URL.
    assert!(config(&["--env=development", "--database-url=postgres://u:p@db.internal/b"]).validate().is_ok());
    // --help never shows the URL (it may hold a password).
    let mut command = <Config as clap::Args>::augment_args(clap::Command::new("server"));
    let help = command.render_long_help().to_string();
    assert!(help.contains("DATABASE_URL") && !help.contains("sqlite://data"), "{help}");
}

#[test]
fn production_refuses_a_public_url_that_cannot_carry_passkeys() {
    let result = production(&[SECRET, "--public-url=https://203.0.113.9"]).validate();
    assert!(
        matches!(
            result.err().as_ref().map(|e| e.0.as_slice()),
            Some([ConfigError::PublicUrlNotARelyingParty(_)])
        ),
        "an IP address cannot be a relying party ID"
    );
}

#[test]
fn metrics_are_refused_on_the_sites_port_and_served_on_another() {
    let refused = config(&["--site-addr=0.0.0.0:3000", "--metrics-addr=127.0.0.1:3000"]).validate();
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("BULWARK_METRICS_ADDR"), "{message}");
    let settings = config(&["--site-addr=0.0.0.0:3000", "--metrics-addr=127.0.0.1:9100"]).validate();
    assert_eq!(settings.ok().and_then(|s| s.metrics_addr), Some("127.0.0.1:9100".parse().expect("addr")));
    assert_eq!(config(&[]).validate().ok().and_then(|s| s.metrics_addr), None, "off by default");
    let both_chosen_by_the_system =
        config(&["--site-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0"]).validate();
    assert!(both_chosen_by_the_system.is_ok(), "port 0 is two different ports");
}

/// Settings read outside clap (`server::logging` reads these before anything else).
const NOT_CLAP: [&str; 2] = ["RUST_LOG", "BULWARK_LOG_FORMAT"];

/// docs/operators/configuration.md lists every setting the code reads exactly once (the
/// first cell of a table row), nothing else, and each default the code has.
#[test]
fn every_setting_is_documented_once_with_its_default() {
    use clap::Args as _;
    let doc = include_str!("../../../docs/operators/configuration.md");
    let mut rows: Vec<(&str, &str)> = Vec::new();
    for line in doc.lines().filter(|line| line.starts_with("| `")) {
        let mut cells = line.split('|').map(str::trim).skip(1);
        let name = cells.next().unwrap_or_default().trim_matches('`');
        rows.push((name, cells.next().unwrap_or_default()));
    }
    let command = Config::augment_args(clap::Command::new("server"));
    let mut expected: Vec<(String, Vec<String>)> = command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            let defaults =
                arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
            Some((env, defaults))
        })
        .collect();
    expected.extend(NOT_CLAP.iter().map(|name| ((*name).to_owned(), Vec::new())));
    for (name, _) in &rows {
        assert_eq!(rows.iter().filter(|(n, _)| n == name).count(), 1, "{name} is listed more than once");
        assert!(
            expected.iter().any(|(env, _)| env == name),
            "{name} is listed but the code reads no such setting"
        );
    }
    for (env, defaults) in &expected {
        let Some((_, documented)) = rows.iter().find(|(name, _)| name == env) else {
            panic!("{env} is not in docs/operators/configuration.md");
        };
        for default in defaults.iter().filter(|d| !d.is_empty()) {
            assert!(
                documented.contains(&format!("`{default}`")),
                "{env}: the code's default is {default:?}, the docs say {documented:?}"
            );
        }
    }
}
