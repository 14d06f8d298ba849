//! Slow and silent clients cannot take grantd down: while a thousand
//! sockets dribble a header that never ends, other clients are served
//! (the OAuth callback included); the server closes such sockets after the
//! header-read timeout and idle kept-alive ones after the idle timeout;
//! and at the connection cap, new clients wait for a free slot.
//!
//! Each socket costs this process two file descriptors (the test's end and
//! the server's), so the soft limit is raised to the hard one first, as
//! `grantd serve` does at start.

use crate::helpers::spawn_app_with;
use reqwest::StatusCode;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

const SLOW_SOCKETS: usize = 1_000;
const IDLE_SOCKETS: usize = 50;

fn raise_open_files_limit(needed: u64) {
    let limit = grantd::http::server::raise_open_files_limit().expect("raising RLIMIT_NOFILE");
    assert!(
        limit >= needed,
        "this test needs {needed} open files; the hard limit allows {limit}"
    );
}

/// `host:port` of a `http://host:port` address.
fn authority(address: &str) -> &str {
    address.strip_prefix("http://").unwrap()
}

/// A socket that sends the beginning of a request header and never the end.
async fn slow_header(authority: &str) -> TcpStream {
    let mut socket = TcpStream::connect(authority).await.unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: grantd\r\nX-Slow: ")
        .await
        .unwrap();
    socket
}

/// Sends one keep-alive request for /healthz and reads its whole response.
async fn healthz_on(socket: &mut TcpStream) -> String {
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: grantd\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed the connection mid-response");
        response.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .expect("a content-length");
            if response.len() >= end + 4 + length {
                return text.into_owned();
            }
        }
    }
}

/// A kept-alive connection that has had one answer and now says nothing.
async fn idle_keep_alive(authority: &str) -> TcpStream {
    let mut socket = TcpStream::connect(authority).await.unwrap();
    let response = healthz_on(&mut socket).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    socket
}

