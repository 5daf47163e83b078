//! Kafka error codes (stub).
