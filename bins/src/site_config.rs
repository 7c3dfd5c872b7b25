//! reactor-httpd's configuration file (`--config site.toml`).
//!
//! Every command-line flag is a top-level key of the same name with `_` for `-`
//! (`max_connections = 100`, `access_log = "-"`); `listing = false` stands for
//! `--no-listing`, and so on for each `--no-…` flag. The file's keys become flags placed
//! before the command line's, so flags given on the command line win. `[[site]]` tables
//! describe virtual hosts ([`SiteSpec`]). Relative paths are relative to the file's
//! directory. Errors name the file and the line.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reactor_handlers::basic_auth::AuthArea;
use reactor_handlers::error_pages::ErrorPage;
use reactor_handlers::htpasswd::Htpasswd;
use reactor_handlers::redirect::Redirect;
use reactor_handlers::set_headers::HeaderRule;
use serde::Deserialize;
use toml::Spanned;

/// Top-level keys whose string values are file paths.
const PATH_KEYS: &[&str] = &[
    "root",
    "access_log",
    "tls_cert",
    "tls_key",
    "acme_ca",
    "acme_state",
];

/// One virtual host of the file, validated, with its files (htpasswd, error pages) read.
#[derive(Debug, Clone)]
pub struct SiteSpec {
    /// Host names; empty for the default site.
    pub names: Vec<String>,
    /// Document root.
    pub root: PathBuf,
    /// Directory listings (default: the command line's).
    pub listing: Option<bool>,
    /// Dotfiles served (default: the command line's).
    pub dotfiles: Option<bool>,
    /// Symlinks out of the root followed (default: the command line's).
    pub follow_symlinks: Option<bool>,
    /// On-the-fly compression (default: the command line's).
    pub compress: Option<bool>,
    /// Precompressed siblings (default: the command line's).
    pub precompressed: Option<bool>,
    /// Uploads taken, PUT and form POST (default: the command line's).
    pub upload: Option<bool>,
    /// Uploads replace existing files (default: the command line's).
    pub overwrite: Option<bool>,
    /// The largest upload body in bytes (default: the command line's).
    pub max_upload: Option<u64>,
    /// Certificate and key files for this site's names (picked by SNI under TLS).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// One certificate for all of `names`, obtained and renewed from the ACME CA.
    pub acme: bool,
    /// The file served with 200 instead of a 404 (single-page applications).
    pub fallback: Option<String>,
    /// Pages for error statuses.
    pub error_pages: HashMap<u16, ErrorPage>,
    /// Response headers by path.
    pub headers: Vec<HeaderRule>,
    /// Redirects.
    pub redirects: Vec<Redirect>,
    /// Basic-auth areas.
    pub auth: Vec<AuthArea>,
}

/// A configuration file, read and checked.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its `[[site]]` tables.
    pub sites: Vec<SiteSpec>,
    /// For each flag the file set, the line that set it.
    flag_lines: HashMap<String, usize>,
}

impl ConfigFile {
    /// `err` (from parsing the flags) with the file and line in front when it is about a
    /// flag the file set.
    pub fn locate(&self, err: &str) -> String {
        let flag = err.split([':', ' ']).next().unwrap_or("");
        match self.flag_lines.get(flag) {
            Some(line) => format!("{}:{line}: {err}", self.path.display()),
            None => err.to_string(),
        }
    }
}

/// What the command line asks for, with the file's flags spliced in.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The flags to parse: the file's first, then the command line's (without `--config`
    /// and `--check-config`).
    pub args: Vec<OsString>,
    /// The configuration file, if one was given.
    pub file: Option<ConfigFile>,
    /// `--check-config`: validate and exit.
    pub check: bool,
}

impl Invocation {
    /// See [`ConfigFile::locate`]; `err` unchanged without a file.
    pub fn locate(&self, err: &str) -> String {
        match &self.file {
            Some(f) => f.locate(err),
            None => err.to_string(),
        }
    }
}

