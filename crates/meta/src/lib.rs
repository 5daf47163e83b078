//! meta (stub)
