//! Fuzzes `vigil::protocol::parse_listening_configs`, the decoder of the
//! long-poll `Listening-Configs` value.
//!
//! On arbitrary text: never panics, never returns more than `max_keys`
//! records, every record has a distinct group key, and no field contains a
//! separator. On records built from the input and encoded the way a client
//! does (fields percent-encoded once more, WS = U+0002, LS = U+0001): decodes
//! back to exactly those records, duplicates keeping the last.
//!
//! Shared by the fuzz target and by `tests/fuzz_regressions.rs`, which
//! replays `fuzz/regressions/listening_configs/` under `cargo test`.

use vigil::protocol::{parse_listening_configs, ClientMd5, ListenRecord};

const WS: char = '\u{2}';
const LS: char = '\u{1}';

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Runs the checks on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let max_keys = 1 + data.first().copied().unwrap_or(0) as usize % 16;
    let text = String::from_utf8_lossy(data);

    if let Ok(records) = parse_listening_configs(&text, max_keys) {
        assert!(
            records.len() <= max_keys,
            "{} records > {max_keys}",
            records.len()
        );
        let mut keys: Vec<&str> = records.iter().map(ListenRecord::group_key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), records.len(), "duplicate group keys");
        for r in &records {
            for f in [&r.data_id, &r.group, &r.tenant] {
                assert!(!f.contains(WS) && !f.contains(LS), "separator in {f:?}");
            }
        }
    }

    // Structured round trip: fields from the input, without separators.
    let clean: String = text.chars().filter(|&c| c != WS && c != LS).collect();
    let words: Vec<&str> = clean.split(' ').collect();
    let mut value = String::new();
    let mut expected: Vec<ListenRecord> = Vec::new();
    for (i, w) in words.chunks(3).enumerate() {
        let data_id = w[0];
        let group = w.get(1).copied().unwrap_or("G");
        let md5 = if i % 2 == 0 {
            String::new()
        } else {
            format!("{:032x}", i)
        };
        let tenant = w.get(2).copied().filter(|_| i % 3 != 0);
        value.push_str(&enc(data_id));
        value.push(WS);
        value.push_str(&enc(group));
        value.push(WS);
        value.push_str(&md5);
        if let Some(t) = tenant {
            value.push(WS);
            value.push_str(&enc(t));
        }
        value.push(LS);
        let rec = ListenRecord::new(data_id, group, tenant.unwrap_or(""), ClientMd5::parse(&md5));
        match expected
            .iter()
            .position(|e| e.group_key() == rec.group_key())
        {
            Some(at) => expected[at] = rec,
            None => expected.push(rec),
        }
    }
    if value.trim().is_empty() || expected.len() > 10_000 {
        return;
    }
    match parse_listening_configs(&value, 10_000) {
        Ok(got) => assert_eq!(got, expected, "value {value:?}"),
        Err(e) => panic!("valid value {value:?} rejected: {}", e.0),
    }
}
