use super::*;

#[test]
fn flags_win_over_the_file_and_the_file_over_defaults() {
    let dir = std::env::temp_dir().join(format!("weir-serve-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("weir.properties");
    std::fs::write(
        &file,
        "# comment\nlisteners=PLAINTEXT://127.0.0.1:9999\nnum.partitions=3\nlog.dirs=/var/weir\n",
    )
    .unwrap();
    let args = ServeArgs {
        config: Some(file.clone()),
        num_partitions: Some(5),
        ..Default::default()
    };
    let c = args.config().unwrap();
    assert_eq!(c.listen.port(), 9999);
    assert_eq!(
        c.http_listen,
        Some(weir_broker::config::DEFAULT_HTTP_LISTEN)
    );
    assert_eq!(c.num_partitions, 5);
    assert_eq!(c.data_dir, PathBuf::from("/var/weir"));
    assert_eq!(
        c.message_max_bytes,
        BrokerConfig::default().message_max_bytes
    );
    std::fs::write(&file, "no.such.key=1\n").unwrap();
    let args = ServeArgs {
        config: Some(file),
        ..Default::default()
    };
    assert!(args
        .config()
        .unwrap_err()
        .to_string()
        .contains("no.such.key"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_http_listener_can_be_moved_or_turned_off() {
    assert_eq!("off".parse::<HttpListen>(), Ok(HttpListen::Off));
    assert_eq!(
        "127.0.0.1:8080".parse::<HttpListen>(),
        Ok(HttpListen::At(SocketAddr::from(([127, 0, 0, 1], 8080))))
    );
    assert!("nowhere".parse::<HttpListen>().is_err());
    let args = ServeArgs {
        http_listen: Some(HttpListen::Off),
        ..Default::default()
    };
    assert_eq!(args.config().unwrap().http_listen, None);
}
