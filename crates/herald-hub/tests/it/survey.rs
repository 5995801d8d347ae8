//! Surveys over the control plane: the connections API gathers one answer per known node, and
//! fails (100) rather than answer partially when a known node stays silent.

use herald_hub::{ConnectionsQuery, HubError};

use crate::support::{connected, hub_with_tap, options};

#[tokio::test(start_paused = true)]
async fn a_known_node_that_does_not_answer_fails_the_survey() {
    let (hub, tap) = hub_with_tap(options()).await;
    let _session = connected(&hub, "alice").await;
    let page = hub
        .connections(ConnectionsQuery::default())
        .await
        .expect("this node answers itself");
    assert_eq!(page.connections.len(), 1);
    assert_eq!(page.connections[0].user, "alice");

    // A heartbeat from a node that will never answer a survey.
    let ghost = br#"{"type":"node","uid":"ghost","name":"ghost","version":"0","num_clients":0,
        "num_users":0,"num_channels":0,"num_subs":0,"uptime":1}"#;
    tap.handler().handle_control(ghost);
    assert_eq!(hub.nodes().len(), 2);
    assert!(matches!(
        hub.connections(ConnectionsQuery::default()).await,
        Err(HubError::Internal)
    ));
}
