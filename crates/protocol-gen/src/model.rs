//! Per-message analysis: the structs a spec declares, the versions each is used in, and for
//! every field its Rust name, type, default and per-version wire shape.

use std::collections::HashSet;

use anyhow::{bail, Context, Result};

use crate::naming::{field_ident, str_lit};
use crate::spec::{Field, MessageSpec, Ty};
use crate::versions::{Cond, Versions};

/// A struct to generate.
pub(crate) struct StructDef<'a> {
    /// The Rust type name (the spec type name).
    pub(crate) name: String,
    /// Its fields.
    pub(crate) fields: &'a [Field],
    /// The versions it can be encoded in (parent versions intersected with its own).
    pub(crate) ctx: Versions,
    /// Doc text for the type.
    pub(crate) about: String,
    /// Whether this is the message's top-level type.
    pub(crate) top: bool,
    /// Whether any version in `ctx` is flexible (the struct keeps unknown tagged fields).
    pub(crate) flexible: bool,
}

/// Collects every struct a message declares: the top-level type, inline structs depth first,
/// then common structs.
pub(crate) fn collect_structs(msg: &MessageSpec) -> Result<Vec<StructDef<'_>>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let common: HashSet<&str> = msg.common.iter().map(|c| c.name.as_str()).collect();
    out.push(StructDef {
        name: msg.name.clone(),
        fields: &msg.fields,
        ctx: msg.valid,
        about: String::new(),
        top: true,
        flexible: !msg.flexible.intersect(msg.valid).is_empty(),
    });
    seen.insert(msg.name.clone());
    walk(msg, &msg.fields, msg.valid, &common, &mut seen, &mut out)?;
    for c in &msg.common {
        if !seen.insert(c.name.clone()) {
            bail!("{}: struct {} defined twice", msg.name, c.name);
        }
        let ctx = c.versions.intersect(msg.valid);
        out.push(StructDef {
            name: c.name.clone(),
            fields: &c.fields,
            ctx,
            about: format!("Common struct `{}`.", c.name),
            top: false,
            flexible: !msg.flexible.intersect(ctx).is_empty(),
        });
        walk(msg, &c.fields, ctx, &common, &mut seen, &mut out)?;
    }
    Ok(out)
}

fn walk<'a>(
    msg: &MessageSpec,
    fields: &'a [Field],
    ctx: Versions,
    common: &HashSet<&str>,
    seen: &mut HashSet<String>,
    out: &mut Vec<StructDef<'a>>,
) -> Result<()> {
    for f in fields {
        let Some(sname) = f.ty.struct_name() else {
            if !f.fields.is_empty() {
                bail!(
                    "{}: field {} has fields but no struct type",
                    msg.name,
                    f.name
                );
            }
            continue;
        };
        if f.fields.is_empty() {
            if !common.contains(sname) {
                bail!("{}: struct {} is not defined", msg.name, sname);
            }
            continue;
        }
        if !seen.insert(sname.to_string()) {
            bail!("{}: struct {} defined twice", msg.name, sname);
        }
        let fctx = ctx.intersect(f.versions);
        out.push(StructDef {
            name: sname.to_string(),
            fields: &f.fields,
            ctx: fctx,
            about: f.about.clone(),
            top: false,
            flexible: !msg.flexible.intersect(fctx).is_empty(),
        });
        walk(msg, &f.fields, fctx, common, seen, out)?;
    }
    Ok(())
}

/// A field as generated code sees it, relative to its struct's versions.
pub(crate) struct FieldGen<'a> {
    /// The spec field.
    pub(crate) f: &'a Field,
    /// The Rust field name.
    pub(crate) ident: String,
    /// `Struct.field`, for error messages.
    pub(crate) path: String,
    /// Whether the Rust type is an `Option`.
    pub(crate) optional: bool,
    /// Versions (within the struct's) where the field is on the wire untagged.
    pub(crate) mandatory: Cond,
    /// Versions where it is a tagged field, given the version is flexible.
    pub(crate) tagged: Cond,
    /// Versions where it does not exist.
    pub(crate) absent: Cond,
    /// Versions where null is allowed, given it is present.
    pub(crate) nullable: Cond,
    /// Versions where it uses compact encodings, given it is present.
    pub(crate) flex: Cond,
}

