//! Rust source for one struct: declaration, `Default`, `Decode` and `Encode`.

use std::fmt::Write as _;

use anyhow::Result;

use crate::model::{FieldGen, StructDef};
use crate::naming::doc_text;
use crate::spec::MessageSpec;
use crate::versions::Cond;
use crate::wire::{decode_value, encode_value, Acc};

/// Generates everything for one struct of `msg`.
pub(crate) fn emit_struct(msg: &MessageSpec, def: &StructDef<'_>) -> Result<String> {
    let fields = def
        .fields
        .iter()
        .map(|f| FieldGen::new(msg, &def.name, f, def.ctx))
        .collect::<Result<Vec<_>>>()?;
    let mut out = String::new();
    emit_decl(msg, def, &fields, &mut out)?;
    emit_decode(msg, def, &fields, &mut out)?;
    emit_encode(msg, def, &fields, &mut out)?;
    if msg.kind == crate::spec::Kind::Response {
        emit_error_codes(def, &fields, &mut out);
    }
    Ok(out)
}

/// `ErrorCodes` for a response struct: every `ErrorCode` field it holds, nested ones included.
fn emit_error_codes(def: &StructDef<'_>, fields: &[FieldGen<'_>], out: &mut String) {
    let mut body = String::new();
    for fg in fields {
        let id = &fg.ident;
        match (&fg.f.ty, fg.optional) {
            (crate::spec::Ty::I16, false) if fg.f.name == "ErrorCode" => {
                let _ = writeln!(body, "f(self.{id});");
            }
            (crate::spec::Ty::Struct(_), false) => {
                let _ = writeln!(body, "self.{id}.error_codes(f);");
            }
            (crate::spec::Ty::Struct(_), true) => {
                let _ = writeln!(body, "if let Some(x) = &self.{id} {{ x.error_codes(f); }}");
            }
            (crate::spec::Ty::Array(e), false) if e.struct_name().is_some() => {
                let _ = writeln!(body, "for x in &self.{id} {{ x.error_codes(f); }}");
            }
            (crate::spec::Ty::Array(e), true) if e.struct_name().is_some() => {
                let _ = writeln!(
                    body,
                    "if let Some(v) = &self.{id} {{ for x in v {{ x.error_codes(f); }} }}"
                );
            }
            _ => {}
        }
    }
    let f = if body.is_empty() { "_f" } else { "f" };
    let _ = writeln!(
        out,
        "impl ErrorCodes for {} {{\nfn error_codes(&self, {f}: &mut dyn FnMut(i16)) {{\n{body}}}\n}}\n",
        def.name
    );
}

fn struct_doc(msg: &MessageSpec, def: &StructDef<'_>) -> String {
    if def.top {
        let what = match msg.kind {
            crate::spec::Kind::Request => "request",
            crate::spec::Kind::Response => "response",
            crate::spec::Kind::Header => "header",
            crate::spec::Kind::Data => "data structure",
        };
        let key = msg
            .api_key
            .map(|k| format!(" (API key {k})"))
            .unwrap_or_default();
        format!(
            "The Kafka {} {what}{key}, versions {}.",
            msg.name, msg.valid
        )
    } else if def.about.is_empty() {
        format!("The `{}` struct, versions {}.", def.name, def.ctx)
    } else {
        format!("{} Used in versions {}.", doc_text(&def.about), def.ctx)
    }
}

fn field_doc(fg: &FieldGen<'_>) -> String {
    let f = fg.f;
    let mut doc = if f.about.trim().is_empty() {
        format!("The {} field.", f.name)
    } else {
        doc_text(&f.about)
    };
    let _ = write!(doc, " Versions: {}", f.versions);
    if !f.nullable.is_empty() {
        let _ = write!(doc, "; nullable: {}", f.nullable);
    }
    if let Some(tag) = f.tag {
        let _ = write!(doc, "; tagged: {} (tag {tag})", f.tagged);
    }
    if let Some(d) = &f.default {
        let _ = write!(doc, "; default: {}", doc_text(d));
    }
    doc.push('.');
    doc
}

