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

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::task::{ready, Context, Poll};

use tokio::net::TcpStream;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Error, Message, WebSocket};

/// A server-side WebSocket on a bare TCP stream.
pub struct Socket {
    ws: WebSocket<Io>,
}

/// The stream as tungstenite sees it: reads and writes that never wait
/// (`WouldBlock` instead), and clear tokio's readiness when they would.
struct Io(TcpStream);

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // a TCP stream has no buffer of its own to flush
    }
}

fn would_block(err: &Error) -> bool {
    matches!(err, Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl Socket {
    /// Takes over an upgraded stream; `read` holds whatever the client sent
    /// right behind its handshake (usually nothing).
    pub fn new(stream: TcpStream, read: Vec<u8>, config: WebSocketConfig) -> Socket {
        let ws = if read.is_empty() {
            WebSocket::from_raw_socket(Io(stream), Role::Server, Some(config))
        } else {
            WebSocket::from_partially_read(Io(stream), read, Role::Server, Some(config))
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
                    if let Err(err) = ready!(self.ws.get_ref().0.poll_read_ready(cx)) {
                        return Poll::Ready(Some(Err(Error::Io(err))));
                    }
                }
                Err(err) => return Poll::Ready(Some(Err(err))),
            }
        }
    }

    /// Queues a frame; it goes out when the write buffer fills, or at the
    /// next [`Socket::flush`]. When the socket would not take what was
    /// buffered, waits until it has (so the buffer stays bounded).
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
                    if let Err(err) = ready!(self.ws.get_ref().0.poll_write_ready(cx)) {
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
        let _ = socket2::SockRef::from(&self.ws.get_ref().0).set_linger(Some(std::time::Duration::ZERO));
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
