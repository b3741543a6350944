//! What the CLI's integration tests share.

use std::ops::{Deref, DerefMut};
use std::process::Child;

/// A `jaego serve` started by a test. It is killed when dropped, so a
/// failed assertion does not leave the server running after the test.
pub struct Running(pub Child);

impl Deref for Running {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
