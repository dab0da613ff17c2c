//! Walking an error's causes: the one helper every module uses to look inside a chain (the
//! upstream error kinds, the request body's own failure) or to print it on one line.

use std::error::Error as StdError;
use std::fmt;

/// `error`, then each of its causes, outermost first.
pub(crate) fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

/// The first error of type `T` in the chain, `error` itself included.
pub(crate) fn find<'a, T: StdError + 'static>(
    error: &'a (dyn StdError + 'static),
) -> Option<&'a T> {
    causes(error).find_map(|e| e.downcast_ref::<T>())
}

/// An error and its causes on one line: `a: b: c`. A cause whose text the previous message
/// already ends with (`cannot listen on X: Address in use` caused by `Address in use`) is
/// not printed again.
#[derive(Debug)]
pub(crate) struct ErrorChain<'a>(pub &'a (dyn StdError + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut previous = String::new();
        for (i, err) in causes(self.0).enumerate() {
            let text = err.to_string();
            if i > 0 {
                if previous.ends_with(&text) {
                    continue;
                }
                f.write_str(": ")?;
            }
            f.write_str(&text)?;
            previous = text;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn walks_prints_and_finds_causes() {
        let error = Outer(std::io::Error::new(std::io::ErrorKind::TimedOut, "slow"));
        assert_eq!(causes(&error).count(), 2);
        assert_eq!(ErrorChain(&error).to_string(), "outer: slow");
        let io = find::<std::io::Error>(&error).map(std::io::Error::kind);
        assert_eq!(io, Some(std::io::ErrorKind::TimedOut));
        assert!(find::<std::fmt::Error>(&error).is_none());
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot listen: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn a_cause_already_in_the_message_is_not_printed_twice() {
        let error = Repeats(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "Address already in use (os error 98)",
        ));
        assert_eq!(
            ErrorChain(&error).to_string(),
            "cannot listen: Address already in use (os error 98)"
        );
    }
}