/// Reads `--config FILE` (if given) and splices its keys in front of `cli` as flags.
/// `usage` is the program's help text, from which the flags are learnt. The errors are
/// one line each, `FILE:LINE: message` where the line is known.
pub fn invocation(cli: &[OsString], usage: &str) -> Result<Invocation, Vec<String>> {
    let mut rest = Vec::new();
    let mut config = None;
    let mut check = false;
    let mut it = cli.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--config") => match it.next() {
                Some(v) => config = Some(PathBuf::from(v)),
                None => return Err(vec!["--config needs a value".into()]),
            },
            Some(s) if s.starts_with("--config=") => config = Some(PathBuf::from(&s[9..])),
            Some("--check-config") => check = true,
            _ => rest.push(a.clone()),
        }
    }
    let Some(path) = config else {
        if check {
            return Err(vec!["--check-config needs --config FILE".into()]);
        }
        return Ok(Invocation {
            args: rest,
            file: None,
            check,
        });
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| vec![format!("--config {}: {e}", path.display())])?;
    let (mut args, file) = parse(&path, &text, usage).map_err(|errs| {
        errs.into_iter()
            .map(|(line, msg)| match line {
                Some(l) => format!("{}:{l}: {msg}", path.display()),
                None => format!("{}: {msg}", path.display()),
            })
            .collect::<Vec<_>>()
    })?;
    args.extend(rest);
    Ok(Invocation {
        args,
        file: Some(file),
        check,
    })
}

type Errors = Vec<(Option<usize>, String)>;

/// The line of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where top-level key `key` is set (before the first table header).
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with('[') {
            return None;
        }
        if let Some(after) = t.strip_prefix(key) {
            if after.trim_start().starts_with('=') {
                return Some(i + 1);
            }
        }
    }
    None
}

/// The long flags in `usage` and whether each takes a value (an upper-case placeholder
/// follows it: `--root DIR`).
fn flags(usage: &str) -> HashMap<String, bool> {
    let mut out = HashMap::new();
    for line in usage.lines() {
        let t = line.trim_start();
        let t = t.strip_prefix("-h, ").unwrap_or(t);
        let Some(rest) = t.strip_prefix("--") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let next = rest[name.len()..].split_whitespace().next().unwrap_or("");
        let placeholder = next.starts_with(|c: char| c.is_ascii_uppercase())
            && !next.chars().any(|c| c.is_ascii_lowercase());
        out.insert(name, placeholder);
    }
    out
}