fn emit_decl(
    msg: &MessageSpec,
    def: &StructDef<'_>,
    fields: &[FieldGen<'_>],
    out: &mut String,
) -> Result<()> {
    let mut defaults = Vec::new();
    let mut all_zero = true;
    for fg in fields {
        let (expr, zero) = fg.default_expr()?;
        all_zero &= zero;
        defaults.push(expr);
    }
    let derive_default = if all_zero { ", Default" } else { "" };
    let _ = writeln!(out, "/// {}", struct_doc(msg, def));
    let _ = writeln!(out, "#[derive(Debug, Clone, PartialEq{derive_default})]");
    let _ = writeln!(out, "pub struct {} {{", def.name);
    for fg in fields {
        let _ = writeln!(out, "/// {}", field_doc(fg));
        let _ = writeln!(out, "pub {}: {},", fg.ident, fg.rust_type());
    }
    if def.flexible {
        out.push_str("/// Tagged fields this codec does not know, kept so they round-trip.\n");
        out.push_str("pub unknown_tagged_fields: Vec<(u32, Bytes)>,\n");
    }
    out.push_str("}\n\n");
    if !all_zero {
        let _ = writeln!(out, "impl Default for {} {{", def.name);
        out.push_str("fn default() -> Self {\nSelf {\n");
        for (fg, d) in fields.iter().zip(&defaults) {
            let _ = writeln!(out, "{}: {d},", fg.ident);
        }
        if def.flexible {
            out.push_str("unknown_tagged_fields: Vec::new(),\n");
        }
        out.push_str("}\n}\n}\n\n");
    }
    Ok(())
}

/// The `compact` argument for a field: a literal, the shared `flexible` local, or its own
/// condition.
fn flex_arg(fg: &FieldGen<'_>, msg_flex: &Cond) -> String {
    match &fg.flex {
        Cond::Always => "true".into(),
        Cond::Never => "false".into(),
        c if c == msg_flex => "flexible".into(),
        Cond::When(c) => format!("({c})"),
    }
}

fn version_check(def: &StructDef<'_>, err: &str) -> String {
    format!(
        "if !({}..={}).contains(&version) {{ return Err({err}::UnsupportedVersion {{ message: {:?}, version }}); }}\n",
        def.ctx.lo, def.ctx.hi, def.name
    )
}

fn with_flexible_local(body: String, msg_flex: &Cond) -> String {
    if uses_ident(&body, "flexible") {
        format!("let flexible = {};\n{body}", msg_flex.expr())
    } else {
        body
    }
}

/// True when `ident` occurs in `code` as a variable (not as a `.field` or part of a word).
pub(crate) fn uses_ident(code: &str, ident: &str) -> bool {
    let bytes = code.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    code.match_indices(ident).any(|(i, _)| {
        let before = i.checked_sub(1).and_then(|j| bytes.get(j)).copied();
        let after = bytes.get(i + ident.len()).copied();
        !before.is_some_and(|b| word(b) || b == b'.' || b == b'"')
            && !after.is_some_and(|b| word(b) || b == b'"')
    })
}

fn tagged_fields_sorted<'b, 'a>(fields: &'b [FieldGen<'a>]) -> Vec<&'b FieldGen<'a>> {
    let mut t: Vec<&FieldGen<'_>> = fields.iter().filter(|f| f.tagged != Cond::Never).collect();
    t.sort_by_key(|f| f.f.tag);
    t
}

