//! VM sizes: either a shape (vCPUs and memory) that each connector maps to its nearest offering,
//! or a cloud-native type name passed through unchanged.

use crate::error::{Error, ErrorKind, Operation};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How big a VM is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Size {
    /// A shape: vCPUs and memory in MiB. Written `2cpu-4096mib` or `2x4g`.
    Shape {
        /// Virtual CPUs.
        vcpus: u32,
        /// Memory in MiB.
        memory_mib: u64,
    },
    /// A cloud-native type (for example `t3.micro` or `Standard_D2s_v5`), written `native:NAME`
    /// or just the name when it is not a shape.
    Native(String),
}

impl Size {
    /// A shape size.
    pub fn shape(vcpus: u32, memory_mib: u64) -> Self {
        Size::Shape { vcpus, memory_mib }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Shape { vcpus, memory_mib } => write!(f, "{vcpus}x{memory_mib}m"),
            // Written plainly when that reads back as the same name, else with its prefix
            // (`9abc` alone would read as a malformed shape).
            Size::Native(n) if matches!(n.parse(), Ok(Size::Native(m)) if m == *n) => {
                write!(f, "{n}")
            }
            Size::Native(n) => write!(f, "native:{n}"),
        }
    }
}

impl From<Size> for String {
    fn from(s: Size) -> Self {
        s.to_string()
    }
}

impl TryFrom<String> for Size {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

fn bad(s: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidSpec,
        Operation::Validate,
        format!("size {s:?} {why}; write VCPUSxMEMORY like 2x4g or 1x512m, or a cloud type like t3.micro"),
    )
    .with_field("size")
}

fn parse_memory(s: &str, whole: &str) -> Result<u64, Error> {
    let lower = s.to_ascii_lowercase();
    let (digits, mult) = if let Some(d) = lower.strip_suffix("gib").or(lower.strip_suffix("g")) {
        (d, 1024)
    } else if let Some(d) = lower.strip_suffix("mib").or(lower.strip_suffix("m")) {
        (d, 1)
    } else {
        return Err(bad(whole, "has memory without a unit (g or m)"));
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| bad(whole, "has a memory amount that is not a whole number"))?;
    if n == 0 {
        return Err(bad(whole, "has zero memory"));
    }
    n.checked_mul(mult)
        .ok_or_else(|| bad(whole, "has more memory than can be counted"))
}

impl FromStr for Size {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.is_empty() {
            return Err(bad(s, "is empty"));
        }
        if let Some(native) = s.strip_prefix("native:") {
            if native.is_empty() {
                return Err(bad(s, "names no type"));
            }
            return Ok(Size::Native(native.to_owned()));
        }
        // A shape starts with a number of CPUs; anything else is a native type name.
        let Some((cpus, mem)) = s.split_once(['x', 'X']) else {
            if s.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(bad(s, "is not VCPUSxMEMORY"));
            }
            if s.chars().any(|c| c.is_whitespace()) {
                return Err(bad(s, "contains whitespace"));
            }
            return Ok(Size::Native(s.to_owned()));
        };
        if !cpus.chars().all(|c| c.is_ascii_digit()) || cpus.is_empty() {
            if s.chars().any(|c| c.is_whitespace()) {
                return Err(bad(s, "contains whitespace"));
            }
            return Ok(Size::Native(s.to_owned()));
        }
        let vcpus: u32 = cpus.parse().map_err(|_| bad(s, "has too many vCPUs"))?;
        if vcpus == 0 {
            return Err(bad(s, "has zero vCPUs"));
        }
        Ok(Size::Shape {
            vcpus,
            memory_mib: parse_memory(mem, s)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shapes_and_native_types() {
        assert_eq!("2x4g".parse::<Size>().unwrap(), Size::shape(2, 4096));
        assert_eq!("1x512m".parse::<Size>().unwrap(), Size::shape(1, 512));
        assert_eq!("4X8GiB".parse::<Size>().unwrap(), Size::shape(4, 8192));
        assert_eq!(
            "t3.micro".parse::<Size>().unwrap(),
            Size::Native("t3.micro".into())
        );
        assert_eq!(
            "native:2x".parse::<Size>().unwrap(),
            Size::Native("2x".into())
        );
        let round: Size = Size::shape(2, 4096).to_string().parse().unwrap();
        assert_eq!(round, Size::shape(2, 4096));
    }

    #[test]
    fn every_size_reads_back_as_itself() {
        for size in [
            Size::shape(2, 4096),
            Size::Native("t3.micro".into()),
            Size::Native("9abc".into()),
            Size::Native("2x".into()),
            Size::Native("2x4g".into()),
            Size::Native("a b".into()),
        ] {
            assert_eq!(size.to_string().parse::<Size>().unwrap(), size, "{size}");
        }
        assert_eq!(Size::Native("t3.micro".into()).to_string(), "t3.micro");
    }

    #[test]
    fn malformed_sizes_name_the_field_and_value() {
        for bad in [
            "",
            "0x1g",
            "2x",
            "2x0g",
            "2x4",
            "2xg",
            "2",
            "a b",
            "1x99999999999999999g",
        ] {
            let err = bad.parse::<Size>().unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidSpec, "{bad:?}");
            assert!(err.to_string().contains("size"), "{err}");
        }
    }
}
