//! Shapes to Azure VM sizes, and images to `imageReference`.

use serde_json::{Value, json};
use strato_core::{Error, Result, Size};

/// General-purpose sizes a shape maps to: (name, vCPUs, memory MiB). Burstable B-series first
/// for the small shapes service engines use, then Dsv5.
const TABLE: &[(&str, u32, u64)] = &[
    ("Standard_B1ls", 1, 512),
    ("Standard_B1s", 1, 1024),
    ("Standard_B1ms", 1, 2048),
    ("Standard_B2s", 2, 4096),
    ("Standard_B2ms", 2, 8192),
    ("Standard_B4ms", 4, 16384),
    ("Standard_D8s_v5", 8, 32768),
    ("Standard_D16s_v5", 16, 65536),
    ("Standard_D32s_v5", 32, 131072),
    ("Standard_D64s_v5", 64, 262144),
];

/// The Azure size of a strato size: the smallest general-purpose size that fits a shape, or a native
/// `Standard_*` / `Basic_*` name as is.
pub fn resolve(size: &Size) -> Result<String> {
    match size {
        Size::Shape { vcpus, memory_mib } => TABLE
            .iter()
            .filter(|(_, c, m)| c >= vcpus && m >= memory_mib)
            .min_by_key(|(_, c, m)| (*m, *c))
            .map(|(n, _, _)| (*n).to_owned())
            .ok_or_else(|| {
                Error::invalid_spec(
                    "size",
                    format!("no Azure size has {vcpus} vCPUs and {memory_mib} MiB; name one (native:Standard_...)"),
                )
            }),
        Size::Native(n) if n.starts_with("Standard_") || n.starts_with("Basic_") => Ok(n.clone()),
        Size::Native(n) => Err(Error::invalid_spec(
            "size",
            format!("size {n:?} is not an Azure VM size like Standard_B2s, nor a shape like 2x4g"),
        )),
    }
}

/// The `imageReference` of an image: a marketplace URN `publisher:offer:sku:version`, or the ARM
/// id of an image or gallery image version.
pub fn image_reference(image: &str) -> Result<Value> {
    let image = image.trim();
    if image.starts_with("/subscriptions/") {
        return Ok(json!({ "id": image }));
    }
    match image.split(':').collect::<Vec<_>>().as_slice() {
        [p, o, s, v] if [p, o, s, v].iter().all(|x| !x.is_empty()) => {
            Ok(json!({"publisher": p, "offer": o, "sku": s, "version": v}))
        }
        _ => Err(Error::invalid_spec(
            "image",
            format!(
                "image {image:?} is neither a URN publisher:offer:sku:version nor an image id /subscriptions/..."
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_get_the_smallest_fitting_size() {
        assert_eq!(resolve(&Size::shape(1, 512)).unwrap(), "Standard_B1ls");
        assert_eq!(resolve(&Size::shape(2, 4096)).unwrap(), "Standard_B2s");
        assert_eq!(resolve(&Size::shape(3, 4096)).unwrap(), "Standard_B4ms");
        assert!(resolve(&Size::shape(128, 1024)).is_err());
        assert!(resolve(&Size::Native("t3.micro".into())).is_err());
        assert!(image_reference("Canonical:ubuntu-24_04-lts:server:latest").is_ok());
        assert!(image_reference("ami-123").is_err());
    }
}
