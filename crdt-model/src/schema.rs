//! Typed access to Automerge maps: the one place that turns scalars into domain
//! values and reports shape errors with a path.
//!
//! Every document keeps its entities at namespaced keys of the root map
//! (`report/<id>`, `member/<id>`...). No top-level container is ever shared, so
//! two replicas that create entities independently never conflict over a root
//! object (Automerge would keep one of two concurrently created maps and hide
//! the other's content).

use automerge::{
    ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable,
};
use chrono::{DateTime, TimeZone, Utc};

use crate::error::{ModelError, SchemaError};

/// A map inside a document, with the path used in error messages.
pub(crate) struct MapRef<'d, D: ReadDoc> {
    doc: &'d D,
    obj: ObjId,
    path: String,
    /// Read the document as it was at these heads; now when `None`.
    heads: Option<&'d [ChangeHash]>,
}

impl<'d, D: ReadDoc> MapRef<'d, D> {
    /// The root-level entity stored at `key`, if any.
    pub(crate) fn entity(doc: &'d D, key: &str) -> Result<Option<Self>, SchemaError> {
        MapRef::entity_at(doc, key, None)
    }

    /// The root-level entity stored at `key` as the document was at `heads`
    /// (now when `None`), if any. Reading at heads needs no copy of the
    /// document, where forking at them rebuilds one.
    pub(crate) fn entity_at(
        doc: &'d D,
        key: &str,
        heads: Option<&'d [ChangeHash]>,
    ) -> Result<Option<Self>, SchemaError> {
        MapRef {
            doc,
            obj: ROOT,
            path: String::new(),
            heads,
        }
        .opt_map(key)
    }

    fn get(&self, key: &str) -> Result<Option<(Value<'_>, ObjId)>, automerge::AutomergeError> {
        match self.heads {
            Some(h) => self.doc.get_at(&self.obj, key, h),
            None => self.doc.get(&self.obj, key),
        }
    }

    fn err(&self, key: &str, why: impl Into<String>) -> SchemaError {
        SchemaError {
            path: if self.path.is_empty() {
                key.to_owned()
            } else {
                format!("{}/{key}", self.path)
            },
            why: why.into(),
        }
    }

    fn scalar(&self, key: &str) -> Result<Option<ScalarValue>, SchemaError> {
        match self.get(key) {
            Ok(None) => Ok(None),
            Ok(Some((Value::Scalar(s), _))) => Ok(Some(s.into_owned())),
            Ok(Some((Value::Object(t), _))) => {
                Err(self.err(key, format!("found a {t:?}, want a scalar")))
            }
            Err(e) => Err(self.err(key, e.to_string())),
        }
    }

    /// A string field that may be absent or null.
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<String>, SchemaError> {
        match self.scalar(key)? {
            None | Some(ScalarValue::Null) => Ok(None),
            Some(ScalarValue::Str(s)) => Ok(Some(s.to_string())),
            Some(other) => Err(self.err(key, format!("found {other}, want text"))),
        }
    }

    /// A string field that must be present.
    pub(crate) fn str(&self, key: &str) -> Result<String, SchemaError> {
        self.opt_str(key)?.ok_or_else(|| self.err(key, "missing"))
    }

    /// A signed integer that may be absent.
    pub(crate) fn opt_i64(&self, key: &str) -> Result<Option<i64>, SchemaError> {
        match self.scalar(key)? {
            None | Some(ScalarValue::Null) => Ok(None),
            Some(ScalarValue::Int(i)) => Ok(Some(i)),
            Some(ScalarValue::Uint(u)) => i64::try_from(u)
                .map(Some)
                .map_err(|_| self.err(key, "integer out of range")),
            Some(other) => Err(self.err(key, format!("found {other}, want an integer"))),
        }
    }

    /// A signed integer that must be present.
    pub(crate) fn i64(&self, key: &str) -> Result<i64, SchemaError> {
        self.opt_i64(key)?.ok_or_else(|| self.err(key, "missing"))
    }

