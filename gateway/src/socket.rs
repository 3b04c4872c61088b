//! A client's WebSocket: tungstenite's non-blocking API right on a tokio
//! `TcpStream`, driven by the stream's readiness.
//!
//! tungstenite is written for non-blocking sockets: a read or write that
//! would block returns `WouldBlock` and keeps its state, so the call can
//! simply be made again once the socket is ready. tokio-tungstenite does the
//! same behind `Stream`/`Sink`, but it gives every socket two shared waker
//! proxies of its own: about 130 bytes per connection, an eighth of what an
//! idle connection now costs. Here the waiting is tokio's `poll_read_ready`
//! and `poll_write_ready`, which keep the waker in the stream's own I/O
//! registration.
//!
//! Text frames do not go through tungstenite's writer: an event's frame is
//! encoded once ([`text_frame`], kept in its `Envelope`) and the same bytes
//! are written to every client ([`Socket::write_frames`], one `writev` for a
//! batch), where tungstenite would build and copy the frame into a buffer of
//! each connection, a buffer that then keeps its size for the connection's
//! life. What a socket does not take at once waits in [`Io`]'s backlog,
//! which is allocated only while the socket is backed up. tungstenite still
//! reads, and writes the control frames (ping, pong, close); every write,
//! its own included, goes through [`Io`], which sends the backlog first, so
//! frames never interleave.

use std::future::poll_fn;
use std::io::{self, IoSlice, Read, Write};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::net::TcpStream;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Error, Message, WebSocket};

/// A server-side WebSocket on a bare TCP stream.
pub struct Socket {
    ws: WebSocket<Io>,
}

/// The stream as tungstenite sees it: reads and writes that never wait
/// (`WouldBlock` instead), and clear tokio's readiness when they would.
struct Io {
    stream: TcpStream,
    /// Bytes of frames written with [`Socket::write_frames`] that the
    /// socket did not take yet; empty, and unallocated, whenever the client
    /// keeps up.
    backlog: Vec<u8>,
}

impl Io {
    /// Writes out the backlog; `WouldBlock` while the socket takes no more.
    fn drain(&mut self) -> io::Result<()> {
        while !self.backlog.is_empty() {
            match self.stream.try_write(&self.backlog)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => drop(self.backlog.drain(..n)),
            }
        }
        // Give the memory back: a client that caught up holds no buffer.
        if self.backlog.capacity() > 0 {
            self.backlog = Vec::new();
        }
        Ok(())
    }
}

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.try_read(buf)
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.drain()?;
        self.stream.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()
    }
}

