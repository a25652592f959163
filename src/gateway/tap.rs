//! What only the bytes of an HTTP/1 connection show: hyper parses a head into a request and
//! loses a `#` in the target and a `Content-Length` that came with `Transfer-Encoding` (or
//! twice). The tap reads the same bytes as hyper, splits them into heads and bodies with a
//! small framing scanner, and queues one [`Wire`] per head for the request hyper hands over.
//!
//! The two framings agree on every message the gateway forwards: anything they could read
//! differently (two lengths, a length with chunked, an encoding other than chunked) is
//! refused by `admit`, and the connection closed. The scanner also says how long a head has
//! been arriving and how long the connection has been idle, for the slowloris and idle
//! timeouts.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::admit::Wire;

/// Heads scanned ahead of hyper (pipelined requests) kept at most; more is a client that
/// sends faster than it reads, and the connection is refused further heads (hyper's own
/// buffer limit stops it first).
const MAX_QUEUED: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between messages, or inside a head.
    Head,
    /// Inside a body of known length: this many bytes remain.
    Length(u64),
    /// A chunk-size line: the size so far, whether its digits ended (extensions follow).
    ChunkSize { size: u64, digits_done: bool },
    /// Chunk data: this many bytes remain, then CRLF.
    ChunkData(u64),
    /// The CRLF after chunk data.
    ChunkEnd,
    /// Trailer lines after the last chunk; whether the current line has any byte.
    Trailers { line_has_bytes: bool },
    /// The framing cannot be followed (the head is refused and the connection closed).
    Lost,
}

/// The framing scanner of one connection.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    /// The head so far, up to `keep` bytes (its size is counted past that).
    head: Vec<u8>,
    head_size: usize,
    keep: usize,
    /// The two bytes before the current one in the head (to see its end past `keep`).
    last: [u8; 2],
    heads: VecDeque<Wire>,
    /// When the head being read started (its first byte), and when the last byte came.
    head_started: Option<Instant>,
    last_byte: Instant,
}

impl Scanner {
    /// A scanner keeping heads of up to `max_head` bytes (larger ones are only measured).
    pub fn new(max_head: usize) -> Scanner {
        Scanner {
            state: State::Head,
            head: Vec::new(),
            head_size: 0,
            keep: max_head.saturating_add(1),
            last: [0; 2],
            heads: VecDeque::new(),
            head_started: None,
            last_byte: Instant::now(),
        }
    }

    /// The wire facts of the next head hyper parsed; `None` if the scanner has none (it
    /// lost the framing), which the caller refuses.
    pub fn next_head(&mut self) -> Option<Wire> {
        self.heads.pop_front()
    }

    /// When a head started arriving and has not ended yet.
    pub fn head_started(&self) -> Option<Instant> {
        self.head_started
    }

    /// When the last byte arrived.
    pub fn last_byte(&self) -> Instant {
        self.last_byte
    }

