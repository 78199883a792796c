//! The crate's dependency boundary (ARCHITECTURE.md: concord-consensus does no I/O).

#[test]
fn consensus_stays_pure() {
    let manifest: toml::Table = include_str!("../Cargo.toml").parse().unwrap();
    let deps = manifest["dependencies"].as_table().unwrap();
    for banned in [
        "tokio",
        "sqlx",
        "axum",
        "clap",
        "csv",
        "serde_json",
        "concord-core",
        "concord-store",
        "concord-server",
        "concord-cli",
    ] {
        assert!(
            !deps.contains_key(banned),
            "concord-consensus must not depend on {banned}"
        );
    }
}
