//! Framing for Yizhan's request-response protocols: a request is a 4-byte
//! big-endian length and that many bytes; so is a response. The length is
//! checked against the cap before anything else is read, so an oversized
//! message costs four bytes, and a message cut short (the sender killed, or
//! its stream dropped mid-way) is an I/O error rather than a truncated
//! message that would decode as malformed.
//!
//! Earlier versions framed a message as "everything up to the writer's
//! close": a stream closed early then delivered half a message, which the
//! receiver refused as malformed ("Hit the end of buffer").

use std::io;

use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// An inbound request as read: its bytes, or the fact that it was larger than
/// allowed. An oversized request is reported rather than failed, because a
/// failed read is dropped silently by libp2p's request-response behaviour and
/// the node could not log who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The whole request.
    Bytes(Vec<u8>),
    /// The request exceeded the limit; reading stopped there.
    Oversized {
        /// The limit in bytes.
        max: usize,
    },
}

/// A codec moving raw bytes, with separate caps for requests and responses.
#[derive(Debug, Clone, Copy)]
pub struct BytesCodec {
    request_bytes_max: usize,
    response_bytes_max: usize,
}

impl BytesCodec {
    /// A codec refusing requests over `request_bytes_max` and responses over
    /// `response_bytes_max`.
    pub fn new(request_bytes_max: usize, response_bytes_max: usize) -> BytesCodec {
        BytesCodec {
            request_bytes_max,
            response_bytes_max,
        }
    }
}

/// Reads one length-prefixed message. `Ok(None)` when its length is over
/// `max` (nothing more is read); an error when the stream ends before the
/// message does.
async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    max: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Ok(None);
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message over 4 GiB"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

impl request_response::Codec for BytesCodec {
    type Protocol = StreamProtocol;
    type Request = Frame;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Frame>
    where
        T: AsyncRead + Unpin + Send,
    {
        let max = self.request_bytes_max;
        Ok(match read_frame(io, max).await? {
            Some(bytes) => Frame::Bytes(bytes),
            None => Frame::Oversized { max },
        })
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let max = self.response_bytes_max;
        read_frame(io, max).await?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("response exceeds the limit of {max} bytes"),
            )
        })
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Frame,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match req {
            Frame::Bytes(bytes) => write_frame(io, &bytes).await,
            Frame::Oversized { .. } => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an oversized frame is only ever read, never sent",
            )),
        }
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use futures::io::Cursor;
    use request_response::Codec as _;

    use super::*;

    const P: StreamProtocol = StreamProtocol::new("/test/1");

    fn written(frame: Frame) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        block_on(BytesCodec::new(1 << 20, 1 << 20).write_request(&P, &mut out, frame)).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_message_reads_back_whole() {
        let bytes = written(Frame::Bytes(b"hello".to_vec()));
        assert_eq!(bytes[..4], 5u32.to_be_bytes());
        let mut codec = BytesCodec::new(16, 16);
        let got = block_on(codec.read_request(&P, &mut Cursor::new(bytes))).unwrap();
        assert_eq!(got, Frame::Bytes(b"hello".to_vec()));
    }

    #[test]
    fn an_oversized_message_is_refused_from_its_length_alone() {
        // Only the length is present: nothing past it is needed to refuse.
        let mut codec = BytesCodec::new(16, 16);
        let got =
            block_on(codec.read_request(&P, &mut Cursor::new(1000u32.to_be_bytes().to_vec())))
                .unwrap();
        assert_eq!(got, Frame::Oversized { max: 16 });
        let err =
            block_on(codec.read_response(&P, &mut Cursor::new(1000u32.to_be_bytes().to_vec())))
                .unwrap_err();
        assert!(err.to_string().contains("exceeds the limit"), "{err}");
    }

    #[test]
    fn a_message_cut_short_is_an_error_not_a_shorter_message() {
        let mut bytes = written(Frame::Bytes(vec![9u8; 100]));
        bytes.truncate(50);
        let mut codec = BytesCodec::new(1000, 1000);
        let err = block_on(codec.read_request(&P, &mut Cursor::new(bytes))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