    /// Scans bytes as they are read.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if !bytes.is_empty() {
            self.last_byte = Instant::now();
        }
        while let Some((&b, rest)) = bytes.split_first() {
            match self.state {
                State::Head => {
                    if self.head_size == 0 && (b == b'\r' || b == b'\n') {
                        // Empty lines before a request line are skipped, as parsers do.
                        bytes = rest;
                        continue;
                    }
                    if self.head_size == 0 {
                        self.head_started = Some(self.last_byte);
                    }
                    // Copy up to the end of the head, or of the bytes.
                    let mut taken = 0;
                    let mut ended = false;
                    for &c in bytes {
                        taken += 1;
                        self.head_size += 1;
                        if self.head.len() < self.keep {
                            self.head.push(c);
                        }
                        let ends = c == b'\n' && (self.last[1] == b'\n' || self.last == *b"\n\r");
                        self.last = [self.last[1], c];
                        if ends {
                            ended = true;
                            break;
                        }
                    }
                    bytes = bytes.get(taken..).unwrap_or_default();
                    if ended {
                        self.end_head();
                    }
                    continue;
                }
                State::Length(n) => {
                    let left = skip(&mut bytes, n);
                    self.state = if left == 0 { State::Head } else { State::Length(left) };
                    continue;
                }
                State::ChunkSize { size, digits_done } => {
                    self.state = match b {
                        b'\n' => {
                            if size == 0 {
                                State::Trailers { line_has_bytes: false }
                            } else {
                                State::ChunkData(size)
                            }
                        }
                        b'\r' => State::ChunkSize { size, digits_done: true },
                        _ if digits_done => State::ChunkSize { size, digits_done },
                        _ => match (b as char).to_digit(16) {
                            Some(d) => match size.checked_mul(16).and_then(|s| s.checked_add(u64::from(d))) {
                                Some(size) => State::ChunkSize { size, digits_done },
                                None => State::Lost,
                            },
                            // `;` extensions, or whitespace: the digits are done.
                            None => State::ChunkSize { size, digits_done: true },
                        },
                    };
                }
                State::ChunkData(n) => {
                    let left = skip(&mut bytes, n);
                    self.state = if left == 0 { State::ChunkEnd } else { State::ChunkData(left) };
                    continue;
                }
                State::ChunkEnd => {
                    if b == b'\n' {
                        self.state = State::ChunkSize { size: 0, digits_done: false };
                    }
                }
                State::Trailers { line_has_bytes } => {
                    self.state = match b {
                        b'\n' if !line_has_bytes => State::Head,
                        b'\n' => State::Trailers { line_has_bytes: false },
                        b'\r' => State::Trailers { line_has_bytes },
                        _ => State::Trailers { line_has_bytes: true },
                    };
                }
                State::Lost => return,
            }
            bytes = rest;
        }
    }

    fn end_head(&mut self) {
        let mut wire = Wire::from_raw(&self.head);
        wire.head_bytes = self.head_size;
        self.state = self.framing().unwrap_or(State::Lost);
        if self.heads.len() < MAX_QUEUED {
            self.heads.push_back(wire);
        } else {
            self.state = State::Lost;
        }
        self.head.clear();
        self.head_size = 0;
        self.last = [0; 2];
        self.head_started = None;
    }

    /// How the body after the head just read is framed; `None` when framings could
    /// disagree (and the head is refused).
    fn framing(&self) -> Option<State> {
        let mut length: Option<u64> = None;
        let mut lengths = 0;
        let mut chunked = false;
        let mut encodings = 0;
        for line in self.head.split(|&b| b == b'\n').skip(1) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
            let (name, value) = line.split_at(colon);
            let value = value.get(1..).unwrap_or_default().trim_ascii();
            if name.eq_ignore_ascii_case(b"content-length") {
                lengths += 1;
                length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                encodings += 1;
                chunked = value.eq_ignore_ascii_case(b"chunked");
            }
        }
        match (lengths, encodings) {
            (0, 0) => Some(State::Head),
            (1, 0) => length.map(|n| if n == 0 { State::Head } else { State::Length(n) }),
            (0, 1) if chunked => Some(State::ChunkSize { size: 0, digits_done: false }),
            _ => None,
        }
    }
}

/// Skips up to `n` body bytes of `bytes`; how many of the `n` remain.
fn skip(bytes: &mut &[u8], n: u64) -> u64 {
    let skipped = usize::try_from(n).unwrap_or(usize::MAX).min(bytes.len());
    *bytes = bytes.get(skipped..).unwrap_or_default();
    n - skipped as u64
}

/// A connection's bytes, scanned as they are read.
pub struct Tap<S> {
    inner: S,
    scanner: Rc<RefCell<Scanner>>,
}

impl<S> Tap<S> {
    pub fn new(inner: S, scanner: Rc<RefCell<Scanner>>) -> Tap<S> {
        Tap { inner, scanner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && let Some(read) = buf.filled().get(before..)
        {
            self.scanner.borrow_mut().feed(read);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::Scanner;

    fn heads(bytes: &[u8], split: usize) -> Vec<crate::admit::Wire> {
        let mut s = Scanner::new(16 * 1024);
        let (a, b) = bytes.split_at(split.min(bytes.len()));
        s.feed(a);
        s.feed(b);
        std::iter::from_fn(|| s.next_head()).collect()
    }

    #[test]
    fn pipelined_heads_are_found_past_bodies_of_every_framing() {
        let stream = b"\r\nPOST /a#f HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
                       PUT /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nGET /\r\n0\r\nT: 1\r\n\r\n\
                       GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
        for split in 0..stream.len() {
            let found = heads(stream, split);
            assert_eq!(found.len(), 3, "split at {split}: {found:?}");
            assert!(found[0].fragment && found[0].length_lines == 1);
            assert!(!found[1].fragment && found[1].length_lines == 0);
            assert_eq!(found[2].head_bytes, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n".len());
        }
    }

    #[test]
    fn ambiguous_framing_stops_the_scan() {
        let stream = b"PUT /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
        let found = heads(stream, 7);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].length_lines, 1);
    }

    #[test]
    fn a_head_past_the_kept_size_is_measured_to_its_end() {
        let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\nGET /next HTTP/1.1\r\n\r\n", "a".repeat(100));
        let mut s = Scanner::new(40);
        s.feed(big.as_bytes());
        let first = s.next_head().unwrap();
        assert_eq!(first.head_bytes, big.find("GET /next").unwrap());
        assert_eq!(s.next_head().unwrap().head_bytes, "GET /next HTTP/1.1\r\n\r\n".len());
    }
}