fn emit_decode(
    msg: &MessageSpec,
    def: &StructDef<'_>,
    fields: &[FieldGen<'_>],
    out: &mut String,
) -> Result<()> {
    let msg_flex = msg.flexible.cond(def.ctx);
    // Fields are read in spec order as the initialisers of a struct literal (Rust evaluates
    // them in the order written); tagged fields are filled in afterwards.
    let mut init = String::new();
    for fg in fields {
        let flex = flex_arg(fg, &msg_flex);
        let expr = decode_value(&fg.f.ty, fg.optional, &fg.nullable, &flex, false);
        let (default, _) = fg.default_expr()?;
        let value = match &fg.mandatory {
            Cond::Never => default,
            Cond::Always => expr,
            Cond::When(c) => format!("if {c} {{ {expr} }} else {{ {default} }}"),
        };
        let _ = writeln!(init, "{}: {value},", fg.ident);
    }
    let mut tail = String::new();
    if def.flexible {
        init.push_str("unknown_tagged_fields: Vec::new(),\n");
    }
    if def.flexible && msg_flex != Cond::Never {
        let mut arms = String::new();
        for fg in tagged_fields_sorted(fields) {
            let tag = fg.f.tag.unwrap_or_default();
            let guard = match &fg.tagged {
                Cond::When(c) => format!(" if {c}"),
                _ => String::new(),
            };
            let expr = decode_value(&fg.f.ty, fg.optional, &fg.nullable, "true", true);
            let _ = writeln!(
                arms,
                "{tag}{guard} => {{ let r = &mut field; this.{} = {expr}; }}",
                fg.ident
            );
        }
        let handle = if arms.is_empty() {
            "let (tag, field) = r.read_tagged_field()?;\nthis.unknown_tagged_fields.push((tag, field.into_bytes()));".to_string()
        } else {
            format!(
                "let (tag, mut field) = r.read_tagged_field()?;\nmatch tag {{\n{arms}_ => this.unknown_tagged_fields.push((tag, field.into_bytes())),\n}}"
            )
        };
        let section = format!("let n = r.read_tagged_count()?;\nfor _ in 0..n {{\n{handle}\n}}\n");
        match &msg_flex {
            Cond::When(c) => {
                let _ = writeln!(tail, "if {c} {{\n{section}}}");
            }
            _ => tail.push_str(&section),
        }
    }
    let mut body = if tail.is_empty() {
        format!("Ok(Self {{\n{init}}})\n")
    } else {
        format!("let mut this = Self {{\n{init}}};\n{tail}Ok(this)\n")
    };
    body = with_flexible_local(body, &msg_flex);
    if def.top {
        body = version_check(def, "DecodeError") + &body;
    }
    let r = if uses_ident(&body, "r") { "r" } else { "_r" };
    let v = if uses_ident(&body, "version") {
        "version"
    } else {
        "_version"
    };
    let _ = writeln!(
        out,
        "impl Decode for {} {{\nfn decode({r}: &mut Reader, {v}: i16) -> Result<Self, DecodeError> {{\n{body}}}\n}}\n",
        def.name
    );
    Ok(())
}

fn emit_encode(
    msg: &MessageSpec,
    def: &StructDef<'_>,
    fields: &[FieldGen<'_>],
    out: &mut String,
) -> Result<()> {
    let msg_flex = msg.flexible.cond(def.ctx);
    let mut body = String::new();
    // Responses are lenient: the broker builds the newest shape and a version that lacks a
    // field simply does not carry it. Requests stay strict, as in Kafka, so a client cannot
    // silently lose what it meant to send.
    let strict = msg.kind != crate::spec::Kind::Response;
    for fg in fields {
        if strict && !fg.f.ignorable {
            let acc = format!("self.{}", fg.ident);
            let nd = fg.non_default(&acc)?;
            let err = format!(
                "return Err(EncodeError::NonIgnorableField {{ field: {:?}, version }});",
                fg.path
            );
            match &fg.absent {
                Cond::Never => {}
                Cond::Always => {
                    let _ = writeln!(body, "if {nd} {{ {err} }}");
                }
                Cond::When(c) if c.contains("||") => {
                    let _ = writeln!(body, "if ({c}) && {nd} {{ {err} }}");
                }
                Cond::When(c) => {
                    let _ = writeln!(body, "if {c} && {nd} {{ {err} }}");
                }
            }
        }
        let flex = flex_arg(fg, &msg_flex);
        let stmts = encode_value(
            &fg.f.ty,
            fg.optional,
            &fg.nullable,
            &flex,
            false,
            &Acc::field(&fg.ident),
            &fg.path,
        );
        match &fg.mandatory {
            Cond::Never => {}
            Cond::Always => {
                let _ = writeln!(body, "{stmts}");
            }
            Cond::When(c) => {
                let _ = writeln!(body, "if {c} {{ {stmts} }}");
            }
        }
    }
    if def.flexible {
        let tagged = tagged_fields_sorted(fields);
        let mut section = String::new();
        if tagged.is_empty() {
            section.push_str(
                "codec::put_tagged_fields(w, Vec::new(), &self.unknown_tagged_fields)?;\n",
            );
        } else {
            section.push_str("let mut tagged: Vec<(u32, BytesMut)> = Vec::new();\n");
            for fg in tagged {
                let nd = fg.non_default(&format!("self.{}", fg.ident))?;
                let cond = match &fg.tagged {
                    Cond::When(c) => format!("{c} && {nd}"),
                    _ => nd,
                };
                let stmts = encode_value(
                    &fg.f.ty,
                    fg.optional,
                    &fg.nullable,
                    "true",
                    true,
                    &Acc::field(&fg.ident),
                    &fg.path,
                );
                let _ = writeln!(
                    section,
                    "if {cond} {{\nlet mut b = BytesMut::new();\n{{\nlet w = &mut b;\n{stmts}\n}}\ntagged.push(({}, b));\n}}",
                    fg.f.tag.unwrap_or_default()
                );
            }
            section
                .push_str("codec::put_tagged_fields(w, tagged, &self.unknown_tagged_fields)?;\n");
        }
        let reject = format!(
            "if !self.unknown_tagged_fields.is_empty() {{ return Err(EncodeError::TaggedFieldsUnsupported {{ message: {:?}, version }}); }}",
            def.name
        );
        match &msg_flex {
            Cond::Always => body.push_str(&section),
            Cond::Never => {
                let _ = writeln!(body, "{reject}");
            }
            Cond::When(c) => {
                let _ = writeln!(body, "if {c} {{\n{section}}} else {reject}");
            }
        }
    }
    let mut full = String::new();
    if def.top {
        full.push_str(&version_check(def, "EncodeError"));
    }
    full.push_str(&with_flexible_local(body, &msg_flex));
    full.push_str("Ok(())\n");
    let w = if uses_ident(&full, "w") { "w" } else { "_w" };
    let v = if uses_ident(&full, "version") {
        "version"
    } else {
        "_version"
    };
    let _ = writeln!(
        out,
        "impl Encode for {} {{\nfn encode(&self, {w}: &mut BytesMut, {v}: i16) -> Result<(), EncodeError> {{\n{full}}}\n}}\n",
        def.name
    );
    Ok(())
}
