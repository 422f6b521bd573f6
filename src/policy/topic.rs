//! MQTT topic filters as the policy uses them (MQTT 3.1.1 §4.7, MQTT 5.0
//! §4.7): whether a topic name matches a filter, and whether one filter
//! covers another (every topic the second matches, the first matches too),
//! so that a subscription to `icu/+/vitals` is allowed by `icu/#`.

/// Whether `filter` is a valid topic filter: `#` only as the last level
/// and alone in it, `+` alone in its level (§4.7.1), not empty (§4.7.3).
pub fn check_filter(filter: &str) -> Result<(), &'static str> {
    if filter.is_empty() {
        return Err("a topic filter is at least one character long (MQTT §4.7.3)");
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err("`#` must be the last level and alone in it (MQTT §4.7.1.2)");
        }
        if level.contains('+') && *level != "+" {
            return Err("`+` must be alone in its level (MQTT §4.7.1.3)");
        }
    }
    Ok(())
}

/// Whether topic name `topic` matches `filter`. Topics starting with `$`
/// (`$SYS/...`) are not matched by a filter starting with a wildcard
/// (§4.7.2).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['#', '+']) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every topic that `filter` matches is matched by `allowed`.
pub fn covers(allowed: &str, filter: &str) -> bool {
    // `$SYS/#` is not covered by `#` (§4.7.2).
    if filter.starts_with('$') && allowed.starts_with(['#', '+']) {
        return false;
    }
    let mut a = allowed.split('/');
    let mut f = filter.split('/');
    loop {
        match (a.next(), f.next()) {
            (Some("#"), _) => return true,
            // `+` covers one level of anything but a multi-level wildcard.
            (Some("+"), Some(level)) if level != "#" => {}
            (Some(x), Some(y)) if x == y => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Levels from a small alphabet (so that filters and topics meet),
    /// wildcards included.
    fn level() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just(String::new()),
            Just("$SYS".to_string()),
            Just("+".to_string()),
            Just("#".to_string()),
        ]
    }

    fn filter() -> impl Strategy<Value = String> {
        proptest::collection::vec(level(), 1..5).prop_map(|l| l.join("/"))
    }

    fn topic() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![Just("a"), Just("b"), Just(""), Just("$SYS")],
            1..5,
        )
        .prop_map(|l| l.join("/"))
    }

    proptest! {
        /// A filter that covers another matches every topic the other
        /// matches; a valid filter covers itself; nothing panics.
        #[test]
        fn cover_implies_matching(a in filter(), f in filter(), t in topic()) {
            let valid = check_filter(&a).is_ok() && check_filter(&f).is_ok();
            if valid && covers(&a, &f) && matches(&f, &t) {
                prop_assert!(matches(&a, &t), "{a} covers {f} but not {t}");
            }
            if check_filter(&f).is_ok() {
                prop_assert!(covers(&f, &f), "{f} covers itself");
            }
            // A topic name (no wildcards) is a filter matching itself.
            prop_assert!(matches(&t, &t) || t.starts_with('$'));
        }
    }

    #[test]
    fn matching_follows_the_spec_examples() {
        // MQTT 3.1.1 §4.7.1.2 and §4.7.1.3.
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking"
        ));
        assert!(matches("sport/#", "sport"));
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("sport/+", "sport/"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        // §4.7.2: `$` topics and leading wildcards.
        assert!(!matches("#", "$SYS/broker/load"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS/broker/load"));
    }

    #[test]
    fn cover_is_per_level() {
        assert!(covers("#", "icu/+/vitals"));
        assert!(covers("icu/#", "icu/+/vitals"));
        assert!(covers("icu/+/vitals", "icu/bed1/vitals"));
        assert!(covers("icu/+/vitals", "icu/+/vitals"));
        assert!(!covers("icu/+/vitals", "icu/#"));
        assert!(!covers("icu/bed1/vitals", "icu/+/vitals"));
        assert!(!covers("icu/+", "#"));
        assert!(!covers("#", "$SYS/#"));
        assert!(covers("$SYS/#", "$SYS/broker/#"));
    }

    #[test]
    fn filters_are_checked() {
        assert!(check_filter("icu/+/vitals").is_ok());
        assert!(check_filter("#").is_ok());
        assert!(check_filter("a/#/b").is_err());
        assert!(check_filter("a/b#").is_err());
        assert!(check_filter("a/b+").is_err());
        assert!(check_filter("").is_err());
    }
}
