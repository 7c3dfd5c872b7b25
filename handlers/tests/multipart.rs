//! The streaming multipart parser against a real client: curl uploads three files (and a
//! field) over a real socket, with Content-Length and with chunked framing; each part is
//! written to disk as it arrives and compared byte for byte. The request is read by
//! blocking I/O on a thread, the body de-framed with the core's `BodyDecoder`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use reactor::body::BodyDecoder;
use reactor::parse::{parse_head, HttpError, Limits};
use reactor_handlers::multipart::{boundary, Event, Parser};

const READ: usize = 16 * 1024;

fn http(e: HttpError) -> io::Error {
    io::Error::other(format!("{} {}", e.status, e.detail))
}

/// Reads one request, writes each part to `dir/<field name>`; returns the largest piece
/// of body the parser passed on at once.
fn receive(mut stream: TcpStream, dir: &Path) -> io::Result<usize> {
    let peer = stream.peer_addr()?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; READ];
    let limits = Limits {
        max_body: u64::MAX,
        ..Limits::default()
    };
    let (req, used) = loop {
        let n = stream.read(&mut chunk)?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(found) = parse_head(&buf, &limits, peer).map_err(http)? {
            break found;
        }
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    };
    if req.headers.has_token("expect", "100-continue") {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let b = req
        .header("content-type")
        .and_then(boundary)
        .ok_or(io::ErrorKind::InvalidData)?;
    let mut parser = Parser::new(&b);
    let mut decoder = BodyDecoder::new(req.framing(), u64::MAX);
    let mut file: Option<File> = None;
    let mut largest = 0;
    let mut failure: Option<io::Error> = None;
    let mut pending = buf[used..].to_vec();
    let mut body = Vec::with_capacity(READ);
    loop {
        body.clear();
        let took = decoder.decode(&pending, &mut body).map_err(http)?;
        pending.drain(..took);
        parser
            .feed(&body, &mut |event| {
                let step = match event {
                    Event::Part(part) => File::create(dir.join(&part.name)).map(|f| file = Some(f)),
                    Event::Data(bytes) => {
                        largest = largest.max(bytes.len());
                        file.as_mut().map_or(Ok(()), |f| f.write_all(bytes))
                    }
                    Event::PartEnd | Event::End => {
                        file = None;
                        Ok(())
                    }
                };
                if let Err(e) = step {
                    failure.get_or_insert(e);
                }
            })
            .map_err(io::Error::other)?;
        if let Some(e) = failure.take() {
            return Err(e);
        }
        if decoder.is_done() {
            break;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        pending.extend_from_slice(&chunk[..n]);
    }
    parser.finish().map_err(io::Error::other)?;
    stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")?;
    Ok(largest)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("reactor-multipart-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn upload(chunked: bool) {
    let src = scratch(&format!("src-{chunked}"));
    let dst = scratch(&format!("dst-{chunked}"));
    // Contents that look like boundaries, CRLFs at every chunk edge, and sheer size.
    let mut a: Vec<u8> = (0..1_048_579u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for i in (0..a.len() - 8).step_by(4093) {
        a[i..i + 4].copy_from_slice(b"\r\n--");
    }
    let b = b"\r\n--------------------------\r\n\r\n--".repeat(2000);
    let c = b"tiny".to_vec();
    for (name, data) in [("a.bin", &a), ("b.txt", &b), ("c.txt", &c)] {
        std::fs::write(src.join(name), data).unwrap();
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/upload", listener.local_addr().unwrap());
    let out_dir = dst.clone();
    let server = std::thread::spawn(move || receive(listener.accept()?.0, &out_dir));
    let mut curl = Command::new("curl");
    curl.args([
        "-sS",
        "--max-time",
        "60",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    ])
    .arg("-F")
    .arg("title=Holiday photos")
    .arg("-F")
    .arg(format!("a=@{}", src.join("a.bin").display()))
    .arg("-F")
    .arg(format!(
        "b=@{};type=text/plain",
        src.join("b.txt").display()
    ))
    .arg("-F")
    .arg(format!("c=@{}", src.join("c.txt").display()));
    if chunked {
        curl.args(["-H", "Transfer-Encoding: chunked"]);
    }
    let out = curl.arg(&url).output().expect("curl runs");
    let largest = server.join().unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "204", "{out:?}");
    assert_eq!(std::fs::read(dst.join("title")).unwrap(), b"Holiday photos");
    assert!(std::fs::read(dst.join("a")).unwrap() == a, "a.bin differs");
    assert!(std::fs::read(dst.join("b")).unwrap() == b, "b.txt differs");
    assert_eq!(std::fs::read(dst.join("c")).unwrap(), c);
    assert!(
        largest <= READ,
        "a piece of {largest} bytes: something was buffered"
    );
    let _ = std::fs::remove_dir_all(src);
    let _ = std::fs::remove_dir_all(dst);
}

#[test]
fn curl_uploads_three_files_with_content_length() {
    upload(false);
}

#[test]
fn curl_uploads_three_files_chunked() {
    upload(true);
}
