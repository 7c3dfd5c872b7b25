//! Apache-style directory listing pages: sorting, HTML and JSON rendering.
//!
//! Everything here is a pure function over a list of [`Entry`] values; the
//! caller reads the directory and writes the response.
//!
//! ```
//! use reactor_handlers::listing_page::{parse_query, render_html, sort_entries, Entry};
//! use std::time::{Duration, SystemTime};
//!
//! let mut entries = vec![
//!     Entry { name: "b.txt".into(), is_dir: false, size: 1300, modified: SystemTime::UNIX_EPOCH },
//!     Entry { name: "a dir".into(), is_dir: true, size: 0, modified: SystemTime::UNIX_EPOCH + Duration::from_secs(86_400) },
//! ];
//! let (sort, json) = parse_query(Some("C=S;O=D"));
//! assert!(!json);
//! sort_entries(&mut entries, sort);
//! assert_eq!(entries[0].name, "a dir"); // directories always come first
//! let html = render_html("/files/", &entries, sort);
//! assert!(html.contains("<title>Index of /files/</title>"));
//! assert!(html.contains(r#"href="a%20dir/">a dir/</a>"#));
//! assert!(html.contains("1.3K"));
//! ```
//!
//! Hrefs are relative to the listed directory, so `url_path` must end in
//! `/` (servers redirect `/dir` to `/dir/` before listing). Entries named
//! `.` or `..` are never shown.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::time::SystemTime;

use reactor::date::civil;
use reactor::response::escape_html;

use crate::path::encode_segment;

/// One directory entry as the listing shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// File name (a single path segment, not encoded or escaped).
    pub name: String,
    /// Whether the entry is a directory.
    pub is_dir: bool,
    /// Size in bytes (not shown for directories in HTML).
    pub size: u64,
    /// Last modification time.
    pub modified: SystemTime,
}

/// Sort column and order, Apache style: query `C=N|M|S` and `O=A|D`
/// separated by `;` or `&` (e.g. `?C=M;O=D`). Default: name ascending.
/// Directories are always listed before files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sort {
    /// Column to sort by.
    pub column: Column,
    /// `true` for descending order (`O=D`).
    pub descending: bool,
}

impl Default for Sort {
    /// Name, ascending.
    fn default() -> Self {
        Sort {
            column: Column::Name,
            descending: false,
        }
    }
}

/// A sortable column of the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// File name (`C=N`).
    Name,
    /// Last modification time (`C=M`).
    Modified,
    /// Size in bytes (`C=S`).
    Size,
}

impl Column {
    fn letter(self) -> char {
        match self {
            Column::Name => 'N',
            Column::Modified => 'M',
            Column::Size => 'S',
        }
    }
}

/// Parses the query string (without `?`).
///
/// Pairs are separated by `;` or `&`. `C` takes `N`, `M` or `S`; `O` takes
/// `A` or `D` (letters case-insensitive). Unknown keys, malformed pairs and
/// invalid values are ignored, leaving the default for that field. The
/// second value is `true` when `format=json` was asked.
///
/// ```
/// use reactor_handlers::listing_page::{parse_query, Column, Sort};
/// assert_eq!(parse_query(Some("C=M;O=D&format=json")),
///            (Sort { column: Column::Modified, descending: true }, true));
/// assert_eq!(parse_query(Some("%%garbage==")), (Sort::default(), false));
/// ```
pub fn parse_query(query: Option<&str>) -> (Sort, bool) {
    let mut sort = Sort::default();
    let mut json = false;
    let Some(q) = query else {
        return (sort, json);
    };
    for pair in q.split([';', '&']) {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        match key {
            "C" | "c" => match value {
                "N" | "n" => sort.column = Column::Name,
                "M" | "m" => sort.column = Column::Modified,
                "S" | "s" => sort.column = Column::Size,
                _ => {}
            },
            "O" | "o" => match value {
                "A" | "a" => sort.descending = false,
                "D" | "d" => sort.descending = true,
                _ => {}
            },
            "format" => json = value.eq_ignore_ascii_case("json"),
            _ => {}
        }
    }
    (sort, json)
}

