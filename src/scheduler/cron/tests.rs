//! The due-times decision with plain timestamps: no database, no clock.

use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}")).with_timezone(&Utc)
}

fn schedule(expr: &str, tz: &str) -> CronSchedule {
    CronSchedule::parse(expr, tz).unwrap_or_else(|e| panic!("{expr} in {tz}: {e}"))
}

fn times(list: &[&str]) -> Vec<DateTime<Utc>> {
    list.iter().map(|s| utc(s)).collect()
}

/// One row of the decision table.
struct Case {
    what: &'static str,
    expr: &'static str,
    tz: &'static str,
    deadline_seconds: Option<i64>,
    after: &'static str,
    now: &'static str,
    start: Option<&'static str>,
    missed: &'static [&'static str],
    next: &'static str,
}

#[test]
fn the_decision_table() {
    let cases = [
        Case {
            what: "not yet due",
            expr: "* * * * *",
            tz: "UTC",
            deadline_seconds: None,
            after: "2024-05-01T10:00:00Z",
            now: "2024-05-01T10:00:30Z",
            start: None,
            missed: &[],
            next: "2024-05-01T10:01:00Z",
        },
        Case {
            what: "due exactly at its time",
            expr: "* * * * *",
            tz: "UTC",
            deadline_seconds: None,
            after: "2024-05-01T10:00:00Z",
            now: "2024-05-01T10:01:00Z",
            start: Some("2024-05-01T10:01:00Z"),
            missed: &[],
            next: "2024-05-01T10:02:00Z",
        },
        Case {
            what: "after downtime only the latest fire inside the deadline starts",
            expr: "* * * * *",
            tz: "UTC",
            deadline_seconds: Some(60),
            after: "2024-05-01T10:00:00Z",
            now: "2024-05-01T10:05:30Z",
            start: Some("2024-05-01T10:05:00Z"),
            missed: &["2024-05-01T10:01:00Z", "2024-05-01T10:02:00Z", "2024-05-01T10:03:00Z", "2024-05-01T10:04:00Z"],
            next: "2024-05-01T10:06:00Z",
        },
        Case {
            what: "a latest fire older than the deadline is missed too",
            expr: "* * * * *",
            tz: "UTC",
            deadline_seconds: Some(10),
            after: "2024-05-01T10:00:00Z",
            now: "2024-05-01T10:02:30Z",
            start: None,
            missed: &["2024-05-01T10:01:00Z", "2024-05-01T10:02:00Z"],
            next: "2024-05-01T10:03:00Z",
        },
        Case {
            what: "the deadline is inclusive",
            expr: "* * * * *",
            tz: "UTC",
            deadline_seconds: Some(30),
            after: "2024-05-01T10:00:00Z",
            now: "2024-05-01T10:01:30Z",
            start: Some("2024-05-01T10:01:00Z"),
            missed: &[],
            next: "2024-05-01T10:02:00Z",
        },
        Case {
            what: "six fields: seconds first",
            expr: "*/10 * * * * *",
            tz: "UTC",
            deadline_seconds: None,
            after: "2024-05-01T10:00:00Z",
            now: "2024-05-01T10:00:25Z",
            start: Some("2024-05-01T10:00:20Z"),
            missed: &["2024-05-01T10:00:10Z"],
            next: "2024-05-01T10:00:30Z",
        },
        Case {
            what: "@hourly",
            expr: "@hourly",
            tz: "UTC",
            deadline_seconds: None,
            after: "2024-05-01T10:00:00Z",
            now: "2024-05-01T11:00:00.500Z",
            start: Some("2024-05-01T11:00:00Z"),
            missed: &[],
            next: "2024-05-01T12:00:00Z",
        },
        Case {
            what: "Feb 29 fires in a leap year only",
            expr: "0 12 29 2 *",
            tz: "UTC",
            deadline_seconds: None,
            after: "2023-03-01T00:00:00Z",
            now: "2024-02-29T12:00:01Z",
            start: Some("2024-02-29T12:00:00Z"),
            missed: &[],
            next: "2028-02-29T12:00:00Z",
        },
        Case {
            what: "DST gap (New York, 02:30 does not exist on 10 March 2024): fires once at 03:00 EDT",
            expr: "30 2 * * *",
            tz: "America/New_York",
            deadline_seconds: None,
            after: "2024-03-09T12:00:00Z",
            now: "2024-03-10T07:00:05Z",
            start: Some("2024-03-10T07:00:00Z"),
            missed: &[],
            next: "2024-03-11T06:30:00Z",
        },
        Case {
            what: "DST gap (Berlin, 02:30 does not exist on 31 March 2024): fires once at 03:00 CEST",
            expr: "30 2 * * *",
            tz: "Europe/Berlin",
            deadline_seconds: Some(60),
            after: "2024-03-30T12:00:00Z",
            now: "2024-03-31T01:00:00Z",
            start: Some("2024-03-31T01:00:00Z"),
            missed: &[],
            next: "2024-04-01T00:30:00Z",
        },
        Case {
            what: "DST overlap (New York, 01:30 happens twice on 3 November 2024): fires at the first pass",
            expr: "30 1 * * *",
            tz: "America/New_York",
            deadline_seconds: None,
            after: "2024-11-02T12:00:00Z",
            now: "2024-11-03T05:30:00Z",
            start: Some("2024-11-03T05:30:00Z"),
            missed: &[],
            next: "2024-11-04T06:30:00Z",
        },
        Case {
            what: "DST overlap: ... and not at the second pass an hour later",
            expr: "30 1 * * *",
            tz: "America/New_York",
            deadline_seconds: None,
            after: "2024-11-03T05:30:00Z",
            now: "2024-11-03T06:30:00Z",
            start: None,
            missed: &[],
            next: "2024-11-04T06:30:00Z",
        },
        Case {
            what: "a fire decided past now (another clock) is never decided again",
            expr: "* * * * *",
            tz: "UTC",
            deadline_seconds: None,
            after: "2024-05-01T10:01:00Z",
            now: "2024-05-01T10:00:59Z",
            start: None,
            missed: &[],
            next: "2024-05-01T10:02:00Z",
        },
    ];
    for c in cases {
        let s = schedule(c.expr, c.tz);
        let d = decide(&s, c.deadline_seconds.map(Duration::seconds), utc(c.after), utc(c.now));
        assert_eq!(d.start, c.start.map(utc), "{}: start", c.what);
        assert_eq!(d.missed, times(c.missed), "{}: missed", c.what);
        assert!(!d.missed_unlisted, "{}: all missed listed", c.what);
        assert_eq!(d.next, Some(utc(c.next)), "{}: next", c.what);
        let decided_to = c.start.map(utc).or(d.missed.last().copied()).unwrap_or(utc(c.after));
        assert_eq!(d.after, decided_to, "{}: after", c.what);
        // Deciding again at the same instant does nothing: each fire time is decided once.
        let again = decide(&s, c.deadline_seconds.map(Duration::seconds), d.after, utc(c.now));
        assert_eq!((again.start, again.missed.len()), (None, 0), "{}: decided twice", c.what);
    }
}

