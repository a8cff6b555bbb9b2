//! The crate's error type: what can go wrong *around* an execution (reading
//! a definition or an input). A failed execution is not an error; it is a
//! result with status `FAILED`.

/// Errors from loading definitions and inputs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The definition is not valid ASL; the text is AWS's message.
    #[error("{0}")]
    InvalidDefinition(String),
    /// A `${Placeholder}` in the definition has no substitution.
    #[error("invalid definition: {0}")]
    Substitution(String),
    /// The execution input is not JSON.
    #[error("invalid execution input: {0}")]
    InvalidInput(String),
}

impl Error {
    /// A stable name for the error, in the style of Lambda `errorType`s.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidDefinition(_) | Self::Substitution(_) => "InvalidDefinition",
            Self::InvalidInput(_) => "InvalidExecutionInput",
        }
    }
}
