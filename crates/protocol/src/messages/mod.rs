//! Generated message types (stub).
