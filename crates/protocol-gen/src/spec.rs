//! The Kafka JSON message spec model: parsing (`//` comments stripped) into typed structs.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::versions::Versions;

/// What a spec file describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A request body (has an API key).
    Request,
    /// A response body (has an API key).
    Response,
    /// A request or response header.
    Header,
    /// A standalone data structure (consumer protocol, KRaft control records, ...).
    Data,
}

/// A field type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `bool`
    Bool,
    /// `int8`
    I8,
    /// `int16`
    I16,
    /// `uint16`
    U16,
    /// `int32`
    I32,
    /// `uint32`
    U32,
    /// `int64`
    I64,
    /// `float64`
    F64,
    /// `string`
    Str,
    /// `bytes`
    Bytes,
    /// `records`
    Records,
    /// `uuid`
    Uuid,
    /// A struct, by type name.
    Struct(String),
    /// `[]T`
    Array(Box<Ty>),
}

impl Ty {
    fn parse(s: &str) -> Result<Ty> {
        if let Some(elem) = s.strip_prefix("[]") {
            let e = Ty::parse(elem)?;
            if matches!(e, Ty::Array(_) | Ty::Records) {
                bail!("unsupported array element type {elem}");
            }
            return Ok(Ty::Array(Box::new(e)));
        }
        Ok(match s {
            "bool" => Ty::Bool,
            "int8" => Ty::I8,
            "int16" => Ty::I16,
            "uint16" => Ty::U16,
            "int32" => Ty::I32,
            "uint32" => Ty::U32,
            "int64" => Ty::I64,
            "float64" => Ty::F64,
            "string" => Ty::Str,
            "bytes" => Ty::Bytes,
            "records" => Ty::Records,
            "uuid" => Ty::Uuid,
            s if s.starts_with(|c: char| c.is_ascii_uppercase()) => Ty::Struct(s.to_string()),
            other => bail!("unknown type {other}"),
        })
    }

    /// The struct name if this is a struct or an array of structs.
    pub(crate) fn struct_name(&self) -> Option<&str> {
        match self {
            Ty::Struct(n) => Some(n),
            Ty::Array(e) => e.struct_name(),
            _ => None,
        }
    }
}

/// One field of a struct.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    /// The spec name (PascalCase).
    pub(crate) name: String,
    /// The field type.
    pub(crate) ty: Ty,
    /// Versions the field exists in.
    pub(crate) versions: Versions,
    /// Versions in which the field may be null.
    pub(crate) nullable: Versions,
    /// Versions in which the field is a tagged field.
    pub(crate) tagged: Versions,
    /// The tag, for tagged fields.
    pub(crate) tag: Option<u32>,
    /// The spec default, as written.
    pub(crate) default: Option<String>,
    /// Whether a non-default value may be dropped when the version lacks the field.
    pub(crate) ignorable: bool,
    /// A per-field override of the message's flexible versions.
    pub(crate) flexible: Option<Versions>,
    /// The spec's description.
    pub(crate) about: String,
    /// Fields of an inline struct type.
    pub(crate) fields: Vec<Field>,
}

/// A named struct declared in `commonStructs`.
#[derive(Clone, Debug)]
pub(crate) struct CommonStruct {
    /// The type name.
    pub(crate) name: String,
    /// Versions it exists in.
    pub(crate) versions: Versions,
    /// Its fields.
    pub(crate) fields: Vec<Field>,
}

/// One spec file.
#[derive(Clone, Debug)]
pub(crate) struct MessageSpec {
    /// The top-level type name, e.g. `ProduceRequest`.
    pub(crate) name: String,
    /// What it describes.
    pub(crate) kind: Kind,
    /// The API key (requests and responses).
    pub(crate) api_key: Option<i16>,
    /// `validVersions`.
    pub(crate) valid: Versions,
    /// `flexibleVersions`.
    pub(crate) flexible: Versions,
    /// `latestVersionUnstable`.
    pub(crate) latest_unstable: bool,
    /// `listeners` (requests only).
    pub(crate) listeners: Vec<String>,
    /// Top-level fields.
    pub(crate) fields: Vec<Field>,
    /// `commonStructs`.
    pub(crate) common: Vec<CommonStruct>,
}

