//! Safe mapping of a request path to a file under a document root.
//!
//! [`resolve`] is purely lexical and touches no filesystem: it percent-decodes
//! each `/`-separated segment exactly once, refuses anything suspicious, and
//! normalises `.`, `..` and repeated slashes. [`within_root`] is the second,
//! filesystem-level line of defence against symlinks that point outside the
//! root.
//!
//! Policy (all refusals are [`PathError::BadRequest`] unless noted):
//! * the path must start with `/`; raw `\` anywhere is refused;
//! * malformed percent-encoding (`%`, `%4`, `%zz`) is refused;
//! * a decoded segment may not contain `/` (`%2F`), `\` (`%5C`), NUL or any
//!   other ASCII control character (0x00–0x1F, 0x7F) — control characters
//!   have no business in file names we serve and could otherwise leak into
//!   headers or logs;
//! * decoded bytes must be valid UTF-8 (this also refuses overlong encodings
//!   such as `%c0%ae`);
//! * `..` that would climb above the root is refused (it is not clamped);
//! * a segment that is a bare Windows drive (`C:`) is refused; any other `:`
//!   is an ordinary Unix file-name character and is allowed;
//! * after normalisation, a segment starting with `.` yields
//!   [`PathError::Hidden`] unless dotfiles are allowed.
//!
//! Length is not limited here; the request-line limit of the server bounds it
//! and the work is linear in the input.
//!
//! ```
//! use reactor_handlers::path::{resolve, PathError};
//!
//! let r = resolve("/docs/./a/../b%20c.txt", false).unwrap();
//! assert_eq!(r.relative, std::path::Path::new("docs/b c.txt"));
//! assert_eq!(r.decoded, "/docs/b c.txt");
//! assert!(!r.trailing_slash);
//! assert_eq!(resolve("/../etc/passwd", false).unwrap_err(), PathError::BadRequest);
//! assert_eq!(resolve("/.git/config", false).unwrap_err(), PathError::Hidden);
//! ```
use std::io;
use std::path::{Path, PathBuf};

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Malformed: bad percent-encoding, NUL (or other control character),
    /// encoded '/' (%2F) or backslash (raw or %5C), invalid UTF-8 after
    /// decoding (this covers overlong UTF-8), a path not starting with '/',
    /// a bare drive-letter segment, or `..` climbing above the root. Maps to
    /// 400.
    BadRequest,
    /// A segment starting with '.' (dotfile/dotdir) while dotfiles are not
    /// allowed. Maps to 404 (we do not reveal that it exists).
    Hidden,
}

