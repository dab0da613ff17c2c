//! `gzip` (RFC 1952, any number of members) and `deflate` (zlib, RFC 1950, or raw deflate,
//! RFC 1951, told apart by the first two bytes) over flate2's `Decompress` (zlib-rs backend).

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::{Coding, DecodeError, OUT_CHUNK, Sink, Stage};

/// Inflates `input` with `inflate`, handing output to `sink` (and to `crc` when given).
/// Returns the input left after the end of the deflate stream, or `None` while the stream
/// goes on.
fn inflate_into<'i>(
    coding: Coding,
    inflate: &mut Decompress,
    out: &mut [u8],
    mut input: &'i [u8],
    mut crc: Option<&mut Crc>,
    sink: &mut Sink<'_>,
) -> Result<Option<&'i [u8]>, DecodeError> {
    loop {
        let (in_before, out_before) = (inflate.total_in(), inflate.total_out());
        let status = inflate
            .decompress(input, out, FlushDecompress::None)
            .map_err(|e| DecodeError::new(coding, e.to_string()))?;
        let consumed = usize::try_from(inflate.total_in() - in_before).unwrap_or(usize::MAX);
        let produced = usize::try_from(inflate.total_out() - out_before).unwrap_or(usize::MAX);
        input = input.get(consumed..).unwrap_or_default();
        let decoded = out.get(..produced).unwrap_or_default();
        if !decoded.is_empty() {
            if let Some(crc) = crc.as_deref_mut() {
                crc.update(decoded);
            }
            sink(decoded)?;
        }
        match status {
            Status::StreamEnd => return Ok(Some(input)),
            // More output may be pending while the buffer came back full.
            _ if produced == out.len() => continue,
            _ if input.is_empty() || (consumed == 0 && produced == 0) => return Ok(None),
            _ => continue,
        }
    }
}

/// Where a gzip decoder is in its member.
#[derive(Debug, Clone, Copy)]
enum GzState {
    /// Reading the fixed 10-byte header.
    Fixed {
        have: usize,
    },
    /// FEXTRA: the two length bytes, then that many bytes.
    ExtraLen {
        have: usize,
    },
    Extra {
        left: usize,
    },
    /// FNAME, FCOMMENT: zero-terminated.
    Name,
    Comment,
    /// FHCRC: two bytes.
    HeaderCrc {
        left: usize,
    },
    Body,
    /// CRC32 and ISIZE.
    Trailer {
        have: usize,
    },
    /// A member ended: another one, or bytes to ignore.
    Between,
    /// Bytes after the last member that start no member: ignored.
    Trailing,
}

/// `gzip`: members one after another; junk after the last member is ignored.
pub(super) struct Gzip {
    state: GzState,
    header: [u8; 10],
    small: [u8; 8],
    inflate: Decompress,
    crc: Crc,
    out: Vec<u8>,
    /// At least one member ended cleanly.
    members: u64,
}

impl Gzip {
    pub(super) fn new() -> Self {
        Gzip {
            state: GzState::Fixed { have: 0 },
            header: [0; 10],
            small: [0; 8],
            inflate: Decompress::new(false),
            crc: Crc::new(),
            out: vec![0; OUT_CHUNK],
            members: 0,
        }
    }

    fn flags(&self) -> u8 {
        self.header[3]
    }

    /// The state after the fixed header or one of the optional fields, from the flags.
    fn next_field(&self, after: u8) -> GzState {
        const FHCRC: u8 = 0x02;
        const FEXTRA: u8 = 0x04;
        const FNAME: u8 = 0x08;
        const FCOMMENT: u8 = 0x10;
        let flags = self.flags();
        let order = [
            (FEXTRA, GzState::ExtraLen { have: 0 }),
            (FNAME, GzState::Name),
            (FCOMMENT, GzState::Comment),
            (FHCRC, GzState::HeaderCrc { left: 2 }),
        ];
        // `after` is the flag whose field just ended (0: the fixed header).
        let start = order
            .iter()
            .position(|(flag, _)| *flag == after)
            .map_or(0, |i| i + 1);
        order
            .into_iter()
            .skip(start)
            .find(|(flag, _)| flags & flag != 0)
            .map_or(GzState::Body, |(_, state)| state)
    }

    fn bad(reason: &str) -> DecodeError {
        DecodeError::new(Coding::Gzip, reason)
    }
}