fn would_block(err: &Error) -> bool {
    matches!(err, Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// A server's text frame (RFC 6455, section 5.2: final, opcode 1, not
/// masked) around `payload`, which must be UTF-8 (it is JSON here): encoded
/// once, written to any number of sockets.
pub fn text_frame(payload: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    frame.push(0x81);
    match payload.len() {
        len @ 0..=125 => frame.push(len as u8),
        len @ 126..=0xffff => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    Bytes::from(frame)
}

/// The payload of a frame made by [`text_frame`].
pub fn frame_payload(frame: &[u8]) -> &[u8] {
    let head = match frame.get(1) {
        Some(126) => 4,
        Some(127) => 10,
        Some(_) => 2,
        None => return &[],
    };
    frame.get(head..).unwrap_or_default()
}

/// Most frames written with one `writev` (`client::BATCH` is below it).
const MAX_SLICES: usize = 64;

/// Writes as much of `frames` as the socket takes now; how many bytes.
fn write_now(stream: &TcpStream, frames: &[Bytes]) -> io::Result<usize> {
    let total: usize = frames.iter().map(Bytes::len).sum();
    let mut written = 0;
    while written < total {
        let n = if let [frame] = frames {
            stream.try_write(&frame[written..])
        } else {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            let mut skip = written;
            for frame in frames {
                if skip >= frame.len() {
                    skip -= frame.len();
                    continue;
                }
                if count == MAX_SLICES {
                    break;
                }
                slices[count] = IoSlice::new(&frame[skip..]);
                skip = 0;
                count += 1;
            }
            stream.try_write_vectored(&slices[..count])
        };
        match n {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => return Err(err),
        }
    }
    Ok(written)
}

impl Socket {
    /// Takes over an upgraded stream; `read` holds whatever the client sent
    /// right behind its handshake (usually nothing).
    pub fn new(stream: TcpStream, read: Vec<u8>, config: WebSocketConfig) -> Socket {
        let io = Io { stream, backlog: Vec::new() };
        let ws = if read.is_empty() {
            WebSocket::from_raw_socket(io, Role::Server, Some(config))
        } else {
            WebSocket::from_partially_read(io, read, Role::Server, Some(config))
        };
        Socket { ws }
    }

    /// The next message from the client; `None` once the connection is
    /// closed (after the closing handshake, or when the stream ends).
    /// Cancel-safe: tungstenite keeps a partly read frame for the next call.
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            match self.ws.read() {
                Ok(message) => return Poll::Ready(Some(Ok(message))),
                Err(Error::ConnectionClosed | Error::AlreadyClosed) => return Poll::Ready(None),
                Err(err) if would_block(&err) => {
                    if let Err(err) = ready!(self.ws.get_ref().stream.poll_read_ready(cx)) {
                        return Poll::Ready(Some(Err(Error::Io(err))));
                    }
                }
                Err(err) => return Poll::Ready(Some(Err(err))),
            }
        }
    }

    /// Writes pre-encoded frames ([`text_frame`]) after everything queued
    /// before them, in one system call when the socket takes them; what it
    /// does not take is kept, and waited for (so the backlog stays bounded).
    pub async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), Error> {
        if frames.is_empty() {
            return Ok(());
        }
        self.flush().await?;
        let io = self.ws.get_mut();
        let written = write_now(&io.stream, frames).map_err(Error::Io)?;
        let mut skip = written;
        for frame in frames {
            if skip >= frame.len() {
                skip -= frame.len();
            } else {
                io.backlog.extend_from_slice(&frame[skip..]);
                skip = 0;
            }
        }
        if io.backlog.is_empty() {
            Ok(())
        } else {
            self.flush().await
        }
    }

    /// Queues a control frame (ping, close); it goes out at the next
    /// [`Socket::flush`]. When the socket would not take what was buffered,
    /// waits until it has (so the buffer stays bounded).
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        match self.ws.write(message) {
            // The frame is queued all the same; drain before taking more.
            Err(err) if would_block(&err) => self.flush().await,
            other => other,
        }
    }

    /// Writes out everything queued, waiting for the socket as needed.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            match self.ws.flush() {
                Err(err) if would_block(&err) => {
                    if let Err(err) = ready!(self.ws.get_ref().stream.poll_write_ready(cx)) {
                        return Poll::Ready(Err(Error::Io(err)));
                    }
                }
                done => return Poll::Ready(done),
            }
        }
    }

    /// Queues a frame and flushes.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Makes dropping the socket reset the connection (`SO_LINGER` 0)
    /// instead of leaving the kernel to deliver what is still buffered: for
    /// a client dropped because it does not read, that would only be stale
    /// events, holding kernel memory until the peer reads or times out.
    pub fn reset_on_close(&self) {
        let _ = socket2::SockRef::from(&self.ws.get_ref().stream).set_linger(Some(std::time::Duration::ZERO));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The server writes far more than the socket buffers hold while the
    /// peer is not reading: each write that would block must wait, resume,
    /// and lose or reorder nothing.
    #[tokio::test]
    async fn writes_that_would_block_wait_for_the_peer_and_lose_nothing() {
        const FRAMES: usize = 400;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let peer = std::thread::spawn(move || {
            let stream = std::net::TcpStream::connect(addr).expect("connect");
            // A server that stops sending must fail the test, not hang it.
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            let mut ws = WebSocket::from_raw_socket(stream, Role::Client, None);
            std::thread::sleep(Duration::from_millis(300)); // let the server fill the buffers first
            let mut got = Vec::new();
            loop {
                match ws.read() {
                    Ok(Message::Text(text)) => got.push(text.split(':').next().unwrap_or_default().to_string()),
                    Ok(Message::Close(_)) | Err(_) => return got,
                    Ok(_) => {}
                }
            }
        });
        let (stream, _) = listener.accept().await.expect("accept");
        let mut socket = Socket::new(stream, Vec::new(), WebSocketConfig::default());
        let filler = "x".repeat(64 * 1024); // 400 x 64 KiB: well beyond loopback buffers
        for n in 0..FRAMES {
            socket.feed(Message::text(format!("{n}:{filler}"))).await.expect("feed");
        }
        socket.send(Message::Close(None)).await.expect("close");
        let got = tokio::task::spawn_blocking(move || peer.join().expect("peer thread")).await.expect("join");
        let want: Vec<String> = (0..FRAMES).map(|n| n.to_string()).collect();
        assert_eq!(got, want);
    }

    /// Pre-encoded frames, written while the peer does not read, with
    /// control frames between them: the backlog waits, goes out first, and
    /// nothing is lost, reordered or interleaved; once drained it is freed.
    #[tokio::test]
    async fn shared_frames_that_would_block_keep_their_order_and_release_the_backlog() {
        const FRAMES: usize = 300;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let peer = std::thread::spawn(move || {
            let stream = std::net::TcpStream::connect(addr).expect("connect");
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            let mut ws = WebSocket::from_raw_socket(stream, Role::Client, None);
            std::thread::sleep(Duration::from_millis(300)); // let the server fill the buffers first
            let (mut got, mut pings) = (Vec::new(), 0);
            loop {
                match ws.read() {
                    Ok(Message::Text(text)) => got.push(text.split(':').next().unwrap_or_default().to_string()),
                    Ok(Message::Ping(_)) => pings += 1,
                    Ok(Message::Close(_)) | Err(_) => return (got, pings),
                    Ok(_) => {}
                }
            }
        });
        let (stream, _) = listener.accept().await.expect("accept");
        let mut socket = Socket::new(stream, Vec::new(), WebSocketConfig::default());
        let filler = "x".repeat(20 * 1024);
        for n in (0..FRAMES).step_by(3) {
            let batch: Vec<Bytes> = (n..n + 3).map(|n| text_frame(format!("{n}:{filler}").as_bytes())).collect();
            socket.write_frames(&batch).await.expect("write");
            assert_eq!(socket.ws.get_ref().backlog.capacity(), 0, "a drained backlog holds no memory");
            socket.feed(Message::Ping(Default::default())).await.expect("ping");
        }
        socket.send(Message::Close(None)).await.expect("close");
        let (got, pings) = tokio::task::spawn_blocking(move || peer.join().expect("peer")).await.expect("join");
        assert_eq!(got, (0..FRAMES).map(|n| n.to_string()).collect::<Vec<_>>());
        assert_eq!(pings, FRAMES / 3);
    }

    #[test]
    fn text_frames_have_the_three_length_forms() {
        for len in [0, 125, 126, 65_535, 65_536] {
            let payload = "a".repeat(len);
            let frame = text_frame(payload.as_bytes());
            assert_eq!(frame[0], 0x81, "final text frame");
            assert_eq!(frame_payload(&frame), payload.as_bytes(), "{len}");
            let mut read = WebSocket::from_raw_socket(std::io::Cursor::new(frame.to_vec()), Role::Client, None);
            match read.read() {
                Ok(Message::Text(text)) => assert_eq!(text.len(), len),
                other => panic!("{len}: {other:?}"),
            }
        }
    }

    /// Frames that arrived with the handshake are read before the stream.
    #[tokio::test]
    async fn bytes_read_with_the_handshake_come_first() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let peer = std::thread::spawn(move || {
            let stream = std::net::TcpStream::connect(addr).expect("connect");
            let mut ws = WebSocket::from_raw_socket(stream, Role::Client, None);
            ws.send(Message::text("second")).expect("send");
            ws
        });
        let (stream, _) = listener.accept().await.expect("accept");
        // A masked text frame "first", as if hyper had read it with the request.
        let mask = [1u8, 2, 3, 4];
        let mut early = vec![0x81, 0x80 | 5];
        early.extend_from_slice(&mask);
        early.extend(b"first".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        let mut socket = Socket::new(stream, early, WebSocketConfig::default());
        for want in ["first", "second"] {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => assert_eq!(text.as_str(), want),
                other => panic!("expected {want:?}, got {other:?}"),
            }
        }
        drop(peer.join());
    }
}