    /// An unsigned integer that must be present.
    pub(crate) fn u64(&self, key: &str) -> Result<u64, SchemaError> {
        let v = self.i64(key)?;
        u64::try_from(v).map_err(|_| self.err(key, "negative where a size is expected"))
    }

    /// A float that must be present.
    pub(crate) fn f64(&self, key: &str) -> Result<f64, SchemaError> {
        match self.scalar(key)? {
            Some(ScalarValue::F64(f)) => Ok(f),
            Some(ScalarValue::Int(i)) => Ok(i as f64),
            None => Err(self.err(key, "missing")),
            Some(other) => Err(self.err(key, format!("found {other}, want a number"))),
        }
    }

    /// A UTC time stored as milliseconds since the epoch.
    pub(crate) fn time(&self, key: &str) -> Result<DateTime<Utc>, SchemaError> {
        self.opt_time(key)?.ok_or_else(|| self.err(key, "missing"))
    }

    /// A time that may be absent.
    pub(crate) fn opt_time(&self, key: &str) -> Result<Option<DateTime<Utc>>, SchemaError> {
        match self.opt_i64(key)? {
            None => Ok(None),
            Some(ms) => Utc
                .timestamp_millis_opt(ms)
                .single()
                .map(Some)
                .ok_or_else(|| self.err(key, "time out of range")),
        }
    }

    /// A field parsed from text by `parse`, which names the accepted values on error.
    pub(crate) fn parsed<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, SchemaError> {
        let s = self.str(key)?;
        parse(&s).ok_or_else(|| self.err(key, format!("unknown value {s:?}")))
    }

    /// A nested map that may be absent.
    pub(crate) fn opt_map(&self, key: &str) -> Result<Option<MapRef<'d, D>>, SchemaError> {
        match self.get(key) {
            Ok(None) => Ok(None),
            Ok(Some((Value::Object(ObjType::Map), id))) => Ok(Some(MapRef {
                doc: self.doc,
                obj: id,
                heads: self.heads,
                path: if self.path.is_empty() {
                    key.to_owned()
                } else {
                    format!("{}/{key}", self.path)
                },
            })),
            Ok(Some((v, _))) => Err(self.err(key, format!("found {v}, want a map"))),
            Err(e) => Err(self.err(key, e.to_string())),
        }
    }

    /// A nested map that must be present.
    pub(crate) fn map(&self, key: &str) -> Result<MapRef<'d, D>, SchemaError> {
        self.opt_map(key)?.ok_or_else(|| self.err(key, "missing"))
    }

    /// The keys of this map, in Automerge's (sorted) order.
    pub(crate) fn keys(&self) -> Vec<String> {
        match self.heads {
            Some(h) => self.doc.keys_at(&self.obj, h).collect(),
            None => self.doc.keys(&self.obj).collect(),
        }
    }

    /// A list of strings kept as a map from item to `true` (so concurrent adds merge).
    pub(crate) fn set(&self, key: &str) -> Result<Vec<String>, SchemaError> {
        Ok(self.opt_map(key)?.map(|m| m.keys()).unwrap_or_default())
    }
}

/// Ids of the root-level entities under `prefix/`, sorted.
pub(crate) fn entity_ids<D: ReadDoc>(doc: &D, prefix: &str) -> Vec<String> {
    entity_ids_at(doc, prefix, None)
}

/// [`entity_ids`] as the document was at `heads` (now when `None`).
pub(crate) fn entity_ids_at<D: ReadDoc>(
    doc: &D,
    prefix: &str,
    heads: Option<&[ChangeHash]>,
) -> Vec<String> {
    let start = format!("{prefix}/");
    let keep = |k: String| k.strip_prefix(&start).map(str::to_owned);
    match heads {
        Some(h) => doc.keys_at(ROOT, h).filter_map(keep).collect(),
        None => doc.keys(ROOT).filter_map(keep).collect(),
    }
}

/// True when the root holds `key`.
pub(crate) fn has_entity<D: ReadDoc>(doc: &D, key: &str) -> bool {
    matches!(doc.get(ROOT, key), Ok(Some(_)))
}

