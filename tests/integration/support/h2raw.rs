//! A raw HTTP/2 (h2c, prior knowledge) client that speaks frames, for tests that need what a
//! well-behaved client library hides: reading the server's SETTINGS, opening more streams
//! than allowed, sending an oversized header list, and seeing GOAWAY and the close.
//!
//! Header blocks use only HPACK literals without indexing (and three static-table entries),
//! so no encoder state is needed.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::within;

pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const CONTINUATION: u8 = 0x9;
pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;
pub(crate) const ACK: u8 = 0x1;
/// SETTINGS_MAX_CONCURRENT_STREAMS.
pub(crate) const MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// SETTINGS_MAX_HEADER_LIST_SIZE.
pub(crate) const MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// One frame as read.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
    pub(crate) payload: Vec<u8>,
}

impl Frame {
    /// `(identifier, value)` pairs of a SETTINGS frame.
    pub(crate) fn settings(&self) -> Vec<(u16, u32)> {
        self.payload
            .chunks_exact(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect()
    }

    /// The `:status` of a HEADERS frame whose block starts with a static-table status
    /// (hyper's h2 always encodes 200/204/206/304/400/404/500 that way) or a literal one.
    pub(crate) fn status(&self) -> Option<u16> {
        let first = *self.payload.first()?;
        let indexed = match first {
            0x88 => Some(200),
            0x89 => Some(204),
            0x8a => Some(206),
            0x8b => Some(304),
            0x8c => Some(400),
            0x8d => Some(404),
            0x8e => Some(500),
            _ => None,
        };
        if indexed.is_some() {
            return indexed;
        }
        // Literal with a static name index 8..=14 (":status"), 3-digit value, not Huffman.
        let value = self.payload.get(2..5)?;
        if self.payload.get(1) == Some(&3) {
            return std::str::from_utf8(value).ok()?.parse().ok();
        }
        None
    }

    /// The error code of RST_STREAM or GOAWAY.
    pub(crate) fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        let b = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// HPACK integer with an `n`-bit prefix, `flags` in the bits above it (RFC 7541 §5.1).
fn hpack_int(out: &mut Vec<u8>, flags: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A literal header field without indexing, new name (RFC 7541 §6.2.2).
fn literal(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(0x00);
    hpack_int(out, 0, 7, name.len());
    out.extend_from_slice(name.as_bytes());
    hpack_int(out, 0, 7, value.len());
    out.extend_from_slice(value);
}

/// The header block of `GET path` on `authority`, plus `extra` headers.
pub(crate) fn get_block(path: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut block = vec![0x82, 0x86]; // :method GET, :scheme http
    // :path (static name 4), :authority (static name 1): literal without indexing.
    block.push(0x04);
    hpack_int(&mut block, 0, 7, path.len());
    block.extend_from_slice(path.as_bytes());
    block.push(0x01);
    hpack_int(&mut block, 0, 7, "localhost".len());
    block.extend_from_slice(b"localhost");
    for (name, value) in extra {
        literal(&mut block, name, value);
    }
    block
}

/// An h2c connection, frame by frame.
#[derive(Debug)]
pub(crate) struct H2Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl H2Conn {
    /// Connects and sends the preface and an empty SETTINGS frame.
    pub(crate) async fn connect(addr: SocketAddr) -> H2Conn {
        let stream = within("h2 connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        let mut conn = H2Conn {
            stream,
            buf: Vec::new(),
        };
        conn.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
        conn.send_frame(SETTINGS, 0, 0, &[]).await;
        conn
    }

    async fn write(&mut self, bytes: &[u8]) {
        within("h2 write", self.stream.write_all(bytes))
            .await
            .expect("h2 write");
    }

    pub(crate) async fn send_frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = payload.len() as u32;
        let mut frame = len.to_be_bytes()[1..].to_vec();
        frame.push(kind);
        frame.push(flags);
        frame.extend_from_slice(&stream.to_be_bytes());
        frame.extend_from_slice(payload);
        self.write(&frame).await;
    }

    /// Opens stream `id` with a bodyless GET of `path`.
    pub(crate) async fn get(&mut self, id: u32, path: &str) {
        let block = get_block(path, &[]);
        self.send_frame(HEADERS, END_STREAM | END_HEADERS, id, &block)
            .await;
    }

    /// The next frame, or `None` at EOF (or a reset). SETTINGS and PING from the server are
    /// acknowledged on the way (and still returned). Bounded by the fixtures' timeout.
    pub(crate) async fn next_frame(&mut self) -> Option<Frame> {
        let frame = within("h2 frame", async {
            loop {
                if self.buf.len() >= 9 {
                    let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]);
                    let len = len as usize;
                    if self.buf.len() >= 9 + len {
                        let head: Vec<u8> = self.buf.drain(..9).collect();
                        let payload: Vec<u8> = self.buf.drain(..len).collect();
                        return Some(Frame {
                            kind: head[3],
                            flags: head[4],
                            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]])
                                & 0x7fff_ffff,
                            payload,
                        });
                    }
                }
                let mut chunk = [0u8; 16 * 1024];
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await?;
        if frame.kind == SETTINGS && frame.flags & ACK == 0 {
            self.send_frame(SETTINGS, ACK, 0, &[]).await;
        }
        if frame.kind == PING && frame.flags & ACK == 0 {
            let payload = frame.payload.clone();
            self.send_frame(PING, ACK, 0, &payload).await;
        }
        Some(frame)
    }

    /// The server's first SETTINGS frame.
    pub(crate) async fn server_settings(&mut self) -> Frame {
        loop {
            let frame = self.next_frame().await.expect("SETTINGS before EOF");
            if frame.kind == SETTINGS && frame.flags & ACK == 0 {
                return frame;
            }
        }
    }

    /// Reads until stream `id` ends (END_STREAM or RST_STREAM); returns its HEADERS (or the
    /// RST_STREAM frame). `None` if the connection ended first.
    pub(crate) async fn wait_stream(&mut self, id: u32) -> Option<Frame> {
        let mut head = None;
        while let Some(frame) = self.next_frame().await {
            if frame.stream != id {
                continue;
            }
            if frame.kind == RST_STREAM {
                return Some(frame);
            }
            if frame.kind == HEADERS && head.is_none() {
                head = Some(frame.clone());
            }
            if (frame.kind == HEADERS || frame.kind == DATA) && frame.flags & END_STREAM != 0 {
                return head;
            }
        }
        None
    }

    /// Reads to EOF; returns every frame seen on the way.
    pub(crate) async fn read_to_close(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame().await {
            frames.push(frame);
        }
        frames
    }
}