impl<'a> FieldGen<'a> {
    /// Analyses `f` within a struct used in versions `ctx` of `msg`.
    pub(crate) fn new(msg: &MessageSpec, sname: &str, f: &'a Field, ctx: Versions) -> Result<Self> {
        let present = f.versions.intersect(ctx);
        let tagged = f.tagged.intersect(present);
        let mandatory = present
            .subtract(f.tagged)
            .with_context(|| format!("{}.{}", sname, f.name))?;
        let flex_versions = f.flexible.unwrap_or(msg.flexible);
        if !tagged.is_empty() && tagged.intersect(msg.flexible) != tagged {
            bail!("{sname}.{}: tagged in non-flexible versions", f.name);
        }
        if matches!(f.ty, Ty::Records) && !tagged.is_empty() {
            bail!("{sname}.{}: tagged records are not supported", f.name);
        }
        let nullable_any = !f.nullable.intersect(f.versions).is_empty();
        if nullable_any
            && matches!(
                f.ty,
                Ty::Bool
                    | Ty::I8
                    | Ty::I16
                    | Ty::U16
                    | Ty::I32
                    | Ty::U32
                    | Ty::I64
                    | Ty::F64
                    | Ty::Uuid
            )
        {
            bail!("{sname}.{}: nullable {:?} is not supported", f.name, f.ty);
        }
        let ident = field_ident(&f.name);
        Ok(FieldGen {
            path: format!("{sname}.{ident}"),
            ident,
            f,
            optional: nullable_any || matches!(f.ty, Ty::Records),
            mandatory: mandatory.cond(ctx),
            tagged: tagged.cond(ctx.intersect(msg.flexible)),
            absent: present.cond_not(ctx),
            nullable: f.nullable.cond(present),
            flex: flex_versions.cond(present),
        })
    }

    /// The Rust type of the field.
    pub(crate) fn rust_type(&self) -> String {
        let t = base_type(&self.f.ty);
        if self.optional {
            format!("Option<{t}>")
        } else {
            t
        }
    }

    fn default_str(&self) -> &str {
        self.f.default.as_deref().unwrap_or("")
    }

    /// The default value as a Rust expression, and whether it equals the type's `Default`.
    pub(crate) fn default_expr(&self) -> Result<(String, bool)> {
        let d = self.default_str();
        let ctx = || format!("default of {}", self.path);
        let wrap = |inner: String, zero_inner: bool| -> (String, bool) {
            if self.optional {
                (format!("Some({inner})"), false)
            } else {
                (inner, zero_inner)
            }
        };
        if d == "null" {
            if !self.optional {
                bail!("{}: null default on a non-nullable field", self.path);
            }
            return Ok(("None".into(), true));
        }
        Ok(match &self.f.ty {
            Ty::Bool => match d {
                "" | "false" => ("false".into(), true),
                "true" => ("true".into(), false),
                _ => bail!("{}: bad bool default {d}", self.path),
            },
            Ty::I8 | Ty::I16 | Ty::U16 | Ty::I32 | Ty::U32 | Ty::I64 => {
                let v = parse_int(d).with_context(ctx)?;
                let (lo, hi) = match self.f.ty {
                    Ty::I8 => (i64::from(i8::MIN), i64::from(i8::MAX)),
                    Ty::I16 => (i64::from(i16::MIN), i64::from(i16::MAX)),
                    Ty::U16 => (0, i64::from(u16::MAX)),
                    Ty::I32 => (i64::from(i32::MIN), i64::from(i32::MAX)),
                    Ty::U32 => (0, i64::from(u32::MAX)),
                    _ => (i64::MIN, i64::MAX),
                };
                if v < lo || v > hi {
                    bail!("{}: default {d} out of range", self.path);
                }
                (v.to_string(), v == 0)
            }
            Ty::F64 => {
                let v: f64 = if d.is_empty() {
                    0.0
                } else {
                    d.parse().with_context(ctx)?
                };
                (format!("{v:?}"), v == 0.0)
            }
            Ty::Str => {
                if d.is_empty() {
                    wrap("String::new()".into(), true)
                } else {
                    wrap(format!("String::from({})", str_lit(d)), false)
                }
            }
            Ty::Bytes | Ty::Records => {
                if !d.is_empty() {
                    bail!("{}: bytes defaults must be empty or null", self.path);
                }
                if matches!(self.f.ty, Ty::Records) {
                    ("None".into(), true)
                } else {
                    wrap("Bytes::new()".into(), true)
                }
            }
            Ty::Uuid => {
                if d.is_empty() {
                    ("Uuid::ZERO".into(), true)
                } else {
                    let u = parse_uuid(d).with_context(ctx)?;
                    (format!("Uuid({u:?})"), u == [0; 16])
                }
            }
            Ty::Array(_) => {
                if !d.is_empty() {
                    bail!("{}: array defaults must be empty or null", self.path);
                }
                wrap("Vec::new()".into(), true)
            }
            Ty::Struct(n) => {
                if !d.is_empty() {
                    bail!("{}: struct defaults must be empty or null", self.path);
                }
                wrap(format!("{n}::default()"), true)
            }
        })
    }

