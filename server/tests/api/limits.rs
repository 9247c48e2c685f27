//! Bounded work per connection and request: headers that never finish, idle connections,
//! the cap on open connections, and oversized bodies.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_request_whose_headers_never_finish_is_cut_off() {
    let app = crate::helpers::spawn_app_with(|s| s.limits.header_timeout = Duration::from_millis(300)).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&address).await.expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.expect("write");
    let mut buffer = vec![0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match slow.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server closed the connection");
}

#[tokio::test]
async fn an_idle_connection_gives_its_place_back() {
    let app = crate::helpers::spawn_app_with(|s| s.limits.header_timeout = Duration::from_millis(300)).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut idle = TcpStream::connect(&address).await.expect("connect");
    let mut buffer = vec![0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buffer)).await;
    assert!(matches!(closed, Ok(Ok(0) | Err(_))), "the server closed a connection that sent nothing");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_a_place_is_free() {
    let app = crate::helpers::spawn_app_with(|s| s.limits.max_connections = 1).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let holder = TcpStream::connect(&address).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut waiting = TcpStream::connect(&address).await.expect("the kernel still accepts it");
    waiting
        .write_all(b"GET /favicon.svg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buffer = vec![0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut buffer)).await;
    assert!(early.is_err(), "not served while the only place is taken");
    drop(holder);
    let served = tokio::time::timeout(Duration::from_secs(5), waiting.read(&mut buffer)).await;
    let read = served.expect("served once the place is free").expect("read");
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1"));
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read() {
    let app = spawn_app().await;
    let big = "x".repeat(100 * 1024);
    let reply = app.post_form("/api/login", &[("email", "a@example.com"), ("password", big.as_str())]).await;
    assert_eq!(reply.status, 413);
}

/// A body over the limit that does not say its length up front (chunked) is refused 413
/// too, not taken for a malformed call (400).
#[tokio::test]
async fn an_oversized_chunked_body_is_refused_413() {
    let app = spawn_app().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /api/login HTTP/1.1\r\nHost: {address}\r\nOrigin: {}\r\nAccept: application/json\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        crate::helpers::ORIGIN
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let chunk = "x".repeat(8 * 1024);
    for _ in 0..8 {
        // A peer that stops reading may close early: the answer is what counts.
        if stream.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{}", answer.lines().next().unwrap_or_default());
}
