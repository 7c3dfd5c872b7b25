//! Header parameters as `multipart/form-data` uses them: `boundary` in `Content-Type`,
//! `name` and `filename` in `Content-Disposition` (RFC 7578, RFC 2183, RFC 5987).

use crate::path::percent_decode;

/// Splits `value` into its first item (e.g. `form-data`) and its `name=value` parameters.
/// Values may be tokens or quoted strings (backslash escapes undone); parameter names are
/// lower-cased. `None` when a quoted string is not closed.
pub(super) fn parameters(value: &str) -> Option<(&str, Vec<(String, String)>)> {
    let (first, mut rest) = match value.find(';') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, ""),
    };
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ';' || c.is_ascii_whitespace());
        if rest.is_empty() {
            return Some((first.trim(), params));
        }
        let eq = rest.find(['=', ';']).unwrap_or(rest.len());
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = &rest[eq..];
        let Some(after) = rest.strip_prefix('=') else {
            continue; // a parameter without a value: ignored
        };
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i + 1,
                    (_, '\\') => out.push(chars.next()?.1),
                    (_, c) => out.push(c),
                }
            };
            (out, &quoted[end..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.push((name, value));
        rest = next;
    }
}

/// The boundary of a `multipart/form-data` content type, if it is one and the boundary
/// is valid (1 to 70 characters of RFC 2046's set, not ending in a space).
///
/// ```
/// use reactor_handlers::multipart::boundary;
/// let ct = "multipart/form-data; boundary=\"----x y\"";
/// assert_eq!(boundary(ct).as_deref(), Some("----x y"));
/// assert_eq!(boundary("text/plain; boundary=a"), None);
/// ```
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = parameters(content_type)?;
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let (_, b) = params.into_iter().find(|(n, _)| n == "boundary")?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=? ".contains(c);
    let ok = (1..=70).contains(&b.len()) && b.chars().all(allowed) && !b.ends_with(' ');
    ok.then_some(b)
}

/// The `name` and `filename` of a part's `Content-Disposition: form-data; …` value.
/// `filename*=UTF-8''…` (RFC 5987) wins over `filename`. `None` when the value is not
/// `form-data` with a name.
pub(super) fn form_data(value: &str) -> Option<(String, Option<String>)> {
    let (kind, params) = parameters(value)?;
    if !kind.eq_ignore_ascii_case("form-data") {
        return None;
    }
    let get = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let name = get("name")?.clone();
    let extended = get("filename*").and_then(|v| {
        let (charset, rest) = v.split_once('\'')?;
        let (_, encoded) = rest.split_once('\'')?;
        if !charset.eq_ignore_ascii_case("utf-8") {
            return None;
        }
        String::from_utf8(percent_decode(encoded).ok()?).ok()
    });
    let filename = extended.or_else(|| get("filename").cloned());
    Some((name, filename))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_quoted_and_not() {
        let (first, p) =
            parameters(r#"form-data; name="a;b"; filename="x \"y\".txt" ;flag; size = 3"#).unwrap();
        assert_eq!(first, "form-data");
        let want = [("name", "a;b"), ("filename", "x \"y\".txt"), ("size", "3")];
        let got: Vec<(&str, &str)> = p.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
        assert_eq!(parameters(r#"form-data; name="open"#), None);
    }

    #[test]
    fn boundaries() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW")
                .as_deref(),
            Some("----WebKitFormBoundary7MA4YWxkTrZu0gW")
        );
        assert_eq!(
            boundary("Multipart/Form-Data;charset=utf-8;BOUNDARY=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
        assert_eq!(boundary("multipart/form-data; boundary=\"a\r\nb\""), None);
        assert_eq!(boundary("multipart/form-data; boundary=\"ends \""), None);
        let b71 = format!("multipart/form-data; boundary={}", "b".repeat(71));
        assert_eq!(boundary(&b71), None);
        let b70 = format!("multipart/form-data; boundary={}", "b".repeat(70));
        assert_eq!(boundary(&b70).map(|b| b.len()), Some(70));
        assert_eq!(boundary("multipart/mixed; boundary=abc"), None);
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            form_data(r#"form-data; name="f"; filename="a.txt""#),
            Some(("f".into(), Some("a.txt".into())))
        );
        assert_eq!(
            form_data("form-data; name=field"),
            Some(("field".into(), None))
        );
        assert_eq!(
            form_data(r#"form-data; name="f"; filename="x"; filename*=UTF-8''caf%C3%A9.txt"#),
            Some(("f".into(), Some("café.txt".into())))
        );
        assert_eq!(form_data(r#"attachment; name="f""#), None);
        assert_eq!(form_data(r#"form-data; filename="a""#), None, "no name");
    }
}