#[test]
fn a_long_downtime_starts_one_run_and_lists_only_the_latest_missed_fires() {
    let s = schedule("* * * * * *", "UTC");
    let d = decide(&s, None, utc("2024-05-01T00:00:00Z"), utc("2024-05-02T00:00:00.250Z"));
    assert_eq!(d.start, Some(utc("2024-05-02T00:00:00Z")));
    assert_eq!(d.missed.len(), MISSED_LISTED_MAX);
    assert_eq!(d.missed.first(), Some(&utc("2024-05-01T23:59:50Z")), "oldest listed first");
    assert_eq!(d.missed.last(), Some(&utc("2024-05-01T23:59:59Z")));
    assert!(d.missed_unlisted, "86,389 more were missed");
}

#[test]
fn an_interval_keeps_its_rhythm_in_real_time_across_the_overlap() {
    // 01:00 happens twice in New York on 3 November 2024: an hourly schedule fires each real hour.
    let s = schedule("0 * * * *", "America/New_York");
    let fires = s.upcoming(utc("2024-11-03T04:30:00Z"), 3);
    assert_eq!(fires, times(&["2024-11-03T05:00:00Z", "2024-11-03T06:00:00Z", "2024-11-03T07:00:00Z"]));
}

#[test]
fn the_next_fires_of_a_leap_day_schedule_skip_common_years() {
    let s = schedule("0 0 29 2 *", "UTC");
    let fires = s.upcoming(utc("2025-01-01T00:00:00Z"), 2);
    assert_eq!(fires, times(&["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]));
}

#[test]
fn bad_input_names_the_field() {
    for expr in ["", "bad", "* * * *", "0 0 0 * * * 2030", "61 * * * *", "* * * * * * * *", "0 0 30 2 *"] {
        let e = CronSchedule::parse(expr, "UTC").expect_err(expr);
        assert!(matches!(e, Error::Cron { .. }), "{expr}: {e}");
        assert!(e.to_string().starts_with("cron "), "{e}");
    }
    let e = CronSchedule::parse("* * * * *", "Mars/Olympus").expect_err("unknown zone");
    assert_eq!(e, Error::TimeZone("Mars/Olympus".into()));
    assert!(e.to_string().starts_with("time_zone "), "{e}");
    for expr in ["@yearly", "@monthly", "@weekly", "@daily", "@hourly", "0 9 * * MON-FRI", "*/5 * * * * *"] {
        assert!(CronSchedule::parse(expr, "Europe/Paris").is_ok(), "{expr}");
    }
}