/// Whether the socket is still open with nothing to read (not closed by the server).
fn still_open(socket: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(socket.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Resolves once the server has closed the socket (end of file or reset).
async fn closed_by_server(mut socket: TcpStream) {
    let mut buffer = [0u8; 256];
    while let Ok(n) = socket.read(&mut buffer).await {
        if n == 0 {
            return;
        }
    }
}

#[tokio::test]
async fn a_thousand_slow_header_sockets_and_idle_connections_neither_lock_out_other_clients_nor_stay_open(
) {
    raise_open_files_limit(2 * (SLOW_SOCKETS + IDLE_SOCKETS) as u64 + 1_024);
    let header_read_timeout = Duration::from_secs(5);
    let app = spawn_app_with(|config| {
        config.connections.header_read_timeout = header_read_timeout;
        config.connections.idle_timeout = Duration::from_secs(5);
    })
    .await;
    app.create_provider_app("mock").await;
    let authorization = app.start_flow("mock").await;
    let callback = app.authorize(&authorization).await;

    let authority = authority(&app.address);
    let first_opened = Instant::now();
    let mut slow = Vec::with_capacity(SLOW_SOCKETS);
    for _ in 0..SLOW_SOCKETS {
        slow.push(slow_header(authority).await);
    }
    let mut idle = Vec::with_capacity(IDLE_SOCKETS);
    for _ in 0..IDLE_SOCKETS {
        idle.push(idle_keep_alive(authority).await);
    }

    // Another client, on fresh connections, is served meanwhile.
    let fresh = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let health = fresh.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let finished = fresh.get(&callback).send().await.unwrap();
    assert_eq!(finished.status(), StatusCode::OK);
    assert_eq!(app.only_connection_for("g").await["status"], "working");
    // ...while the slow sockets were all open: none can have timed out yet
    // unless this machine took longer than the timeout to get here.
    let open = slow.iter().filter(|socket| still_open(socket)).count();
    if first_opened.elapsed() < header_read_timeout {
        assert_eq!(
            open, SLOW_SOCKETS,
            "slow sockets closed before their timeout"
        );
    } else {
        eprintln!("setup outlasted the header timeout; {open} slow sockets were still open");
    }

    // Then the server closes every one of them; grantd before its timeouts
    // kept them open for ever.
    let all_closed = futures::future::join_all(
        slow.into_iter()
            .chain(idle)
            .map(closed_by_server)
            .collect::<Vec<_>>(),
    );
    timeout(Duration::from_secs(60), all_closed)
        .await
        .expect("the server closes slow and idle sockets after their timeouts");
}

#[tokio::test]
async fn a_kept_alive_connection_outlives_the_header_timeout_and_serves_its_next_request() {
    let header_read_timeout = Duration::from_secs(1);
    let app = spawn_app_with(|config| {
        config.connections.header_read_timeout = header_read_timeout;
        config.connections.idle_timeout = Duration::from_secs(120);
    })
    .await;
    let mut socket = idle_keep_alive(authority(&app.address)).await;
    // Idle for well past the header timeout, far short of the idle one.
    tokio::time::sleep(header_read_timeout * 3).await;
    assert!(still_open(&socket), "closed at the header timeout");
    let response = healthz_on(&mut socket).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn a_header_dribbled_a_byte_at_a_time_is_cut_off_at_the_header_timeout() {
    let app = spawn_app_with(|config| {
        config.connections.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let mut socket = slow_header(authority(&app.address)).await;
    // Keep sending, so an inactivity timer alone would never fire; the
    // header timeout runs from the first byte.
    let dribble = async {
        for _ in 0..200 {
            if socket.write_all(b"x").await.is_err() {
                return true;
            }
            let mut byte = [0u8; 1];
            let read = timeout(Duration::from_millis(100), socket.read(&mut byte)).await;
            if let Ok(Ok(0) | Err(_)) = read {
                return true;
            }
        }
        false
    };
    assert!(
        dribble.await,
        "the server still read the header after 20 s of dribbling"
    );
}

#[tokio::test]
async fn at_the_connection_cap_a_new_client_waits_until_an_open_connection_closes() {
    let app = spawn_app_with(|config| {
        config.connections.max_connections = 1;
        config.connections.header_read_timeout = Duration::from_secs(120);
    })
    .await;
    // The one slot, taken by a client that is slow to send its header.
    let holder = slow_header(authority(&app.address)).await;
    let client = reqwest::Client::new();
    let mut waiting = tokio::spawn(client.get(app.url("/healthz")).send());
    assert!(
        timeout(Duration::from_millis(500), &mut waiting)
            .await
            .is_err(),
        "a client was served beyond the connection cap"
    );
    drop(holder);
    let response = timeout(Duration::from_secs(30), waiting)
        .await
        .expect("served once the slot was free")
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_closes_idle_connections_and_stops_accepting() {
    let app = spawn_app_with(|_| {}).await;
    app.create_provider_app("mock").await;
    // A second instance whose shutdown this test controls.
    let server = grantd::app::Application::build(app.config.clone())
        .await
        .unwrap();
    let address = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));

    let idle = idle_keep_alive(authority(&address)).await;
    let callback = app.authorize(&app.start_flow("mock").await).await;
    let callback = callback.replacen(&app.address, &address, 1);
    app.provider.set_delay(Duration::from_secs(1));
    let client = app.client.clone();
    let in_flight = tokio::spawn(async move { client.get(&callback).send().await });
    // Shut down while the callback waits on the provider's token endpoint.
    for _ in 0..500 {
        if !app.provider.token_requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.provider.token_requests().len(), 1);
    stop.send(()).unwrap();

    // The idle connection closes long before its 75 s idle timeout.
    timeout(Duration::from_secs(20), closed_by_server(idle))
        .await
        .expect("shutdown closes idle connections");
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    timeout(Duration::from_secs(30), running)
        .await
        .expect("the server stops once its connections are done")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(authority(&address)).await.is_err(),
        "a stopped server accepts no connection"
    );
    assert_eq!(app.only_connection_for("g").await["status"], "working");
}
