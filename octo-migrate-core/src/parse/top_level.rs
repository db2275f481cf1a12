//! Pass 1's fast path: a JSON object's top-level keys and the bytes of their values, found
//! without parsing the values (strings are jumped with `memchr`, containers by depth).
//!
//! Pass 1 needs a dozen properties of each document; serde_json validated and skipped all the
//! others at about 365 MiB/s. This reads only the structure (strings, and brackets that pair
//! up). It is not a full validator: a bad number or escape inside a skipped value passes here
//! and is found by pass 2, which parses every document fully before anything is committed. It
//! gives up (returns `None`) on anything else it does not expect, an escaped key included, and
//! the caller then parses the document with serde_json, which reports any error as before.

/// Calls `on(key, value_bytes)` for each property of the object in `b`, in order. `None` when
/// `b` is not an object this reader handles (see the module docs).
pub(crate) fn properties<'a>(b: &'a [u8], on: &mut dyn FnMut(&'a str, &'a [u8])) -> Option<()> {
    let mut i = ws(b, 0);
    if *b.get(i)? != b'{' {
        return None;
    }
    i = ws(b, i + 1);
    if *b.get(i)? == b'}' {
        return (ws(b, i + 1) == b.len()).then_some(());
    }
    loop {
        if *b.get(i)? != b'"' {
            return None;
        }
        let start = i + 1;
        let end = start + memchr::memchr2(b'"', b'\\', b.get(start..)?)?;
        if b[end] == b'\\' {
            return None;
        }
        let key = std::str::from_utf8(&b[start..end]).ok()?;
        i = ws(b, end + 1);
        if *b.get(i)? != b':' {
            return None;
        }
        i = ws(b, i + 1);
        let value_start = i;
        i = value(b, i)?;
        on(key, &b[value_start..i]);
        i = ws(b, i);
        match *b.get(i)? {
            b',' => i = ws(b, i + 1),
            b'}' => return (ws(b, i + 1) == b.len()).then_some(()),
            _ => return None,
        }
    }
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end of the string starting at `b[i] == '"'`.
fn string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i] == b'\\' {
            i += 2;
        } else {
            return Some(i + 1);
        }
    }
}

/// The end of the value starting at `b[i]`.
fn value(b: &[u8], mut i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string(b, i),
        b'{' | b'[' => {
            // Open brackets as bits (1 for `{`), so a `]` cannot close a `{`; deeper than 64
            // levels is left to serde_json.
            let (mut depth, mut open) = (0u32, 0u64);
            loop {
                match *b.get(i)? {
                    b'"' => {
                        i = string(b, i)?;
                        continue;
                    }
                    c @ (b'{' | b'[') => {
                        if depth == 64 {
                            return None;
                        }
                        open = (open << 1) | u64::from(c == b'{');
                        depth += 1;
                    }
                    c @ (b'}' | b']') => {
                        if (open & 1 == 1) != (c == b'}') {
                            return None;
                        }
                        open >>= 1;
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let start = i;
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                i += 1;
            }
            (i > start).then_some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(text: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        properties(text.as_bytes(), &mut |k, v| {
            out.push((k.to_owned(), String::from_utf8(v.to_vec()).unwrap()))
        })?;
        Some(out)
    }

    #[test]
    fn finds_each_property_and_its_value_text() {
        let got =
            props(r#" { "A" : "x\"}y" , "B":{"c":[1,{"d":"]"}]},"C":-1.5e3,"D":null, "E":[] } "#)
                .unwrap();
        let want = [
            ("A", r#""x\"}y""#),
            ("B", r#"{"c":[1,{"d":"]"}]}"#),
            ("C", "-1.5e3"),
            ("D", "null"),
            ("E", "[]"),
        ];
        assert_eq!(got.len(), want.len());
        for ((k, v), (wk, wv)) in got.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_str()), (wk, wv));
        }
        assert_eq!(props("{}").unwrap(), vec![]);
        let deep = format!(r#"{{"a":{}{}}}"#, "[".repeat(64), "]".repeat(64));
        assert_eq!(props(&deep).unwrap().len(), 1);
        let deeper = format!(r#"{{"a":{}{}}}"#, "[".repeat(65), "]".repeat(65));
        assert!(props(&deeper).is_none());
    }

    #[test]
    fn gives_up_on_what_it_does_not_expect() {
        for bad in [
            "",
            "[]",
            r#"{"a\"b":1}"#,
            r#"{"a":1"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":[1,2}"#,
            r#"{"a":1} trailing"#,
            r#"{"a":{"b":1}"#,
            r#"{"a":[1,2},"b":1}"#,
            r#"{"a":{"b":[}],"c":1}"#,
        ] {
            assert!(props(bad).is_none(), "{bad}");
        }
    }
}
