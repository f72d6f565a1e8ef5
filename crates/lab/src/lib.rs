//! The 1006 lab: an idle-timeout TCP proxy that behaves like nginx's `proxy_read_timeout` /
//! `proxy_send_timeout`, a probe that measures how long a path lets an idle connection live,
//! nginx configuration for a given upstream and heartbeat, and the seed's experiment as one
//! command.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod client;
pub mod experiment;
pub mod nginx;
pub mod probe;
pub mod proxy;
