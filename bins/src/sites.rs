//! reactor-httpd's sites: each [`SiteSpec`] (or the command line's single root) built into
//! a [`Site`] of filters and handlers, and SIGHUP re-reading the configuration.
//!
//! Every site has the same layout (so a reload fits the installed slots): filters
//! redirects → basic auth → headers → error pages → compression (request sides in that
//! order, response sides in reverse), handlers uploads → static files → directory listing
//! (a slot a site does not use holds a handler that declines).

use std::sync::Arc;
use std::time::Duration;

use reactor::{Context, Filter, Handler, Reply, Request};
use reactor_handlers::basic_auth::BasicAuth;
use reactor_handlers::compress::Compression;
use reactor_handlers::error_pages::ErrorPages;
use reactor_handlers::file_cache::FileCache;
use reactor_handlers::redirect::Redirects;
use reactor_handlers::set_headers::SetHeaders;
use reactor_handlers::upload::Upload;
use reactor_handlers::vhost::{Site, VirtualHosts};
use reactor_handlers::{DirectoryListing, FsRoot, StaticFiles};

use crate::site_config::SiteSpec;

/// The command line's settings that sites inherit unless they set their own.
#[derive(Debug, Clone)]
pub struct SiteDefaults {
    /// List directories without index.html.
    pub listing: bool,
    /// Serve names starting with '.'.
    pub dotfiles: bool,
    /// Follow symlinks out of the root.
    pub follow_symlinks: bool,
    /// Compress on the fly.
    pub compress: bool,
    /// Serve precompressed siblings.
    pub precompressed: bool,
    /// Take uploads (PUT, and form POST to a directory).
    pub upload: bool,
    /// Uploads replace existing files.
    pub overwrite: bool,
    /// The largest upload body in bytes.
    pub max_upload: u64,
}

/// A filter or handler slot a site leaves empty.
struct Nothing;

impl Filter for Nothing {}

impl Handler for Nothing {
    fn handle(&self, _req: &mut Request, _cx: &mut Context<'_>) -> Reply {
        Reply::Decline
    }
}

/// The default site serving `root` with the command line's settings (no config file, or
/// one without `[[site]]`).
pub fn single(root: &str, d: &SiteDefaults) -> SiteSpec {
    SiteSpec {
        names: Vec::new(),
        root: root.into(),
        listing: None,
        dotfiles: None,
        follow_symlinks: None,
        compress: None,
        precompressed: None,
        upload: None,
        overwrite: None,
        max_upload: None,
        tls: None,
        acme: false,
        fallback: None,
        error_pages: Default::default(),
        headers: Vec::new(),
        redirects: Vec::new(),
        auth: Vec::new(),
    }
    .with_defaults(d)
}

trait WithDefaults {
    fn with_defaults(self, d: &SiteDefaults) -> Self;
}

impl WithDefaults for SiteSpec {
    fn with_defaults(mut self, d: &SiteDefaults) -> Self {
        self.listing.get_or_insert(d.listing);
        self.dotfiles.get_or_insert(d.dotfiles);
        self.follow_symlinks.get_or_insert(d.follow_symlinks);
        self.compress.get_or_insert(d.compress);
        self.precompressed.get_or_insert(d.precompressed);
        self.upload.get_or_insert(d.upload);
        self.overwrite.get_or_insert(d.overwrite);
        self.max_upload.get_or_insert(d.max_upload);
        self
    }
}

/// Builds the sites of `specs` (or the single one for `root` when there are none).
pub fn build_all(specs: &[SiteSpec], root: &str, d: &SiteDefaults) -> Result<Vec<Site>, String> {
    if specs.is_empty() {
        return Ok(vec![build(&single(root, d)).map_err(|e| format!("--{e}"))?]);
    }
    specs
        .iter()
        .map(|s| build(&s.clone().with_defaults(d)))
        .collect()
}

/// Builds one site (its settings already merged with the defaults).
pub fn build(spec: &SiteSpec) -> Result<Site, String> {
    let mut root = FsRoot::new(&spec.root).map_err(|e| format!("root: {e}"))?;
    root.dotfiles = spec.dotfiles.unwrap_or(false);
    root.follow_symlinks = spec.follow_symlinks.unwrap_or(false);
    let compress = spec.compress.unwrap_or(true);
    let precompressed = spec.precompressed.unwrap_or(true);
    let cache =
        Arc::new(FileCache::new(1000, Duration::from_secs(1)).with_precompressed(precompressed));
    let compression: Box<dyn Filter> = if compress || precompressed {
        Box::new(Compression::new(cache.clone(), &root).on_the_fly(compress))
    } else {
        Box::new(Nothing)
    };
    let mut files = StaticFiles::with_shared_cache(root.clone(), cache);
    if let Some(f) = &spec.fallback {
        files = files.with_fallback(f)?;
    }
    let uploads = spec.upload.unwrap_or(false);
    let listing = DirectoryListing::new(root.clone()).with_upload_form(uploads);
    let upload: Box<dyn Handler> = if uploads {
        let upload = Upload::new(root)
            .overwrite(spec.overwrite.unwrap_or(false))
            .max_upload(spec.max_upload.unwrap_or(u64::MAX));
        Box::new(upload.on_change(listing.invalidator()))
    } else {
        Box::new(Nothing)
    };
    let listing: Box<dyn Handler> = if spec.listing.unwrap_or(true) {
        Box::new(listing)
    } else {
        Box::new(Nothing)
    };
    Ok(Site {
        names: spec.names.clone(),
        filters: vec![
            Box::new(Redirects(spec.redirects.clone())),
            Box::new(BasicAuth::new(spec.auth.clone())),
            Box::new(SetHeaders(spec.headers.clone())),
            Box::new(ErrorPages(spec.error_pages.clone())),
            compression,
        ],
        handlers: vec![upload, Box::new(files), listing],
    })
}

/// On SIGHUP, `rebuild()` re-reads the configuration and the sites are replaced; when it
/// fails the error is logged and the running sites stay. `notify` is told each phase
/// (`RELOADING=1`, then `READY=1`) for systemd.
pub fn reload_on_sighup(
    hosts: VirtualHosts,
    rebuild: impl Fn() -> Result<Vec<Site>, String> + Send + 'static,
    notify: fn(&str),
) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            for _ in signals.forever() {
                notify("RELOADING=1");
                match rebuild().and_then(|sites| hosts.replace(sites)) {
                    Ok(()) => log::warn!("configuration reloaded"),
                    Err(e) => log::error!("reload failed, keeping the running configuration: {e}"),
                }
                notify("READY=1");
            }
        })?;
    Ok(())
}
