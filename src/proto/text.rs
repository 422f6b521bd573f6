//! Attacker-controlled strings (AE titles, UIDs, HL7 header fields) as
//! medtap keeps them: what was sent, bounded, and still text.
//!
//! Valid UTF-8 is kept as it is — control, bidirectional and line-separator
//! characters included: they are escaped only when printed (`medtap`'s
//! tables and JSON), never altered in the record. A byte that is not part of
//! valid UTF-8 becomes the four characters `\xHH` (lower-case hex), and a
//! backslash that would read as the start of such an escape (one followed by
//! `x` and two lower-case hex digits) becomes `\x5c`. So [`unescape`] gives
//! back exactly the bytes that were sent, and a value that is valid UTF-8
//! holding no `\xhh`-shaped text is stored unchanged (HL7's own escapes such
//! as `\X0D\` or `\T\` are upper-case and stay as they are).
//!
//! Nothing here runs per packet: records are built once per association or
//! message.

/// One piece of input: a character of valid UTF-8, or a byte that is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Char(char),
    Byte(u8),
}

/// The input as [`Unit`]s, in order (clone it to look ahead).
#[derive(Clone)]
struct Units<'a> {
    rest: &'a [u8],
}

impl Iterator for Units<'_> {
    type Item = Unit;

    fn next(&mut self) -> Option<Unit> {
        let b = self.rest;
        let &first = b.first()?;
        // A UTF-8 character is at most 4 bytes: look at no more than that.
        let w = &b[..b.len().min(4)];
        let valid = match std::str::from_utf8(w) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&w[..e.valid_up_to()]).unwrap_or_default(),
        };
        match valid.chars().next() {
            Some(c) => {
                self.rest = &b[c.len_utf8()..];
                Some(Unit::Char(c))
            }
            None => {
                self.rest = &b[1..];
                Some(Unit::Byte(first))
            }
        }
    }
}

fn is_lower_hex(u: Option<Unit>) -> bool {
    matches!(u, Some(Unit::Char('0'..='9' | 'a'..='f')))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// How [`encode`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoded {
    /// All of the input.
    Whole,
    /// Up to the piece that would have passed `max` bytes.
    Cut,
    /// The sink refused a piece.
    Refused,
}

/// The kept text of `b` (see the module documentation), handed to `sink`
/// piece by piece — a character (after `map`) or a four-character escape —
/// while the output stays within `max` bytes. Allocates nothing.
fn encode(
    b: &[u8],
    max: usize,
    map: impl Fn(char) -> char,
    sink: &mut dyn FnMut(&str) -> bool,
) -> Encoded {
    let mapped = |u: Unit| match u {
        Unit::Char(c) => Unit::Char(map(c)),
        byte => byte,
    };
    let mut units = Units { rest: b }.map(mapped);
    let mut len = 0;
    let mut buf = [0u8; 4];
    while let Some(u) = units.next() {
        let mut next = units.clone();
        let piece: &str = match u {
            // A backslash that would read as `\xhh`: written as `\x5c`.
            Unit::Char('\\')
                if next.next() == Some(Unit::Char('x'))
                    && is_lower_hex(next.next())
                    && is_lower_hex(next.next()) =>
            {
                "\\x5c"
            }
            Unit::Char(c) => c.encode_utf8(&mut buf),
            Unit::Byte(byte) => {
                buf = [
                    b'\\',
                    b'x',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xf)],
                ];
                std::str::from_utf8(&buf).unwrap_or_default()
            }
        };
        if len + piece.len() > max {
            return Encoded::Cut;
        }
        len += piece.len();
        if !sink(piece) {
            return Encoded::Refused;
        }
    }
    Encoded::Whole
}

/// Appends `b` to `out` as kept text (see the module documentation), each
/// character of valid UTF-8 passed through `map` first (HL7 uses it to
/// write its separators the same way for every sender; `map` must not make
/// a backslash or an `x` out of another character). Stops before the piece
/// that would add more than `max` bytes — whole characters and whole
/// escapes only — and then returns `false`.
pub fn push_kept(out: &mut String, b: &[u8], max: usize, map: impl Fn(char) -> char) -> bool {
    // The common case: valid UTF-8 without a backslash needs no escape.
    if let Ok(s) = std::str::from_utf8(b) {
        if !s.contains('\\') {
            let mut len = 0;
            for c in s.chars().map(map) {
                if len + c.len_utf8() > max {
                    return false;
                }
                len += c.len_utf8();
                out.push(c);
            }
            return true;
        }
    }
    let start = out.len();
    let ended = encode(b, max, map, &mut |piece| {
        out.push_str(piece);
        true
    });
    debug_assert!(out.len() - start <= max);
    ended == Encoded::Whole
}

