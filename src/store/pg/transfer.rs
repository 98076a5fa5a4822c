//! Import and clone on PostgreSQL: the rows behind the shared rules of
//! `store::transfer`, inside the writer's one transaction. Each changed
//! key is reported in the outcome, so it goes into the change log and
//! wakes every node once.

use super::configs::publish_formal;
use super::db::Db;
use super::{Known, Outcome};
use crate::msg::{Key, PublishOp, WriteOp};
use crate::store::transfer::{self, source_row, Source, Stored, Target};
use postgres::{Error, GenericClient};

struct Pg<'d, 'a, C: GenericClient> {
    c: &'d mut Db<'a, C>,
    now: i64,
}

impl<C: GenericClient> Target for Pg<'_, '_, C> {
    type Error = Error;
    type Change = (Key, Known);

    fn namespace_exists(&mut self, tenant: &str) -> Result<bool, Error> {
        if tenant.is_empty() {
            return Ok(true);
        }
        let row = self.c.query_opt(
            "SELECT 1 FROM tenant_info WHERE kp = '1' AND tenant_id = $1",
            &[&tenant],
        )?;
        Ok(row.is_some())
    }

    fn stored(&mut self, key: &Key) -> Result<Option<Stored>, Error> {
        let row = self.c.query_opt(
            "SELECT COALESCE(md5, md5(content)), type, app_name, c_desc FROM config_info
             WHERE data_id = $1 AND group_id = $2 AND tenant_id = $3",
            &[&key.data_id, &key.group, &key.tenant],
        )?;
        row.map(|r| {
            Ok(Stored {
                md5: r.try_get(0)?,
                config_type: r.try_get(1)?,
                app_name: r.try_get(2)?,
                desc: r.try_get(3)?,
            })
        })
        .transpose()
    }

    fn publish(&mut self, op: &PublishOp) -> Result<(Key, Known), Error> {
        let formal = publish_formal(self.c, op, self.now)?;
        Ok((op.key.clone(), Some(Some(formal))))
    }

    fn source(&mut self, id: i64) -> Result<Option<Source>, Error> {
        let row = self.c.query_opt(
            "SELECT data_id, group_id, content, type, c_desc, app_name, tenant_id FROM config_info WHERE id = $1",
            &[&id],
        )?;
        row.map(|r| Ok(source_row!(&r, try_get))).transpose()
    }
}

/// Applies an import or a clone inside the writer's transaction.
pub(super) fn apply(
    c: &mut Db<'_, impl GenericClient>,
    op: &WriteOp,
    now: i64,
) -> Result<Outcome, Error> {
    let (written, keys) = transfer::apply(&mut Pg { c, now }, op)?;
    Ok(Outcome::new(written, keys))
}
