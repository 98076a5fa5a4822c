//! Criterion benchmarks of the archive work an export or import does off
//! the reactors: building an export zip, and unpacking + validating an
//! import (100 to 10,000 configs of about 400 bytes each).
//!
//! Run: `cargo bench --bench transfer` (add `-- import` to filter).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vigil::transfer::meta;
use vigil::transfer::plan::plan_import;
use vigil::transfer::zip_in::{read_entries, Limits};
use vigil::transfer::zip_out::{build, ExportRow, Version};

const LIMITS: Limits = Limits {
    max_entries: 20_000,
    max_unpacked_bytes: 256 << 20,
    max_entry_bytes: 30 << 20,
};

fn rows(n: usize) -> Vec<ExportRow> {
    (0..n)
        .map(|i| ExportRow {
            data_id: format!("service-{i}.yaml"),
            group: format!("GROUP_{}", i % 20),
            content: (0..12)
                .map(|j| format!("key{j}: value-{i}-{j}-{}\n", i * 7919 + j))
                .collect(),
            app_name: Some(format!("app-{}", i % 50)),
            desc: Some(format!("config {i}")),
            config_type: Some("yaml".into()),
        })
        .collect()
}

fn export(c: &mut Criterion) {
    let mut g = c.benchmark_group("export_zip_v2");
    for n in [100, 1_000, 10_000] {
        let rows = rows(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &rows, |b, rows| {
            b.iter(|| build(black_box(rows), Version::V2).unwrap())
        });
    }
    g.finish();
}

fn import(c: &mut Criterion) {
    let mut g = c.benchmark_group("import_unzip_and_plan_v2");
    g.sample_size(10);
    for n in [100, 1_000, 10_000] {
        let zip = build(&rows(n), Version::V2).unwrap();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &zip, |b, zip| {
            b.iter(|| {
                let (entries, metadata) =
                    read_entries(black_box(zip), &LIMITS, &[meta::V1_NAME, meta::V2_NAME]).unwrap();
                plan_import(entries, metadata, 10 << 20).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, export, import);
criterion_main!(benches);