/// A request path resolved against the document root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPath {
    /// Path relative to the root: no leading '/', no `.`/`..` components;
    /// empty for the root itself.
    pub relative: PathBuf,
    /// Whether the path denotes a directory syntactically: it ended with '/'
    /// (or with a `.`/`..` segment, which RFC 3986 dot-segment removal turns
    /// into a trailing '/').
    pub trailing_slash: bool,
    /// The normalised decoded path with leading '/' (and a trailing '/' when
    /// `trailing_slash`), for redirects and listings. It is *decoded*: use
    /// [`encode_path`] before putting it in a header or URL.
    pub decoded: String,
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes once (never twice: `%252e` becomes the literal `%2e`).
/// Only malformed escapes are errors; `+` is left alone (this is a path, not
/// a form).
///
/// ```
/// use reactor_handlers::path::percent_decode;
/// assert_eq!(percent_decode("a%20b%252e").unwrap(), b"a b%2e");
/// assert!(percent_decode("%zz").is_err());
/// ```
pub fn percent_decode(s: &str) -> Result<Vec<u8>, PathError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = b.get(i + 1).copied().and_then(hex_val);
            let lo = b.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(PathError::BadRequest),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn is_bare_drive(seg: &str) -> bool {
    let b = seg.as_bytes();
    b.len() == 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// `raw_path` itself when it is already in the form [`resolve`] would give as
/// `decoded` (nothing to decode or normalise, nothing refused), so that a cache keyed by
/// decoded paths can be asked without resolving (and allocating); `None` otherwise,
/// which says nothing about the path: resolve it.
///
/// ```
/// use reactor_handlers::path::{canonical, resolve};
/// assert_eq!(canonical("/a/b.txt", false), Some("/a/b.txt"));
/// assert_eq!(resolve("/a/b.txt", false).unwrap().decoded, "/a/b.txt");
/// assert_eq!(canonical("/a//b", false), None);
/// assert_eq!(canonical("/a/%62", false), None);
/// assert_eq!(canonical("/.git/x", false), None);
/// ```
pub fn canonical(raw_path: &str, allow_dotfiles: bool) -> Option<&str> {
    let rest = raw_path.strip_prefix('/')?.as_bytes();
    // One pass; each segment is checked when its end (a '/' or the end) is reached.
    let mut start = 0;
    for i in 0..=rest.len() {
        let c = rest.get(i).copied();
        if let Some(c) = c.filter(|&c| c != b'/') {
            if !PLAIN[usize::from(c)] {
                return None;
            }
            continue;
        }
        let seg = &rest[start..i];
        // Only the last segment may be empty (a trailing slash, or the root itself).
        let fine = (!seg.is_empty() || c.is_none())
            && seg != b"."
            && seg != b".."
            && (allow_dotfiles || !seg.starts_with(b"."));
        if !fine {
            return None;
        }
        start = i + 1;
    }
    Some(raw_path)
}

/// The bytes a canonical path holds as they are: printable ASCII but `%`, `\` and `:`.
const PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = b.is_ascii_graphic() && !matches!(b, b'%' | b'\\' | b':');
        c += 1;
    }
    table
};

/// The decoded form of `raw_path` ([`ResolvedPath::decoded`]): borrowed when it is
/// already [`canonical`], resolved otherwise; `None` where [`resolve`] refuses it.
///
/// ```
/// use reactor_handlers::path::decoded;
/// assert!(matches!(decoded("/a/b", false), Some(std::borrow::Cow::Borrowed("/a/b"))));
/// assert_eq!(decoded("/a/%62/../c", false).as_deref(), Some("/a/c"));
/// assert_eq!(decoded("/../x", false), None);
/// ```
pub fn decoded(raw_path: &str, allow_dotfiles: bool) -> Option<std::borrow::Cow<'_, str>> {
    match canonical(raw_path, allow_dotfiles) {
        Some(path) => Some(path.into()),
        None => Some(resolve(raw_path, allow_dotfiles).ok()?.decoded.into()),
    }
}

/// Decodes `raw_path` (the path part of the request target, query already
/// removed), normalises `.` and `..` lexically and repeated slashes, refuses
/// anything that would leave the root, and returns the relative path (no
/// leading '/'; empty for the root itself) plus whether the decoded path
/// ended with '/'. See the module docs for the exact policy.
pub fn resolve(raw_path: &str, allow_dotfiles: bool) -> Result<ResolvedPath, PathError> {
    let rest = raw_path.strip_prefix('/').ok_or(PathError::BadRequest)?;
    if rest.contains('\\') {
        return Err(PathError::BadRequest);
    }
    let mut segs: Vec<String> = Vec::new();
    let mut trailing_slash = false;
    let mut raw_segments = rest.split('/').peekable();
    while let Some(raw) = raw_segments.next() {
        let is_last = raw_segments.peek().is_none();
        let bytes = percent_decode(raw)?;
        if bytes.iter().copied().any(forbidden_in_segment) {
            return Err(PathError::BadRequest);
        }
        let seg = String::from_utf8(bytes).map_err(|_| PathError::BadRequest)?;
        match seg.as_str() {
            "" | "." => trailing_slash = is_last,
            ".." => {
                segs.pop().ok_or(PathError::BadRequest)?;
                trailing_slash = is_last;
            }
            _ => {
                if is_bare_drive(&seg) {
                    return Err(PathError::BadRequest);
                }
                trailing_slash = false;
                segs.push(seg);
            }
        }
    }
    if !allow_dotfiles && segs.iter().any(|s| s.starts_with('.')) {
        return Err(PathError::Hidden);
    }
    let mut decoded = String::with_capacity(raw_path.len() + 1);
    let mut relative = PathBuf::new();
    for seg in &segs {
        decoded.push('/');
        decoded.push_str(seg);
        relative.push(seg);
    }
    if trailing_slash || segs.is_empty() {
        decoded.push('/');
    }
    Ok(ResolvedPath {
        relative,
        trailing_slash: trailing_slash || segs.is_empty(),
        decoded,
    })
}

