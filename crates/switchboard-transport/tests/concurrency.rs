//! Reader and writer halves in separate tasks sharing one socket under load: PONGs from the
//! reader interleave with the writer's batches, and neither side loses a wake-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use switchboard_transport::accept;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const BATCHES: usize = 200;
const PER_BATCH: usize = 50;
const PINGS: usize = 2000;

fn frame(i: usize) -> Bytes {
    let mut payload = format!("{i:08}").into_bytes();
    payload.resize(1000, b'.');
    Bytes::from(payload)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pongs_interleave_with_a_busy_writer_in_another_task() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let conn = accept(stream, &common::config(1 << 16)).await.unwrap();
        let (mut reader, mut writer) = (conn.reader, conn.writer);
        let writer_task = tokio::spawn(async move {
            for b in 0..BATCHES {
                let mut frames: Vec<Bytes> =
                    (0..PER_BATCH).map(|i| frame(b * PER_BATCH + i)).collect();
                writer.send_batch(&mut frames).await.unwrap();
            }
            writer
        });
        // The reader only sees PINGs (answered inside) until the client hangs up.
        assert!(reader.next().await.is_none());
        writer_task.await.unwrap();
    });

    let (stream, reply) = {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&[0x7F, 0xF2, 0, 0]).await.unwrap();
        let mut reply = [0u8; 4];
        tokio::io::AsyncReadExt::read_exact(&mut stream, &mut reply)
            .await
            .unwrap();
        (stream, reply)
    };
    assert_eq!(reply, [0x7F, 0x72, 0, 0]);
    let (read_half, mut write_half) = stream.into_split();

    // PINGs big enough that their PONGs back up behind the writer's batches.
    let pinger = tokio::spawn(async move {
        for i in 0..PINGS {
            let payload = frame(i);
            let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
            write_half
                .write_all(&[1, len[1], len[2], len[3]])
                .await
                .unwrap();
            write_half.write_all(&payload).await.unwrap();
        }
        write_half
    });

    let mut read_half = read_half;
    let (mut pongs, mut messages) = (0, 0);
    while pongs < PINGS || messages < BATCHES * PER_BATCH {
        let (kind, payload) = read_frame(&mut read_half).await;
        match kind {
            0 => {
                assert_eq!(payload, frame(messages), "messages in order");
                messages += 1;
            }
            2 => {
                assert_eq!(payload, frame(pongs), "one PONG per PING, in order");
                pongs += 1;
            }
            other => panic!("unexpected frame type {other}"),
        }
    }
    let mut write_half = pinger.await.unwrap();
    write_half.shutdown().await.unwrap();
    router.await.unwrap();
}

async fn read_frame(stream: &mut tokio::net::tcp::OwnedReadHalf) -> (u8, Bytes) {
    use tokio::io::AsyncReadExt;
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await.unwrap();
    let len = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.unwrap();
    (header[0] & 7, Bytes::from(payload))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_pings_are_answered_while_the_writer_streams_batches() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_websockets::Message;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let conn = accept(stream, &common::config(1 << 16)).await.unwrap();
        let (mut reader, mut writer) = (conn.reader, conn.writer);
        let writer_task = tokio::spawn(async move {
            for b in 0..BATCHES {
                let mut frames: Vec<Bytes> =
                    (0..PER_BATCH).map(|i| frame(b * PER_BATCH + i)).collect();
                writer.send_batch(&mut frames).await.unwrap();
            }
            writer
        });
        assert!(reader.next().await.is_none(), "client closes cleanly");
        writer_task.await.unwrap();
    });

    let (ws, _) = tokio_websockets::ClientBuilder::new()
        .uri(&format!("ws://{addr}/ws"))
        .unwrap()
        .add_header(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            http::HeaderValue::from_static("wamp.2.cbor"),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (mut sink, mut stream) = ws.split();
    let pinger = tokio::spawn(async move {
        for i in 0..PINGS {
            sink.send(Message::ping(Bytes::from(format!("{i:08}"))))
                .await
                .unwrap();
        }
        sink
    });
    let (mut pongs, mut messages) = (0, 0);
    while pongs < PINGS || messages < BATCHES * PER_BATCH {
        let message = stream.next().await.unwrap().unwrap();
        if message.is_binary() {
            assert_eq!(Bytes::from(message.into_payload()), frame(messages));
            messages += 1;
        } else if message.is_pong() {
            assert_eq!(&message.as_payload()[..], format!("{pongs:08}").as_bytes());
            pongs += 1;
        } else {
            panic!("unexpected {message:?}");
        }
    }
    let mut sink = pinger.await.unwrap();
    sink.send(Message::close(
        Some(tokio_websockets::CloseCode::NORMAL_CLOSURE),
        "",
    ))
    .await
    .unwrap();
    // Drain to the router's close echo.
    while let Some(Ok(_)) = stream.next().await {}
    router.await.unwrap();
}