/// Writes `b` to `out` as kept text (see the module documentation), one
/// piece per `write_str` call — a character, or a four-character escape —
/// so a writer that refuses a piece (a bounded one) cuts the text at a
/// whole piece. Allocates nothing: DHCP renders client names through it.
pub fn write_kept(out: &mut impl std::fmt::Write, b: &[u8]) -> std::fmt::Result {
    match encode(b, usize::MAX, |c| c, &mut |piece| {
        out.write_str(piece).is_ok()
    }) {
        Encoded::Refused => Err(std::fmt::Error),
        Encoded::Whole | Encoded::Cut => Ok(()),
    }
}

/// Whether `stored` is [`kept`]`(raw, max)`, without allocating (MQTT
/// compares each PUBLISH's topic with the topics already kept).
pub fn eq_kept(stored: &str, raw: &[u8], max: usize) -> bool {
    let raw = &raw[..raw.len().min(max)];
    match std::str::from_utf8(raw) {
        Ok(s) if !s.contains('\\') => s == stored,
        _ => {
            let mut rest = stored.as_bytes();
            let ended = encode(raw, max, |c| c, &mut |piece| match rest
                .strip_prefix(piece.as_bytes())
            {
                Some(r) => {
                    rest = r;
                    true
                }
                None => false,
            });
            ended != Encoded::Refused && rest.is_empty()
        }
    }
}

/// `b` as kept text, at most `max` bytes of it (see [`push_kept`]).
pub fn kept(b: &[u8], max: usize) -> String {
    // Every input byte makes at least one output byte: never read more.
    let b = &b[..b.len().min(max)];
    match std::str::from_utf8(b) {
        // Kept as it is (already at most `max` bytes).
        Ok(s) if !s.contains('\\') => s.to_owned(),
        _ => {
            let mut out = String::with_capacity(b.len());
            push_kept(&mut out, b, max, |c| c);
            out
        }
    }
}

