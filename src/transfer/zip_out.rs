//! Building the export zip (spec §1): one deflated entry `<group>/<dataId>`
//! per config, no directory entries, the metadata entry last (v1 only when
//! some config has an app name, v2 always).

use super::meta::{self, V2Item};
use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

/// One exported config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    pub data_id: String,
    pub group: String,
    pub content: String,
    pub app_name: Option<String>,
    pub desc: Option<String>,
    pub config_type: Option<String>,
}

/// Which metadata entry the archive carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// The zip bytes of `rows`.
pub fn build(rows: &[ExportRow], version: Version) -> zip::result::ZipResult<Vec<u8>> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for r in rows {
        w.start_file(format!("{}/{}", r.group, r.data_id), options)?;
        w.write_all(r.content.as_bytes())?;
    }
    let metadata = match version {
        Version::V1 => meta::render_v1(
            rows.iter()
                .map(|r| (r.group.as_str(), r.data_id.as_str(), r.app_name.as_deref())),
        )
        .map(|text| (meta::V1_NAME, text)),
        Version::V2 => {
            let items: Vec<V2Item> = rows
                .iter()
                .map(|r| V2Item {
                    app_name: r.app_name.clone(),
                    data_id: r.data_id.clone(),
                    desc: r.desc.clone(),
                    group: r.group.clone(),
                    config_type: r.config_type.clone().unwrap_or_else(|| "text".into()),
                })
                .collect();
            Some((meta::V2_NAME, meta::render_v2(&items)))
        }
    };
    if let Some((name, text)) = metadata {
        w.start_file(name, options)?;
        w.write_all(text.as_bytes())?;
    }
    Ok(w.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::zip_in::{read_entries, Limits};

    fn row(id: &str, app: Option<&str>) -> ExportRow {
        ExportRow {
            data_id: id.into(),
            group: "G".into(),
            content: format!("content of {id}"),
            app_name: app.map(Into::into),
            desc: None,
            config_type: Some("yaml".into()),
        }
    }

    fn names(z: &[u8]) -> Vec<String> {
        let a = zip::ZipArchive::new(Cursor::new(z)).unwrap();
        a.file_names().map(str::to_owned).collect()
    }

    #[test]
    fn layouts() {
        let limits = Limits {
            max_entries: 10,
            max_unpacked_bytes: 10_000,
            max_entry_bytes: 1000,
        };
        let plain = build(&[row("a.yaml", None)], Version::V1).unwrap();
        assert_eq!(names(&plain), vec!["G/a.yaml"]);
        let v1 = build(&[row("a.yaml", Some("svc")), row("b", None)], Version::V1).unwrap();
        let (entries, meta) = read_entries(&v1, &limits, &[meta::V1_NAME]).unwrap();
        assert_eq!(entries[0].content, "content of a.yaml");
        assert_eq!(meta.unwrap().content, "G.a~yaml.app=svc\r\n");
        let v2 = build(&[], Version::V2).unwrap();
        let (_, meta) = read_entries(&v2, &limits, &[meta::V2_NAME]).unwrap();
        assert_eq!(meta.unwrap().content, "metadata: []\n");
        let mut a = zip::ZipArchive::new(Cursor::new(&v1[..])).unwrap();
        assert_eq!(
            a.by_index(0).unwrap().compression(),
            CompressionMethod::Deflated
        );
    }
}
