//! KubeFed v0.10.0's own planner vectors (`pkg/controller/util/planner/planner_test.go`,
//! key ""), and the e2e scheduling cases (`test/e2e/scheduling.go`).

use super::*;

fn pref(min: i64, max: Option<i64>, weight: i64) -> Preference {
    Preference {
        min_replicas: min,
        max_replicas: max,
        weight,
    }
}

fn w(weight: i64) -> Preference {
    pref(0, None, weight)
}

fn map(entries: &[(&str, i64)]) -> BTreeMap<String, i64> {
    entries.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn prefs(entries: &[(&str, Preference)], total: i64, rebalance: bool) -> Preferences {
    Preferences {
        total_replicas: total,
        rebalance,
        clusters: entries.iter().map(|(k, p)| (k.to_string(), p.clone())).collect(),
    }
}

fn clusters(names: &str) -> Vec<String> {
    names.split_whitespace().map(String::from).collect()
}

/// No current replicas, no capacity: expects `expected` and no overflow.
fn check(entries: &[(&str, Preference)], total: i64, on: &str, expected: &[(&str, i64)]) {
    check_with(entries, total, on, &[], expected);
}

fn check_with(entries: &[(&str, Preference)], total: i64, on: &str, current: &[(&str, i64)], expected: &[(&str, i64)]) {
    let got = plan(
        &prefs(entries, total, false),
        &clusters(on),
        &map(current),
        &BTreeMap::new(),
        "",
    );
    assert_eq!(got.replicas, map(expected), "{total} over {on}, current {current:?}");
    assert!(
        got.overflow.is_empty(),
        "{total} over {on}: overflow {:?}",
        got.overflow
    );
}

#[allow(clippy::too_many_arguments)]
fn check_capacity(
    rebalance: bool,
    entries: &[(&str, Preference)],
    total: i64,
    on: &str,
    current: &[(&str, i64)],
    capacity: &[(&str, i64)],
    expected: &[(&str, i64)],
    overflow: &[(&str, i64)],
) {
    let got = plan(
        &prefs(entries, total, rebalance),
        &clusters(on),
        &map(current),
        &map(capacity),
        "",
    );
    assert_eq!(got.replicas, map(expected), "{total} over {on}, capacity {capacity:?}");
    assert_eq!(got.overflow, map(overflow), "{total} over {on}, capacity {capacity:?}");
}

#[test]
fn fnv1_is_gos_hash_fnv_new32() {
    assert_eq!(fnv1_32(&[b""]), 0x811c_9dc5);
    assert_eq!(fnv1_32(&[b"a"]), 0x050c_5d7e);
    assert_eq!(fnv1_32(&[b"foo"]), 0x408f_5e13);
    assert_eq!(fnv1_32(&[b"fo", b"o"]), fnv1_32(&[b"foo"]), "parts are concatenated");
}

#[test]
fn equal() {
    let all = [("*", w(1))];
    check(&all, 50, "A B C", &[("A", 16), ("B", 17), ("C", 17)]); // hash dependent
    check(&all, 50, "A B", &[("A", 25), ("B", 25)]);
    check(&all, 1, "A B", &[("A", 0), ("B", 1)]); // hash dependent
    check(&all, 1, "A B C D", &[("A", 0), ("B", 0), ("C", 0), ("D", 1)]); // hash dependent
    check(&all, 1, "A", &[("A", 1)]);
    check(&all, 1, "", &[]);
}

#[test]
fn equal_with_existing() {
    let all = [("*", w(1))];
    check_with(&all, 50, "A B C", &[("C", 30)], &[("A", 10), ("B", 10), ("C", 30)]);
    check_with(&all, 50, "A B", &[("A", 30)], &[("A", 30), ("B", 20)]);
    for a in [0, 1, 4, 5, 6, 7] {
        check_with(&all, 15, "A B", &[("A", a), ("B", 8)], &[("A", 7), ("B", 8)]);
    }
    check_with(
        &all,
        500_000,
        "A B",
        &[("A", 300_000)],
        &[("A", 300_000), ("B", 200_000)],
    );
    check_with(&all, 50, "A B", &[("A", 10)], &[("A", 25), ("B", 25)]);
    // Hash dependent; KubeFed's test notes 10:40 would be better (kubernetes#31816).
    check_with(&all, 50, "A B", &[("A", 10), ("B", 70)], &[("A", 0), ("B", 50)]);
    check_with(&all, 1, "A B", &[("A", 30)], &[("A", 1), ("B", 0)]);
    check_with(&all, 50, "A B", &[("A", 10), ("B", 20)], &[("A", 25), ("B", 25)]);
}

#[test]
fn with_existing_and_capacity() {
    let all = [("*", w(1))];
    check_capacity(
        true,
        &all,
        50,
        "A B C",
        &[],
        &[("C", 10)],
        &[("A", 20), ("B", 20), ("C", 10)],
        &[("C", 7)],
    );
    let a_heavy = [("A", w(10_000)), ("B", w(1))];
    check_capacity(
        true,
        &a_heavy,
        50,
        "B C",
        &[],
        &[("B", 10)],
        &[("B", 10), ("C", 0)],
        &[("B", 40)],
    );
    let one_two = [("A", w(1)), ("B", w(2))];
    check_capacity(
        true,
        &one_two,
        60,
        "A B C",
        &[],
        &[("B", 10)],
        &[("A", 50), ("B", 10), ("C", 0)],
        &[("B", 30)],
    );
    let capped = [
        ("A", pref(0, Some(10), 10_000)),
        ("B", w(1)),
        ("C", pref(0, Some(21), 1)),
        ("D", pref(0, Some(10), 1)),
    ];
    check_capacity(
        true,
        &capped,
        71,
        "A B C D",
        &[],
        &[("C", 10)],
        &[("A", 10), ("B", 41), ("C", 10), ("D", 10)],
        &[("C", 11)],
    );
    let equal = [("A", w(1)), ("B", w(1))];
    check_capacity(
        false,
        &equal,
        60,
        "A B C",
        &[],
        &[("A", 10), ("B", 10)],
        &[("A", 10), ("B", 10), ("C", 0)],
        &[("A", 20), ("B", 20)],
    );
    let one_five = [("A", w(1)), ("B", w(5))];
    check_capacity(
        false,
        &one_five,
        60,
        "A B C",
        &[],
        &[("B", 10)],
        &[("A", 50), ("B", 10), ("C", 0)],
        &[],
    );
    let min_only = [("*", pref(20, None, 0))];
    check_capacity(
        false,
        &min_only,
        50,
        "A B C",
        &[],
        &[("B", 10)],
        &[("A", 20), ("B", 10), ("C", 20)],
        &[],
    );
    let min_and_weight = [("*", pref(20, None, 1))];
    check_capacity(
        true,
        &min_and_weight,
        60,
        "A B",
        &[],
        &[("B", 10)],
        &[("A", 50), ("B", 10)],
        &[("B", 15)],
    );
}

#[test]
fn min() {
    check(&[("*", pref(2, None, 0))], 50, "A B C", &[("A", 2), ("B", 2), ("C", 2)]);
    // Hash dependent.
    check(
        &[("*", pref(20, None, 0))],
        50,
        "A B C",
        &[("A", 10), ("B", 20), ("C", 20)],
    );
    check(
        &[("*", pref(20, None, 0)), ("A", pref(100, None, 1))],
        50,
        "A B C",
        &[("A", 50), ("B", 0), ("C", 0)],
    );
    check(
        &[("*", pref(10, Some(12), 1))],
        50,
        "A B C",
        &[("A", 12), ("B", 12), ("C", 12)],
    );
}

#[test]
fn max() {
    check(
        &[("*", pref(0, Some(2), 1))],
        50,
        "A B C",
        &[("A", 2), ("B", 2), ("C", 2)],
    );
    check(
        &[("*", pref(0, Some(2), 0))],
        50,
        "A B C",
        &[("A", 0), ("B", 0), ("C", 0)],
    );
}

#[test]
fn weight() {
    check(
        &[("A", w(1)), ("B", w(2))],
        60,
        "A B C",
        &[("A", 20), ("B", 40), ("C", 0)],
    );
    let a_heavy = [("A", w(10_000)), ("B", w(1))];
    check(&a_heavy, 50, "A B C", &[("A", 50), ("B", 0), ("C", 0)]);
    check(&a_heavy, 50, "B C", &[("B", 50), ("C", 0)]);
    check(
        &[("A", pref(0, Some(10), 10_000)), ("B", w(1)), ("C", w(1))],
        50,
        "A B C",
        &[("A", 10), ("B", 20), ("C", 20)],
    );
    check(
        &[
            ("A", pref(0, Some(10), 10_000)),
            ("B", w(1)),
            ("C", pref(0, Some(10), 1)),
        ],
        50,
        "A B C",
        &[("A", 10), ("B", 30), ("C", 10)],
    );
    let capped = [
        ("A", pref(0, Some(10), 10_000)),
        ("B", w(1)),
        ("C", pref(0, Some(21), 1)),
        ("D", pref(0, Some(10), 1)),
    ];
    check(&capped, 71, "A B C D", &[("A", 10), ("B", 30), ("C", 21), ("D", 10)]);
    let mut five = capped.to_vec();
    five.push(("E", w(1)));
    check(
        &five,
        91,
        "A B C D E",
        &[("A", 10), ("B", 25), ("C", 21), ("D", 10), ("E", 25)],
    );
}

#[test]
fn kubefed_e2e_and_user_guide() {
    // test/e2e/scheduling.go, two clusters.
    check(&[("*", w(1))], 4, "c1 c2", &[("c1", 2), ("c2", 2)]);
    check(&[("c1", w(2)), ("c2", w(1))], 6, "c1 c2", &[("c1", 4), ("c2", 2)]);
    check(
        &[("c1", pref(3, None, 2)), ("c2", pref(3, None, 1))],
        6,
        "c1 c2",
        &[("c1", 3), ("c2", 3)],
    );
    // The user guide: 9 replicas at A1:B2, then with minimums 4/4 and maximums A6, B8.
    check(&[("A", w(1)), ("B", w(2))], 9, "A B C", &[("A", 3), ("B", 6), ("C", 0)]);
    check(
        &[("A", pref(4, Some(6), 1)), ("B", pref(4, Some(8), 2))],
        9,
        "A B",
        &[("A", 4), ("B", 5)],
    );
}