    /// A Rust boolean expression: the value at `acc` (a place like `self.x`) is not the
    /// default.
    pub(crate) fn non_default(&self, acc: &str) -> Result<String> {
        let (def, _) = self.default_expr()?;
        let null_default = def == "None";
        Ok(match &self.f.ty {
            Ty::Records => format!("{acc}.is_some()"),
            _ if null_default => format!("{acc}.is_some()"),
            Ty::Bool if def == "true" => format!("!{acc}"),
            Ty::Bool => acc.to_string(),
            Ty::Str if self.optional => {
                let inner = self.default_str();
                format!("{acc}.as_deref() != Some({})", str_lit(inner))
            }
            Ty::Str if self.default_str().is_empty() => format!("!{acc}.is_empty()"),
            Ty::Str => format!("{acc} != {}", str_lit(self.default_str())),
            Ty::Bytes | Ty::Array(_) if self.optional => {
                format!("!matches!(&{acc}, Some(v) if v.is_empty())")
            }
            Ty::Bytes | Ty::Array(_) => format!("!{acc}.is_empty()"),
            _ => format!("{acc} != {def}"),
        })
    }
}

fn parse_int(d: &str) -> Result<i64> {
    if d.is_empty() {
        return Ok(0);
    }
    let (neg, body) = match d.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, d),
    };
    let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16)?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8)?
    } else {
        body.parse::<i64>()?
    };
    Ok(if neg { -v } else { v })
}

fn parse_uuid(s: &str) -> Result<[u8; 16]> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else {
            bail!("bad uuid {s}");
        };
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out.try_into().map_err(|_| anyhow::anyhow!("bad uuid {s}"))
}

/// The Rust type of a spec type, without the nullable `Option`.
pub(crate) fn base_type(ty: &Ty) -> String {
    match ty {
        Ty::Bool => "bool".into(),
        Ty::I8 => "i8".into(),
        Ty::I16 => "i16".into(),
        Ty::U16 => "u16".into(),
        Ty::I32 => "i32".into(),
        Ty::U32 => "u32".into(),
        Ty::I64 => "i64".into(),
        Ty::F64 => "f64".into(),
        Ty::Str => "String".into(),
        Ty::Bytes | Ty::Records => "Bytes".into(),
        Ty::Uuid => "Uuid".into(),
        Ty::Struct(n) => n.clone(),
        Ty::Array(e) => format!("Vec<{}>", base_type(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_parse_like_java() -> Result<()> {
        assert_eq!(parse_int("-1")?, -1);
        assert_eq!(parse_int("0x7fffffff")?, 0x7fff_ffff);
        assert_eq!(parse_int("")?, 0);
        assert_eq!(parse_int("2000")?, 2000);
        assert_eq!(parse_int("0")?, 0);
        Ok(())
    }
}
