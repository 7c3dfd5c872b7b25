//! The state the session keeps per open stream.

/// One open stream (client-initiated). A stream leaves the session's map once both
/// directions are closed or it is reset.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    /// The client may still send DATA (no END_STREAM yet).
    pub recv_open: bool,
    /// We may still send (no END_STREAM or reset yet).
    pub send_open: bool,
    /// A final (non-1xx) response head went out.
    pub headers_sent: bool,
    /// The request was HEAD: the response carries no DATA.
    pub head: bool,
    /// The application saw this stream's request (so it hears of its reset).
    pub known: bool,
    /// Bytes we may still send on this stream (may go negative after SETTINGS).
    pub send_window: i64,
    /// Bytes the client may still send on this stream.
    pub recv_window: i64,
    /// Request body bytes the application released but we have not yet announced.
    pub recv_unacked: u32,
    /// Request body bytes delivered to the application and not yet released.
    pub held: u64,
    /// The request's `content-length`, checked against DATA.
    pub content_length: Option<u64>,
    /// Request body bytes received.
    pub received: u64,
    /// The application offered more than the windows allowed and waits for them.
    pub blocked: bool,
    /// Session clock when this stream last sent DATA (or was opened).
    pub last_progress: u64,
}

impl Stream {
    pub fn new(send_window: u32, recv_window: u32, now: u64) -> Self {
        Stream {
            recv_open: true,
            send_open: true,
            headers_sent: false,
            head: false,
            known: false,
            send_window: send_window as i64,
            recv_window: recv_window as i64,
            recv_unacked: 0,
            held: 0,
            content_length: None,
            received: 0,
            blocked: false,
            last_progress: now,
        }
    }
}
