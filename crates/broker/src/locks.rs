//! Lock access that survives poisoning: a panicking holder does not take the broker down
//! with it; the data behind these locks stays consistent because every writer replaces it
//! whole or under the storage layer's own checks.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Read access, even if a writer panicked.
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write access, even if a writer panicked.
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Exclusive access, even if a holder panicked.
pub(crate) fn lock<T>(lock: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