/// A byte a decoded segment may not hold: a separator (`/`, `\\`) or a control character.
fn forbidden_in_segment(c: u8) -> bool {
    c == b'/' || c == b'\\' || c < 0x20 || c == 0x7f
}

/// Checks a file name a client chose (a `multipart/form-data` part's `filename`) with the
/// rules a decoded path segment follows in [`resolve`]: `Ok` only for one plain name, no
/// separator (`/`, `\\`), control character, `.`/`..`, empty name or bare drive (`C:`);
/// a name starting with '.' is [`PathError::Hidden`] unless dotfiles are allowed. Nothing
/// is decoded: the name is taken as written.
///
/// ```
/// use reactor_handlers::path::{file_name, PathError};
/// assert_eq!(file_name("report 2026.pdf", false), Ok("report 2026.pdf"));
/// assert_eq!(file_name("../etc/passwd", false), Err(PathError::BadRequest));
/// assert_eq!(file_name("C:\\boot.ini", false), Err(PathError::BadRequest));
/// assert_eq!(file_name(".htaccess", false), Err(PathError::Hidden));
/// ```
pub fn file_name(name: &str, allow_dotfiles: bool) -> Result<&str, PathError> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !is_bare_drive(name)
        && !name.bytes().any(forbidden_in_segment);
    match (plain, name.starts_with('.')) {
        (false, _) => Err(PathError::BadRequest),
        (true, true) if !allow_dotfiles => Err(PathError::Hidden),
        (true, _) => Ok(name),
    }
}

/// Percent-encodes a decoded path (such as [`ResolvedPath::decoded`]) for use
/// in a `Location` header or an `href`: every byte except ASCII letters,
/// digits, `-._~` and `/` is encoded, so the result is safe in headers and
/// HTML attributes and [`resolve`]s back to the same path.
///
/// ```
/// use reactor_handlers::path::encode_path;
/// assert_eq!(encode_path("/a b/ü?#"), "/a%20b/%C3%BC%3F%23");
/// ```
pub fn encode_path(decoded: &str) -> String {
    percent_encode(decoded, true)
}

/// Percent-encodes one path segment: like [`encode_path`], but `/` is encoded too, so
/// the result is always a single segment (for links to names in a listing).
///
/// ```
/// use reactor_handlers::path::encode_segment;
/// assert_eq!(encode_segment("a b/#é"), "a%20b%2F%23%C3%A9");
/// ```
pub fn encode_segment(name: &str) -> String {
    percent_encode(name, false)
}

