//! What filtering a collection costs the gateway (issue 14): a 1,000-item answer, of which
//! the caller may read one item in ten (shares), cut down by `filter_items` with `decide` on
//! every item, beside two anchors measured in the same run: parsing the answer into a
//! `serde_json::Value` and writing it out again (what any proxy that edits JSON pays), and
//! copying its bytes (what buffering alone pays).
//!
//! Run: `cargo bench --bench filter` (add `-- --quick` for a shorter pass).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "benchmark")]

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::Criterion;
use portcullis::gateway::filter::filter_items;
use portcullis::jsonpointer::Pointer;
use portcullis::route::ItemFilter;
use portcullis::{Caller, Request, Verb, decide, policy};

const ITEMS: usize = 1_000;

fn world() -> portcullis::Snapshot {
    let mut text = String::from(
        "[[kind]]\nname = \"containers\"\nlevels = [\"project\"]\n\n[[org]]\nid = \"acme\"\nowner = \"olga\"\n\
         members = [\"olga\", \"dave\"]\nprojects = [{ id = \"web\" }]\n",
    );
    for i in (0..ITEMS).step_by(10) {
        let _ = write!(
            text,
            "\n[[org.share]]\nsubject = \"dave\"\nkind = \"containers\"\nproject = \"web\"\nid = \"c-{i}\"\n\
             verbs = [\"read\"]\n"
        );
    }
    policy::compile_text("bench.toml", &text).unwrap()
}

fn answer() -> String {
    let items: Vec<String> = (0..ITEMS)
        .map(|i| {
            format!(
                r#"{{"id": "c-{i}", "name": "container {i}", "image": "registry.example.com/app:1.2.{i}", "state": "running", "created_at": "2026-12-01T00:00:00Z", "labels": {{"team": "web", "tier": "backend"}}}}"#
            )
        })
        .collect();
    format!(r#"{{"items": [{}], "next": "page-2"}}"#, items.join(", "))
}

fn main() {
    let snapshot = world();
    let json = answer();
    let filter = ItemFilter { items: Pointer::parse("/items").unwrap(), id: Pointer::parse("/id").unwrap() };
    let read = |id: &str| {
        let request = Request {
            org: "acme",
            principal: Caller::User("dave"),
            project: Some("web"),
            kind: "containers",
            id: Some(id),
            verb: Verb::Read,
            at: 1_800_000_000,
        };
        decide(&snapshot, &request).allowed
    };
    let out = filter_items(&json, &filter, read).unwrap();
    let kept: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(kept["items"].as_array().unwrap().len(), ITEMS / 10, "one item in ten is dave's");
    println!("answer: {ITEMS} items, {} bytes; filtered: {} items, {} bytes", json.len(), ITEMS / 10, out.len());

    let mut c = Criterion::default().configure_from_args();
    c.bench_function("filter_items 1000 items (decide each)", |b| {
        b.iter(|| filter_items(black_box(&json), &filter, read).unwrap())
    });
    c.bench_function("anchor: serde_json Value parse + write", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_str(black_box(&json)).unwrap();
            serde_json::to_vec(&v).unwrap()
        })
    });
    c.bench_function("anchor: copy the answer", |b| b.iter(|| black_box(json.as_bytes()).to_vec()));
    let ids: Vec<String> = (0..ITEMS).map(|i| format!("c-{i}")).collect();
    c.bench_function("decide read x1000", |b| b.iter(|| ids.iter().filter(|id| read(black_box(id))).count()));
    c.final_summary();
}
