//! Reading a resource's fields out of a JSON body: each field is
//! deserialised on its own, so one bad field is reported by name without
//! hiding the others, and nothing is written unless all are good.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use turnout_core::problem::FieldError;

pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    pub errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// Refuses fields not in `allowed` (a typo must not pass silently).
    pub fn new(obj: &'a Map<String, Value>, allowed: &[&str]) -> Self {
        Self {
            obj,
            errors: FieldError::unknown_fields(obj, allowed),
        }
    }

    /// The field's value: `None` when absent or null, or when it is wrong
    /// (and then the error is recorded).
    pub fn get<T: DeserializeOwned>(&mut self, field: &str) -> Option<T> {
        let value = self.obj.get(field)?;
        if value.is_null() {
            return None;
        }
        // Deserialised from the borrowed value: no copy of the body.
        match T::deserialize(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(FieldError::new(field, e.to_string()));
                None
            }
        }
    }

    pub fn required<T: DeserializeOwned>(&mut self, field: &str) -> Option<T> {
        if !self.obj.contains_key(field) || self.obj[field].is_null() {
            self.errors.push(FieldError::new(field, "is required"));
            return None;
        }
        self.get(field)
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(value())
        } else {
            Err(self.errors)
        }
    }
}
