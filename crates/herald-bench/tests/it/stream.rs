//! The HTTP-streaming and SSE flavors against a real herald with both transports on and pings
//! every 2 s: `connect` holds past several pings (answered through `/emulation`, else the
//! server closes with 3012 "no pong") and `fanout` counts every delivery exactly once.

use std::path::PathBuf;

use herald_bench::Report;

use super::{API_KEY, SECRET, cli, start_herald_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_flavors_count_every_delivery_once_and_answer_pings() {
    let config = serde_json::json!({
        "client": {
            "token": {"hmac_secret_key": SECRET},
            "ping_interval": "2s",
            "pong_timeout": "1500ms"
        },
        "http_api": {"key": API_KEY},
        "http_stream": {"enabled": true},
        "sse": {"enabled": true},
        "channel": {"without_namespace": {
            "allow_subscribe_for_client": true,
            "history_size": 100,
            "history_ttl": "300s"
        }}
    });
    let server = start_herald_with("stream", &config);
    // Workers are not used at these sizes; the binary path is never run.
    let exe = PathBuf::from("herald-bench");

    for protocol in ["herald-http-stream", "herald-sse"] {
        let connect = cli(
            &[
                "connect",
                "--protocol",
                protocol,
                "--connections",
                "40",
                "--hold",
                "5",
            ],
            &server,
        );
        let report = herald_bench::run_workload(&connect.command, &exe, "it".into())
            .await
            .unwrap_or_else(|e| panic!("connect over {protocol} runs: {e}"));
        let Report::Connect(connect) = report else {
            panic!("connect report expected");
        };
        assert_eq!(connect.run.flavor.name(), protocol);
        assert_eq!(
            (connect.open.opened, connect.open.failed),
            (40, 0),
            "{protocol}: {:?}",
            connect.open.first_failure
        );
        assert_eq!(connect.closed, 0, "{protocol}: {:?}", connect.close_reasons);
        assert_eq!(connect.alive_verified, 40, "{protocol}");
        assert!(connect.ok(), "{protocol}");

        let fanout = cli(
            &[
                "fanout",
                "--protocol",
                protocol,
                "--subscribers",
                "20",
                "--rate",
                "100",
                "--duration",
                "3",
                "--payload",
                "128",
            ],
            &server,
        );
        let report = herald_bench::run_workload(&fanout.command, &exe, "it".into())
            .await
            .unwrap_or_else(|e| panic!("fanout over {protocol} runs: {e}"));
        let Report::Fanout(fanout) = report else {
            panic!("fanout report expected");
        };
        let step = &fanout.steps[0];
        assert_eq!(fanout.open.opened, 20, "{protocol}");
        assert_eq!(step.published, 300, "{protocol}");
        assert_eq!(step.publish_failed, 0, "{:?}", step.first_publish_error);
        assert_eq!(step.closed, 0, "{protocol}: {:?}", step.close_reasons);
        assert_eq!(step.expected_deliveries, 300 * 20, "{protocol}");
        assert_eq!(step.received, step.expected_deliveries, "{protocol}");
        assert_eq!(
            (step.lost, step.duplicates, step.out_of_order),
            (0, 0, 0),
            "{protocol}"
        );
        assert_eq!(step.latency.count, step.received, "{protocol}");
    }

    // Client-side publishing and storm's drop-and-recover are WebSocket-only: a clear refusal.
    let rooms = cli(
        &["rooms", "--protocol", "herald-sse", "--clients", "4"],
        &server,
    );
    let err = herald_bench::run_workload(&rooms.command, &exe, "it".into())
        .await
        .expect_err("rooms refuses a streaming flavor");
    assert!(err.to_string().contains("over WebSocket"), "{err}");
}
