//! The SMTP reply parser and EHLO capability reader on arbitrary server
//! bytes, fed in arbitrary pieces: no panic; every reply within the caps;
//! the same replies whatever the split; AUTH list capped and duplicate-free.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactor_bins::smtp::reply::{MAX_AUTH_MECHANISMS, MAX_LINE, MAX_REPLY_BYTES, MAX_REPLY_LINES};
use reactor_bins::smtp::{Capabilities, Reply, ReplyError, ReplyParser};

/// Feeds `data` in pieces of `step` bytes; every reply, then the error if any.
fn parse(data: &[u8], step: usize) -> (Vec<Reply>, Option<ReplyError>) {
    let mut parser = ReplyParser::new();
    let mut replies = Vec::new();
    for piece in data.chunks(step.max(1)) {
        parser.push(piece);
        loop {
            match parser.next_reply() {
                Ok(Some(reply)) => replies.push(reply),
                Ok(None) => break,
                Err(e) => return (replies, Some(e)),
            }
        }
    }
    (replies, None)
}

fuzz_target!(|input: &[u8]| {
    let Some((&step, data)) = input.split_first() else {
        return;
    };
    let (whole, whole_err) = parse(data, data.len());
    let (split, split_err) = parse(data, usize::from(step % 16) + 1);
    assert_eq!(whole, split);
    assert_eq!(whole_err, split_err);
    for reply in &whole {
        assert!((200..600).contains(&reply.code));
        assert!(!reply.lines.is_empty() && reply.lines.len() <= MAX_REPLY_LINES);
        let bytes: usize = reply.lines.iter().map(|l| l.len()).sum();
        assert!(bytes <= MAX_REPLY_BYTES * 3, "{bytes}");
        assert!(reply.lines.iter().all(|l| l.len() <= MAX_LINE * 3));
        let caps = Capabilities::from_ehlo(reply);
        assert!(caps.auth.len() <= MAX_AUTH_MECHANISMS + 3);
        let mut unique = caps.auth.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), caps.auth.len());
    }
});
