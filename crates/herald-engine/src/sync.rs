//! The one poison-tolerant mutex lock that the engines and the hub share.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a `std::sync::Mutex`, taking a poisoned lock over instead of panicking.
///
/// A lock is poisoned when a thread panicked while holding it. That panic already failed its
/// own task; failing every other task that touches the same data would turn one bug into an
/// outage. Taking the lock over is sound only because every critical section guarded this way
/// is short (a map insert or remove, a few field updates) and completes each change before
/// anything that can panic runs, so a panic cannot leave the data half updated. A caller whose
/// critical section cannot promise that must not use this function. Each call site says why
/// its sections qualify.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::lock;

    #[test]
    fn a_poisoned_lock_is_taken_over_with_its_data() {
        let mutex = Arc::new(Mutex::new(vec![1]));
        let holder = mutex.clone();
        let panicked = std::thread::spawn(move || {
            let mut guard = lock(&holder);
            guard.push(2);
            panic!("poison the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(mutex.is_poisoned());
        assert_eq!(*lock(&mutex), [1, 2]);
    }
}