/// Removes `//` comments outside string literals.
pub(crate) fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut in_str = false;
    let mut escaped = false;
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn versions_field(v: &Value, key: &str) -> Result<Option<Versions>> {
    match v.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Versions::parse(s).map(Some),
        Some(other) => bail!("{key} is not a string: {other}"),
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_fields(v: Option<&Value>) -> Result<Vec<Field>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let arr = v
        .as_array()
        .ok_or_else(|| anyhow!("fields is not an array"))?;
    arr.iter().map(parse_field).collect()
}

fn parse_field(v: &Value) -> Result<Field> {
    let name = str_field(v, "name")
        .ok_or_else(|| anyhow!("field without a name: {v}"))?
        .to_string();
    let ctx = || format!("field {name}");
    let ty = Ty::parse(str_field(v, "type").ok_or_else(|| anyhow!("{} has no type", ctx()))?)
        .with_context(ctx)?;
    // A field that exists only as a tagged field names its versions in taggedVersions
    // alone (Kafka's generator treats that as "versions" too).
    let versions = match versions_field(v, "versions").with_context(ctx)? {
        Some(vs) => vs,
        None => versions_field(v, "taggedVersions")
            .with_context(ctx)?
            .ok_or_else(|| anyhow!("{} has no versions", ctx()))?,
    };
    let tag = match v.get("tag") {
        None => None,
        Some(t) => Some(
            scalar_string(t)
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or_else(|| anyhow!("{} has a bad tag {t}", ctx()))?,
        ),
    };
    let tagged = versions_field(v, "taggedVersions")
        .with_context(ctx)?
        .unwrap_or(Versions::NONE);
    if tag.is_some() == tagged.is_empty() {
        bail!(
            "{} must have both tag and taggedVersions, or neither",
            ctx()
        );
    }
    Ok(Field {
        ty,
        versions,
        nullable: versions_field(v, "nullableVersions")
            .with_context(ctx)?
            .unwrap_or(Versions::NONE),
        tagged,
        tag,
        default: v.get("default").and_then(scalar_string),
        ignorable: v.get("ignorable").and_then(Value::as_bool).unwrap_or(false),
        flexible: versions_field(v, "flexibleVersions").with_context(ctx)?,
        about: str_field(v, "about").unwrap_or_default().to_string(),
        fields: parse_fields(v.get("fields")).with_context(ctx)?,
        name,
    })
}

/// Parses one spec file's text.
pub(crate) fn parse(src: &str) -> Result<MessageSpec> {
    let v: Value = serde_json::from_str(&strip_comments(src))?;
    let name = str_field(&v, "name")
        .ok_or_else(|| anyhow!("spec without a name"))?
        .to_string();
    let kind = match str_field(&v, "type") {
        Some("request") => Kind::Request,
        Some("response") => Kind::Response,
        Some("header") => Kind::Header,
        Some("data") => Kind::Data,
        other => bail!("{name}: unsupported spec type {other:?}"),
    };
    let api_key = match v.get("apiKey") {
        None => None,
        Some(k) => Some(
            k.as_i64()
                .and_then(|k| i16::try_from(k).ok())
                .ok_or_else(|| anyhow!("{name}: bad apiKey"))?,
        ),
    };
    if matches!(kind, Kind::Request | Kind::Response) && api_key.is_none() {
        bail!("{name}: request or response without an apiKey");
    }
    let valid =
        versions_field(&v, "validVersions")?.ok_or_else(|| anyhow!("{name}: no validVersions"))?;
    if valid.is_empty() || valid.hi == i16::MAX {
        bail!("{name}: validVersions must be a closed, non-empty range");
    }
    let mut common = Vec::new();
    if let Some(cs) = v.get("commonStructs").and_then(Value::as_array) {
        for c in cs {
            let cname = str_field(c, "name")
                .ok_or_else(|| anyhow!("{name}: common struct without a name"))?
                .to_string();
            common.push(CommonStruct {
                versions: versions_field(c, "versions")?.unwrap_or(valid),
                fields: parse_fields(c.get("fields")).with_context(|| cname.clone())?,
                name: cname,
            });
        }
    }
    Ok(MessageSpec {
        kind,
        api_key,
        valid,
        flexible: versions_field(&v, "flexibleVersions")?.unwrap_or(Versions::NONE),
        latest_unstable: v
            .get("latestVersionUnstable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        listeners: v
            .get("listeners")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        fields: parse_fields(v.get("fields")).with_context(|| name.clone())?,
        common,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_comments_but_not_urls_in_strings() {
        let src = "{ // hi\n \"a\": \"http://x\" // bye\n}";
        assert_eq!(strip_comments(src), "{ \n \"a\": \"http://x\" \n}");
    }
}