/// Every byte but the RFC 3986 unreserved characters (and `/` when `keep_slash`) as `%XX`.
fn percent_encode(s: &str, keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Blocking (call on the pool): true when `path` — after following every
/// symlink — is inside `canonical_root` (which the caller canonicalised once
/// at startup). The comparison is component-wise, so `/srv/www2` is not
/// inside `/srv/www`. Errors (not found, permission) are returned as
/// `io::Error`.
///
/// ```no_run
/// use std::path::Path;
/// let root = std::fs::canonicalize("/srv/www")?;
/// let ok = reactor_handlers::path::within_root(&root, &root.join("index.html"))?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn within_root(canonical_root: &Path, path: &Path) -> io::Result<bool> {
    let real = std::fs::canonicalize(path)?;
    Ok(real.starts_with(canonical_root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Component;

    #[derive(Debug)]
    enum Want {
        Ok(&'static str, bool),
        Bad,
        Hidden,
    }
    use Want::*;

    fn check(input: &str, allow_dotfiles: bool, want: &Want) {
        let got = resolve(input, allow_dotfiles);
        match (want, &got) {
            (Ok(rel, slash), Result::Ok(r)) => {
                assert_eq!(r.relative, Path::new(rel), "{input:?}");
                assert_eq!(r.trailing_slash, *slash, "{input:?}");
            }
            (Bad, Err(PathError::BadRequest)) | (Hidden, Err(PathError::Hidden)) => {}
            _ => panic!("{input:?}: wanted {want:?}, got {got:?}"),
        }
    }

    #[test]
    fn hostile_table() {
        let table: &[(&str, Want)] = &[
            // Traversal, plain and encoded.
            ("/../etc/passwd", Bad),
            ("/..", Bad),
            ("/../", Bad),
            ("/%2e%2e/", Bad),
            ("/%2E%2E/etc/passwd", Bad),
            ("/%2E%2E%2F", Bad),
            ("/..%2f", Bad),
            ("/..%2Fetc", Bad),
            ("/.%2e/etc", Bad),
            ("/a/../../x", Bad),
            ("/a/b/../../../x", Bad),
            ("/a/%2e%2e/%2e%2e/x", Bad),
            // Double encoding is decoded once: a literal file name.
            ("/%252e%252e/", Ok("%2e%2e", true)),
            ("/%252e%252e%252fetc", Ok("%2e%2e%2fetc", false)),
            // NUL and control characters.
            ("/a/%00", Bad),
            ("/a%00.html", Bad),
            ("/a/%0d%0aSet-Cookie:x", Bad),
            ("/a%7f", Bad),
            ("/a%09b", Bad),
            // Backslashes, raw and encoded.
            ("/a\\..\\b", Bad),
            ("/%5c..", Bad),
            ("/%5C..%5Cetc", Bad),
            ("/..\\", Bad),
            // Overlong / invalid UTF-8.
            ("/%c0%ae%c0%ae/", Bad),
            ("/%c0%af", Bad),
            ("/%e0%80%ae", Bad),
            ("/%ff", Bad),
            ("/%c3", Bad),
            // Malformed percent-encoding.
            ("/%", Bad),
            ("/%2", Bad),
            ("/%zz", Bad),
            ("/a%2g", Bad),
            ("/%%32%65", Bad),
            // Not origin-form.
            ("", Bad),
            ("etc/passwd", Bad),
            ("*", Bad),
            ("http://evil/x", Bad),
            // Windows drives.
            ("C:\\", Bad),
            ("/C:\\", Bad),
            ("/c:/windows", Bad),
            ("/C:", Bad),
            ("/a/C:", Bad),
            ("/c%3a/windows", Bad),
            ("/a:b", Ok("a:b", false)),
            ("/cc:/x", Ok("cc:/x", false)),
            ("/a/b:c", Ok("a/b:c", false)),
            // Dotfiles.
            ("/.git/config", Hidden),
            ("/.env", Hidden),
            ("/a/.htaccess", Hidden),
            ("/%2egit/config", Hidden),
            ("/a/.../b", Hidden),
            ("/.well-known/x", Hidden),
            ("/.git/../index.html", Ok("index.html", false)),
            ("/.git/../../x", Bad),
            // Harmless normalisation.
            ("/", Ok("", true)),
            ("//", Ok("", true)),
            ("//etc/passwd", Ok("etc/passwd", false)),
            ("/a/./b/../c", Ok("a/c", false)),
            ("/a//b///c", Ok("a/b/c", false)),
            ("/a/b/", Ok("a/b", true)),
            ("/a/b/.", Ok("a/b", true)),
            ("/a/b/..", Ok("a", true)),
            ("/a/..", Ok("", true)),
            ("/.", Ok("", true)),
            ("/./", Ok("", true)),
            ("/index.html", Ok("index.html", false)),
            ("/a%20b/c+d", Ok("a b/c+d", false)),
            ("/%E2%82%AC.txt", Ok("\u{20ac}.txt", false)),
            ("/\u{20ac}.txt", Ok("\u{20ac}.txt", false)),
            ("/a..b", Ok("a..b", false)),
            ("/..a", Hidden),
            ("/a.", Ok("a.", false)),
            ("/%41", Ok("A", false)),
        ];
        assert!(table.len() >= 40);
        for (input, want) in table {
            check(input, false, want);
        }
    }

    #[test]
    fn dotfiles_allowed() {
        check("/.git/config", true, &Ok(".git/config", false));
        check("/.well-known/acme/", true, &Ok(".well-known/acme", true));
        check("/a/.../b", true, &Ok("a/.../b", false));
        check("/.git/../../x", true, &Bad);
        check("/%2e%2e/", true, &Bad);
    }

    #[test]
    fn decoded_is_normalised() {
        assert_eq!(resolve("/", false).unwrap().decoded, "/");
        assert_eq!(resolve("//a//b//", false).unwrap().decoded, "/a/b/");
        assert_eq!(resolve("/a/./b/../c", false).unwrap().decoded, "/a/c");
        assert_eq!(resolve("/a%20b/..", false).unwrap().decoded, "/");
        assert_eq!(
            resolve("/x/%E2%82%AC", false).unwrap().decoded,
            "/x/\u{20ac}"
        );
    }

    #[test]
    fn very_long_paths() {
        let deep = "/a".repeat(50_000);
        let r = resolve(&deep, false).unwrap();
        assert_eq!(r.relative.components().count(), 50_000);
        let up = format!("{}{}", "/a".repeat(1000), "/..".repeat(1001));
        assert_eq!(resolve(&up, false).unwrap_err(), PathError::BadRequest);
        let balanced = format!("{}{}/x", "/a".repeat(1000), "/..".repeat(1000));
        assert_eq!(resolve(&balanced, false).unwrap().relative, Path::new("x"));
        let long_name = format!("/{}", "b".repeat(100_000));
        assert!(resolve(&long_name, false).is_ok());
        let encoded = "/%2e%2e".repeat(10_000);
        assert_eq!(resolve(&encoded, false).unwrap_err(), PathError::BadRequest);
    }

    #[test]
    fn percent_decode_cases() {
        assert_eq!(percent_decode("").unwrap(), b"");
        assert_eq!(percent_decode("abc").unwrap(), b"abc");
        assert_eq!(percent_decode("%41%42%43").unwrap(), b"ABC");
        assert_eq!(percent_decode("%2f%2F").unwrap(), b"//");
        assert_eq!(percent_decode("%252e").unwrap(), b"%2e");
        assert_eq!(percent_decode("%00").unwrap(), b"\0");
        assert_eq!(percent_decode("%ff").unwrap(), b"\xff");
        assert_eq!(percent_decode("a+b").unwrap(), b"a+b");
        for bad in ["%", "%a", "a%", "%g0", "%0g", "%%", "%-1", "%\u{e9}"] {
            assert_eq!(percent_decode(bad), Err(PathError::BadRequest), "{bad:?}");
        }
    }

    #[test]
    fn encode_path_round_trips() {
        for p in ["/", "/a b/", "/\u{20ac}/%2e", "/a:b/c?d#e"] {
            let r = resolve(&encode_path(p), true).unwrap();
            assert_eq!(r.decoded, p);
        }
    }

    /// A unique scratch directory, removed on drop (even if the test panics).
    struct Scratch(PathBuf);
    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "reactor-handlers-{tag}-{}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(std::fs::canonicalize(&dir).unwrap())
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[cfg(unix)]
    #[test]
    fn within_root_follows_symlinks() {
        use std::os::unix::fs::symlink;
        let scratch = Scratch::new("within-root");
        let root = scratch.0.join("www");
        let sibling = scratch.0.join("www2");
        let outside = scratch.0.join("outside");
        for d in [&root, &sibling, &outside, &root.join("sub")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(root.join("index.html"), b"hi").unwrap();
        std::fs::write(root.join("sub/page.html"), b"hi").unwrap();
        std::fs::write(outside.join("secret"), b"s").unwrap();
        std::fs::write(sibling.join("secret"), b"s").unwrap();
        symlink(root.join("index.html"), root.join("link_in")).unwrap();
        symlink("../index.html", root.join("sub/rel_in")).unwrap();
        symlink(outside.join("secret"), root.join("link_out")).unwrap();
        symlink("../outside/secret", root.join("rel_out")).unwrap();
        symlink(&outside, root.join("dir_out")).unwrap();
        symlink(sibling.join("secret"), root.join("sibling_out")).unwrap();
        symlink(root.join("missing"), root.join("dangling")).unwrap();

        let root = std::fs::canonicalize(&root).unwrap();
        assert!(within_root(&root, &root).unwrap());
        assert!(within_root(&root, &root.join("index.html")).unwrap());
        assert!(within_root(&root, &root.join("sub/page.html")).unwrap());
        assert!(within_root(&root, &root.join("link_in")).unwrap());
        assert!(within_root(&root, &root.join("sub/rel_in")).unwrap());
        assert!(!within_root(&root, &root.join("link_out")).unwrap());
        assert!(!within_root(&root, &root.join("rel_out")).unwrap());
        assert!(!within_root(&root, &root.join("dir_out")).unwrap());
        assert!(!within_root(&root, &root.join("dir_out/secret")).unwrap());
        assert!(!within_root(&root, &root.join("sibling_out")).unwrap());
        let err = within_root(&root, &root.join("nope.html")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(within_root(&root, &root.join("dangling")).is_err());

        // The resolve + join + within_root pipeline.
        let r = resolve("/sub/./rel_in", false).unwrap();
        assert!(within_root(&root, &root.join(&r.relative)).unwrap());
        let r = resolve("/dir_out/secret", false).unwrap();
        assert!(!within_root(&root, &root.join(&r.relative)).unwrap());
    }

    fn assert_safe(input: &str) {
        if let Result::Ok(r) = resolve(input, true) {
            assert!(!r.relative.has_root());
            assert!(!r.relative.to_string_lossy().starts_with('/'));
            assert!(!r.relative.to_string_lossy().contains('\0'));
            for c in r.relative.components() {
                assert!(matches!(c, Component::Normal(_)), "{input:?} -> {c:?}");
            }
            assert!(r.decoded.starts_with('/'));
            // Re-encoding and resolving again is a fixed point.
            assert_eq!(resolve(&encode_path(&r.decoded), true), Result::Ok(r));
        }
    }

    proptest! {
        #[test]
        fn canonical_paths_resolve_to_themselves(
            s in "(/|\\.|\\.\\.|%2[eEfF]|[a-c]|:|\\\\|~|\\.a)*",
            dotfiles in any::<bool>(),
        ) {
            let p = format!("/{s}");
            if let Some(same) = canonical(&p, dotfiles) {
                prop_assert_eq!(resolve(same, dotfiles).map(|r| r.decoded), Result::Ok(p.clone()));
            }
        }

        #[test]
        fn resolve_never_escapes_arbitrary(s in "\\PC{0,64}") {
            assert_safe(&s);
            assert_safe(&format!("/{s}"));
        }

        #[test]
        fn resolve_never_escapes_pathy(s in "(/|\\.|\\.\\.|%2[eEfF]|%5[cC]|%00|%[0-9a-fA-F]{2}|[a-c]|:|\\\\|%)*") {
            assert_safe(&s);
            assert_safe(&format!("/{s}"));
        }

        #[test]
        fn hidden_only_without_dotfiles(s in "(/|\\.|[a-c])*") {
            let strict = resolve(&format!("/{s}"), false);
            let lax = resolve(&format!("/{s}"), true);
            match strict {
                Err(PathError::Hidden) => prop_assert!(lax.is_ok()),
                other => prop_assert_eq!(other, lax),
            }
        }
    }
}
