//! Panics caught on the runtime's threads, turned into messages.

use std::any::Any;

/// The text of a panic payload: the `&str` or `String` that `panic!`
/// formatted, else `<non-string panic payload>` (a payload of any other
/// type, from `std::panic::panic_any`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::catch_unwind;

    #[test]
    fn messages_of_each_payload_kind() {
        let literal = catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_message(literal.as_ref()), "plain");
        let formatted = catch_unwind(|| panic!("value {}", 7)).unwrap_err();
        assert_eq!(panic_message(formatted.as_ref()), "value 7");
        let other = catch_unwind(|| std::panic::panic_any(42_u8)).unwrap_err();
        assert_eq!(panic_message(other.as_ref()), "<non-string panic payload>");
    }
}
