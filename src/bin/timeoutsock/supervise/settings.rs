//! The supervisor's settings: the timeouts and peer filters, read from the
//! variables the command will see with the library's fallbacks, and the
//! library's way of printing seconds.

use super::rules::{self, Rule};

pub(super) const MS: u64 = 1_000_000;
/// Kept over each deadline: the kernel's idle times have jiffy (4 ms at
/// HZ=250) resolution; two jiffies so that no abort fires early.
pub(super) const MARGIN: u64 = 8 * MS;

/// The timeouts and filters, as the library reads them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    pub(crate) connect: u64,
    pub(crate) read: u64,
    pub(crate) write: u64,
    pub(crate) accept: u64,
    pub(crate) only: Vec<Rule>,
    pub(crate) exclude: Vec<Rule>,
    pub(crate) log: bool,
}

impl Settings {
    /// From the variables the command will see (`get(NAME)`), with the
    /// library's fallbacks: each timeout falls back to TIMEOUTSOCK_SECS,
    /// accept does not. A bad value is an error naming it.
    pub(crate) fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let secs = |name: &str| -> Result<Option<u64>, String> {
            match get(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => crate::secs::parse_secs(v.as_bytes())
                    .map(Some)
                    .map_err(|why| format!("invalid {name}={v}: {}", why.reason())),
            }
        };
        let list = |name: &str| -> Result<Vec<Rule>, String> {
            rules::parse_list(&get(name).unwrap_or_default()).map_err(|e| {
                format!("invalid {name}: bad entry '{e}' (want ADDRESS[/PREFIX][:PORT])")
            })
        };
        let default = secs("TIMEOUTSOCK_SECS")?.unwrap_or(0);
        Ok(Settings {
            connect: secs("TIMEOUTSOCK_CONNECT_SECS")?.unwrap_or(default),
            read: secs("TIMEOUTSOCK_READ_SECS")?.unwrap_or(default),
            write: secs("TIMEOUTSOCK_WRITE_SECS")?.unwrap_or(default),
            accept: secs("TIMEOUTSOCK_ACCEPT_SECS")?.unwrap_or(0),
            only: list("TIMEOUTSOCK_ONLY")?,
            exclude: list("TIMEOUTSOCK_EXCLUDE")?,
            log: get("TIMEOUTSOCK_LOG").as_deref() == Some("1"),
        })
    }

    /// Anything to supervise at all?
    pub(crate) fn any(&self) -> bool {
        self.connect != 0 || self.read != 0 || self.write != 0
    }

    /// How often the tree is walked for new processes and sockets: a
    /// quarter of the shortest timeout, 20 ms to 5 s. Deadlines come from
    /// the kernel's own idle times, so a late first sight does not make an
    /// abort late.
    pub(crate) fn scan_period(&self) -> u64 {
        let t = [self.connect, self.read, self.write]
            .into_iter()
            .filter(|&t| t != 0)
            .min()
            .unwrap_or(20_000 * MS);
        (t / 4).clamp(20 * MS, 5_000 * MS)
    }
}

/// `20`, `2.5`, `0.25`: the library's way of printing T.
pub(crate) fn secs_text(ns: u64) -> String {
    let ms = ns.div_ceil(MS);
    let (s, f) = (ms / 1000, ms % 1000);
    if f == 0 {
        format!("{s}")
    } else {
        format!("{s}.{}", format!("{f:03}").trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_print_like_the_library() {
        assert_eq!(secs_text(20_000 * MS), "20");
        assert_eq!(secs_text(2_500 * MS), "2.5");
        assert_eq!(secs_text(250 * MS), "0.25");
        assert_eq!(secs_text(MS), "0.001");
    }

    fn settings_fall_back_like_the_library() {
        let vars = |v: &'static [(&'static str, &'static str)]| {
            move |k: &str| v.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let s = Settings::from_vars(&vars(&[
            ("TIMEOUTSOCK_SECS", "2"),
            ("TIMEOUTSOCK_READ_SECS", "0"),
        ]))
        .unwrap();
        assert_eq!(
            (s.connect, s.read, s.write, s.accept),
            (2_000 * MS, 0, 2_000 * MS, 0)
        );
        assert!(s.any());
        assert_eq!(s.scan_period(), 500 * MS);
        assert!(!Settings::from_vars(&vars(&[])).unwrap().any());
        assert!(Settings::from_vars(&vars(&[("TIMEOUTSOCK_ONLY", "x")])).is_err());
    }
}
