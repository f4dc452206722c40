//! Timestamps as Kubernetes writes them in objects (`metav1.Time`): RFC 3339, UTC, whole
//! seconds. Tools compare and sort these strings, and some parse them with a fixed layout.

use jiff::Timestamp;

/// `2026-01-02T03:04:05Z`: `time` without its fraction of a second.
pub fn rfc3339(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_whole_seconds_in_utc() {
        let cases = [
            ("2026-11-29T16:33:53.809204125Z", "2026-11-29T16:33:53Z"),
            ("2026-11-29T16:33:53Z", "2026-11-29T16:33:53Z"),
            ("2026-11-29T17:33:53.5+01:00", "2026-11-29T16:33:53Z"),
        ];
        for (given, written) in cases {
            assert_eq!(rfc3339(given.parse().unwrap()), written, "{given}");
        }
    }
}
