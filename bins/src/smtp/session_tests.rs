//! Tests of the SMTP session against scripted servers.

use super::super::client::Credentials;
use super::super::client::{DsnNotify, DsnReturn};
use super::super::{Mail, Message};
use super::*;
use std::io::Read;

/// A scripted server: canned reply bytes in, everything written out.
struct Scripted {
    replies: io::Cursor<Vec<u8>>,
    written: Vec<u8>,
    tls: bool,
    offers_tls: bool,
}

impl Scripted {
    fn new(replies: &str) -> Scripted {
        Scripted {
            replies: io::Cursor::new(replies.replace('\n', "\r\n").into_bytes()),
            written: Vec::new(),
            tls: false,
            offers_tls: true,
        }
    }
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte at a time, to exercise reassembly of lines.
        let n = buf.len().min(1);
        self.replies.read(&mut buf[..n])
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for &mut Scripted {
    fn start_tls(&mut self) -> Result<(), Error> {
        if !self.offers_tls {
            return Err(Error::other(Stage::Tls, "handshake failed"));
        }
        self.tls = true;
        Ok(())
    }
    fn is_encrypted(&self) -> bool {
        self.tls
    }
    fn set_deadline(&mut self, _: Instant) {}
}

fn mail() -> Mail {
    Mail {
        from: "Me <me@example.com>".into(),
        to: vec!["a@x.org".into(), "bad@x.org".into()],
        bcc: vec!["c@x.org".into()],
        subject: "Hi".into(),
        text: Some("hello\n.\n".into()),
        ..Mail::default()
    }
}

fn config(tls: TlsMode) -> Config {
    let mut c = Config::new("mx.example.com", 587);
    c.tls = tls;
    c.helo_name = Some("client.test".into());
    c.credentials = Some(Credentials::new("me", "s3cret"));
    c
}

const EHLO_TLS: &str = "250-mx.example.com\n250-PIPELINING\n250-STARTTLS\n250 SIZE 1000\n";
const EHLO_AUTH: &str = "250-mx.example.com\n250-AUTH LOGIN PLAIN\n250 8BITMIME\n";
const TAIL: &str = "250 ok\n250 ok\n550 no such user\n250 ok\n354 go\n250 queued as 42\n221 bye\n";

fn run(server: &mut Scripted, config: &Config) -> (Result<SendReport, Error>, String) {
    let m = mail();
    let msg = Message::new(&m).unwrap();
    let result = deliver(&mut *server, config, &msg);
    (
        result,
        String::from_utf8_lossy(&server.written).into_owned(),
    )
}

#[test]
fn full_starttls_auth_conversation() {
    let script = format!("220 hi\n{EHLO_TLS}220 go ahead\n{EHLO_AUTH}235 ok\n{TAIL}");
    let mut server = Scripted::new(&script);
    let (result, sent) = run(&mut server, &config(TlsMode::StartTls));
    let report = result.unwrap();
    assert_eq!(report.accepted, ["a@x.org", "c@x.org"]);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].0, "bad@x.org");
    assert_eq!(report.rejected[0].1.code, 550);
    assert_eq!(report.reply.to_string(), "250 queued as 42");
    let commands: Vec<&str> = sent.split("\r\n").filter(|l| l.len() < 60).collect();
    let plain = STANDARD.encode("\0me\0s3cret");
    assert_eq!(
        &commands[..8],
        [
            "EHLO client.test",
            "STARTTLS",
            "EHLO client.test",
            &format!("AUTH PLAIN {plain}") as &str,
            "MAIL FROM:<me@example.com>",
            "RCPT TO:<a@x.org>",
            "RCPT TO:<bad@x.org>",
            "RCPT TO:<c@x.org>",
        ]
    );
    assert!(sent.contains("DATA\r\n"));
    // Dot-stuffed body, then the terminator and QUIT.
    assert!(sent.contains("\r\nhello\r\n..\r\n"));
    assert!(sent.ends_with("\r\n.\r\nQUIT\r\n"));
    assert!(
        !sent.contains("c@x.org>\r\nTo"),
        "Bcc must stay out of the headers"
    );
}

#[test]
fn helo_fallback_and_login_over_plaintext_when_allowed() {
    let script =
        format!("220 hi\n500 what\n250 hello\n334 VXNlcm5hbWU6\n334 UGFzc3dvcmQ6\n235 ok\n{TAIL}");
    let mut server = Scripted::new(&script);
    let mut c = config(TlsMode::None);
    c.allow_plaintext_auth = true;
    c.credentials.as_mut().unwrap().mechanism = Some(AuthMechanism::Login);
    let (result, sent) = run(&mut server, &c);
    result.unwrap();
    assert!(sent.starts_with("EHLO client.test\r\nHELO client.test\r\nAUTH LOGIN\r\n"));
    assert!(sent.contains(&format!("\r\n{}\r\n", STANDARD.encode("s3cret"))));
}

