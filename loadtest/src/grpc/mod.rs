//! The Nacos 2.x gRPC config protocol as the load tester's clients speak it
//! (`--grpc`), sans I/O: [`h2`] is the client side of HTTP/2 with prior
//! knowledge (frames, HPACK, flow control), [`payload`] the `Payload`
//! envelope and the config messages. The worker drives them per connection
//! (see `worker::grpc`).
//!
//! Each simulated client is what the Java client holds: one TCP connection,
//! a unary `ServerCheckRequest`, one bi-stream opened with a
//! `ConnectionSetupRequest`, a unary `ConfigBatchListenRequest` of its keys,
//! a `HealthCheckRequest` after 5 s without a call, and an answer to every
//! push on the bi-stream.

pub mod h2;
pub mod payload;

/// The unary service's path.
pub const UNARY_PATH: &str = "/Request/request";
/// The bi-stream's path.
pub const BI_PATH: &str = "/BiRequestStream/requestBiStream";
/// Nacos clients reach gRPC at the HTTP port plus this.
pub const PORT_OFFSET: u16 = 1000;
/// A client with no call for this long sends a `HealthCheckRequest`, ns.
pub const HEALTH_IDLE_NS: u64 = 5_000_000_000;
/// Before the server has registered the bi-stream, unary calls are refused
/// with this error code; the client retries after [`RETRY_NS`].
pub const UNREGISTERED: i64 = 301;
pub const RETRY_NS: u64 = 100_000_000;
