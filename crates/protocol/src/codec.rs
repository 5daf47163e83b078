//! Primitive readers and writers (stub: replaced by the codec work).