/// The bytes a kept text stands for: `\xhh` (lower-case hex) is the byte
/// 0xhh, everything else is itself. `unescape(&kept(b, max))` is `b`, or a
/// prefix of it when `max` cut it short.
pub fn unescape(s: &str) -> Vec<u8> {
    let s = s.as_bytes();
    let hex = |c: u8| HEX.iter().position(|&h| h == c).map(|v| v as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if let (b'\\', Some(b'x'), Some(hi), Some(lo)) = (
            s[i],
            s.get(i + 1),
            s.get(i + 2).and_then(|&c| hex(c)),
            s.get(i + 3).and_then(|&c| hex(c)),
        ) {
            out.push(hi << 4 | lo);
            i += 4;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Whether `c` must not reach a terminal, a JSON consumer's screen or a
/// syslog line raw: C0 and C1 controls and DEL, bidirectional controls,
/// line and paragraph separators, invisible formatting characters. The
/// CLI's tables and the syslog output escape the same set.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() // C0, DEL, C1 (U+0080..U+009F, e.g. U+009B CSI)
        || matches!(
            u32::from(c),
            0x00AD // soft hyphen (invisible)
                | 0x034F // combining grapheme joiner
                | 0x061C // arabic letter mark (bidi)
                | 0x115F | 0x1160 | 0x3164 | 0xFFA0 // hangul fillers (blank)
                | 0x17B4 | 0x17B5 // khmer inherent vowels (invisible)
                | 0x180B..=0x180F // mongolian variation selectors, vowel separator
                | 0x200B..=0x200F // zero width space/non-joiner/joiner, LRM, RLM
                | 0x2028 | 0x2029 // line and paragraph separators
                | 0x202A..=0x202E // LRE, RLE, PDF, LRO, RLO
                | 0x2060..=0x206F // word joiner, invisible operators, LRI/RLI/FSI/PDI, deprecated
                | 0xFE00..=0xFE0F // variation selectors
                | 0xFEFF // zero width no-break space (BOM)
                | 0xFFF9..=0xFFFB // interlinear annotation controls
                | 0x1BCA0..=0x1BCA3 // shorthand format controls
                | 0x1D173..=0x1D17A // musical symbol format controls
                | 0xE0000..=0xE0FFF // tag characters, variation selectors supplement
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_utf8_is_kept_as_sent_controls_and_bidi_included() {
        let s = "\u{1b}[2J\nEVIL\r\u{9b}31m\u{202e}x\u{2028}y\u{7f}\\T\\ \\X0D\\";
        assert_eq!(kept(s.as_bytes(), 1000), s);
        assert_eq!(kept(b"", 10), "");
    }

    #[test]
    fn invalid_bytes_are_escaped_and_recoverable() {
        assert_eq!(kept(b"\xff\xfe\x80BAD", 100), "\\xff\\xfe\\x80BAD");
        // A truncated 3-byte sequence: each of its bytes on its own.
        assert_eq!(kept(b"a\xe2\x80", 100), "a\\xe2\\x80");
        assert_eq!(unescape("\\xff\\xfe\\x80BAD"), b"\xff\xfe\x80BAD");
    }

    #[test]
    fn a_backslash_that_reads_as_an_escape_is_escaped_itself() {
        assert_eq!(kept(b"\\x41", 100), "\\x5cx41");
        assert_eq!(unescape("\\x5cx41"), b"\\x41");
        // Not escape-shaped: unchanged (upper case, one digit, not hex).
        for s in ["\\X41", "\\x4", "\\xg1", "\\", "a\\\\b", "\\x4G"] {
            assert_eq!(kept(s.as_bytes(), 100), s);
            assert_eq!(unescape(s), s.as_bytes());
        }
        // A literal backslash before an escaped byte needs nothing.
        assert_eq!(kept(b"\\\xff", 100), "\\\\xff");
        assert_eq!(unescape("\\\\xff"), b"\\\xff");
    }

    #[test]
    fn output_is_bounded_to_whole_characters_and_escapes() {
        assert_eq!(kept(b"\xff\xff\xff", 11), "\\xff\\xff");
        assert_eq!(kept("ab\u{202e}".as_bytes(), 4), "ab");
        assert_eq!(kept(&[b'x'; 500], 128).len(), 128);
    }

    #[test]
    fn map_applies_to_characters_and_to_the_lookahead() {
        let mut out = String::new();
        // '$' is written as '^'; the backslash before "x41" is escaped.
        assert!(push_kept(&mut out, b"A$B\\x41", 100, |c| if c == '$' {
            '^'
        } else {
            c
        }));
        assert_eq!(out, "A^B\\x5cx41");
    }

    #[test]
    fn write_kept_writes_what_kept_keeps() {
        let mut out = String::new();
        write_kept(&mut out, b"a\xff\\x41\xe2\x80\xae").unwrap();
        assert_eq!(out, kept(b"a\xff\\x41\xe2\x80\xae", 100));
        assert_eq!(out, "a\\xff\\x5cx41\u{202e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn unescape_inverts_kept(b in proptest::collection::vec(any::<u8>(), 0..64), max in 0usize..300) {
            let k = kept(&b, max);
            prop_assert!(k.len() <= max);
            let mut whole = String::new();
            prop_assert!(write_kept(&mut whole, &b).is_ok());
            prop_assert_eq!(&whole, &kept(&b, usize::MAX));
            let back = unescape(&k);
            prop_assert!(b.starts_with(&back), "{:?} -> {:?} -> {:?}", b, k, back);
            if max >= 4 * b.len() {
                prop_assert_eq!(back, b);
            }
        }

        #[test]
        fn escape_shaped_text_round_trips(parts in proptest::collection::vec(prop_oneof![
            Just(b"\\".to_vec()), Just(b"x".to_vec()), Just(b"a".to_vec()), Just(b"0".to_vec()),
            Just(b"\xff".to_vec()), Just("\u{202e}".as_bytes().to_vec()), Just(b"\xe2\x80".to_vec()),
        ], 0..24)) {
            let b = parts.concat();
            prop_assert_eq!(unescape(&kept(&b, usize::MAX)), b);
        }
    }
}
