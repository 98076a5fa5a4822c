//! Reading an uploaded archive with every size bounded.
//!
//! The declared sizes of a zip are never trusted: each entry is inflated
//! through a `take` of what is still allowed, so a zip bomb stops at the
//! limit having used at most that much memory. The entry count is checked
//! from the central directory before anything is inflated.

use std::io::{Cursor, Read};

/// What one import may unpack.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most entries (directories and metadata included).
    pub max_entries: usize,
    /// Most bytes all entries inflate to together.
    pub max_unpacked_bytes: u64,
    /// Most bytes one config entry may inflate to (content limit in UTF-16
    /// units times 3, the most UTF-8 bytes one unit can take).
    pub max_entry_bytes: u64,
}

/// One file of the archive; content decoded as UTF-8 (invalid sequences
/// replaced, as Java's `new String(bytes, UTF_8)` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub content: String,
}

/// An archive that cannot be read within the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipError {
    /// Not a zip at all (Nacos answers `DATA_EMPTY`).
    NotZip,
    /// A corrupt entry (`PARSING_DATA_FAILED`).
    Corrupt(String),
    TooManyEntries {
        found: usize,
        max: usize,
    },
    TooLarge {
        max: u64,
    },
    EntryTooLarge {
        name: String,
    },
    /// A name that is absolute, has a `..` component or a backslash.
    UnsafeName(String),
}

impl std::fmt::Display for ZipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZipError::NotZip => f.write_str("the upload is not a zip archive"),
            ZipError::Corrupt(e) => write!(f, "cannot read the archive: {e}"),
            ZipError::TooManyEntries { found, max } => {
                write!(
                    f,
                    "the archive has {found} entries, more than the {max} allowed"
                )
            }
            ZipError::TooLarge { max } => {
                write!(f, "the archive unpacks to more than {max} bytes")
            }
            ZipError::EntryTooLarge { name } => write!(f, "entry {name} is over the content limit"),
            ZipError::UnsafeName(n) => write!(f, "unsafe entry name in the archive: {n}"),
        }
    }
}

fn unsafe_name(name: &str) -> bool {
    name.starts_with('/') || name.contains('\\') || name.split('/').any(|p| p == "..")
}

/// The entries of `bytes` in archive order, directories left out, and the
/// first metadata entry (named `meta_names[..]`) apart.
pub fn read_entries(
    bytes: &[u8],
    limits: &Limits,
    meta_names: &[&str],
) -> Result<(Vec<Entry>, Option<Entry>), ZipError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| ZipError::NotZip)?;
    if archive.len() > limits.max_entries {
        return Err(ZipError::TooManyEntries {
            found: archive.len(),
            max: limits.max_entries,
        });
    }
    let mut left = limits.max_unpacked_bytes;
    let mut entries = Vec::new();
    let mut metadata = None;
    for i in 0..archive.len() {
        let file = archive
            .by_index(i)
            .map_err(|e| ZipError::Corrupt(e.to_string()))?;
        let name = file.name().to_owned();
        if unsafe_name(&name) {
            return Err(ZipError::UnsafeName(name));
        }
        if file.is_dir() {
            continue;
        }
        let is_meta = metadata.is_none() && meta_names.contains(&name.as_str());
        let cap = if is_meta {
            left
        } else {
            left.min(limits.max_entry_bytes)
        };
        let mut buf = Vec::new();
        file.take(cap.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| ZipError::Corrupt(format!("{name}: {e}")))?;
        let len = buf.len() as u64;
        if len > cap {
            return Err(if !is_meta && len > limits.max_entry_bytes {
                ZipError::EntryTooLarge { name }
            } else {
                ZipError::TooLarge {
                    max: limits.max_unpacked_bytes,
                }
            });
        }
        left -= len;
        let content = match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let entry = Entry { name, content };
        if is_meta {
            metadata = Some(entry);
        } else {
            entries.push(entry);
        }
    }
    Ok((entries, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in files {
            if name.ends_with('/') {
                w.add_directory(*name, SimpleFileOptions::default())
                    .unwrap();
            } else {
                w.start_file(*name, SimpleFileOptions::default()).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    const LIMITS: Limits = Limits {
        max_entries: 10,
        max_unpacked_bytes: 1000,
        max_entry_bytes: 300,
    };

    #[test]
    fn entries_and_metadata() {
        let z = zip_of(&[
            ("G/", b""),
            ("G/a", b"one"),
            (".meta.yml", b"G.a.app=x\r\n"),
            ("G/b", b"\xff"),
        ]);
        let (entries, meta) = read_entries(&z, &LIMITS, &[".meta.yml"]).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].content, "\u{fffd}");
        assert_eq!(meta.unwrap().content, "G.a.app=x\r\n");
    }

    #[test]
    fn bounded_failures() {
        let big = vec![b'a'; 400];
        let many: Vec<(String, Vec<u8>)> =
            (0..11).map(|i| (format!("G/{i}"), vec![b'x'])).collect();
        let many: Vec<(&str, &[u8])> = many
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let third = vec![b'b'; 299];
        let cases: Vec<(Vec<u8>, ZipError)> = vec![
            (b"not a zip".to_vec(), ZipError::NotZip),
            (
                zip_of(&many),
                ZipError::TooManyEntries { found: 11, max: 10 },
            ),
            (
                zip_of(&[("G/a", &big)]),
                ZipError::EntryTooLarge { name: "G/a".into() },
            ),
            (
                zip_of(&[
                    ("G/a", &third),
                    ("G/b", &third),
                    ("G/c", &third),
                    ("G/d", &third),
                ]),
                ZipError::TooLarge { max: 1000 },
            ),
            (
                zip_of(&[("../etc/passwd", b"x")]),
                ZipError::UnsafeName("../etc/passwd".into()),
            ),
            (
                zip_of(&[("/abs", b"x")]),
                ZipError::UnsafeName("/abs".into()),
            ),
        ];
        for (z, want) in cases {
            assert_eq!(read_entries(&z, &LIMITS, &[]).unwrap_err(), want);
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        // 50 MB of zeros deflate to about 50 KB; reading stops after 301 bytes.
        let zeros = vec![0u8; 50 * 1024 * 1024];
        let z = zip_of(&[("G/bomb", &zeros)]);
        assert!(z.len() < 1024 * 1024);
        assert_eq!(
            read_entries(&z, &LIMITS, &[]).unwrap_err(),
            ZipError::EntryTooLarge {
                name: "G/bomb".into()
            }
        );
    }
}
