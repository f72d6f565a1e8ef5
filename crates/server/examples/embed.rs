//! Embedding stompbox in a Rust program: an application handler (like Spring's
//! `@MessageMapping`) and the session event stream (like Spring's `SessionDisconnectEvent`).
//!
//! Run: `cargo run -p stompbox-server --example embed`, then connect a STOMP client to
//! ws://127.0.0.1:8081/test-ws, subscribe to `/user/queue/echo` and send to `/app/echo`.

use stompbox_broker::{AppReply, AppRequest, Broker, EventKind, log_event};
use stompbox_server::{Server, ServerConfig, Shutdown};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = ServerConfig::default();
    let broker = Broker::new(config.broker_config()?);
    broker.add_listener(log_event);
    broker.route("/echo", |req: &AppRequest<'_>, reply: &mut AppReply| {
        reply.reply("/queue/echo", req.body.clone());
        Ok(())
    });
    let mut events = broker.events();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let EventKind::Disconnect {
                status, duration, ..
            } = &event.kind
            {
                if status.code == 1006 {
                    eprintln!(
                        "{} vanished after {:.1}s: try `stompbox explain 1006`",
                        event.session_id,
                        duration.as_secs_f64()
                    );
                }
            }
        }
    });
    let server = Server::bind_with_broker(config, broker).await?;
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
            Shutdown::GoingAway
        })
        .await?;
    Ok(())
}
