//! The engine benchmark (issue 3). One run measures, on a generated world of 10,000 orgs,
//! 100,000 members, 1,000,000 shares and 1,000 custom roles:
//!
//! - compile time of the whole world and the snapshot's heap bytes (counted by a global
//!   allocator, not estimated), per share;
//! - `decide` latency per request, p50 and p99, one thread;
//! - the same requests on the slice org (1,000 members, 10,000 shares) decided by Cedar,
//!   sliced and unsliced, with identical answers required on every request, and the ratio;
//! - replacing the slice org in place while two reader threads keep deciding, and the
//!   readers' p99 during the swaps;
//! - criterion's own measurement of `decide` and of sliced Cedar.
//!
//! Run: `cargo bench --bench decide` (add `-- --quick` for a shorter criterion pass).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "benchmark")]

#[path = "support/cedar.rs"]
mod cedar;
#[path = "support/world.rs"]
mod world;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use portcullis::{Request, SnapshotHandle, decide, policy};

/// Counts live heap bytes, to measure the snapshot's memory.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Per-request latency, warm: each request is run once untimed (caches warm), then timed
/// over `reps` back-to-back runs; returns sorted ns per run.
fn per_request(n: usize, reps: u32, mut f: impl FnMut(usize) -> bool) -> Vec<f64> {
    let mut out: Vec<f64> = (0..n)
        .map(|i| {
            black_box(f(i));
            let t = Instant::now();
            for _ in 0..reps {
                black_box(f(i));
            }
            t.elapsed().as_nanos() as f64 / f64::from(reps)
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

fn main() {
    println!("== portcullis engine benchmark ==");
    let t = Instant::now();
    let set = world::build();
    println!(
        "world: {} orgs, {} members, {} shares, {} custom roles (generated in {:.2?})",
        set.orgs.len(),
        set.orgs.iter().map(|o| o.members.len() + o.service_accounts.len()).sum::<usize>(),
        set.orgs.iter().map(|o| o.shares.len()).sum::<usize>(),
        set.roles.len() + set.orgs.iter().map(|o| o.roles.len()).sum::<usize>(),
        t.elapsed()
    );

    // Compile: validate + compile, timed; heap bytes of the result, counted.
    let live_before = LIVE.load(Ordering::Relaxed);
    let t = Instant::now();
    let snapshot = policy::compile(policy::validate(&set).expect("the generated world validates"));
    let compile_time = t.elapsed();
    let heap = LIVE.load(Ordering::Relaxed) - live_before;
    let shares = world::SHARES as f64;
    println!("compile (validate + compile) of the full world: {compile_time:.2?} (goal <= 3 s)");
    println!(
        "snapshot heap: {} bytes = {:.1} bytes per share (goal <= 150; all of the snapshot, divided by {} shares)",
        heap,
        heap as f64 / shares,
        world::SHARES
    );

    // decide, one thread.
    let checks = world::checks(&set, 10_000, 1, |rng| rng.below(world::ORGS));
    let requests: Vec<Request<'_>> = checks.iter().map(world::Check::request).collect();
    let allowed = requests.iter().filter(|r| decide(&snapshot, r).allowed).count();
    let lat = per_request(requests.len(), 32, |i| decide(&snapshot, &requests[i]).allowed);
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    println!(
        "decide, whole world, {} requests ({} allowed), warm: p50 {p50:.0} ns, p99 {p99:.0} ns (goal p50 <= 100 ns)",
        requests.len(),
        allowed
    );
    // Cache-cold: consecutive requests hit different orgs of a 100+ MB snapshot.
    let passes = 20;
    let t = Instant::now();
    for _ in 0..passes {
        for r in &requests {
            black_box(decide(&snapshot, black_box(r)));
        }
    }
    let cold = t.elapsed().as_nanos() as f64 / (passes * requests.len()) as f64;
    println!(
        "decide, whole world, cycling through the {} requests (each a different org, cache-cold): mean {cold:.0} ns",
        requests.len()
    );

    // Cedar on the slice org.
    let slice_checks = world::checks(&set, 2_000, 2, |_| 0);
    let slice_requests: Vec<Request<'_>> = slice_checks.iter().map(world::Check::request).collect();
    let org = snapshot.org(world::SLICE_ORG).unwrap();
    let t = Instant::now();
    let cw = cedar::CedarWorld::encode(snapshot.globals(), &org.model, &slice_checks);
    let cedar_requests: Vec<cedar_policy::Request> = slice_checks.iter().map(|c| cw.request(c)).collect();
    let slices: Vec<cedar_policy::PolicySet> = slice_checks.iter().map(|c| cw.slice(c)).collect();
    println!(
        "cedar: slice org encoded ({} policies unsliced) and {} requests sliced in {:.2?}",
        cw.all_policies.policies().count(),
        slices.len(),
        t.elapsed()
    );
    let authorizer = cedar_policy::Authorizer::new();
    let mut mismatches = 0;
    let mut slice_allowed = 0;
    for (i, r) in slice_requests.iter().enumerate() {
        let ours = decide(&snapshot, r).allowed;
        let theirs = cedar::CedarWorld::decide(&authorizer, &cedar_requests[i], &slices[i], &cw.entities);
        slice_allowed += usize::from(ours);
        if ours != theirs {
            mismatches += 1;
            if mismatches <= 5 {
                println!("MISMATCH: {:?}: portcullis {ours}, cedar {theirs}", slice_checks[i]);
            }
        }
    }
    const UNSLICED: usize = 50;
    let mut unsliced_mismatches = 0;
    for i in 0..UNSLICED {
        let theirs = cedar::CedarWorld::decide(&authorizer, &cedar_requests[i], &cw.all_policies, &cw.entities);
        unsliced_mismatches += usize::from(theirs != decide(&snapshot, &slice_requests[i]).allowed);
    }
    println!(
        "identical answers: sliced {} of {} ({} allowed), unsliced {} of {UNSLICED}",
        slice_requests.len() - mismatches,
        slice_requests.len(),
        slice_allowed,
        UNSLICED - unsliced_mismatches
    );
    let ours_slice = per_request(slice_requests.len(), 32, |i| decide(&snapshot, &slice_requests[i]).allowed);
    let sliced = per_request(slice_requests.len(), 2, |i| {
        cedar::CedarWorld::decide(&authorizer, &cedar_requests[i], &slices[i], &cw.entities)
    });
    let unsliced = per_request(UNSLICED, 1, |i| {
        cedar::CedarWorld::decide(&authorizer, &cedar_requests[i], &cw.all_policies, &cw.entities)
    });
    let (o50, o99) = (percentile(&ours_slice, 0.5), percentile(&ours_slice, 0.99));
    let (s50, s99) = (percentile(&sliced, 0.5), percentile(&sliced, 0.99));
    let (u50, u99) = (percentile(&unsliced, 0.5), percentile(&unsliced, 0.99));
    println!(
        "slice org, same requests: portcullis p50 {o50:.0} ns p99 {o99:.0} ns | cedar sliced p50 {s50:.0} ns p99 {s99:.0} ns | cedar unsliced p50 {u50:.0} ns p99 {u99:.0} ns"
    );
    println!("ratio (cedar / portcullis, p50): sliced {:.0}x (goal >= 200x), unsliced {:.0}x", s50 / o50, u50 / o50);

    // Access review on the slice org: every member's verbs and reasons on one resource.
    // Anchor: the same question asked of decide alone, every verb for every member, which
    // is what the review must agree with and the least it can do.
    let reviewed: Vec<&world::Check> = slice_checks.iter().filter(|c| c.id.is_some()).take(300).collect();
    fn resource(c: &world::Check) -> portcullis::access::Resource<'_> {
        portcullis::access::Resource { kind: &c.kind, project: c.project.as_deref(), id: c.id.as_deref() }
    }
    let mut holders = 0usize;
    let review_all = per_request(reviewed.len(), 1, |i| {
        let h =
            portcullis::access::review(&snapshot, world::SLICE_ORG, &resource(reviewed[i]), None, world::AT).unwrap();
        holders += h.len();
        !h.is_empty()
    });
    let review_verb = per_request(reviewed.len(), 1, |i| {
        let c = reviewed[i];
        !portcullis::access::review(&snapshot, world::SLICE_ORG, &resource(c), Some(c.verb), world::AT)
            .unwrap()
            .is_empty()
    });
    let members: Vec<portcullis::Caller<'_>> = org
        .model
        .members
        .iter()
        .map(|m| {
            if m.service_account {
                portcullis::Caller::ServiceAccount { org: world::SLICE_ORG, name: &m.id }
            } else {
                portcullis::Caller::User(&m.id)
            }
        })
        .collect();
    let brute = per_request(reviewed.len(), 1, |i| {
        let c = reviewed[i];
        let mut any = false;
        for &principal in &members {
            for verb in portcullis::Verb::ALL {
                let r = Request { principal, verb, ..c.request() };
                any |= decide(&snapshot, black_box(&r)).allowed;
            }
        }
        any
    });
    let (r50, r99) = (percentile(&review_all, 0.5), percentile(&review_all, 0.99));
    let (v50, v99) = (percentile(&review_verb, 0.5), percentile(&review_verb, 0.99));
    let (b50, b99) = (percentile(&brute, 0.5), percentile(&brute, 0.99));
    println!(
        "access review, slice org ({} members, {} shares), {} resources ({:.1} holders each): every verb p50 {:.0} us p99 {:.0} us (goal <= 1 ms); one verb p50 {:.0} us p99 {:.0} us | decide for every member and verb p50 {:.0} us p99 {:.0} us; ratio review / decide-only p50 {:.2}x",
        members.len(),
        org.model.shares.len(),
        reviewed.len(),
        holders as f64 / (2 * reviewed.len()) as f64,
        r50 / 1e3,
        r99 / 1e3,
        v50 / 1e3,
        v99 / 1e3,
        b50 / 1e3,
        b99 / 1e3,
        r50 / b50
    );

    // Replace the slice org in place while two readers decide: first a baseline with no
    // swaps, then the same readers during the swaps.
    let slice_decl = set.orgs.iter().find(|o| o.id.as_str() == world::SLICE_ORG).unwrap().clone();
    let handle = Arc::new(SnapshotHandle::new(snapshot.clone()));
    let phase = Arc::new(AtomicUsize::new(0)); // 0 warm-up, 1 baseline, 2 swapping, 3 stop
    let owned_checks = Arc::new(checks.clone());
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (handle, phase, checks) = (handle.clone(), phase.clone(), owned_checks.clone());
            std::thread::spawn(move || {
                let mut baseline = Vec::with_capacity(2_000_000);
                let mut during = Vec::with_capacity(2_000_000);
                let mut i = r * 5_000;
                loop {
                    let p = phase.load(Ordering::Relaxed);
                    if p == 3 {
                        break;
                    }
                    let c = &checks[i % checks.len()];
                    i += 1;
                    let t = Instant::now();
                    black_box(decide(&handle.load(), &c.request()));
                    let ns = t.elapsed().as_nanos() as f64;
                    let into = if p == 1 { &mut baseline } else { &mut during };
                    if p != 0 && into.len() < into.capacity() {
                        into.push(ns);
                    }
                }
                (baseline, during)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    phase.store(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    phase.store(2, Ordering::Relaxed);
    let mut full = Vec::new();
    let mut compile_only = Vec::new();
    let mut back_to_back = Vec::new();
    let model = handle.load().org(world::SLICE_ORG).unwrap().model.clone();
    for _ in 0..20 {
        // Spaced like real updates: the reclaimer frees the replaced org in between.
        std::thread::sleep(Duration::from_millis(5));
        let m = model.clone();
        let t = Instant::now();
        handle.replace_org(m).unwrap();
        compile_only.push(t.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(5));
        let t = Instant::now();
        handle.update_org(&set, &slice_decl).unwrap();
        full.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let models: Vec<_> = (0..20).map(|_| model.clone()).collect();
    for m in models {
        let t = Instant::now();
        handle.replace_org(m).unwrap();
        back_to_back.push(t.elapsed().as_secs_f64() * 1e3);
    }
    phase.store(3, Ordering::Relaxed);
    let (mut baseline, mut during): (Vec<f64>, Vec<f64>) =
        readers.into_iter().map(|r| r.join().unwrap()).fold((Vec::new(), Vec::new()), |(mut a, mut b), (x, y)| {
            a.extend(x);
            b.extend(y);
            (a, b)
        });
    baseline.sort_by(f64::total_cmp);
    during.sort_by(f64::total_cmp);
    // The same swaps with no readers running, for the figure the writer alone achieves.
    let mut alone = Vec::new();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(5));
        let m = model.clone();
        let t = Instant::now();
        handle.replace_org(m).unwrap();
        alone.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for v in [&mut full, &mut compile_only, &mut alone, &mut back_to_back] {
        v.sort_by(f64::total_cmp);
    }
    let mm = |v: &[f64]| format!("{:.2} / {:.2} ms", percentile(v, 0.5), v[v.len() - 1]);
    println!("replace org-0 (1,000 members, 10,000 shares) in place, 20 times each, median / max:");
    println!(
        "  compile+swap, updates 5 ms apart, 2 readers deciding: {} (goal <= 1 ms); no readers: {}",
        mm(&compile_only),
        mm(&alone)
    );
    println!(
        "  compile+swap back to back (reclaiming the previous org meanwhile), 2 readers deciding: {}",
        mm(&back_to_back)
    );
    println!("  validate+compile+swap (an org's policy in, as an admin write), 2 readers deciding: {}", mm(&full));
    println!(
        "  readers (cycling, cache-cold, timer included): no swaps p50 {:.0} ns p99 {:.0} ns ({} decisions); during swaps p50 {:.0} ns p99 {:.0} ns ({} decisions); revision now {}",
        percentile(&baseline, 0.5),
        percentile(&baseline, 0.99),
        baseline.len(),
        percentile(&during, 0.5),
        percentile(&during, 0.99),
        during.len(),
        handle.load().generation()
    );

    // Criterion's own measurement: single requests repeated (warm), one per kind of
    // answer; every request in turn (cache-cold); and sliced Cedar on the slice org.
    let mut c = Criterion::default().configure_from_args();
    let pick = |want: fn(&portcullis::Decision) -> bool| {
        requests.iter().find(|r| want(&decide(&snapshot, r))).copied().expect("the world has such a request")
    };
    let warm = [
        ("owner", pick(|d| d.reason == portcullis::Reason::Owner)),
        ("role", pick(|d| matches!(d.reason, portcullis::Reason::Role(_)))),
        ("share", pick(|d| d.reason == portcullis::Reason::Share)),
        ("no-grant", pick(|d| d.reason == portcullis::Reason::NoGrant)),
    ];
    for (name, r) in warm {
        c.bench_function(&format!("decide/warm/{name}"), |b| b.iter(|| decide(&snapshot, black_box(&r)).allowed));
    }
    let mut i = 0usize;
    c.bench_function("decide/cold/cycle-10k-requests-over-10k-orgs", |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            decide(&snapshot, black_box(&requests[i])).allowed
        })
    });
    let mut j = 0usize;
    c.bench_function("cedar/slice-org-sliced", |b| {
        b.iter(|| {
            j = (j + 1) % cedar_requests.len();
            cedar::CedarWorld::decide(&authorizer, &cedar_requests[j], &slices[j], &cw.entities)
        })
    });
    c.final_summary();
    assert_eq!(mismatches + unsliced_mismatches, 0, "Cedar and Portcullis disagree");
}
