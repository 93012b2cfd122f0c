//! ASP.NET-style model validation for the SMS API: failures are collected per field, as
//! `ModelState` does, and answered as one RFC 9110 problem-details 400
//! ([`ApiError::ValidationProblem`]) with .NET's standard attribute messages. (Bodies that are
//! not JSON at all are refused by the `ProblemJson` extractor.)

use std::collections::BTreeMap;

use crate::error::ApiError;

/// Validation failures collected as ASP.NET's `ModelState` does.
#[derive(Default)]
pub struct Problems(BTreeMap<String, Vec<String>>);

impl Problems {
    /// Adds a message about `field` (a PascalCase path such as `SmsRecipients[0].To`).
    pub fn add(&mut self, field: &str, message: String) {
        self.0.entry(field.to_string()).or_default().push(message);
    }
    /// `The X field is required.`
    pub fn required(&mut self, field: &str) {
        self.required_at(field, field);
    }
    /// `The X field is required.` about the field at `path`.
    pub fn required_at(&mut self, path: &str, field: &str) {
        self.add(path, format!("The {field} field is required."));
    }
    /// .NET's `MinLength` message.
    pub fn min_length(&mut self, field: &str, n: usize) {
        self.add(
            field,
            format!(
                "The field {field} must be a string or array type with a minimum length of '{n}'."
            ),
        );
    }
    /// .NET's `MaxLength` message.
    pub fn max_length(&mut self, field: &str, n: usize) {
        self.add(
            field,
            format!(
                "The field {field} must be a string or array type with a maximum length of '{n}'."
            ),
        );
    }
    /// `Ok` when nothing was added, else the 400 problem.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::ValidationProblem(self.0))
        }
    }
}
