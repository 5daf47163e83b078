//! A connection the broker closes fails every request at once, whenever it was sent.

use std::time::Duration;

use weir_client::Connection;

#[tokio::test]
async fn a_connection_closed_by_the_broker_never_leaves_a_request_waiting() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // The broker side: accept and close at once, as a broker does after a failed TLS or
    // SASL handshake.
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    // The close races with the first request (ApiVersions); whichever comes first, the
    // request fails instead of waiting for an answer that cannot come.
    for _ in 0..50 {
        let r = tokio::time::timeout(Duration::from_secs(10), Connection::connect(&addr, "t"))
            .await
            .expect("a request waited for a closed connection");
        assert!(r.is_err());
    }
}
