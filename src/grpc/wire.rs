//! The Nacos gRPC envelope (`nacos_grpc_service.proto`): every message on
//! both services is a `Payload` whose metadata names the Java class of the
//! request or response and whose body is a `google.protobuf.Any` holding its
//! JSON. No proto package: the paths are `/Request/request` and
//! `/BiRequestStream/requestBiStream`.

use prost::Message;
use std::collections::HashMap;

/// `Metadata { string type = 3; string clientIp = 8; map<string,string> headers = 7; }`
#[derive(Clone, PartialEq, Message)]
pub struct Metadata {
    #[prost(string, tag = "3")]
    pub r#type: String,
    #[prost(string, tag = "8")]
    pub client_ip: String,
    #[prost(map = "string, string", tag = "7")]
    pub headers: HashMap<String, String>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `Payload { Metadata metadata = 2; google.protobuf.Any body = 3; }`
#[derive(Clone, PartialEq, Message)]
pub struct Payload {
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<Metadata>,
    #[prost(message, optional, tag = "3")]
    pub body: Option<Any>,
}

impl Payload {
    /// A payload of class `type_name` whose body is `json`.
    pub fn new(type_name: &str, json: Vec<u8>) -> Payload {
        Payload {
            metadata: Some(Metadata {
                r#type: type_name.to_owned(),
                client_ip: String::new(),
                headers: HashMap::new(),
            }),
            body: Some(Any {
                type_url: String::new(),
                value: json,
            }),
        }
    }

    /// The protobuf bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// Decodes protobuf bytes; `None` when they are not a `Payload`.
    pub fn decode(bytes: &[u8]) -> Option<Payload> {
        Message::decode(bytes).ok()
    }

    /// The class name in the metadata ("" when absent).
    pub fn type_name(&self) -> &str {
        self.metadata.as_ref().map_or("", |m| m.r#type.as_str())
    }

    /// The client's own address as it reports it ("" when absent).
    pub fn client_ip(&self) -> &str {
        self.metadata.as_ref().map_or("", |m| m.client_ip.as_str())
    }

    /// A metadata header (the clients put `accessToken` and the like here).
    pub fn header(&self, name: &str) -> Option<&str> {
        let headers = &self.metadata.as_ref()?.headers;
        headers
            .get(name)
            .or_else(|| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .map(String::as_str)
    }

    /// The JSON body (empty when absent).
    pub fn json(&self) -> &[u8] {
        self.body.as_ref().map_or(&[][..], |b| b.value.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_fields() {
        let mut p = Payload::new("ConfigQueryRequest", br#"{"dataId":"a"}"#.to_vec());
        if let Some(m) = p.metadata.as_mut() {
            m.client_ip = "10.0.0.1".into();
            m.headers.insert("accessToken".into(), "t".into());
        }
        let back = Payload::decode(&p.encode()).expect("decodes");
        assert_eq!(back, p);
        assert_eq!(back.type_name(), "ConfigQueryRequest");
        assert_eq!(back.client_ip(), "10.0.0.1");
        assert_eq!(back.header("accesstoken"), Some("t"));
        assert_eq!(back.json(), br#"{"dataId":"a"}"#);
    }

    #[test]
    fn field_numbers_are_the_protos() {
        // metadata (2) { type (3) = "T" }, body (3) { value (2) = "{}" }
        let bytes = Payload::new("T", b"{}".to_vec()).encode();
        assert_eq!(
            bytes,
            [0x12, 3, 0x1a, 1, b'T', 0x1a, 4, 0x12, 2, b'{', b'}']
        );
    }

    #[test]
    fn garbage_is_not_a_payload() {
        assert!(Payload::decode(&[0xff, 0xff, 0xff]).is_none());
        assert_eq!(
            Payload::decode(&[]).map(|p| p.type_name().to_owned()),
            Some(String::new())
        );
    }
}
