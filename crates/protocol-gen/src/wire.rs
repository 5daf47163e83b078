//! Rust expressions and statements that read or write one value of a spec type.
//!
//! Generated code reads from `r: &mut Reader` and writes to `w: &mut BytesMut`, with the
//! message version in `version`.

use crate::model::base_type;
use crate::spec::Ty;
use crate::versions::Cond;

/// How the value being written is reached.
pub(crate) struct Acc {
    /// A place expression (`self.x`, `e`), for method calls.
    pub(crate) place: String,
    /// A reference expression (`&self.x`, `e`).
    pub(crate) rf: String,
    /// A by-value expression for `Copy` types (`self.x`, `*e`).
    pub(crate) val: String,
}

impl Acc {
    /// Access through a field of `self`.
    pub(crate) fn field(ident: &str) -> Acc {
        Acc {
            place: format!("self.{ident}"),
            rf: format!("&self.{ident}"),
            val: format!("self.{ident}"),
        }
    }

    /// Access through a reference binding.
    pub(crate) fn binding(name: &str) -> Acc {
        Acc {
            place: name.to_string(),
            rf: name.to_string(),
            val: format!("*{name}"),
        }
    }
}

fn prim_read(ty: &Ty) -> Option<&'static str> {
    Some(match ty {
        Ty::Bool => "r.read_bool()?",
        Ty::I8 => "r.read_i8()?",
        Ty::I16 => "r.read_i16()?",
        Ty::U16 => "r.read_u16()?",
        Ty::I32 => "r.read_i32()?",
        Ty::U32 => "r.read_u32()?",
        Ty::I64 => "r.read_i64()?",
        Ty::F64 => "r.read_f64()?",
        Ty::Uuid => "r.read_uuid()?",
        _ => return None,
    })
}

/// Chooses between the nullable and non-nullable form of a read.
fn nullable_read(nullable: &Cond, null_form: String, plain_form: String) -> String {
    match nullable {
        Cond::Always => null_form,
        Cond::Never => format!("Some({plain_form})"),
        Cond::When(c) => format!("if {c} {{ {null_form} }} else {{ Some({plain_form}) }}"),
    }
}

/// An expression reading one value of `ty` (an `Option` when `optional`).
pub(crate) fn decode_value(
    ty: &Ty,
    optional: bool,
    nullable: &Cond,
    flex: &str,
    tagged: bool,
) -> String {
    if let Some(p) = prim_read(ty) {
        return p.to_string();
    }
    match ty {
        Ty::Str if optional => nullable_read(
            nullable,
            format!("r.read_nullable_string({flex})?"),
            format!("r.read_string({flex})?"),
        ),
        Ty::Str => format!("r.read_string({flex})?"),
        Ty::Bytes | Ty::Records if optional => nullable_read(
            nullable,
            format!("r.read_nullable_bytes({flex})?"),
            format!("r.read_bytes({flex})?"),
        ),
        Ty::Bytes | Ty::Records => format!("r.read_bytes({flex})?"),
        Ty::Struct(n) => {
            let read = format!("{n}::decode(r, version)?");
            if !optional {
                return read;
            }
            let marker = if tagged {
                "r.read_unsigned_varint()? == 0"
            } else {
                "r.read_i8()? < 0"
            };
            match nullable {
                Cond::Never => format!("Some({read})"),
                Cond::Always => format!("if {marker} {{ None }} else {{ Some({read}) }}"),
                Cond::When(c) => {
                    format!("if {c} && {marker} {{ None }} else {{ Some({read}) }}")
                }
            }
        }
        Ty::Array(elem) => {
            let e = decode_value(elem, false, &Cond::Never, flex, false);
            let fill = format!(
                "let mut items = codec::vec_for::<{}>(n); for _ in 0..n {{ items.push({e}); }}",
                base_type(elem)
            );
            if !optional {
                return format!("{{ let n = r.read_array_len({flex})?; {fill} items }}");
            }
            let len = nullable_read(
                nullable,
                format!("r.read_nullable_array_len({flex})?"),
                format!("r.read_array_len({flex})?"),
            );
            format!("match {len} {{ Some(n) => {{ {fill} Some(items) }} None => None }}")
        }
        _ => unreachable!("primitive types are handled above"),
    }
}

