//! The upload's [`BodySink`]: the body (a PUT's file, or a form's parts through the
//! streaming multipart parser) turned into the [`Writer`]'s ops, counted against the limit.

use reactor::request_body::{BodyError, BodySink};
use reactor::Response;

use super::writer::{Answer, Op, Writer};
use crate::multipart::{Event, Parser};
use crate::path::{file_name, PathError};

/// Bytes gathered before they are queued as one write.
const CHUNK: usize = 256 << 10;

/// Most files one form may hold (each is a temporary file until the form is complete).
pub const MAX_FILES: usize = 1000;

/// A `multipart/form-data` body being taken apart.
pub struct Form {
    parser: Parser,
    /// The current part is a file being written.
    in_file: bool,
    /// Files begun so far.
    files: usize,
}

impl Form {
    /// A form whose parts are delimited by `boundary`.
    pub fn new(boundary: &str) -> Self {
        Form {
            parser: Parser::new(boundary),
            in_file: false,
            files: 0,
        }
    }
}

/// Where an upload's body goes.
pub struct UploadSink {
    writer: Writer,
    /// `None`: the body is the one file (PUT).
    form: Option<Form>,
    /// Bytes not yet queued (less than [`CHUNK`]).
    pending: Vec<u8>,
    /// Body bytes so far, and the most allowed.
    seen: u64,
    max: u64,
    /// The answer once all is stored.
    answer: Option<Answer>,
    /// `end` was called.
    ended: bool,
}

impl UploadSink {
    /// A sink writing through `writer`, the body being a form or (`None`) the file itself.
    pub fn new(writer: Writer, form: Option<Form>, max: u64, answer: Answer) -> Self {
        UploadSink {
            writer,
            form,
            pending: Vec::new(),
            seen: 0,
            max,
            answer: Some(answer),
            ended: false,
        }
    }
}

/// Adds `bytes` to the file being written, queueing a write once [`CHUNK`] have gathered.
fn append(writer: &Writer, pending: &mut Vec<u8>, bytes: &[u8]) {
    pending.extend_from_slice(bytes);
    if pending.len() >= CHUNK {
        writer.push(Op::Write(std::mem::take(pending)));
    }
}

/// Queues what is left of the file being written and completes it.
fn close(writer: &Writer, pending: &mut Vec<u8>) {
    if !pending.is_empty() {
        writer.push(Op::Write(std::mem::take(pending)));
    }
    writer.push(Op::Close);
}

impl BodySink for UploadSink {
    fn data(&mut self, chunk: &[u8]) {
        self.seen += chunk.len() as u64;
        if self.seen > self.max {
            return self.writer.fail(too_large());
        }
        let UploadSink {
            writer,
            form,
            pending,
            ..
        } = self;
        let Some(form) = form else {
            return append(writer, pending, chunk);
        };
        let mut refused = None;
        let parsed = form.parser.feed(chunk, &mut |event| {
            if refused.is_some() {
                return;
            }
            match event {
                Event::Part(part) => match part.filename.as_deref() {
                    // Not a file, or no file chosen: skipped.
                    None | Some("") => form.in_file = false,
                    Some(_) if form.files >= MAX_FILES => {
                        let detail = "Too many files in one form.";
                        refused = Some(Response::error_with(413, detail));
                    }
                    Some(name) => match file_name(name, false) {
                        Ok(name) => {
                            writer.push(Op::Open(name.to_owned()));
                            form.in_file = true;
                            form.files += 1;
                        }
                        Err(e) => refused = Some(bad_name(e)),
                    },
                },
                Event::Data(bytes) if form.in_file => append(writer, pending, bytes),
                Event::PartEnd if form.in_file => {
                    close(writer, pending);
                    form.in_file = false;
                }
                Event::Data(_) | Event::PartEnd | Event::End => {}
            }
        });
        if let Err(e) = parsed {
            refused = Some(Response::error_with(400, &e.to_string()));
        }
        if let Some(r) = refused {
            self.writer.fail(r);
        }
    }

    fn wants_data(&mut self) -> bool {
        self.writer.wants_data()
    }

    fn end(&mut self, result: Result<(), BodyError>) {
        self.ended = true;
        if let Err(e) = result {
            let status = if e.status >= 400 { e.status } else { 400 };
            return self.writer.fail(Response::error_with(status, e.detail));
        }
        match &self.form {
            None => close(&self.writer, &mut self.pending),
            Some(form) => {
                if let Err(e) = form.parser.finish() {
                    return self.writer.fail(Response::error_with(400, &e.to_string()));
                }
                if form.files == 0 {
                    let r = Response::error_with(400, "The form holds no file.");
                    return self.writer.fail(r);
                }
            }
        }
        if let Some(answer) = self.answer.take() {
            self.writer.push(Op::Commit(answer));
        }
    }
}

impl Drop for UploadSink {
    /// A sink dropped without hearing the body's end (a server that never took it): its
    /// temporary files are removed all the same.
    fn drop(&mut self) {
        if !self.ended {
            log::error!("an upload's body sink was dropped before the body ended");
            self.writer.fail(Response::error(500));
        }
    }
}

/// The answer to a body over the limit.
pub fn too_large() -> Response {
    Response::error_with(413, "The upload is larger than this server accepts.")
}

/// The answer to a file name the path rules refuse.
pub fn bad_name(e: PathError) -> Response {
    match e {
        PathError::BadRequest => Response::error_with(400, "That file name is not allowed."),
        PathError::Hidden => {
            Response::error_with(403, "Names starting with '.' cannot be uploaded.")
        }
    }
}
