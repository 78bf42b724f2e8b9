//! Seal + open throughput of the vault, per format (a 200-byte token, a typical OAuth access
//! token's size). `cargo bench --bench vault`; the figures are in the README.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nexus::{
    config::WriteFormat,
    vault::{Binding, Key, KeyRing, Vault},
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

fn vault(c: &mut Criterion) {
    let token: SecretString = "t".repeat(200).into();
    let row = Binding {
        user_id: Uuid::new_v4(),
        project_id: Uuid::new_v4(),
        provider: "salesforce",
    };
    let mut group = c.benchmark_group("vault");
    group.throughput(Throughput::Elements(1));
    for (name, format) in [
        ("v1_seal_open", WriteFormat::V1),
        ("v2_seal_open", WriteFormat::V2),
    ] {
        let key = Key::generate_hex();
        let vault = Vault::new(
            KeyRing::new(Key::parse(key.expose_secret()).unwrap(), vec![]),
            format,
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                let sealed = vault.seal(&row, &token);
                vault.open(&row, &sealed).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, vault);
criterion_main!(benches);
