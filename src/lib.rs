//! vigil: a Nacos 1.x compatible configuration server built for very many
//! concurrent long-polling clients on one node.
//!
//! Layers, bottom up (see ARCHITECTURE.md): `http` (framing, no Nacos),
//! `form` (parameters), `h2` (HTTP/2 framing for gRPC, sans I/O), `protocol` (Nacos encodings and validation), `model`
//! (shared immutable values), `index` and `wheel` (pure data structures),
//! `msg` (messages between threads), `transfer` (export and import archives,
//! pure), `api` (endpoints as pure functions),
//! `store` (the SQLite writer thread) and
//! `reactor` (the mio event loops, with `tls` configurations), wired together by `server` (with
//! `fatal`: a panic on any thread stops the process); `cli` holds
//! the client subcommands (`migrate`, `export`, `import`).
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod claim;
pub mod cli;
pub mod cluster;
pub mod console;
pub mod fatal;
pub mod form;
pub mod grpc;
pub mod h2;
pub mod http;
pub mod index;
pub mod metrics;
pub mod model;
pub mod msg;
pub mod protocol;
pub mod query;
pub mod reactor;
pub mod server;
pub mod settings;
pub mod store;
pub mod tls;
pub mod transfer;
pub mod wheel;
