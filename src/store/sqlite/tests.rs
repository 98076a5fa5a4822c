//! The writer on a real file: publishes, deletes, variants, reload.

use super::*;
use crate::metrics::Metrics;
use crate::msg::{Key, PublishOp, Published, ReactorLink, ReplyTo, ToReactor, WriteOp, Written};
use crate::protocol::Metadata;
use crossbeam_channel::unbounded;
use std::sync::Arc;

fn key() -> Key {
    Key {
        data_id: "d".into(),
        group: "G".into(),
        tenant: "".into(),
    }
}

fn op(content: &str, app: Option<&str>) -> PublishOp {
    PublishOp {
        key: key(),
        content: content.into(),
        config_type: "text",
        app_name: app.map(Into::into),
        src_ip: "127.0.0.1".into(),
        src_user: None,
        meta: Metadata::default(),
        cas_md5: None,
    }
}

/// Runs ops through a real writer on a real file; returns what reactor 0 saw.
fn run(dir: &Path, ops: Vec<WriteOp>) -> Vec<ToReactor> {
    let store = Store::open(dir, Sync::Full).unwrap();
    let (tx, rx) = crossbeam_channel::bounded(16);
    let (rtx, rrx) = unbounded();
    let link = ReactorLink {
        tx: rtx,
        notify: Arc::new(|| {}),
    };
    let writer = std::thread::spawn(move || {
        let mut store = store;
        crate::store::writer::run(
            &mut store,
            rx,
            vec![link],
            Arc::new(Metrics::new(1)),
            Arc::new(Published::default()),
            30,
        )
    });
    for (i, op) in ops.into_iter().enumerate() {
        let reply = ReplyTo {
            reactor: 0,
            conn: i as u32,
            generation: 0,
            tag: 0,
        };
        tx.send(WriteRequest { op, reply }).unwrap();
    }
    drop(tx);
    writer.join().unwrap().unwrap();
    rrx.try_iter().collect()
}

fn formal_contents(msgs: &[ToReactor]) -> Vec<Option<String>> {
    msgs.iter()
        .filter_map(|m| match m {
            ToReactor::Change(c) => Some(
                c.entry
                    .as_ref()
                    .and_then(|e| e.formal.as_ref())
                    .map(|f| f.content.clone()),
            ),
            _ => None,
        })
        .collect()
}

#[test]
fn publish_update_delete_with_history_and_reload() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested/data");
    let msgs = run(
        &dir,
        vec![
            WriteOp::Publish(op("v1", Some("app"))),
            WriteOp::Publish(op("v1", None)),
            WriteOp::Publish(op("v2", None)),
            WriteOp::Delete {
                key: key(),
                src_ip: "127.0.0.1".into(),
                src_user: None,
            },
            WriteOp::Delete {
                key: key(),
                src_ip: "127.0.0.1".into(),
                src_user: None,
            },
            WriteOp::Publish(op("v3", None)),
        ],
    );
    // A delete of nothing broadcasts nothing.
    assert_eq!(
        formal_contents(&msgs),
        vec![
            Some("v1".into()),
            Some("v1".into()),
            Some("v2".into()),
            None,
            Some("v3".into())
        ]
    );
    let trues = msgs
        .iter()
        .filter(|m| {
            matches!(
                m,
                ToReactor::Written {
                    result: Ok(Written::Done),
                    ..
                }
            )
        })
        .count();
    assert_eq!(trues, 6);

    let mut store = Store::open(&dir, Sync::Full).unwrap();
    let all = store.load_all().unwrap();
    assert_eq!(all.len(), 1);
    let formal = all[0].1.formal.as_ref().unwrap();
    assert_eq!(formal.content, "v3");
    assert_eq!(formal.app_name, None, "a delete forgets the app name");
    let ops: Vec<String> = store
        .conn
        .prepare("SELECT op_type FROM his_config_info ORDER BY nid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ops, vec!["I", "U", "U", "D", "I"]);
}

#[test]
fn beta_and_tag_variants_live_beside_the_formal_config() {
    let tmp = tempfile::tempdir().unwrap();
    let msgs = run(
        tmp.path(),
        vec![
            WriteOp::Publish(op("formal", None)),
            WriteOp::PublishBeta(op("beta", None), "10.0.0.7,10.0.0.8".into()),
            WriteOp::PublishTag(op("tagged", None), "gray1".into()),
            WriteOp::Delete {
                key: key(),
                src_ip: "x".into(),
                src_user: None,
            },
        ],
    );
    let last = msgs
        .iter()
        .rev()
        .find_map(|m| match m {
            ToReactor::Change(c) => c.entry.clone(),
            _ => None,
        })
        .unwrap();
    assert!(last.formal.is_none());
    assert_eq!(last.beta.as_ref().unwrap().config.content, "beta");
    assert!(last.beta.as_ref().unwrap().serves("10.0.0.8"));
    assert_eq!(last.tag("gray1").unwrap().content, "tagged");
    let mut store = Store::open(tmp.path(), Sync::Full).unwrap();
    let all = store.load_all().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0]
            .1
            .effective("10.0.0.7", None)
            .unwrap()
            .config()
            .content,
        "beta"
    );
    assert_eq!(
        all[0]
            .1
            .effective("1.2.3.4", Some("gray1"))
            .unwrap()
            .config()
            .content,
        "tagged"
    );
    assert!(all[0].1.effective("1.2.3.4", None).is_none());
}
