//! Times as people read them, in UTC (the browser build has no time-zone tables, and a
//! mail is read anywhere): `2026-11-23 14:05` from Unix seconds.

/// `YYYY-MM-DD HH:MM` (UTC) for Unix seconds, by Howard Hinnant's days-to-civil.
pub fn minute(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", rest / 3600, rest % 3600 / 60)
}

/// Unix seconds of midnight UTC at the start of `YYYY-MM-DD` (a date input's value), or
/// `None` when it is not such a date.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day < 1 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if day > days_in_month[(month - 1) as usize] {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::minute;

    #[test]
    fn unix_seconds_read_as_utc_dates() {
        assert_eq!(minute(0), "1970-01-01 00:00");
        assert_eq!(minute(951_782_400), "2000-02-29 00:00");
        assert_eq!(minute(1_795_443_900), "2026-11-23 14:25");
        assert_eq!(minute(-60), "1969-12-31 23:59");
    }

    #[test]
    fn dates_read_back_as_the_midnight_they_name() {
        assert_eq!(super::parse_date("1970-01-01"), Some(0));
        assert_eq!(super::parse_date("2000-02-29"), Some(951_782_400));
        assert_eq!(super::parse_date("2026-11-23").map(minute).as_deref(), Some("2026-11-23 00:00"));
        for bad in ["", "2026-02-30", "2025-02-29", "2026-13-01", "x-1-1", "2026-11", "1969-12-31"] {
            assert_eq!(super::parse_date(bad), None, "{bad}");
        }
    }
}
