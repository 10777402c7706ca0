//! The accept loop's limits, seen from a raw TCP client: a request head
//! or body that never completes is cut off, an idle kept-alive connection
//! is closed, and past the connection cap a new connection is closed
//! while the open ones keep being served.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tenantry_server::serve::{ServeLimits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn server(limits: ServeLimits) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/echo", post(|body: String| async move { body }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, app, limits, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Reads until the server closes the connection; what it sent.
/// (The guard only keeps a broken server from hanging the suite.)
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut seen))
        .await
        .expect("the server never closed the connection")
        .ok();
    seen
}

async fn get_health(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_cut_off() {
    let (addr, _stop) = server(ServeLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ServeLimits::default()
    })
    .await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = read_to_close(&mut slow).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "an unfinished head was never served"
    );
    // The server itself is fine.
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    assert!(get_health(&mut fresh).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_body_that_never_ends_is_cut_off_with_a_408() {
    let (addr, _stop) = server(ServeLimits {
        body_read_timeout: Duration::from_millis(300),
        ..ServeLimits::default()
    })
    .await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf a bo")
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&read_to_close(&mut slow).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // A body that does arrive in time is served as ever.
    let mut prompt = TcpStream::connect(addr).await.unwrap();
    prompt
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&read_to_close(&mut prompt).await).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let (addr, _stop) = server(ServeLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ServeLimits::default()
    })
    .await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(get_health(&mut idle).await.starts_with("HTTP/1.1 200"));
    // Kept alive, then silent: the server closes it, sending nothing more.
    assert!(read_to_close(&mut idle).await.is_empty());
}

#[tokio::test]
async fn past_the_cap_new_connections_are_closed_and_open_ones_served() {
    let (addr, _stop) = server(ServeLimits {
        max_connections: 2,
        ..ServeLimits::default()
    })
    .await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    // Both are being served (and so hold their slots) before the third.
    assert!(get_health(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(get_health(&mut second).await.starts_with("HTTP/1.1 200"));
    let mut third = TcpStream::connect(addr).await.unwrap();
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(
        read_to_close(&mut third).await.is_empty(),
        "closed unanswered"
    );
    assert!(
        get_health(&mut first).await.starts_with("HTTP/1.1 200"),
        "still served"
    );
    drop(first);
    // A slot freed: a new connection is served again. The slot is given
    // back when the server sees the close, so try until it has.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut next = TcpStream::connect(addr).await.unwrap();
        let _ = next
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let mut buf = vec![0; 1024];
        let n = next.read(&mut buf).await.unwrap_or(0);
        if String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::task::yield_now().await;
    }
}
