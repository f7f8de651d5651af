//! `ps`: Docker's table, from the records.

use std::time::{Duration, SystemTime};

use crate::record::{Life, Record, State, parse_time};

/// One row of `ps`.
pub fn row(record: &Record, state: &State, life: Life, now: SystemTime) -> [String; 7] {
    let c = &record.config;
    let since = |time: &Option<String>| {
        time.as_deref()
            .and_then(parse_time)
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default()
    };
    let status = match life {
        Life::Waiting | Life::Created => "Created".to_string(),
        Life::Running => format!("Up {}", human(since(&state.started))),
        Life::Exited(code) => format!(
            "Exited ({}) {} ago",
            code.map_or("?".into(), |c| c.to_string()),
            human(since(&state.finished))
        ),
        Life::Restarting(code) => format!(
            "Restarting ({}) {} ago",
            code.map_or("?".into(), |c| c.to_string()),
            human(since(&state.finished))
        ),
        Life::MonitorGone => "Gone: its monitor died (rm removes it)".to_string(),
    };
    [
        c.id.clone(),
        c.image.clone(),
        quoted_command(&c.command),
        format!("{} ago", human(since(&Some(c.created.clone())))),
        status,
        // Published while it runs: the rules go with its monitor.
        match life {
            Life::Running => c.ports.join(", "),
            _ => String::new(),
        },
        c.name.clone(),
    ]
}

/// The header of [`row`]'s columns.
pub const HEADER: [&str; 7] = [
    "CONTAINER ID",
    "IMAGE",
    "COMMAND",
    "CREATED",
    "STATUS",
    "PORTS",
    "NAMES",
];

/// Rows as a table: each column as wide as its widest cell, three spaces apart.
pub fn table(rows: &[[String; 7]]) -> Vec<String> {
    let header = HEADER.map(String::from);
    let all: Vec<&[String; 7]> = std::iter::once(&header).chain(rows).collect();
    let widths: Vec<usize> = (0..7)
        .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    all.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            cells.join("   ").trim_end().to_string()
        })
        .collect()
}

/// `"sleep 100"`, cut to 20 characters as Docker does (`"sh -c 'while tr…"`).
fn quoted_command(command: &[String]) -> String {
    let text = command.join(" ");
    match text.chars().count() > 20 {
        true => format!("\"{}…\"", text.chars().take(19).collect::<String>()),
        false => format!("\"{text}\""),
    }
}

/// A duration as people say it: "5 seconds", "About a minute", "3 hours".
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (m, h) = (s / 60, (s + 1800) / 3600);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 14 => format!("{} days", h / 24),
        _ if h < 24 * 60 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 730 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        let s = Duration::from_secs;
        assert_eq!(human(Duration::from_millis(300)), "Less than a second");
        assert_eq!(human(s(1)), "1 second");
        assert_eq!(human(s(42)), "42 seconds");
        assert_eq!(human(s(61)), "About a minute");
        assert_eq!(human(s(180)), "3 minutes");
        assert_eq!(human(s(3600)), "About an hour");
        assert_eq!(human(s(5 * 3600)), "5 hours");
        assert_eq!(human(s(3 * 86400)), "3 days");
        assert_eq!(human(s(21 * 86400)), "3 weeks");
        assert_eq!(human(s(90 * 86400)), "3 months");
        assert_eq!(human(s(800 * 86400)), "2 years");
    }

    #[test]
    fn commands_are_quoted_and_cut_at_20() {
        assert_eq!(
            quoted_command(&["sleep".into(), "100".into()]),
            "\"sleep 100\""
        );
        let long = ["sh".into(), "-c".into(), "while true; do date; done".into()];
        assert_eq!(quoted_command(&long), "\"sh -c while true; d…\"");
    }

    #[test]
    fn the_table_lines_up() {
        let row = [
            "abc".into(),
            "busybox".into(),
            "\"sh\"".into(),
            "1 second ago".into(),
            "Up 1 second".into(),
            String::new(),
            "web".into(),
        ];
        let lines = table(&[row]);
        assert_eq!(lines[0].find("IMAGE"), lines[1].find("busybox"));
        assert_eq!(lines[0].find("NAMES"), lines[1].find("web"));
    }
}
