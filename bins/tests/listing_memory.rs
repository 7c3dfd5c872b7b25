//! A big directory listing (over 20,000 entries) is rendered once per sort order and its
//! bytes shared by every client (issue 18, item 5): 30 clients that ask for a 25,000-entry
//! listing and stall hold one or a few copies, not 30. Measured on the real binary's RSS.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Httpd, TempDir};

const ENTRIES: usize = 25_000;
const CLIENTS: usize = 30;

#[test]
fn stalled_clients_of_a_big_listing_share_one_rendering() {
    let tmp = TempDir::new("reactor-big-listing");
    let dir = tmp.join("big");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..ENTRIES {
        std::fs::write(
            dir.join(format!("file-{i:05}-with-a-longish-name.txt")),
            b"",
        )
        .unwrap();
    }
    let h = Httpd::start(&tmp.0, &[]);
    // One whole listing first: its size, and the server's lazily made state exists.
    let page = h.get("/big/");
    assert_eq!(page.status, 200);
    let page_kib = page.body.len() as u64 / 1024;
    assert!(page.text().contains("file-24999-with-a-longish-name.txt"));
    let before = h.rss_kib();

    // Clients that ask and then never read: each answer stalls with part of its body unsent
    // (the server holds the body until the last byte is written).
    let request = b"GET /big/ HTTP/1.1\r\nHost: t\r\n\r\n";
    let stalled: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| {
            let mut s = TcpStream::connect(h.addr).unwrap();
            s.write_all(request).unwrap();
            s
        })
        .collect();
    // Every answer has started (its body exists in the server) once a byte can be peeked.
    for s in &stalled {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut b = [0; 1];
        assert_eq!(s.peek(&mut b).unwrap(), 1);
    }
    std::thread::sleep(Duration::from_millis(300));
    let during = h.rss_kib();
    let grown = during.saturating_sub(before);
    println!(
        "{CLIENTS} stalled clients of a {ENTRIES}-entry listing ({page_kib} KiB): RSS {before} → \
         {during} KiB (+{grown} KiB)"
    );
    // Thirty private copies would be 30 pages and more (160 MiB before the fix); clients
    // that ask at once wait for one read and rendering. Allow a few pages for the
    // allocator's slack.
    assert!(
        grown < 6 * page_kib + 8 * 1024,
        "RSS grew {grown} KiB for {CLIENTS} stalled clients of a {page_kib} KiB listing"
    );

    // A stalled client that reads at last gets the whole listing.
    let mut s = stalled.into_iter().next().unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    while got.len() < page.body.len() {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{}", &text[..40]);
}
