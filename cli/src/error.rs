//! The CLI's error: one line for the user and an exit code (2: usage or invalid input,
//! 1: the cloud or anything else).

use std::fmt;
use strato_core::{Error, ErrorKind};

/// Exit code of bad input (usage errors, invalid specs, unknown names, invalid configuration).
pub const EXIT_INPUT: u8 = 2;
/// Exit code of everything else (the cloud refused or failed, I/O).
pub const EXIT_OTHER: u8 = 1;

/// An error to print as `strato: error: MESSAGE` before exiting with `code`.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub code: u8,
    message: String,
}

/// Result of the CLI.
pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    /// Bad input: the message names the field (flag, argument, setting) and the value.
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(EXIT_INPUT, message)
    }

    /// Anything else.
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(EXIT_OTHER, message)
    }

    fn new(code: u8, message: impl Into<String>) -> Self {
        // One line, always: scripts and log collectors read stderr line by line.
        let message = message
            .into()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Self { code, message }
    }

    /// The message, one line.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        match e.kind() {
            // The user asked for something malformed or named something that is not there.
            ErrorKind::InvalidSpec | ErrorKind::NotFound => {
                let mut m = e.message().to_owned();
                if let Some(c) = e.cloud() {
                    m.push_str(&format!(" [cloud {c}]"));
                }
                if let Some(v) = e.vendor() {
                    m.push_str(&format!(" ({}: {})", v.code, v.message));
                }
                Self::input(m)
            }
            _ => Self::other(e.to_string()),
        }
    }
}