/// Turns the file into flags and site specs.
fn parse(path: &Path, text: &str, usage: &str) -> Result<(Vec<OsString>, ConfigFile), Errors> {
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| toml_error(text, &e))?;
    let known = flags(usage);
    let mut errors = Errors::new();
    let mut args = Vec::new();
    let mut flag_lines = HashMap::new();
    for (key, value) in &table {
        if key == "site" {
            continue;
        }
        let line = line_of_key(text, key);
        let flag = key.replace('_', "-");
        if matches!(flag.as_str(), "config" | "check-config" | "help") {
            errors.push((line, format!("{key} cannot be set in the file")));
            continue;
        }
        let arg = |s: &str| OsString::from(format!("--{s}"));
        match (value, known.get(&flag)) {
            (toml::Value::Boolean(b), _) => {
                let negated = format!("no-{flag}");
                let positive = flag.strip_prefix("no-").map(str::to_string);
                match (known.get(&flag), known.get(&negated)) {
                    (Some(false), _) => {
                        if *b {
                            args.push(arg(&flag));
                        }
                    }
                    (_, Some(false)) => {
                        if !*b {
                            args.push(arg(&negated));
                        }
                    }
                    _ if positive.is_some() => {
                        errors.push((line, format!("unknown key {key:?}")));
                        continue;
                    }
                    _ => {
                        errors.push((line, format!("{key} is not a true/false setting")));
                        continue;
                    }
                }
            }
            (_, None) => {
                errors.push((line, format!("unknown key {key:?}")));
                continue;
            }
            (_, Some(false)) => {
                errors.push((line, format!("{key} takes true or false")));
                continue;
            }
            (toml::Value::Array(items), Some(true)) => {
                // A repeatable flag: `acme = ["a.example", "b.example"]`.
                for item in items {
                    match flag_value(&dir, key, item) {
                        Some(v) => args.extend([arg(&flag), v]),
                        None => {
                            errors.push((
                                line,
                                format!("{key}: each item must be a string or an integer"),
                            ));
                            break;
                        }
                    }
                }
            }
            (value, Some(true)) => match flag_value(&dir, key, value) {
                Some(v) => args.extend([arg(&flag), v]),
                None => {
                    errors.push((line, format!("{key} must be a string or an integer")));
                    continue;
                }
            },
        }
        if let Some(l) = line {
            flag_lines.insert(format!("--{flag}"), l);
        }
    }
    let sites = match toml::from_str::<SitesDoc>(text) {
        Ok(doc) => doc
            .site
            .iter()
            .filter_map(|s| check_site(text, &dir, s, &mut errors))
            .collect(),
        Err(e) => {
            errors.extend(toml_error(text, &e));
            Vec::new()
        }
    };
    check_names(&sites, &mut errors);
    if !errors.is_empty() {
        errors.sort_by_key(|(l, _)| l.unwrap_or(0));
        return Err(errors);
    }
    // With sites but no top-level root, the default (or first) site's root stands in
    // for the required --root.
    if !table.contains_key("root") {
        if let Some((_, s)) = sites
            .iter()
            .find(|s| s.1.names.is_empty())
            .or(sites.first())
        {
            args.insert(0, s.root.clone().into_os_string());
            args.insert(0, OsString::from("--root"));
        }
    }
    let file = ConfigFile {
        path: path.to_path_buf(),
        sites: sites.into_iter().map(|(_, s)| s).collect(),
        flag_lines,
    };
    Ok((args, file))
}

/// A string or integer value as a flag's argument (paths made relative to the file's
/// directory); None for other types.
fn flag_value(dir: &Path, key: &str, value: &toml::Value) -> Option<OsString> {
    match value {
        toml::Value::String(s) if PATH_KEYS.contains(&key) && s != "-" => {
            Some(dir.join(s).into_os_string())
        }
        toml::Value::String(s) => Some(OsString::from(s)),
        toml::Value::Integer(n) => Some(OsString::from(n.to_string())),
        _ => None,
    }
}

fn toml_error(text: &str, e: &toml::de::Error) -> Errors {
    let line = e.span().map(|s| line_at(text, s.start));
    vec![(line, e.message().trim().to_string())]
}

/// Two sites claiming one name, or two default sites.
fn check_names(sites: &[(usize, SiteSpec)], errors: &mut Errors) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut default: Option<usize> = None;
    for (line, s) in sites {
        if s.names.is_empty() {
            if let Some(first) = default.replace(*line) {
                errors.push((
                    Some(*line),
                    format!("a second default site (no host); the first is at line {first}"),
                ));
            }
        }
        for n in &s.names {
            if let Some(first) = seen.insert(n.to_ascii_lowercase(), *line) {
                errors.push((
                    Some(*line),
                    format!("host {n:?} is already the site's at line {first}"),
                ));
            }
        }
    }
}