/// Sorts `entries` in place: directories first, then by `sort.column` in
/// the requested order. Ties are broken by name (in the same order), so the
/// result is deterministic.
pub fn sort_entries(entries: &mut [Entry], sort: Sort) {
    entries.sort_by(|a, b| {
        let by_kind = b.is_dir.cmp(&a.is_dir);
        if by_kind != Ordering::Equal {
            return by_kind;
        }
        let primary = match sort.column {
            Column::Name => Ordering::Equal,
            Column::Modified => a.modified.cmp(&b.modified),
            Column::Size => a.size.cmp(&b.size),
        };
        let ord = primary.then_with(|| a.name.cmp(&b.name));
        if sort.descending {
            ord.reverse()
        } else {
            ord
        }
    });
}

const CSS: &str = "\
body{font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:#222;background:#fafafa;margin:0;padding:2em}
main{max-width:60em;margin:0 auto;background:#fff;border:1px solid #ddd;border-radius:6px;padding:1.2em 1.6em}
h1{font-size:1.35em;font-weight:600;margin:0 0 .8em;word-break:break-all}
table{border-collapse:collapse;width:100%}
th,td{padding:.3em .6em;text-align:left;white-space:nowrap}
th{border-bottom:2px solid #ddd;font-weight:600}
th a{color:#222}
td.n{white-space:normal;word-break:break-all;width:100%}
td.m{font-variant-numeric:tabular-nums;color:#555}
td.s,th.s{text-align:right;font-variant-numeric:tabular-nums;color:#555}
tr:nth-child(even) td{background:#f5f7fa}
tbody tr:hover td{background:#e8f0fe}
a{color:#0645ad;text-decoration:none}
a:hover{text-decoration:underline}
a.d{font-weight:600}
footer{margin-top:1em;color:#777;font-size:.85em}
";

/// Renders the HTML listing page for directory `url_path` (the decoded URL
/// path, ending in `/`). `entries` are shown in the given order; `sort` only
/// decides the header links and the sort indicator.
pub fn render_html(url_path: &str, entries: &[Entry], sort: Sort) -> String {
    render_html_with(url_path, entries, sort, "")
}

/// [`render_html`] with `extra` HTML (trusted, already escaped) between the table and the
/// footer: the upload form ([`crate::upload::form_html`]), say.
pub fn render_html_with(url_path: &str, entries: &[Entry], sort: Sort, extra: &str) -> String {
    let title = escape_html(url_path);
    let mut out = String::with_capacity(2048 + entries.len() * 160);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Index of {title}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n\
         <h1>Index of {title}</h1>\n<table>\n<thead><tr>"
    );
    for (column, label, class) in [
        (Column::Name, "Name", ""),
        (Column::Modified, "Last modified", ""),
        (Column::Size, "Size", " class=\"s\""),
    ] {
        let active = sort.column == column;
        let order = if active && !sort.descending { 'D' } else { 'A' };
        let arrow = match (active, sort.descending) {
            (false, _) => "",
            (true, false) => " \u{25B2}",
            (true, true) => " \u{25BC}",
        };
        let _ = write!(
            out,
            "<th{class}><a href=\"?C={};O={order}\">{label}</a>{arrow}</th>",
            column.letter()
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    if url_path != "/" {
        out.push_str(
            "<tr><td class=\"n\"><a href=\"../\">Parent Directory</a></td>\
             <td class=\"m\"></td><td class=\"s\">-</td></tr>\n",
        );
    }
    let (mut dirs, mut files) = (0usize, 0usize);
    for e in entries.iter().filter(|e| shown(e)) {
        let href = encode_segment(&e.name);
        let name = escape_html(&e.name);
        let (slash, class, size) = if e.is_dir {
            dirs += 1;
            ("/", " class=\"d\"", "-".to_string())
        } else {
            files += 1;
            ("", "", human_size(e.size))
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"n\"><a{class} href=\"{href}{slash}\">{name}{slash}</a></td>\
             <td class=\"m\">{}</td><td class=\"s\">{size}</td></tr>",
            listing_date(e.modified)
        );
    }
    let _ = write!(
        out,
        "</tbody>\n</table>\n{extra}<footer>{dirs} director{}, {files} file{}</footer>\n</main>\n</body>\n</html>\n",
        if dirs == 1 { "y" } else { "ies" },
        if files == 1 { "" } else { "s" },
    );
    out
}

/// Renders the listing as JSON:
/// `{"path":"/dir/","entries":[{"name":"a b","type":"file","size":123,"modified":"2026-11-21T05:27:00Z","href":"a%20b"}]}`.
///
/// `type` is `"file"` or `"dir"`; `size` is [`Entry::size`] as given (also
/// for directories); `modified` is RFC 3339 in UTC with whole seconds;
/// `href` is relative to the directory (directories end in `/`).
///
/// ```
/// use reactor_handlers::listing_page::{render_json, Entry};
/// let e = Entry { name: "q\"\n".into(), is_dir: false, size: 1, modified: std::time::UNIX_EPOCH };
/// assert_eq!(render_json("/", &[e]),
///     r#"{"path":"/","entries":[{"name":"q\"\u000a","type":"file","size":1,"modified":"1970-01-01T00:00:00Z","href":"q%22%0A"}]}"#);
/// ```
pub fn render_json(url_path: &str, entries: &[Entry]) -> String {
    let mut out = String::with_capacity(64 + entries.len() * 128);
    out.push_str("{\"path\":");
    crate::json_log::push_json(&mut out, url_path);
    out.push_str(",\"entries\":[");
    for (i, e) in entries.iter().filter(|e| shown(e)).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        crate::json_log::push_json(&mut out, &e.name);
        let _ = write!(
            out,
            ",\"type\":\"{}\",\"size\":{},\"modified\":\"{}\",\"href\":",
            if e.is_dir { "dir" } else { "file" },
            e.size,
            rfc3339(e.modified)
        );
        let mut href = encode_segment(&e.name);
        if e.is_dir {
            href.push('/');
        }
        crate::json_log::push_json(&mut out, &href);
        out.push('}');
    }
    out.push_str("]}");
    out
}

fn shown(e: &Entry) -> bool {
    e.name != "." && e.name != ".." && !e.name.is_empty()
}

/// Human-readable size, Apache style: `512`, `1.2K`, `34K`, `3.4M`, `1.0G`.
fn human_size(size: u64) -> String {
    if size < 1024 {
        return size.to_string();
    }
    const UNITS: [char; 6] = ['K', 'M', 'G', 'T', 'P', 'E'];
    // Precision loss in the f64 conversion is irrelevant for display.
    let mut value = size as f64 / 1024.0;
    let mut unit = 0;
    loop {
        // Move to the next unit if rounding would print "1024".
        if value >= 1023.5 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
            continue;
        }
        break;
    }
    if value < 9.95 {
        format!("{value:.1}{}", UNITS[unit])
    } else {
        format!("{value:.0}{}", UNITS[unit])
    }
}

/// `2026-11-21 05:27` (UTC), as in the HTML "Last modified" column.
fn listing_date(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// `2026-11-21T05:27:09Z`, as in the JSON `modified` field.
fn rfc3339(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    proptest! {
        #[test]
        fn links_decode_back_to_the_name(name in any::<String>()) {
            let href = encode_segment(&name);
            prop_assert!(href.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            prop_assert_eq!(crate::path::percent_decode(&href).ok(), Some(name.into_bytes()));
        }

        #[test]
        fn pages_never_carry_raw_markup_or_control_characters(
            name in any::<String>(),
            query in any::<String>(),
            secs in any::<u64>(),
        ) {
            let (sort, _) = parse_query(Some(&query));
            let e = entry(&name, secs % 2 == 0, secs, secs % 400_000_000_000);
            let html = render_html("/d/", std::slice::from_ref(&e), sort);
            prop_assert!(!html.contains("<script"));
            let json = render_json("/d/", &[e]);
            prop_assert!(!json.chars().any(|c| (c as u32) < 0x20));
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn entry(name: &str, is_dir: bool, size: u64, secs: u64) -> Entry {
        Entry {
            name: name.to_string(),
            is_dir,
            size,
            modified: at(secs),
        }
    }

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape_html("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(escape_html("a&b"), "a&amp;b");
        assert_eq!(escape_html("\"it's\""), "&quot;it&#39;s&quot;");
        assert_eq!(escape_html("plain café"), "plain café");
    }

    #[test]
    fn encodes_segments() {
        assert_eq!(encode_segment("a b#c?d%e"), "a%20b%23c%3Fd%25e");
        assert_eq!(encode_segment("café"), "caf%C3%A9");
        assert_eq!(encode_segment("日本"), "%E6%97%A5%E6%9C%AC");
        assert_eq!(encode_segment("<\">/:"), "%3C%22%3E%2F%3A");
        assert_eq!(
            encode_segment("AZaz09-._~"),
            "AZaz09-._~",
            "unreserved characters are kept"
        );
    }

    fn sample() -> Vec<Entry> {
        vec![
            entry("b.txt", false, 300, 20),
            entry("zdir", true, 4096, 10),
            entry("a.txt", false, 100, 30),
            entry("adir", true, 4096, 40),
            entry("c.txt", false, 200, 10),
        ]
    }

    #[test]
    fn sorts_each_column_both_orders_dirs_first() {
        let cases = [
            (
                Column::Name,
                false,
                ["adir", "zdir", "a.txt", "b.txt", "c.txt"],
            ),
            (
                Column::Name,
                true,
                ["zdir", "adir", "c.txt", "b.txt", "a.txt"],
            ),
            (
                Column::Modified,
                false,
                ["zdir", "adir", "c.txt", "b.txt", "a.txt"],
            ),
            (
                Column::Modified,
                true,
                ["adir", "zdir", "a.txt", "b.txt", "c.txt"],
            ),
            // Equal directory sizes fall back to the name.
            (
                Column::Size,
                false,
                ["adir", "zdir", "a.txt", "c.txt", "b.txt"],
            ),
            (
                Column::Size,
                true,
                ["zdir", "adir", "b.txt", "c.txt", "a.txt"],
            ),
        ];
        for (column, descending, expected) in cases {
            let mut v = sample();
            sort_entries(&mut v, Sort { column, descending });
            assert_eq!(names(&v), expected, "{column:?} descending={descending}");
        }
    }

    #[test]
    fn parses_queries() {
        let s = |column, descending| Sort { column, descending };
        let cases: &[(Option<&str>, Sort, bool)] = &[
            (None, Sort::default(), false),
            (Some(""), Sort::default(), false),
            (Some("C=M;O=D"), s(Column::Modified, true), false),
            (Some("C=S&O=A"), s(Column::Size, false), false),
            (Some("O=D"), s(Column::Name, true), false),
            (Some("c=s;o=d"), s(Column::Size, true), false),
            (Some("C=N;O=D;format=json"), s(Column::Name, true), true),
            (Some("format=json"), Sort::default(), true),
            (Some("format=html"), Sort::default(), false),
            (Some("C=X;O=Z"), Sort::default(), false),
            (Some("C=;O="), Sort::default(), false),
            (Some("==;;&&=C"), Sort::default(), false),
            (Some("C=MM;O=DD"), Sort::default(), false),
            (Some("foo=bar;C=S;baz"), s(Column::Size, false), false),
            (Some("\u{0}\u{ff}%ZZ"), Sort::default(), false),
        ];
        for (q, sort, json) in cases {
            assert_eq!(parse_query(*q), (*sort, *json), "query {q:?}");
        }
    }

    #[test]
    fn json_escapes_control_chars_and_quotes() {
        let e = entry("a\"b\\c\u{1}\t\u{1f}é", false, 5, 0);
        let json = render_json("/d\"ir/", &[e]);
        assert_eq!(
            json,
            "{\"path\":\"/d\\\"ir/\",\"entries\":[{\"name\":\"a\\\"b\\\\c\\u0001\\u0009\\u001fé\",\
             \"type\":\"file\",\"size\":5,\"modified\":\"1970-01-01T00:00:00Z\",\
             \"href\":\"a%22b%5Cc%01%09%1F%C3%A9\"}]}"
        );
    }

    #[test]
    fn json_dirs_and_empty() {
        assert_eq!(render_json("/", &[]), "{\"path\":\"/\",\"entries\":[]}");
        let json = render_json("/x/", &[entry("a b", true, 0, 1_700_000_000)]);
        assert!(json.contains("\"type\":\"dir\""), "{json}");
        assert!(json.contains("\"href\":\"a%20b/\""), "{json}");
        assert!(
            json.contains("\"modified\":\"2023-11-14T22:13:20Z\""),
            "{json}"
        );
    }

    #[test]
    fn parent_link_presence() {
        let root = render_html("/", &sample(), Sort::default());
        assert!(!root.contains("Parent Directory"));
        let sub = render_html("/a/b/", &sample(), Sort::default());
        assert!(sub.contains("<a href=\"../\">Parent Directory</a>"));
    }

    #[test]
    fn html_page_contents() {
        let entries = vec![
            entry("<script>x</script>", false, 1, 0),
            entry("a b#c", true, 0, 0),
            entry("café", false, 3_500_000, 1_795_238_820),
        ];
        let html = render_html("/x<y>/", &entries, Sort::default());
        assert!(html.contains("<title>Index of /x&lt;y&gt;/</title>"));
        assert!(html.contains("<h1>Index of /x&lt;y&gt;/</h1>"));
        assert!(!html.contains("<script>"));
        assert!(html.contains(
            "<a href=\"%3Cscript%3Ex%3C%2Fscript%3E\">&lt;script&gt;x&lt;/script&gt;</a>"
        ));
        assert!(html.contains("<a class=\"d\" href=\"a%20b%23c/\">a b#c/</a>"));
        assert!(html.contains("href=\"caf%C3%A9\">café</a>"));
        assert!(html.contains("3.3M"));
        assert!(html.contains("2026-11-21 05:27"));
        assert!(html.contains("1 directory, 2 files"));
        assert!(!html.contains("<script"), "no JavaScript");
    }

    #[test]
    fn header_links_flip_active_column() {
        let html = render_html("/", &[], Sort::default());
        assert!(html.contains("<a href=\"?C=N;O=D\">Name</a>"));
        assert!(html.contains("<a href=\"?C=M;O=A\">Last modified</a>"));
        assert!(html.contains("<a href=\"?C=S;O=A\">Size</a>"));
        let sort = Sort {
            column: Column::Size,
            descending: true,
        };
        let html = render_html("/", &[], sort);
        assert!(html.contains("<a href=\"?C=N;O=A\">Name</a>"));
        assert!(html.contains("<a href=\"?C=S;O=A\">Size</a>"));
    }

    #[test]
    fn skips_dot_entries() {
        let v = vec![entry(".", true, 0, 0), entry("..", true, 0, 0)];
        assert!(!render_html("/", &v, Sort::default()).contains("href=\".."));
        assert_eq!(render_json("/", &v), "{\"path\":\"/\",\"entries\":[]}");
    }

    #[test]
    fn human_sizes() {
        let cases = [
            (0, "0"),
            (1023, "1023"),
            (1024, "1.0K"),
            (1250, "1.2K"),
            (10 * 1024, "10K"),
            (1024 * 1024 - 1, "1.0M"),
            (3_565_158, "3.4M"),
            (5 << 30, "5.0G"),
            (u64::MAX, "16E"),
        ];
        for (n, s) in cases {
            assert_eq!(human_size(n), s, "{n}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(listing_date(at(0)), "1970-01-01 00:00");
        assert_eq!(listing_date(at(951_782_400)), "2000-02-29 00:00");
        assert_eq!(rfc3339(at(1_795_238_879)), "2026-11-21T05:27:59Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_millis(500)),
            "1969-12-31T23:59:59Z"
        );
        // Far-future times are clamped rather than overflowing.
        if let Some(far) = UNIX_EPOCH.checked_add(Duration::from_secs(u64::MAX / 2)) {
            assert_eq!(rfc3339(far), "9999-12-31T23:59:59Z");
        }
    }
}
