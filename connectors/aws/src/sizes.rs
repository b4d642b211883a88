//! Maps a shape size (vCPUs + memory) to an EC2 instance type.
//!
//! A built-in table of current general-purpose, compute and memory families; a shape maps to the
//! cheapest type that has at least the vCPUs and memory asked for (ties: fewer vCPUs, then less
//! memory). Prices are approximate on-demand Linux USD/hour in us-east-1 and only used to order
//! the table; a region's real prices differ but keep the same order within these families.

use strato_core::{Error, Result, Size};

/// One instance type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstanceType {
    /// EC2 name.
    pub name: &'static str,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Approximate price, for ordering.
    pub usd_per_hour: f64,
    /// Most network interfaces (primary included).
    pub max_enis: u32,
}

/// Families a shape can map to by default.
pub const FAMILIES: [&str; 4] = ["t3", "m5", "c5", "r5"];

const fn t(
    name: &'static str,
    vcpus: u32,
    gib: u64,
    usd_per_hour: f64,
    max_enis: u32,
) -> InstanceType {
    InstanceType {
        name,
        vcpus,
        memory_mib: gib * 1024,
        usd_per_hour,
        max_enis,
    }
}

/// The table (t3.nano has 0.5 GiB, written in MiB below).
pub const TABLE: &[InstanceType] = &[
    InstanceType {
        name: "t3.nano",
        vcpus: 2,
        memory_mib: 512,
        usd_per_hour: 0.0052,
        max_enis: 2,
    },
    t("t3.micro", 2, 1, 0.0104, 2),
    t("t3.small", 2, 2, 0.0208, 3),
    t("t3.medium", 2, 4, 0.0416, 3),
    t("t3.large", 2, 8, 0.0832, 3),
    t("t3.xlarge", 4, 16, 0.1664, 4),
    t("t3.2xlarge", 8, 32, 0.3328, 4),
    t("m5.large", 2, 8, 0.096, 3),
    t("m5.xlarge", 4, 16, 0.192, 4),
    t("m5.2xlarge", 8, 32, 0.384, 4),
    t("m5.4xlarge", 16, 64, 0.768, 8),
    t("m5.8xlarge", 32, 128, 1.536, 8),
    t("m5.12xlarge", 48, 192, 2.304, 8),
    t("m5.16xlarge", 64, 256, 3.072, 15),
    t("m5.24xlarge", 96, 384, 4.608, 15),
    t("c5.large", 2, 4, 0.085, 3),
    t("c5.xlarge", 4, 8, 0.17, 4),
    t("c5.2xlarge", 8, 16, 0.34, 4),
    t("c5.4xlarge", 16, 32, 0.68, 8),
    t("c5.9xlarge", 36, 72, 1.53, 8),
    t("c5.12xlarge", 48, 96, 2.04, 8),
    t("c5.18xlarge", 72, 144, 3.06, 15),
    t("c5.24xlarge", 96, 192, 4.08, 15),
    t("r5.large", 2, 16, 0.126, 3),
    t("r5.xlarge", 4, 32, 0.252, 4),
    t("r5.2xlarge", 8, 64, 0.504, 4),
    t("r5.4xlarge", 16, 128, 1.008, 8),
    t("r5.8xlarge", 32, 256, 2.016, 8),
    t("r5.12xlarge", 48, 384, 3.024, 8),
    t("r5.16xlarge", 64, 512, 4.032, 15),
    t("r5.24xlarge", 96, 768, 6.048, 15),
];

/// The family name if it is in the table.
pub fn family(name: &str) -> Option<&'static str> {
    FAMILIES.iter().copied().find(|f| *f == name)
}

/// The table entry of a type name.
pub fn lookup(name: &str) -> Option<&'static InstanceType> {
    TABLE.iter().find(|t| t.name == name)
}

/// The cheapest type of `families` (all when empty) that fits the shape.
pub fn fit(vcpus: u32, memory_mib: u64, families: &[String]) -> Option<&'static InstanceType> {
    TABLE
        .iter()
        .filter(|t| {
            families.is_empty()
                || families
                    .iter()
                    .any(|f| t.name.split('.').next() == Some(f.as_str()))
        })
        .filter(|t| t.vcpus >= vcpus && t.memory_mib >= memory_mib)
        .min_by(|a, b| {
            a.usd_per_hour
                .total_cmp(&b.usd_per_hour)
                .then(a.vcpus.cmp(&b.vcpus))
                .then(a.memory_mib.cmp(&b.memory_mib))
        })
}

/// The EC2 instance type of a size.
pub fn resolve(size: &Size, families: &[String]) -> Result<String> {
    match size {
        Size::Native(n) => {
            // EC2 names are FAMILY.SIZE; refuse what cannot be one before calling (EC2 would
            // answer InvalidParameterValue without naming the field).
            let ok = n.split_once('.').is_some_and(|(f, s)| {
                !f.is_empty()
                    && !s.is_empty()
                    && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
            });
            if ok {
                Ok(n.clone())
            } else {
                Err(Error::invalid_spec(
                    "size",
                    format!("size {n:?} is not an EC2 instance type like t3.micro (or a shape like 2x4g)"),
                ))
            }
        }
        Size::Shape { vcpus, memory_mib } => fit(*vcpus, *memory_mib, families)
            .map(|t| t.name.to_owned())
            .ok_or_else(|| {
                Error::invalid_spec(
                    "size",
                    format!(
                        "size {size} is larger than every instance type strato maps shapes to (largest: 96 vCPUs, 768 GiB); give an EC2 type instead"
                    ),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_map_to_the_cheapest_fitting_type() {
        let r = |v, m| resolve(&Size::shape(v, m), &[]).unwrap();
        assert_eq!(r(1, 512), "t3.nano");
        assert_eq!(r(2, 4096), "t3.medium");
        assert_eq!(r(4, 8192), "t3.xlarge");
        assert_eq!(r(8, 16384), "t3.2xlarge");
        assert_eq!(r(16, 16384), "c5.4xlarge");
        assert_eq!(r(16, 32768), "c5.4xlarge");
        assert_eq!(r(2, 16384), "r5.large");
        assert_eq!(r(96, 768 * 1024), "r5.24xlarge");
        let only_m5 = vec!["m5".to_owned()];
        assert_eq!(
            resolve(&Size::shape(2, 1024), &only_m5).unwrap(),
            "m5.large"
        );
    }

    #[test]
    fn native_types_pass_through_and_bad_ones_name_the_field() {
        assert_eq!(
            resolve(&Size::Native("x2iedn.32xlarge".into()), &[]).unwrap(),
            "x2iedn.32xlarge"
        );
        for bad in [
            Size::Native("Standard_D2s_v5".into()),
            Size::Native("default".into()),
            Size::shape(200, 1024),
        ] {
            let e = resolve(&bad, &[]).unwrap_err();
            assert_eq!(e.field(), Some("size"), "{e}");
        }
    }
}
