//! What the protocol parser targets (`dicom`, `hl7`, `mqtt`) share: their
//! input format.

/// One step of a parser target's input.
#[derive(Debug)]
pub enum Chunk<'a> {
    /// In-order bytes from the client (`to_server`) or the server.
    Data { to_server: bool, bytes: &'a [u8] },
    /// `len` bytes lost in one direction.
    Gap { to_server: bool, len: u32 },
}

/// Reads `data` as chunks `dir: u8 | len: u16 LE | bytes`: bit 0 of `dir`
/// picks the direction (0 = client to server), bit 1 makes the chunk a gap
/// of `len` bytes (no bytes follow). A data chunk whose `len` runs past the
/// end takes what is left; fewer than 3 bytes left end the input.
pub fn chunks(data: &[u8]) -> impl Iterator<Item = Chunk<'_>> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.len() < 3 {
            return None;
        }
        let (dir, len) = (rest[0], u16::from_le_bytes([rest[1], rest[2]]));
        rest = &rest[3..];
        let to_server = dir & 1 == 0;
        if dir & 2 != 0 {
            return Some(Chunk::Gap {
                to_server,
                len: u32::from(len),
            });
        }
        let (bytes, tail) = rest.split_at(usize::from(len).min(rest.len()));
        rest = tail;
        Some(Chunk::Data { to_server, bytes })
    })
}
