//! SCRAM users through AlterUserScramCredentials: the broker stores keys derived from the
//! salted password (never the password), they survive a restart, and a SCRAM exchange with
//! the password succeeds against what was stored while a wrong password fails.

mod common;

use bytes::Bytes;
use weir_auth::scram::{Mechanism, ScramClient, ScramCredential, ScramServer};
use weir_auth::SaslError;
use weir_client::Connection;
use weir_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use weir_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};

fn stored(broker: &weir_broker::Broker, user: &str, mech: Mechanism) -> Option<ScramCredential> {
    let image = broker.state().image();
    let c = image.scram.get(user)?.get(&mech.code())?;
    Some(ScramCredential {
        salt: c.salt.clone(),
        stored_key: c.stored_key.clone(),
        server_key: c.server_key.clone(),
        iterations: u32::try_from(c.iterations).ok()?,
    })
}

fn login(cred: &ScramCredential, mech: Mechanism, password: &str) -> Result<String, SaslError> {
    let mut client = ScramClient::new(mech, "alice", password)?;
    let mut server = ScramServer::new(mech);
    let first = server.client_first(&client.client_first(), |u| {
        (u == "alice").then(|| cred.clone())
    })?;
    let fin = client.client_final(&first)?;
    let (last, user) = server.client_final(&fin)?;
    client.verify_server_final(&last)?;
    Ok(user)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_credentials_authenticate_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = common::start(dir.path()).await;
    let addr = broker.local_addr.to_string();
    let conn = Connection::connect(&addr, "test").await.unwrap();
    // Kafka refuses a user named twice in one request: one request per mechanism.
    for (mech, iterations) in [(Mechanism::Sha256, 4096), (Mechanism::Sha512, 8192)] {
        let salt = b"a-salt-of-the-client".to_vec();
        let salted = mech.salted_password(b"alice-pw", &salt, iterations);
        let upsertion = ScramCredentialUpsertion {
            name: "alice".into(),
            mechanism: mech.code(),
            iterations: iterations as i32,
            salt: Bytes::from(salt),
            salted_password: Bytes::from(salted),
            ..Default::default()
        };
        let resp = conn
            .send(&AlterUserScramCredentialsRequest {
                upsertions: vec![upsertion],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(resp.results.len(), 1);
        assert_eq!(
            resp.results[0].error_code, 0,
            "{:?}",
            resp.results[0].error_message
        );
    }

    let described = conn
        .send(&DescribeUserScramCredentialsRequest::default())
        .await
        .unwrap();
    let infos: Vec<(i8, i32)> = described.results[0]
        .credential_infos
        .iter()
        .map(|c| (c.mechanism, c.iterations))
        .collect();
    assert_eq!(infos, vec![(1, 4096), (2, 8192)]);

    for mech in Mechanism::ALL {
        let cred = stored(&broker, "alice", mech).unwrap();
        assert_eq!(login(&cred, mech, "alice-pw"), Ok("alice".into()));
        assert!(login(&cred, mech, "wrong").is_err());
    }
    // Nothing in the metadata log holds the password or the salted password.
    drop(conn);
    broker.shutdown().await;
    let mut found = false;
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        found |= bytes.windows(8).any(|w| w == b"alice-pw");
    }
    assert!(!found, "the password is on disk");

    let broker = common::start(dir.path()).await;
    for mech in Mechanism::ALL {
        let cred = stored(&broker, "alice", mech).unwrap();
        assert_eq!(login(&cred, mech, "alice-pw"), Ok("alice".into()));
    }
    broker.shutdown().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
