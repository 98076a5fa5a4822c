//! Helpers of the transfer tests: zips built byte by byte as Nacos builds
//! them (with the `zip` crate, not vigil's writer), multipart uploads as
//! the console sends them, and the console calls around them.
#![allow(dead_code)]

use crate::common::*;
use std::io::{Cursor, Read, Write};
use std::net::SocketAddr;

/// A deflated zip of `(name, bytes)` entries, in order, no directories
/// unless a name ends in `/`.
pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    // Level 1: the entry bytes are what the spec fixes, and the 200 MB
    // bomb of one test deflates much faster this way in a debug build.
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    for (name, data) in files {
        if name.ends_with('/') {
            w.add_directory(*name, opts).unwrap();
        } else {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

/// The entries of a zip, in order.
pub fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip");
    (0..a.len())
        .map(|i| {
            let mut f = a.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().to_owned(), data)
        })
        .collect()
}

pub const BOUNDARY: &str = "----WebKitFormBoundaryVigilTest7MA4YWxk";

/// A multipart body with a `policy` field (if any) and the `file` part.
pub fn multipart(policy: Option<&str>, file: Option<&[u8]>) -> Vec<u8> {
    let mut b = Vec::new();
    if let Some(p) = policy {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\n{p}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some(f) = file {
        b.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"export.zip\"\r\nContent-Type: application/zip\r\n\r\n")
                .as_bytes(),
        );
        b.extend_from_slice(f);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

/// The console's import call.
pub fn import(
    addr: SocketAddr,
    namespace: &str,
    policy: Option<&str>,
    file: Option<&[u8]>,
) -> Response {
    let body = multipart(policy, file);
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let target = format!(
        "/nacos/v1/cs/configs?import=true&namespace={}",
        enc(namespace)
    );
    request(
        addr,
        &raw("POST", &target, &[("Content-Type", &ct)], Some(&body)),
    )
}

/// The JSON of a response body.
pub fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lossy(&r.body)))
}

/// Asserts an envelope answer: HTTP 200, this code, this `data`.
pub fn assert_envelope(r: &Response, code: u64, data: serde_json::Value) {
    assert_eq!(r.status, 200, "{}", lossy(&r.body));
    let j = json(r);
    assert_eq!(j["code"], code, "{j}");
    assert_eq!(j["data"], data, "{j}");
}

/// GET /nacos/v1/cs/configs?<query>.
pub fn get_configs(addr: SocketAddr, query: &str) -> Response {
    request(addr, &get_raw(&format!("/nacos/v1/cs/configs?{query}")))
}

/// Publishes with extra form fields (type, desc, appName, ...).
pub fn publish_with(addr: SocketAddr, fields: &[(&str, &str)]) {
    let r = request(
        addr,
        &post_raw("/nacos/v1/cs/configs", &[], form(fields).as_bytes()),
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "true"),
        "publish {fields:?}"
    );
}

/// How many configs a namespace holds (accurate search, every key).
pub fn count(addr: SocketAddr, tenant: &str) -> u64 {
    let r = get_configs(
        addr,
        &form(&[
            ("search", "accurate"),
            ("dataId", ""),
            ("group", ""),
            ("tenant", tenant),
            ("pageNo", "1"),
            ("pageSize", "1"),
        ]),
    );
    json(&r)["totalCount"].as_u64().expect("totalCount")
}

/// The detail (`show=all`) of a config, as JSON.
pub fn detail(addr: SocketAddr, data_id: &str, group: &str, tenant: &str) -> serde_json::Value {
    let q = form(&[
        ("show", "all"),
        ("dataId", data_id),
        ("group", group),
        ("tenant", tenant),
    ]);
    json(&get_configs(addr, &q))
}

pub fn create_namespace(addr: SocketAddr, id: &str) {
    let body = form(&[
        ("customNamespaceId", id),
        ("namespaceName", id),
        ("namespaceDesc", "d"),
    ]);
    let r = request(
        addr,
        &post_raw("/nacos/v1/console/namespaces", &[], body.as_bytes()),
    );
    assert_eq!(r.text(), "true", "create namespace {id}");
}

/// The console's clone call.
pub fn clone(addr: SocketAddr, tenant: &str, policy: &str, body: &str) -> Response {
    let target = format!(
        "/nacos/v1/cs/configs?clone=true&tenant={}&policy={policy}&namespaceId=",
        enc(tenant)
    );
    request(
        addr,
        &raw(
            "POST",
            &target,
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
        ),
    )
}

/// The id (as the console lists it) of a config.
pub fn id_of(addr: SocketAddr, data_id: &str, group: &str, tenant: &str) -> String {
    detail(addr, data_id, group, tenant)["id"]
        .as_str()
        .expect("id")
        .to_owned()
}
