//! Input rules shared by several resources.
use crate::problem::{ApiError, FieldError};

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Lower-cases and trims; accepts `local@domain.tld` without spaces, at
/// most 254 characters (the SMTP limit).
pub fn normalize_email(field: &str, email: &str) -> Result<String, FieldError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
            }
            None => false,
        };
    if valid {
        Ok(email)
    } else {
        Err(FieldError::new(field, "not a valid email address"))
    }
}

pub fn check_password(field: &str, password: &str, email: &str) -> Result<(), FieldError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(FieldError::new(
            field,
            format!("at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    if password.trim().to_lowercase() == email {
        return Err(FieldError::new(field, "must not be the email address"));
    }
    Ok(())
}

/// Namespace names as Temporal Cloud takes them: `[a-z0-9-]{2,39}`, not
/// starting or ending with `-`.
pub fn check_namespace_name(name: &str) -> Result<(), FieldError> {
    let valid = (2..=39).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(FieldError::new(
            "name",
            "2 to 39 characters of a-z, 0-9 and -, not starting or ending with -",
        ))
    }
}

pub fn check_range(field: &str, value: u32, min: u32, max: u32) -> Result<(), FieldError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(FieldError::new(field, format!("between {min} and {max}")))
    }
}

/// A display name: 1–`max` characters, no control characters.
pub fn check_name(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    let n = value.trim().chars().count();
    if n == 0 || n > max || value.chars().any(char::is_control) {
        Err(FieldError::new(
            field,
            format!("1 to {max} characters, no control characters"),
        ))
    } else {
        Ok(())
    }
}

/// Collects field errors so a request learns all of them at once.
#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn add(&mut self, result: Result<(), FieldError>) -> &mut Self {
        if let Err(e) = result {
            self.0.push(e);
        }
        self
    }

    pub fn done(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            normalize_email("email", "  Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        for bad in [
            "", "a", "a@b", "@b.c", "a@b..c", "a b@c.d", "a@@b.c", "a@.b.c",
        ] {
            assert!(normalize_email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_and_names() {
        assert!(check_password("p", "short", "a@b.c").is_err());
        assert!(check_password("p", "long enough pw", "a@b.c").is_ok());
        assert!(check_password("p", "alice@example.com", "alice@example.com").is_err());
        assert!(check_password("p", &"x".repeat(257), "a@b.c").is_err());
        for good in ["ab", "orders-2", &"a".repeat(39)] {
            assert!(check_namespace_name(good).is_ok(), "{good}");
        }
        for bad in ["a", "Orders", "a_b", "-ab", "ab-", &"a".repeat(40), "a.b"] {
            assert!(check_namespace_name(bad).is_err(), "{bad}");
        }
        assert!(check_range("d", 0, 1, 90).is_err());
        assert!(check_range("d", 90, 1, 90).is_ok());
    }
}
