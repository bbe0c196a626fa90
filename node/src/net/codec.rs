//! Framing for Yizhan's request-response protocols: a request is the whole
//! stream up to the writer's close, capped in size; so is a response. The
//! caps are enforced while reading, so an oversized message costs at most
//! the cap in memory before it is refused.

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

async fn read_capped<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    max: usize,
    what: &str,
) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    // One byte past the cap tells an oversized message from one at the cap.
    io.take(max as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} exceeds the limit of {max} bytes"),
        ));
    }
    Ok(buf)
}

async fn write_all<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
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
        let mut buf = Vec::new();
        io.take(max as u64 + 1).read_to_end(&mut buf).await?;
        Ok(if buf.len() > max {
            Frame::Oversized { max }
        } else {
            Frame::Bytes(buf)
        })
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_capped(io, self.response_bytes_max, "response").await
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
            Frame::Bytes(bytes) => write_all(io, &bytes).await,
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
        write_all(io, &res).await
    }
}
