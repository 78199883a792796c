//! Times `verify_audit` on an existing database (the platform benchmark's, kept with KEEP=1).
//!
//!     cargo run --release -p concord-store --example verify_audit -- DB [SEED_HEX]
use concord_store::{AuditKey, SqliteStore, Store};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: verify_audit DB [SEED_HEX]");
    let seed = args.next().map_or([42u8; 32], |h| {
        hex::decode(h)
            .expect("hex seed")
            .try_into()
            .expect("32 bytes")
    });
    let key = AuditKey::from_seed(seed);
    let store = SqliteStore::open_without_key(std::path::Path::new(&db))
        .await
        .unwrap();
    let t = std::time::Instant::now();
    let report = store.verify_audit(&key.verifier()).await.unwrap();
    println!(
        "{{\"events\": {}, \"intact\": {}, \"seconds\": {:.3}}}",
        report.events,
        report.intact,
        t.elapsed().as_secs_f64()
    );
}
