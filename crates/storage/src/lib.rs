//! storage (stub)
