//! Moving configs in and out: the Nacos console's export (a zip), import (a
//! zip upload) and clone, as pure functions of bytes and rows.
//!
//! Invariants: nothing here does I/O or names `rusqlite` or `mio`. The
//! reader thread builds and unpacks archives (never a reactor); the writer
//! applies a whole [`Batch`] under one savepoint of one transaction, so what
//! a result reports as imported is committed all together or not at all.
//! The wire shapes are `spec/nacos-transfer.md`.

pub mod meta;
pub mod multipart;
pub mod plan;
pub mod upload;
pub mod zip_in;
pub mod zip_out;

pub use plan::{Batch, Item, Policy, Tally};

/// Which configs an export takes (spec §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub version: zip_out::Version,
    /// Canonical namespace.
    pub tenant: String,
    /// When any is given, only these select (within `tenant`).
    pub ids: Vec<i64>,
    /// A pattern: `*` is any run of characters; blank selects all.
    pub data_id: String,
    pub group: String,
    pub app_name: String,
}

/// The result codes of the import, export and clone envelope (spec §0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Success,
    NamespaceNotExist,
    MetadataIllegal,
    ParsingDataFailed,
    DataEmpty,
    NoSelectedConfig,
}

impl Code {
    pub fn number(self) -> u32 {
        match self {
            Code::Success => 200,
            Code::NamespaceNotExist => 100_001,
            Code::MetadataIllegal => 100_002,
            Code::ParsingDataFailed => 100_004,
            Code::DataEmpty => 100_005,
            Code::NoSelectedConfig => 100_006,
        }
    }

    /// Nacos 1.4's message for an error code (success messages differ by
    /// endpoint and are passed in).
    pub fn message(self) -> &'static str {
        match self {
            Code::Success => "导入成功",
            Code::NamespaceNotExist => "目标 namespace 不存在",
            Code::MetadataIllegal => "导入的元数据非法",
            Code::ParsingDataFailed => "解析数据失败",
            Code::DataEmpty => "导入的文件数据为空",
            Code::NoSelectedConfig => "没有选择任何配置",
        }
    }

    /// The whole error answer: `{"code","message","data":{"succCount":0}}`.
    pub fn failure(self) -> String {
        envelope(self, self.message(), serde_json::json!({"succCount": 0}))
    }
}

/// The success message of a clone.
pub const CLONE_DONE: &str = "Clone Completed Successfully";

/// `{"code":..,"message":..,"data":..}`, always sent with HTTP 200.
pub fn envelope(code: Code, message: &str, data: serde_json::Value) -> String {
    serde_json::json!({"code": code.number(), "message": message, "data": data}).to_string()
}

/// The export file name: `nacos_config_export_yyyyMMddHHmmss.zip` (UTC).
pub fn export_file_name(now_ms: i64) -> String {
    let t = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(now_ms).unwrap_or(0));
    let stamp: String = humantime::format_rfc3339_seconds(t)
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!("nacos_config_export_{stamp}.zip")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_and_names() {
        assert_eq!(
            Code::NamespaceNotExist.failure(),
            r#"{"code":100001,"data":{"succCount":0},"message":"目标 namespace 不存在"}"#
        );
        assert_eq!(
            export_file_name(1_607_132_883_380),
            "nacos_config_export_20201205014803.zip"
        );
    }
}