#[test]
fn refuses_auth_without_tls() {
    let mut server = Scripted::new(&format!("220 hi\n{EHLO_AUTH}221 bye\n"));
    let (result, sent) = run(&mut server, &config(TlsMode::None));
    let err = result.unwrap_err();
    assert_eq!(err.stage, Stage::Auth);
    assert!(!sent.contains("AUTH"), "{sent}");
}

#[test]
fn missing_starttls_is_a_tls_error() {
    let mut server = Scripted::new(&format!("220 hi\n{EHLO_AUTH}"));
    let (result, _) = run(&mut server, &config(TlsMode::StartTls));
    assert_eq!(result.unwrap_err().stage, Stage::Tls);
}

#[test]
fn errors_carry_stage_command_and_reply() {
    let cases = [
        ("554 go away\n", Stage::Greeting, "554 go away"),
        (
            "220 hi\n250 ok\n535 5.7.8 bad credentials\n221 bye\n",
            Stage::Auth,
            "AUTH PLAIN failed: 535",
        ),
        (
            "220 hi\n250 ok\n235 ok\n553 sender refused\n221 bye\n",
            Stage::Mail,
            "MAIL FROM:<me@example.com> failed: 553",
        ),
        (
            "220 hi\n250 ok\n235 ok\n250 ok\n550 a\n550 b\n550 c\n221 bye\n",
            Stage::Rcpt,
            "RCPT TO:<c@x.org> failed: 550 c",
        ),
        (
            "220 hi\n250 ok\n235 ok\n250 ok\n250 ok\n250 ok\n250 ok\n451 later\n221 bye\n",
            Stage::Data,
            "DATA failed: 451",
        ),
        (
            "220 hi\n250 ok\n235 ok\n250 ok\n250 ok\n250 ok\n250 ok\n354 go\n552 too big\n",
            Stage::Data,
            "552 too big",
        ),
        (
            "220 hi\n250 ok\n235 ok\n250 ok\n250 ok\n250 ok\n250 ok\n354 go\n",
            Stage::Data,
            "connection closed",
        ),
        (
            "220 hi\n250 ok\n235 ok\n250 ok\n250 ok\n250 ok\n250 ok\n354 go\nXYZ\n",
            Stage::Data,
            "malformed",
        ),
    ];
    for (script, stage, text) in cases {
        let mut server = Scripted::new(script);
        let mut c = config(TlsMode::None);
        c.allow_plaintext_auth = true;
        c.credentials.as_mut().unwrap().mechanism = Some(AuthMechanism::Plain);
        let (result, sent) = run(&mut server, &c);
        let err = result.unwrap_err();
        assert_eq!(err.stage, stage, "{err}");
        assert!(err.to_string().contains(text), "{err} lacks {text}");
        assert!(!err.to_string().contains("s3cret"));
        if err.reply().is_some() && stage != Stage::Data {
            assert!(sent.ends_with("QUIT\r\n"), "{sent}");
        }
    }
}

#[test]
fn xoauth2_error_challenge_gets_an_empty_answer() {
    let script =
        "220 hi\n250-mx\n250 AUTH XOAUTH2\n334 eyJzdGF0dXMiOiI0MDEifQ==\n535 bad token\n221 bye\n";
    let mut server = Scripted::new(script);
    let mut c = config(TlsMode::None);
    c.allow_plaintext_auth = true;
    c.credentials = Some(Credentials {
        user: "me@example.com".into(),
        secret: "tok".into(),
        mechanism: Some(AuthMechanism::XOAuth2),
    });
    let (result, sent) = run(&mut server, &c);
    let err = result.unwrap_err();
    assert_eq!(err.stage, Stage::Auth);
    assert!(
        err.to_string()
            .contains("AUTH XOAUTH2 failed: 535 bad token"),
        "{err}"
    );
    let token = STANDARD.encode("user=me@example.com\x01auth=Bearer tok\x01\x01");
    assert!(
        sent.contains(&format!("AUTH XOAUTH2 {token}\r\n\r\nQUIT\r\n")),
        "{sent}"
    );
}

