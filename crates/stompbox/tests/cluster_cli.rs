//! `serve --cluster`: bad URLs exit 2 naming the flag, an unreachable Redis exits 1 naming the
//! URL, before any client is accepted.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::Command;

fn serve(cluster: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stompbox"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "warn"])
        .args(["--cluster", cluster])
        .env_remove("STOMPBOX_CLUSTER")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn serve_exits_1_naming_the_url_when_redis_is_unreachable() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let (code, stderr) = serve(&url);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach Redis at {url}")),
        "{stderr}"
    );
}

#[test]
fn serve_exits_2_on_a_url_that_is_not_redis() {
    let (code, stderr) = serve("http://example.invalid");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--cluster"), "{stderr}");
    assert!(stderr.contains("not a Redis URL"), "{stderr}");
}

#[test]
fn the_config_files_cluster_section_is_read() {
    let dir = std::env::temp_dir().join(format!("stompbox-cluster-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("stompbox.toml");
    std::fs::write(
        &file,
        "[cluster]\nredis_url = \"redis://127.0.0.1:1\"\nname = \"eu\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stompbox"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "warn"])
        .arg("--config")
        .arg(&file)
        .env_remove("STOMPBOX_CLUSTER")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach Redis at redis://127.0.0.1:1"),
        "{stderr}"
    );
}

#[test]
fn a_node_timeout_under_a_second_exits_2_naming_the_setting() {
    let dir = std::env::temp_dir().join(format!("stompbox-cluster-nt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("stompbox.toml");
    std::fs::write(&file, "[cluster]\nnode_timeout = \"200ms\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stompbox"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cluster",
            "redis://127.0.0.1:1",
        ])
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cluster.node_timeout"), "{stderr}");
}

#[test]
fn a_cluster_ca_that_cannot_be_used_exits_2_naming_the_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_stompbox"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--cluster", "rediss://127.0.0.1:1"])
        .args(["--cluster-ca", "/nonexistent/redis-ca.pem"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/redis-ca.pem"), "{stderr}");
    assert!(stderr.contains("--cluster-ca"), "{stderr}");
}