#[derive(Deserialize)]
struct SitesDoc {
    #[serde(default)]
    site: Vec<Spanned<SiteToml>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Hosts {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteToml {
    host: Option<Hosts>,
    root: Spanned<String>,
    listing: Option<bool>,
    dotfiles: Option<bool>,
    follow_symlinks: Option<bool>,
    compress: Option<bool>,
    precompressed: Option<bool>,
    upload: Option<bool>,
    overwrite: Option<bool>,
    max_upload: Option<u64>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
    #[serde(default)]
    acme: bool,
    fallback: Option<Spanned<String>>,
    #[serde(default)]
    error_pages: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    headers: Vec<Spanned<HeadersToml>>,
    #[serde(default)]
    redirect: Vec<Spanned<RedirectToml>>,
    #[serde(default)]
    auth: Vec<Spanned<AuthToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadersToml {
    path: String,
    set: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedirectToml {
    from: String,
    to: String,
    status: Option<Spanned<u16>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthToml {
    path: String,
    htpasswd: String,
    #[serde(default = "default_realm")]
    realm: String,
}

fn default_realm() -> String {
    "Restricted".into()
}

/// Validates one `[[site]]`; `None` (with errors pushed) when it is unusable. The site's
/// line comes along for later checks.
fn check_site(
    text: &str,
    dir: &Path,
    site: &Spanned<SiteToml>,
    errors: &mut Errors,
) -> Option<(usize, SiteSpec)> {
    let at = |span: std::ops::Range<usize>| Some(line_at(text, span.start));
    let site_line = line_at(text, site.span().start);
    let s = site.get_ref();
    let before = errors.len();
    let names = match &s.host {
        None => Vec::new(),
        Some(Hosts::One(h)) => vec![h.clone()],
        Some(Hosts::Many(hs)) => hs.clone(),
    };
    for n in &names {
        if n.is_empty() || n.contains(['/', ' ', ':']) {
            errors.push((Some(site_line), format!("host {n:?} is not a host name")));
        }
    }
    let root = dir.join(s.root.get_ref());
    if !root.is_dir() {
        errors.push((
            at(s.root.span()),
            format!("root {}: not a directory", root.display()),
        ));
    }
    let tls = match (&s.tls_cert, &s.tls_key) {
        (Some(c), Some(k)) => {
            for f in [c, k] {
                if !dir.join(f.get_ref()).is_file() {
                    errors.push((at(f.span()), format!("{}: no such file", f.get_ref())));
                }
            }
            Some((dir.join(c.get_ref()), dir.join(k.get_ref())))
        }
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => {
            errors.push((at(x.span()), "tls_cert and tls_key go together".into()));
            None
        }
    };
    if s.acme {
        if names.is_empty() {
            errors.push((
                Some(site_line),
                "acme = true needs the site's host names".into(),
            ));
        } else if tls.is_some() {
            errors.push((
                Some(site_line),
                "acme = true and tls_cert: choose one".into(),
            ));
        }
        if let Some(n) = names.iter().find(|n| n.starts_with('*')) {
            errors.push((
                Some(site_line),
                format!("acme = true cannot cover the wildcard {n:?} (it needs DNS-01)"),
            ));
        }
    }
    let under_root = |p: &Spanned<String>, errors: &mut Errors| -> Option<PathBuf> {
        match reactor_handlers::path::resolve(p.get_ref(), true) {
            Ok(r) if p.get_ref().starts_with('/') => Some(root.join(r.relative)),
            _ => {
                errors.push((
                    at(p.span()),
                    format!("{:?} is not a path under the root", p.get_ref()),
                ));
                None
            }
        }
    };
    if let Some(f) = &s.fallback {
        if let Some(file) = under_root(f, errors) {
            if !file.is_file() {
                errors.push((
                    at(f.span()),
                    format!("fallback {}: no such file", file.display()),
                ));
            }
        }
    }
    let mut error_pages = HashMap::new();
    for (code, page) in &s.error_pages {
        let Some(code) = code.parse::<u16>().ok().filter(|c| (400..600).contains(c)) else {
            errors.push((
                at(page.span()),
                format!("error_pages: {code:?} is not a status from 400 to 599"),
            ));
            continue;
        };
        if let Some(file) = under_root(page, errors) {
            match ErrorPage::load(&file) {
                Ok(p) => {
                    error_pages.insert(code, p);
                }
                Err(e) => errors.push((at(page.span()), format!("error page: {e}"))),
            }
        }
    }
    let mut headers = Vec::new();
    for h in &s.headers {
        let set = h
            .get_ref()
            .set
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match HeaderRule::new(&h.get_ref().path, set) {
            Ok(r) => headers.push(r),
            Err(e) => errors.push((at(h.span()), format!("headers: {e}"))),
        }
    }
    let mut redirects = Vec::new();
    for r in &s.redirect {
        let v = r.get_ref();
        let (status, line) = match &v.status {
            Some(s) => (*s.get_ref(), at(s.span())),
            None => (301, at(r.span())),
        };
        match Redirect::new(&v.from, &v.to, status) {
            Ok(r) => redirects.push(r),
            Err(e) => errors.push((line, e)),
        }
    }
    let mut auth = Vec::new();
    for a in &s.auth {
        let v = a.get_ref();
        if !v.path.starts_with('/') {
            errors.push((
                at(a.span()),
                format!("auth path {:?} must start with '/'", v.path),
            ));
            continue;
        }
        match Htpasswd::load(&dir.join(&v.htpasswd)) {
            Ok(users) if users.is_empty() => {
                errors.push((at(a.span()), format!("{}: no users", v.htpasswd)))
            }
            Ok(users) => auth.push(AuthArea {
                prefix: v.path.clone(),
                users: Arc::new(users),
                realm: v.realm.clone(),
            }),
            Err(e) => errors.push((at(a.span()), format!("htpasswd {e}"))),
        }
    }
    if errors.len() > before {
        return None;
    }
    Some((
        site_line,
        SiteSpec {
            names,
            root,
            listing: s.listing,
            dotfiles: s.dotfiles,
            follow_symlinks: s.follow_symlinks,
            compress: s.compress,
            precompressed: s.precompressed,
            upload: s.upload,
            overwrite: s.overwrite,
            max_upload: s.max_upload,
            tls,
            acme: s.acme,
            fallback: s.fallback.as_ref().map(|f| f.get_ref().clone()),
            error_pages,
            headers,
            redirects,
            auth,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const USAGE: &str = "\
Options:
  --root DIR               directory
  --bind ADDR:PORT         address
  --workers N              reactors
  --no-listing             do not list
  --dotfiles               serve dotfiles
  --acme NAME              repeatable
  -h, --help               help
";

    fn run(text: &str) -> Result<Vec<String>, Errors> {
        let (args, _) = parse(Path::new("/etc/x/site.toml"), text, USAGE)?;
        Ok(args.into_iter().map(|a| a.into_string().unwrap()).collect())
    }

    #[test]
    fn keys_become_flags() {
        let args = run("root = \"www\"\nworkers = 2\nlisting = false\ndotfiles = true\n").unwrap();
        assert_eq!(
            args,
            [
                "--dotfiles",
                "--no-listing",
                "--root",
                "/etc/x/www",
                "--workers",
                "2"
            ]
        );
        assert!(run("listing = true\ndotfiles = false\n")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn arrays_repeat_a_flag() {
        let args = run("acme = [\"a.test\", \"b.test\"]\n").unwrap();
        assert_eq!(args, ["--acme", "a.test", "--acme", "b.test"]);
        assert!(run("acme = [true]\n").is_err());
    }

    #[test]
    fn errors_have_lines() {
        let errs = run("root = \"www\"\n\nbogus = 1\nworkers = 1.5\n").unwrap_err();
        assert_eq!(errs[0].0, Some(3), "{errs:?}");
        assert_eq!(errs[1].0, Some(4), "{errs:?}");
        let errs = run("root = \"www\"\nworkers = \n").unwrap_err();
        assert_eq!(errs[0].0, Some(2), "{errs:?}");
        let errs = run("[[site]]\nroot = \"/nonexistent-dir\"\nlisting = 3\n").unwrap_err();
        assert_eq!(errs[0].0, Some(3), "{errs:?}");
        let errs = run("[[site]]\nroot = \"/nonexistent-dir\"\n").unwrap_err();
        assert_eq!(errs[0].0, Some(2), "{errs:?}");
    }
}
