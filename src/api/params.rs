//! Parameter parsing shared by the handlers, with the exact refusals Nacos
//! gives: Spring's 400 for a missing parameter, `caused:` for a bad value.

use super::ApiError;
use crate::form::Params;
use crate::msg::Key;
use crate::protocol::{self, canonical_tenant};

/// A required parameter, or the framework's 400.
pub(super) fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, ApiError> {
    params.get(name).ok_or_else(|| ApiError::Missing {
        name: name.to_owned(),
        ty: "String",
    })
}

/// A required parameter, owned.
pub(super) fn required_owned(params: &Params, name: &str) -> Result<String, ApiError> {
    required(params, name).map(str::to_owned)
}

/// An optional parameter, owned.
pub(super) fn optional(params: &Params, name: &str) -> Option<String> {
    params.get(name).map(str::to_owned)
}

/// An integer parameter; `default` when absent (or required when `None`).
pub(super) fn int_param(
    params: &Params,
    name: &str,
    default: Option<i64>,
) -> Result<i64, ApiError> {
    match (params.get(name), default) {
        (None, Some(d)) => Ok(d),
        (None, None) => Err(ApiError::Missing {
            name: name.to_owned(),
            ty: "long",
        }),
        (Some(v), _) => v
            .trim()
            .parse()
            .map_err(|_| ApiError::caused(400, format!("invalid {name} : {v}"))),
    }
}

/// Paging parameters: both positive.
pub(super) fn paging(
    params: &Params,
    default_size: Option<i64>,
    max_size: i64,
) -> Result<(i64, i64), ApiError> {
    let page_no = int_param(params, "pageNo", default_size.map(|_| 1))?;
    let page_size = int_param(params, "pageSize", default_size)?;
    if page_no <= 0 || page_size <= 0 {
        return Err(ApiError::caused(
            400,
            "pageNo and pageSize must be positive",
        ));
    }
    Ok((page_no, page_size.min(max_size)))
}

/// A comma-separated list of config ids (blanks skipped).
pub(super) fn parse_ids(raw: &str) -> Result<Vec<i64>, ApiError> {
    raw.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::caused(400, format!("invalid ids : {raw}")))
}

pub(super) fn is_true(params: &Params, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Validated (dataId, group, canonical tenant) of a read or delete; with
/// `check_tag` the optional `tag` is validated too.
pub(super) fn key_params(params: &Params, check_tag: bool) -> Result<Key, ApiError> {
    let tenant = params.get_or_empty("tenant");
    protocol::check_tenant(tenant)?;
    let data_id = required(params, "dataId")?;
    let group = required(params, "group")?;
    protocol::check_data_id(data_id)?;
    protocol::check_group(group)?;
    if check_tag {
        protocol::check_tag(params.get_or_empty("tag"))?;
    }
    Ok(Key {
        data_id: data_id.to_owned(),
        group: group.to_owned(),
        tenant: canonical_tenant(tenant).to_owned(),
    })
}