fn prim_write(ty: &Ty, val: &str, rf: &str) -> Option<String> {
    Some(match ty {
        Ty::Bool => format!("codec::put_bool(w, {val});"),
        Ty::I8 => format!("w.put_i8({val});"),
        Ty::I16 => format!("w.put_i16({val});"),
        Ty::U16 => format!("w.put_u16({val});"),
        Ty::I32 => format!("w.put_i32({val});"),
        Ty::U32 => format!("w.put_u32({val});"),
        Ty::I64 => format!("w.put_i64({val});"),
        Ty::F64 => format!("w.put_f64({val});"),
        Ty::Uuid => format!("codec::put_uuid(w, {rf});"),
        _ => return None,
    })
}

/// Statements writing a present (non-null) value of `ty`.
fn encode_present(ty: &Ty, flex: &str, acc: &Acc) -> String {
    if let Some(s) = prim_write(ty, &acc.val, &acc.rf) {
        return s;
    }
    match ty {
        Ty::Str => format!("codec::put_string(w, {flex}, {})?;", acc.rf),
        Ty::Bytes | Ty::Records => format!("codec::put_bytes(w, {flex}, {})?;", acc.rf),
        Ty::Struct(_) => format!("{}.encode(w, version)?;", acc.place),
        Ty::Array(elem) => {
            let e = encode_present(elem, flex, &Acc::binding("e"));
            format!(
                "codec::put_array_len(w, {flex}, {}.len())?; for e in {} {{ {e} }}",
                acc.place, acc.rf
            )
        }
        _ => unreachable!("primitive types are handled above"),
    }
}

/// Statements writing one value of `ty` (an `Option` when `optional`) at `acc`.
pub(crate) fn encode_value(
    ty: &Ty,
    optional: bool,
    nullable: &Cond,
    flex: &str,
    tagged: bool,
    acc: &Acc,
    path: &str,
) -> String {
    if !optional {
        return encode_present(ty, flex, acc);
    }
    match (ty, nullable) {
        (Ty::Str, Cond::Always) => {
            return format!(
                "codec::put_nullable_string(w, {flex}, {}.as_deref())?;",
                acc.place
            )
        }
        (Ty::Bytes | Ty::Records, Cond::Always) => {
            return format!(
                "codec::put_nullable_bytes(w, {flex}, {}.as_deref())?;",
                acc.place
            )
        }
        _ => {}
    }
    let is_struct = matches!(ty, Ty::Struct(_));
    let (null_marker, some_marker) = match ty {
        Ty::Str => (
            format!("codec::put_nullable_string(w, {flex}, None)?;"),
            String::new(),
        ),
        Ty::Bytes | Ty::Records => (
            format!("codec::put_nullable_bytes(w, {flex}, None)?;"),
            String::new(),
        ),
        Ty::Array(_) => (
            format!("codec::put_nullable_array_len(w, {flex}, None)?;"),
            String::new(),
        ),
        _ if tagged => (
            "codec::put_unsigned_varint(w, 0);".to_string(),
            "codec::put_unsigned_varint(w, 1);".to_string(),
        ),
        _ => ("w.put_i8(-1);".to_string(), "w.put_i8(1);".to_string()),
    };
    let null_err =
        format!("return Err(EncodeError::NullNotAllowed {{ field: {path:?}, version }});");
    let on_none = match nullable {
        Cond::Always => null_marker,
        Cond::Never => null_err,
        Cond::When(c) => format!("if {c} {{ {null_marker} }} else {{ {null_err} }}"),
    };
    let on_some_marker = match (is_struct, nullable) {
        (false, _) | (true, Cond::Never) => String::new(),
        (true, Cond::Always) => some_marker,
        (true, Cond::When(c)) => format!("if {c} {{ {some_marker} }}"),
    };
    let present = encode_present(ty, flex, &Acc::binding("v"));
    format!(
        "match {} {{ Some(v) => {{ {on_some_marker} {present} }} None => {{ {on_none} }} }}",
        acc.rf
    )
}
