//! Version ranges as the specs write them ("0+", "1-3", "5", "none") and the Rust conditions
//! that test them.

use std::fmt;

use anyhow::{bail, Context, Result};

/// An inclusive range of versions; empty when `lo > hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Versions {
    /// Lowest version in the range.
    pub(crate) lo: i16,
    /// Highest version in the range (`i16::MAX` for open-ended ranges).
    pub(crate) hi: i16,
}

/// Whether a property holds in a context, as generated code tests it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    /// Holds in no version of the context.
    Never,
    /// Holds in every version of the context.
    Always,
    /// Holds when this Rust boolean expression (over `version`) is true.
    When(String),
}

impl Versions {
    /// The empty range.
    pub(crate) const NONE: Versions = Versions { lo: 1, hi: 0 };

    /// Parses a spec version string.
    pub(crate) fn parse(s: &str) -> Result<Versions> {
        let s = s.trim();
        if s == "none" {
            return Ok(Versions::NONE);
        }
        if let Some(lo) = s.strip_suffix('+') {
            let lo = lo
                .parse()
                .with_context(|| format!("bad version range {s:?}"))?;
            return Ok(Versions { lo, hi: i16::MAX });
        }
        if let Some((lo, hi)) = s.split_once('-') {
            let lo = lo
                .parse()
                .with_context(|| format!("bad version range {s:?}"))?;
            let hi = hi
                .parse()
                .with_context(|| format!("bad version range {s:?}"))?;
            return Ok(Versions { lo, hi });
        }
        let v = s
            .parse()
            .with_context(|| format!("bad version range {s:?}"))?;
        Ok(Versions { lo: v, hi: v })
    }

    /// True when no version is in the range.
    pub(crate) fn is_empty(self) -> bool {
        self.lo > self.hi
    }

    /// The versions in both ranges.
    pub(crate) fn intersect(self, other: Versions) -> Versions {
        let r = Versions {
            lo: self.lo.max(other.lo),
            hi: self.hi.min(other.hi),
        };
        if r.is_empty() {
            Versions::NONE
        } else {
            r
        }
    }

    /// The versions in `self` but not in `other`; fails if that is not one range.
    pub(crate) fn subtract(self, other: Versions) -> Result<Versions> {
        let o = other.intersect(self);
        if o.is_empty() {
            return Ok(self);
        }
        if o == self {
            return Ok(Versions::NONE);
        }
        if o.hi == self.hi {
            return Ok(Versions {
                lo: self.lo,
                hi: o.lo - 1,
            });
        }
        if o.lo == self.lo {
            return Ok(Versions {
                lo: o.hi + 1,
                hi: self.hi,
            });
        }
        bail!("{self} minus {other} is not a single range")
    }

    /// How generated code tests membership in `self` for a version known to be in `ctx`.
    pub(crate) fn cond(self, ctx: Versions) -> Cond {
        let s = self.intersect(ctx);
        if s.is_empty() {
            return Cond::Never;
        }
        if s == ctx {
            return Cond::Always;
        }
        let low = s.lo > ctx.lo;
        let high = s.hi < ctx.hi;
        let e = match (low, high) {
            (true, true) if s.lo == s.hi => format!("version == {}", s.lo),
            (true, true) => format!("({}..={}).contains(&version)", s.lo, s.hi),
            (true, false) => format!("version >= {}", s.lo),
            (false, true) => format!("version <= {}", s.hi),
            (false, false) => return Cond::Always,
        };
        Cond::When(e)
    }
}

impl Versions {
    /// How generated code tests that a version of `ctx` is *not* in `self`.
    pub(crate) fn cond_not(self, ctx: Versions) -> Cond {
        let s = self.intersect(ctx);
        if s.is_empty() {
            return Cond::Always;
        }
        if s == ctx {
            return Cond::Never;
        }
        let e = match (s.lo > ctx.lo, s.hi < ctx.hi) {
            (true, true) if s.lo == s.hi => format!("version != {}", s.lo),
            (true, true) => format!("!({}..={}).contains(&version)", s.lo, s.hi),
            (true, false) => format!("version < {}", s.lo),
            _ => format!("version > {}", s.hi),
        };
        Cond::When(e)
    }
}

impl Cond {
    /// The condition as a Rust boolean expression.
    pub(crate) fn expr(&self) -> String {
        match self {
            Cond::Never => "false".into(),
            Cond::Always => "true".into(),
            Cond::When(e) => e.clone(),
        }
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            write!(f, "none")
        } else if self.hi == i16::MAX {
            write!(f, "{}+", self.lo)
        } else if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_cond() -> Result<()> {
        let ctx = Versions::parse("0-11")?;
        assert_eq!(Versions::parse("0+")?.cond(ctx), Cond::Always);
        assert_eq!(
            Versions::parse("3+")?.cond(ctx),
            Cond::When("version >= 3".into())
        );
        assert_eq!(
            Versions::parse("0-2")?.cond(ctx),
            Cond::When("version <= 2".into())
        );
        assert_eq!(Versions::parse("none")?.cond(ctx), Cond::Never);
        assert_eq!(
            Versions::parse("12+")?.subtract(Versions::parse("12+")?)?,
            Versions::NONE
        );
        assert_eq!(
            Versions::parse("0+")?.subtract(Versions::parse("3+")?)?,
            Versions { lo: 0, hi: 2 }
        );
        Ok(())
    }
}