/// Writes fields of one map. Borrowing the transaction keeps writes in one change.
pub(crate) struct MapWriter<'t, T: Transactable> {
    tx: &'t mut T,
    obj: ObjId,
}

impl<'t, T: Transactable> MapWriter<'t, T> {
    /// Creates a new map at root key `key` (the caller checked it does not exist).
    pub(crate) fn create_entity(tx: &'t mut T, key: &str) -> Result<Self, ModelError> {
        let obj = tx.put_object(ROOT, key, ObjType::Map)?;
        Ok(MapWriter { tx, obj })
    }

    /// Opens an existing map for writing.
    pub(crate) fn open(tx: &'t mut T, obj: ObjId) -> Self {
        MapWriter { tx, obj }
    }

    /// The transaction, to open a writer on a nested map.
    pub(crate) fn tx(&mut self) -> &mut T {
        self.tx
    }

    /// Writes text.
    pub(crate) fn str(&mut self, key: &str, v: &str) -> Result<&mut Self, ModelError> {
        self.tx.put(&self.obj, key, v)?;
        Ok(self)
    }

    /// Writes text when present, nothing otherwise.
    pub(crate) fn opt_str(&mut self, key: &str, v: Option<&str>) -> Result<&mut Self, ModelError> {
        if let Some(v) = v {
            self.str(key, v)?;
        }
        Ok(self)
    }

    /// Writes a signed integer.
    pub(crate) fn i64(&mut self, key: &str, v: i64) -> Result<&mut Self, ModelError> {
        self.tx.put(&self.obj, key, v)?;
        Ok(self)
    }

    /// Writes a float.
    pub(crate) fn f64(&mut self, key: &str, v: f64) -> Result<&mut Self, ModelError> {
        self.tx.put(&self.obj, key, v)?;
        Ok(self)
    }

    /// Writes a time as milliseconds since the epoch.
    pub(crate) fn time(&mut self, key: &str, v: DateTime<Utc>) -> Result<&mut Self, ModelError> {
        self.i64(key, v.timestamp_millis())
    }

    /// Creates a nested map and returns its id.
    pub(crate) fn map(&mut self, key: &str) -> Result<ObjId, ModelError> {
        Ok(self.tx.put_object(&self.obj, key, ObjType::Map)?)
    }

    /// Writes a set of strings as a map from item to `true`.
    pub(crate) fn set<'a>(
        &mut self,
        key: &str,
        items: impl IntoIterator<Item = &'a str>,
    ) -> Result<&mut Self, ModelError> {
        let set = self.tx.put_object(&self.obj, key, ObjType::Map)?;
        for item in items {
            self.tx.put(&set, item, true)?;
        }
        Ok(self)
    }
}

/// Finds the object id of a root-level entity, for writing into it.
pub(crate) fn entity_obj<D: ReadDoc>(doc: &D, key: &str) -> Result<Option<ObjId>, SchemaError> {
    match doc.get(ROOT, key) {
        Ok(None) => Ok(None),
        Ok(Some((Value::Object(ObjType::Map), id))) => Ok(Some(id)),
        Ok(Some((v, _))) => Err(SchemaError {
            path: key.to_owned(),
            why: format!("found {v}, want a map"),
        }),
        Err(e) => Err(SchemaError {
            path: key.to_owned(),
            why: e.to_string(),
        }),
    }
}

/// Finds a nested map of an object, for writing into it.
pub(crate) fn child_map<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &str,
    path: &str,
) -> Result<Option<ObjId>, SchemaError> {
    match doc.get(obj, key) {
        Ok(None) => Ok(None),
        Ok(Some((Value::Object(ObjType::Map), id))) => Ok(Some(id)),
        Ok(Some((v, _))) => Err(SchemaError {
            path: format!("{path}/{key}"),
            why: format!("found {v}, want a map"),
        }),
        Err(e) => Err(SchemaError {
            path: format!("{path}/{key}"),
            why: e.to_string(),
        }),
    }
}
