//! Frame size prefix (stub).