impl Stage for Gzip {
    fn push(&mut self, mut input: &[u8], sink: &mut Sink<'_>) -> Result<(), DecodeError> {
        while !input.is_empty() {
            match self.state {
                GzState::Between => {
                    // Another member starts with the magic bytes; anything else is trailing.
                    self.state = if input.first() == Some(&0x1f) {
                        GzState::Fixed { have: 0 }
                    } else {
                        GzState::Trailing
                    };
                }
                GzState::Trailing => return Ok(()),
                GzState::Fixed { have } => {
                    let take = (10 - have).min(input.len());
                    let (head, rest) = input.split_at(take);
                    self.header[have..have + take].copy_from_slice(head);
                    let have = have + take;
                    input = rest;
                    if have < 10 {
                        self.state = GzState::Fixed { have };
                        continue;
                    }
                    let valid = self.header[0] == 0x1f
                        && self.header[1] == 0x8b
                        && self.header[2] == 8
                        && self.flags() & 0xe0 == 0;
                    if !valid {
                        if self.members > 0 {
                            // Not a member after a complete one: junk, ignored (gzip(1) too).
                            self.state = GzState::Trailing;
                            return Ok(());
                        }
                        return Err(Self::bad("not a gzip header"));
                    }
                    self.state = self.next_field(0);
                }
                GzState::ExtraLen { have } => {
                    self.small[have] = input[0];
                    input = &input[1..];
                    self.state = if have == 1 {
                        let left = usize::from(u16::from_le_bytes([self.small[0], self.small[1]]));
                        GzState::Extra { left }
                    } else {
                        GzState::ExtraLen { have: 1 }
                    };
                }
                GzState::Extra { left } => {
                    let take = left.min(input.len());
                    input = &input[take..];
                    self.state = if left == take {
                        self.next_field(0x04)
                    } else {
                        GzState::Extra { left: left - take }
                    };
                }
                GzState::Name | GzState::Comment => {
                    let flag = if matches!(self.state, GzState::Name) {
                        0x08
                    } else {
                        0x10
                    };
                    match memchr::memchr(0, input) {
                        Some(at) => {
                            input = &input[at + 1..];
                            self.state = self.next_field(flag);
                        }
                        None => input = &[],
                    }
                }
                GzState::HeaderCrc { left } => {
                    let take = left.min(input.len());
                    input = &input[take..];
                    self.state = if left == take {
                        GzState::Body
                    } else {
                        GzState::HeaderCrc { left: left - take }
                    };
                }
                GzState::Body => {
                    match inflate_into(
                        Coding::Gzip,
                        &mut self.inflate,
                        &mut self.out,
                        input,
                        Some(&mut self.crc),
                        sink,
                    )? {
                        Some(rest) => {
                            input = rest;
                            self.state = GzState::Trailer { have: 0 };
                        }
                        None => input = &[],
                    }
                }
                GzState::Trailer { have } => {
                    let take = (8 - have).min(input.len());
                    self.small[have..have + take].copy_from_slice(&input[..take]);
                    let have = have + take;
                    input = &input[take..];
                    self.state = GzState::Trailer { have };
                    if have == 8 {
                        let [c0, c1, c2, c3, s0, s1, s2, s3] = self.small;
                        if u32::from_le_bytes([c0, c1, c2, c3]) != self.crc.sum() {
                            return Err(Self::bad("CRC32 mismatch"));
                        }
                        if u32::from_le_bytes([s0, s1, s2, s3]) != self.crc.amount() {
                            return Err(Self::bad("length mismatch"));
                        }
                        self.members += 1;
                        self.crc.reset();
                        self.inflate.reset(false);
                        self.state = GzState::Between;
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, _sink: &mut Sink<'_>) -> Result<(), DecodeError> {
        match self.state {
            GzState::Between | GzState::Trailing => Ok(()),
            // A partial header after a complete member: junk too short to be a member.
            GzState::Fixed { .. } if self.members > 0 => Ok(()),
            _ => Err(Self::bad("the gzip stream ends early")),
        }
    }
}

/// `deflate`: zlib as the RFC says, or raw deflate as IIS sends it.
pub(super) struct Deflate {
    /// The first two bytes, until we know which of the two it is.
    head: Vec<u8>,
    inflate: Option<Decompress>,
    out: Vec<u8>,
    ended: bool,
}

impl Deflate {
    pub(super) fn new() -> Self {
        Deflate {
            head: Vec::with_capacity(2),
            inflate: None,
            out: vec![0; OUT_CHUNK],
            ended: false,
        }
    }

    /// RFC 1950 §2.2: CM 8, CINFO <= 7, and the check bits make the pair a multiple of 31.
    fn is_zlib_header(cmf: u8, flg: u8) -> bool {
        cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
    }

    fn run(&mut self, input: &[u8], sink: &mut Sink<'_>) -> Result<(), DecodeError> {
        let Some(inflate) = self.inflate.as_mut() else {
            return Ok(());
        };
        if self.ended || input.is_empty() {
            return Ok(());
        }
        if inflate_into(Coding::Deflate, inflate, &mut self.out, input, None, sink)?.is_some() {
            // Bytes after the end of the stream are ignored.
            self.ended = true;
        }
        Ok(())
    }
}

impl Stage for Deflate {
    fn push(&mut self, mut input: &[u8], sink: &mut Sink<'_>) -> Result<(), DecodeError> {
        if self.inflate.is_none() {
            let take = (2 - self.head.len()).min(input.len());
            self.head.extend_from_slice(&input[..take]);
            input = &input[take..];
            let [cmf, flg] = self.head[..] else {
                return Ok(());
            };
            self.inflate = Some(Decompress::new(Self::is_zlib_header(cmf, flg)));
            let head = std::mem::take(&mut self.head);
            self.run(&head, sink)?;
        }
        self.run(input, sink)
    }

    fn finish(&mut self, sink: &mut Sink<'_>) -> Result<(), DecodeError> {
        if self.inflate.is_none() && !self.head.is_empty() {
            // One byte in all: only raw deflate can be that short, and it is cut.
            self.inflate = Some(Decompress::new(false));
            let head = std::mem::take(&mut self.head);
            self.run(&head, sink)?;
        }
        if self.ended {
            Ok(())
        } else {
            Err(DecodeError::new(
                Coding::Deflate,
                "the deflate stream ends early",
            ))
        }
    }
}
