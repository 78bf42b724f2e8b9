//! Time zone names as Graph writes them — Windows names (`Pacific Standard Time`) or IANA ones —
//! read as IANA zones, so a local `dateTime` becomes an instant with the zone's rules
//! (daylight saving included) and the unified `timeZone` is always an IANA name.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Windows zone names and the IANA zone of their main region (CLDR's `001` mapping).
const WINDOWS: &[(&str, &str)] = &[
    ("UTC", "UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("Romance Standard Time", "Europe/Paris"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("Eastern Standard Time", "America/New_York"),
    ("Central Standard Time", "America/Chicago"),
    ("Mountain Standard Time", "America/Denver"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("India Standard Time", "Asia/Kolkata"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
];

/// The IANA zone a Graph zone name stands for.
pub fn zone(name: &str) -> Option<Tz> {
    let name = name.trim();
    WINDOWS
        .iter()
        .find(|(windows, _)| windows.eq_ignore_ascii_case(name))
        .and_then(|(_, iana)| iana.parse().ok())
        .or_else(|| name.parse().ok())
}

/// A Graph local `dateTime` (`2024-05-02T10:00:00.0000000`) in the named zone, as an instant;
/// UTC when the zone is absent. In a zone's skipped hour the earlier reading wins.
pub fn instant(date_time: &str, zone_name: Option<&str>) -> Option<DateTime<Utc>> {
    let local =
        NaiveDateTime::parse_from_str(date_time.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?;
    match zone_name.map(str::trim).filter(|z| !z.is_empty()) {
        None => Some(local.and_utc()),
        Some(name) => {
            let tz = zone(name)?;
            let t = tz.from_local_datetime(&local).earliest().or_else(|| {
                tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
            })?;
            Some(t.with_timezone(&Utc))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_iana_names_read_with_daylight_saving() {
        let summer = instant("2027-07-01T10:00:00.0000000", Some("Pacific Standard Time")).unwrap();
        assert_eq!(summer.to_rfc3339(), "2027-07-01T17:00:00+00:00");
        let winter = instant("2027-01-15T10:00:00", Some("America/Los_Angeles")).unwrap();
        assert_eq!(winter.to_rfc3339(), "2027-01-15T18:00:00+00:00");
        assert_eq!(zone("UTC").unwrap().name(), "UTC");
        assert!(instant("2027-01-15T10:00:00", Some("Mars/Olympus")).is_none());
    }
}
