//! Shared helpers: a broker on an ephemeral loopback port with a temporary data dir.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use bytes::Bytes;
use weir_broker::{Broker, BrokerConfig};
use weir_protocol::record::{BatchBuilder, Compression};

/// Starts a broker on 127.0.0.1:0 with its data in `dir`.
pub(crate) async fn start(dir: &Path) -> Broker {
    start_with(dir, BrokerConfig::default()).await
}

/// Starts a broker on 127.0.0.1:0 with its data in `dir` and the other settings of `config`.
pub(crate) async fn start_with(dir: &Path, config: BrokerConfig) -> Broker {
    let config = BrokerConfig {
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..config
    };
    Broker::start(config).await.unwrap()
}

/// A batch of `n` records with values `prefix-i`.
pub(crate) fn batch(prefix: &str, n: usize) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, 1_700_000_000_000);
    for i in 0..n {
        b.push(
            None,
            Some(format!("{prefix}-{i}").as_bytes()),
            &[],
            1_700_000_000_000,
        )
        .unwrap();
    }
    b.build().unwrap()
}
