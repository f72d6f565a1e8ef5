//! `stompbox sockjs-test-server --listen ADDR`: the configuration SockJS protocol test suites
//! expect (`/echo`, `/disabled_websocket_echo`, `/cookie_needed_echo`, `/close`).

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use stompbox_server::SockJsTestServer;

#[derive(Debug, Args)]
pub(crate) struct TestServerArgs {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8081", value_name = "ADDR")]
    listen: SocketAddr,
}

pub(crate) fn run(args: &TestServerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async {
        let server = SockJsTestServer::bind(args.listen).await?;
        eprintln!(
            "sockjs-test-server listening on http://{}: /echo /disabled_websocket_echo /cookie_needed_echo /close",
            server.local_addr()
        );
        server
            .run(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })
}
