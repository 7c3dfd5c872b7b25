//! reactor-httpd's sites: each [`SiteSpec`] (or the command line's single root) built into
//! a [`Site`] of filters and handlers, and SIGHUP re-reading the configuration.
//!
//! A site's plugins come in one order: filters redirects → basic auth → headers → error
//! pages → compression (request sides in that order, response sides in reverse), handlers
//! uploads → static files → directory listing. Sites behind virtual hosts all have every
//! slot (so a reload fits the installed slots; one a site does not use holds a plugin that
//! declines); a lone site installed on the server has only the plugins it uses.

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

/// Which plugin slots a built site has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Every slot, unused ones holding a plugin that declines: for virtual hosts, whose
    /// slots a reload must fit.
    Fixed,
    /// Only the plugins the site uses: for a site installed on the server itself, where
    /// each unused one would cost a call per request.
    Used,
}

/// Builds the sites of `specs` (or the single one for `root` when there are none).
pub fn build_all(
    specs: &[SiteSpec],
    root: &str,
    d: &SiteDefaults,
    layout: Layout,
) -> Result<Vec<Site>, String> {
    if specs.is_empty() {
        return Ok(vec![
            build(&single(root, d), layout).map_err(|e| format!("--{e}"))?
        ]);
    }
    specs
        .iter()
        .map(|s| build(&s.clone().with_defaults(d), layout))
        .collect()
}

/// Builds one site (its settings already merged with the defaults).
pub fn build(spec: &SiteSpec, layout: Layout) -> Result<Site, String> {
    let mut root = FsRoot::new(&spec.root).map_err(|e| format!("root: {e}"))?;
    root.dotfiles = spec.dotfiles.unwrap_or(false);
    root.follow_symlinks = spec.follow_symlinks.unwrap_or(false);
    let compress = spec.compress.unwrap_or(true);
    let precompressed = spec.precompressed.unwrap_or(true);
    let cache =
        Arc::new(FileCache::new(1000, Duration::from_secs(1)).with_precompressed(precompressed));
    let compression = (compress || precompressed).then(|| {
        Box::new(Compression::new(cache.clone(), &root).on_the_fly(compress)) as Box<dyn Filter>
    });
    let mut files = StaticFiles::with_shared_cache(root.clone(), cache);
    if let Some(f) = &spec.fallback {
        files = files.with_fallback(f)?;
    }
    let uploads = spec.upload.unwrap_or(false);
    let listing = DirectoryListing::new(root.clone()).with_upload_form(uploads);
    let upload = uploads.then(|| {
        let upload = Upload::new(root)
            .overwrite(spec.overwrite.unwrap_or(false))
            .max_upload(spec.max_upload.unwrap_or(u64::MAX));
        Box::new(upload.on_change(listing.invalidator())) as Box<dyn Handler>
    });
    let listing = spec
        .listing
        .unwrap_or(true)
        .then(|| Box::new(listing) as Box<dyn Handler>);
    let filters: Vec<Option<Box<dyn Filter>>> = vec![
        (!spec.redirects.is_empty()).then(|| Box::new(Redirects(spec.redirects.clone())) as _),
        (!spec.auth.is_empty()).then(|| Box::new(BasicAuth::new(spec.auth.clone())) as _),
        (!spec.headers.is_empty()).then(|| Box::new(SetHeaders(spec.headers.clone())) as _),
        (!spec.error_pages.is_empty()).then(|| Box::new(ErrorPages(spec.error_pages.clone())) as _),
        compression,
    ];
    let handlers = vec![upload, Some(Box::new(files) as _), listing];
    Ok(Site {
        names: spec.names.clone(),
        filters: slots(filters, layout, || Box::new(Nothing)),
        handlers: slots(handlers, layout, || Box::new(Nothing)),
    })
}

/// The plugins of `used` laid out as `layout` says (`nothing` fills an unused slot).
fn slots<T: ?Sized>(
    used: Vec<Option<Box<T>>>,
    layout: Layout,
    nothing: impl Fn() -> Box<T>,
) -> Vec<Box<T>> {
    match layout {
        Layout::Fixed => used
            .into_iter()
            .map(|p| p.unwrap_or_else(&nothing))
            .collect(),
        Layout::Used => used.into_iter().flatten().collect(),
    }
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