#[test]
fn size_is_declared_and_enforced() {
    let m = mail();
    let size = Message::new(&m).unwrap().encoded_size().unwrap();
    let ehlo = |limit: u64| format!("220 hi\n250-mx\n250-AUTH PLAIN\n250 SIZE {limit}\n");
    let mut c = config(TlsMode::None);
    c.allow_plaintext_auth = true;

    let mut server = Scripted::new(&format!("{}235 ok\n{TAIL}", ehlo(size)));
    let (result, sent) = run(&mut server, &c);
    result.unwrap();
    assert!(sent.contains(&format!("MAIL FROM:<me@example.com> SIZE={size}\r\n")));

    let mut server = Scripted::new(&format!("{}235 ok\n", ehlo(size - 1)));
    let (result, sent) = run(&mut server, &c);
    let err = result.unwrap_err();
    assert_eq!(err.stage, Stage::Mail);
    assert!(err.to_string().contains("server accepts at most"), "{err}");
    assert!(!sent.contains("MAIL FROM"));
}

#[test]
fn helo_name_cannot_inject_commands() {
    let mut server = Scripted::new("220 hi\n");
    let mut c = config(TlsMode::None);
    c.helo_name = Some("x\r\nRSET".into());
    let (result, sent) = run(&mut server, &c);
    assert_eq!(result.unwrap_err().stage, Stage::Input);
    assert!(sent.is_empty());
}

#[test]
fn multiline_replies_and_implicit_tls() {
    let script = format!("220-first\n220 second\n{EHLO_AUTH}235 ok\n{TAIL}");
    let mut server = Scripted::new(&script);
    let (result, sent) = run(&mut server, &config(TlsMode::Implicit));
    assert!(server.tls);
    result.unwrap();
    assert!(sent.starts_with("EHLO client.test\r\nAUTH PLAIN "));
}

#[test]
fn pipelined_envelopes_dsn_and_rset_between_messages() {
    let ok = "250 ok\n";
    let first = format!("{ok}{ok}550 no such user\n{ok}354 go\n250 queued 1\n");
    let second = format!("{ok}{ok}{ok}{ok}354 go\n250 queued 2\n");
    let script = format!("220 hi\n250-mx\n250-PIPELINING\n250 DSN\n{first}{ok}{second}221 bye\n");
    let mut server = Scripted::new(&script);
    let mut c = config(TlsMode::None);
    c.credentials = None;
    c.dsn_notify = Some(DsnNotify::parse("failure").unwrap());
    c.dsn_return = Some(DsnReturn::Headers);
    let m = mail();
    let msg = Message::new(&m).unwrap();
    let results = deliver_all(&mut server, &c, &[&msg, &msg]);
    let sent = String::from_utf8_lossy(&server.written).into_owned();
    assert_eq!(results.len(), 2);
    let first = results[0].as_ref().unwrap();
    assert_eq!(first.accepted, ["a@x.org", "c@x.org"]);
    assert_eq!(first.rejected[0].0, "bad@x.org");
    assert_eq!(
        results[1].as_ref().unwrap().reply.to_string(),
        "250 queued 2"
    );
    let envelope = "MAIL FROM:<me@example.com> RET=HDRS\r\n\
                    RCPT TO:<a@x.org> NOTIFY=FAILURE\r\n\
                    RCPT TO:<bad@x.org> NOTIFY=FAILURE\r\n\
                    RCPT TO:<c@x.org> NOTIFY=FAILURE\r\nDATA\r\n";
    assert_eq!(sent.matches(envelope).count(), 2, "{sent}");
    assert!(sent.contains("\r\n.\r\nRSET\r\nMAIL FROM"), "{sent}");
    assert!(sent.ends_with("\r\n.\r\nQUIT\r\n"), "{sent}");
}

#[test]
fn pipelined_refusals_keep_the_dialogue_in_step() {
    // MAIL refused: RCPT and DATA replies are still read, then QUIT.
    let script =
        "220 hi\n250-mx\n250 PIPELINING\n553 bad sender\n503 a\n503 b\n503 c\n503 no\n221 bye\n";
    let mut server = Scripted::new(script);
    let mut c = config(TlsMode::None);
    c.credentials = None;
    let (result, sent) = run(&mut server, &c);
    let err = result.unwrap_err();
    assert_eq!(err.stage, Stage::Mail);
    assert!(err.to_string().contains("553 bad sender"), "{err}");
    assert!(sent.ends_with("DATA\r\nQUIT\r\n"), "{sent}");
    // Every recipient refused but DATA accepted: an empty DATA ends it.
    let script =
        "220 hi\n250-mx\n250 PIPELINING\n250 ok\n550 a\n550 b\n550 c\n354 go\n554 no\n221 bye\n";
    let mut server = Scripted::new(script);
    let (result, sent) = run(&mut server, &c);
    assert_eq!(result.unwrap_err().stage, Stage::Rcpt);
    assert!(sent.ends_with("DATA\r\n.\r\nQUIT\r\n"), "{sent}");
}
