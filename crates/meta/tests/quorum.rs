//! The metadata quorum on loopback: three voters elect a controller, commands from any
//! node reach every image, the cluster survives the loss of its leader, a broker that stops
//! heartbeating is fenced, and a restarted node comes back with everything applied.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_meta::controller::{Controller, CreateTopicSpec};
use weir_meta::membership::Registration;
use weir_meta::quorum::{Command, MetaNode, QuorumConfig};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(dir: &Path, id: i32, voters: &[(i32, String)]) -> QuorumConfig {
    let addr = voters
        .iter()
        .find(|(v, _)| *v == id)
        .map(|(_, a)| a.parse().unwrap());
    QuorumConfig {
        node_id: id,
        data_dir: dir.join(format!("node{id}")),
        listen: addr,
        voters: voters.to_vec(),
        controller: Controller::default(),
        tls: None,
        session_timeout_ms: 1_500,
    }
}

async fn wait_until<F: FnMut() -> bool>(what: &str, mut f: F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn registration(id: i32) -> Registration {
    Registration {
        node_id: id,
        host: "127.0.0.1".into(),
        port: 9000 + id,
        rack: None,
        controller: None,
        listeners: Vec::new(),
        unclean_shutdown: false,
    }
}

fn topic(name: &str) -> Command {
    let mut id = [0u8; 16];
    id[..name.len().min(16)].copy_from_slice(&name.as_bytes()[..name.len().min(16)]);
    Command::CreateTopics {
        specs: vec![(
            CreateTopicSpec {
                name: name.into(),
                num_partitions: 3,
                replication_factor: 1,
                ..Default::default()
            },
            id,
        )],
        validate_only: false,
    }
}

fn has_topic(n: &MetaNode, name: &str) -> bool {
    n.published().borrow().image.topic(name).is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_voters_survive_their_leader_and_fence_a_silent_broker() {
    let tmp = tempfile::tempdir().unwrap();
    let voters: Vec<(i32, String)> = (1..=3)
        .map(|id| (id, format!("127.0.0.1:{}", free_port())))
        .collect();
    let mut nodes: Vec<Option<Arc<MetaNode>>> = Vec::new();
    for id in 1..=3 {
        nodes.push(Some(
            MetaNode::start(config(tmp.path(), id, &voters))
                .await
                .unwrap(),
        ));
    }
    let node = |nodes: &Vec<Option<Arc<MetaNode>>>, i: usize| nodes[i].clone().unwrap();
    // Any node's command reaches the controller and every image.
    for i in 0..3 {
        let id = i32::try_from(i).unwrap() + 1;
        let n = node(&nodes, i);
        n.submit(Command::Register(registration(id))).await.unwrap();
    }
    let follower = {
        let leader = node(&nodes, 0).leader().await.unwrap();
        usize::try_from(leader % 3).unwrap() // the node after the leader
    };
    let out = node(&nodes, follower)
        .submit(topic("from-a-follower"))
        .await
        .unwrap();
    assert_eq!(out.results, vec![Ok(())]);
    assert!(
        has_topic(&node(&nodes, follower), "from-a-follower"),
        "applied before the answer"
    );
    for i in 0..3 {
        let n = node(&nodes, i);
        wait_until("every node to apply the topic", || {
            has_topic(&n, "from-a-follower")
        })
        .await;
    }
    // The same topic again: refused, with Kafka's error.
    let again = node(&nodes, 0)
        .submit(topic("from-a-follower"))
        .await
        .unwrap();
    assert_eq!(again.results[0].as_ref().unwrap_err().code(), 36);

    // Forwarded commands reuse one connection to the controller.
    let first_leader = usize::try_from(node(&nodes, 0).leader().await.unwrap() - 1).unwrap();
    for i in (0..3).filter(|&i| i != first_leader) {
        let n = node(&nodes, i);
        for _ in 0..10 {
            let id = i32::try_from(i).unwrap() + 1;
            n.submit(Command::Heartbeat { node_id: id }).await.unwrap();
        }
        assert_eq!(
            n.forward_connections_opened(),
            1,
            "node {} reuses its connection",
            i + 1
        );
    }

    // A broker that is not a voter joins: it registers through the voters, becomes a
    // learner and follows the metadata log.
    let addr4 = format!("127.0.0.1:{}", free_port());
    let four = MetaNode::start(QuorumConfig {
        listen: Some(addr4.parse().unwrap()),
        ..config(tmp.path(), 4, &voters)
    })
    .await
    .unwrap();
    four.submit(Command::Register(Registration {
        controller: Some(addr4),
        listeners: Vec::new(),
        unclean_shutdown: false,
        ..registration(4)
    }))
    .await
    .unwrap();
    assert!(has_topic(&four, "from-a-follower"), "the learner caught up");
    assert!(four.published().borrow().image.brokers.contains_key(&4));
    four.shutdown().await;
    drop(four);

    // The leader goes; the other two elect a new one and keep taking changes.
    let leader = usize::try_from(node(&nodes, 0).leader().await.unwrap() - 1).unwrap();
    let gone = nodes[leader].take().unwrap();
    gone.shutdown().await;
    drop(gone);
    let survivor = (leader + 1) % 3;
    let s = node(&nodes, survivor);
    s.submit(topic("after-failover")).await.unwrap();
    let other = node(&nodes, (leader + 2) % 3);
    wait_until("the other survivor to apply", || {
        has_topic(&other, "after-failover")
    })
    .await;
    let new_leader = s.leader().await.unwrap();
    assert_ne!(usize::try_from(new_leader - 1).unwrap(), leader);

    // The two survivors heartbeat; the dead broker does not and is fenced.
    let dead_id = i32::try_from(leader).unwrap() + 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for i in [survivor, (leader + 2) % 3] {
            let id = i32::try_from(i).unwrap() + 1;
            node(&nodes, i)
                .submit(Command::Heartbeat { node_id: id })
                .await
                .unwrap();
        }
        let fenced = s.published().borrow().image.brokers[&dead_id].fenced;
        if fenced {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the silent broker was not fenced"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The survivor that does not lead dropped its connection to the old controller and
    // forwards to the new one on a connection it keeps.
    let new_leader = usize::try_from(s.leader().await.unwrap() - 1).unwrap();
    for i in [survivor, (leader + 2) % 3] {
        if i == new_leader || i == first_leader {
            continue;
        }
        let n = node(&nodes, i);
        let opened = n.forward_connections_opened();
        assert!(opened >= 2, "a new connection for the new controller");
        for _ in 0..10 {
            let id = i32::try_from(i).unwrap() + 1;
            n.submit(Command::Heartbeat { node_id: id }).await.unwrap();
        }
        assert_eq!(n.forward_connections_opened(), opened, "and reuses it");
    }
    let image = s.published().borrow().image.clone();
    let t = image.topic("from-a-follower").unwrap();
    assert!(
        t.partitions.values().all(|p| p.leader != dead_id),
        "its partitions left it"
    );
    assert!(!image
        .brokers
        .values()
        .any(|b| b.fenced && b.node_id != dead_id && b.node_id != 4));

    // The dead node restarts on its data and catches up; registering unfences it.
    let back = MetaNode::start(config(tmp.path(), dead_id, &voters))
        .await
        .unwrap();
    wait_until("the restarted node to catch up", || {
        has_topic(&back, "after-failover")
    })
    .await;
    back.submit(Command::Register(registration(dead_id)))
        .await
        .unwrap();
    assert!(!back.published().borrow().image.brokers[&dead_id].fenced);
    let t = back
        .published()
        .borrow()
        .image
        .topic("from-a-follower")
        .cloned()
        .unwrap();
    assert!(
        t.partitions.values().all(|p| p.leader != -1),
        "offline partitions came back"
    );
    for n in nodes.into_iter().flatten() {
        n.shutdown().await;
    }
    back.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_voter_needs_no_network_and_keeps_its_log() {
    let tmp = tempfile::tempdir().unwrap();
    let n = MetaNode::start(config(tmp.path(), 1, &[])).await.unwrap();
    n.submit(Command::Format {
        cluster_id: "c1".into(),
        scram: Vec::new(),
    })
    .await
    .unwrap();
    n.submit(Command::Register(registration(1))).await.unwrap();
    let out = n.submit(Command::AllocateProducerIds).await.unwrap();
    assert_eq!(out.producer_ids, Some((0, 1000)));
    n.submit(topic("kept")).await.unwrap();
    n.shutdown().await;
    drop(n);
    let n = MetaNode::start(config(tmp.path(), 1, &[])).await.unwrap();
    wait_until("the log to be applied again", || has_topic(&n, "kept")).await;
    let out = n.submit(Command::AllocateProducerIds).await.unwrap();
    assert_eq!(out.producer_ids, Some((1000, 2000)), "never reused");
    n.submit(Command::Format {
        cluster_id: "c2".into(),
        scram: Vec::new(),
    })
    .await
    .unwrap();
    assert_eq!(
        n.published().borrow().image.cluster_id.as_deref(),
        Some("c1")
    );
    n.shutdown().await;
}
