//! Runs the `strato` binary hermetically: its own data dir, config dir and home, no inherited
//! profile or log settings.

#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A sandbox for one test: a data dir (the local memory cloud's state) and an optional config.
pub struct Sandbox {
    pub dir: TempDir,
    pub config: Option<PathBuf>,
    /// Extra environment of every command.
    pub env: Vec<(String, String)>,
}

impl Sandbox {
    /// No configuration file: the embedded local memory cloud.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            config: None,
            env: Vec::new(),
        }
    }

    /// With a configuration file holding `toml`.
    pub fn with_config(toml: &str) -> Self {
        let mut s = Self::new();
        let path = s.dir.path().join("config.toml");
        std::fs::write(&path, toml).expect("write config");
        s.config = Some(path);
        s
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The local profile's state file.
    pub fn state_file(&self) -> PathBuf {
        self.data_dir().join("memory-memory.json")
    }

    /// `strato ARGS...` in this sandbox.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("strato").expect("binary built");
        let home = self.dir.path().join("home");
        c.env("STRATO_DATA_DIR", self.data_dir())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env_remove("STRATO_PROFILE")
            .env_remove("RUST_LOG")
            .env_remove("STRATO_CONFIG")
            .timeout(std::time::Duration::from_secs(120))
            .args(args);
        if let Some(p) = &self.config {
            c.env("STRATO_CONFIG", p);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run strato");
        assert!(
            out.status.success(),
            "strato {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs a command with `--output json` that must succeed and parses its stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    /// Runs a command that must fail with `code`; returns its stderr, checked to be exactly one
    /// `strato: error: ...` line with no panic or debug dump in it.
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run strato");
        let stderr = String::from_utf8(out.stderr).expect("utf-8 stderr");
        assert_eq!(
            out.status.code(),
            Some(code),
            "strato {args:?}: expected exit {code}; stderr: {stderr}"
        );
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: not one line: {stderr:?}"
        );
        assert!(stderr.starts_with("strato: error: "), "{stderr:?}");
        for bad in ["panicked", "RUST_BACKTRACE", "Error {", "Inner {", "kind:"] {
            assert!(
                !stderr.contains(bad),
                "{args:?}: debug output in {stderr:?}"
            );
        }
        stderr
    }
}

/// Reads a file's bytes (empty when it does not exist).
pub fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_default()
}

/// The names in a JSON array of resources.
pub fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|x| x["name"].as_str().expect("name").to_owned())
        .collect()
}
